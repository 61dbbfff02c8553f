"""Linear solves with the resolvent ``(I − γM)`` of a row-(sub)stochastic matrix ``M``.

Policy evaluation ``V = (I − γP^π)⁻¹ r^π`` and discounted visitation
``dᵀ = (1 − γ) μᵀ (I − γP^π)⁻¹`` are both such solves; at γ = 1 callers pass ``M`` restricted to the
non-terminal states of a proper policy (substochastic, spectral radius < 1).

Dense matrices and small sparse ones use LU. Larger sparse ones use BiCGSTAB, then GMRES, which need
only mat-vecs. As γ → 1 the condition number of ``I − γM`` grows like 2/(1 − γ), but for a
stochastic ``M`` all of that comes from one direction: ``M1 = 1``, so ``(I − γM)1 = (1 − γ)1``. The
Krylov methods therefore solve a *deflated* system with that direction split off, whose spectrum is
``{1} ∪ {1 − γλ : λ an eigenvalue of M other than 1}`` and does not depend on how close γ is to 1
(rank-one deflation of the Perron eigenvalue, in the spirit of Wielandt's deflation; Saad 2011,
*Numerical Methods for Large Eigenvalue Problems* §4.2):

* ``(I − γM)x = b``: write ``x = h + c1`` with ``mean(h) = 0``. With ``Q = I − 1wᵀ``, ``w = 1/n``,
  ``h`` solves ``(I − γQM)h = Qb`` and ``c = (mean(b) − mean(h) + γ·mean(Mh)) / (1 − γ)``.
  The eigenvalues of ``QM`` are ``0`` (on ``1``) and those of ``M`` other than 1, since every left
  eigenvector ``y`` of ``M`` for ``λ ≠ 1`` has ``yᵀ1 = 0``.
* ``(I − γMᵀ)d = b``: ``Σd = Σb / (1 − γ)`` exactly (sum the rows), so ``d = g + (Σd/n)1`` where
  ``g`` solves ``(I − γMᵀ)g = b − (Σd/n)(I − γMᵀ)1`` on the invariant subspace ``Σg = 0``.

If the chain has several closed classes (eigenvalue 1 is multiple) one deflation is not enough:
then a sparse LU factorisation (SuperLU) serves moderate sizes, and Richardson iteration
``x ← b + γMx`` (rate γ) the rest while it needs at most :data:`RICHARDSON_MAX_SWEEPS` sweeps.
The result is always checked by its true residual.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from triad.errors import SolverError

DENSE_LIMIT = 256
"""Sparse matrices with at most this many rows are solved densely (LU); dense ones always are."""

PANEL_MIN_ROWS = 20_000
"""From this size mat-vecs use the compiled cache-friendly layout of :mod:`triad._kernels`."""

SPLU_LIMIT = 50_000
"""Largest sparse system factorised by SuperLU when the Krylov methods fail."""

DENSE_DEFLATION_GAMMA = 0.999
"""From this γ dense solves of stochastic systems are deflated too (below it plain LU loses nothing)."""

RICHARDSON_MAX_SWEEPS = 100_000
"""Richardson iteration is the last resort only if it needs at most this many sweeps (rate γ)."""

_EPS = float(np.finfo(np.float64).eps)


def _accept(residual: float, target: float, b: np.ndarray, x: np.ndarray, gamma: float) -> bool:
    """Residual test: within ``target``, or at the level at which float64 can compute it at all.

    ``b − (I − γM)x`` is computed with an error of order ``ε(‖b‖ + (1 + γ)‖x‖)``; near γ = 1 the
    solution is ``~‖b‖/(1 − γ)``, so a fixed ``rtol·‖b‖`` can be unattainable however good ``x`` is.
    """
    floor = 32 * _EPS * (float(np.abs(b).max(initial=0.0)) + (1.0 + gamma) * float(np.abs(x).max(initial=0.0)))
    return bool(np.isfinite(residual) and residual <= target + floor)


def solve_resolvent(
    M: np.ndarray | sp.sparray,
    gamma: float,
    rhs: np.ndarray,
    *,
    transpose: bool = False,
    x0: np.ndarray | None = None,
    rtol: float = 1e-12,
) -> np.ndarray:
    """Solve ``(I − γM) x = rhs`` (or ``(I − γMᵀ) x = rhs`` with ``transpose=True``).

    Args:
        M: ``(n, n)`` row-stochastic or row-substochastic matrix, dense or sparse.
        gamma: discount in ``[0, 1]``; at γ = 1, ``I − M`` must be non-singular (``M`` substochastic
            with spectral radius < 1, e.g. a proper policy's chain on its non-terminal states).
        rhs: ``(n,)`` right-hand side.
        x0: optional starting guess for the iterative solvers (e.g. the previous policy's values).
        rtol: required ``‖rhs − (I − γM)x‖∞ ≤ rtol·max(‖rhs‖∞, 1)`` (or the float64 floor, see
            :func:`_accept`); for deflated solves, on the deflated system.

    Raises:
        SolverError: if ``I − γM`` is singular or no method reaches the tolerance.
    """
    h, c = solve_resolvent_split(M, gamma, rhs, transpose=transpose, x0=x0, rtol=rtol)
    return h + c if c else h


def solve_resolvent_split(M: np.ndarray | sp.sparray, gamma: float, rhs: np.ndarray, *, transpose: bool = False,
                          x0: np.ndarray | None = None, rtol: float = 1e-12) -> tuple[np.ndarray, float]:
    """:func:`solve_resolvent` as ``(h, c)`` with ``x = h + c·1``: the deflated solves keep the constant
    ``c ≈ mean(rhs)/(1 − γ)`` apart from ``h``, at its own scale (``c = 0`` for the other methods).

    Near γ = 1, ``h + c`` rounds ``h`` to the ulp of ``c``; a caller that certifies the solution
    (:mod:`triad.solvers`) uses the pair.
    """
    n = M.shape[0]
    rhs = np.asarray(rhs, dtype=np.float64)
    Mt = M.T if transpose else M
    if n <= DENSE_LIMIT or not sp.issparse(M):
        dense = Mt.toarray() if sp.issparse(Mt) else np.asarray(Mt)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
                if gamma >= DENSE_DEFLATION_GAMMA and gamma < 1.0 and np.all(np.abs(M @ np.ones(n) - 1.0) <= 1e-12):
                    return _deflated(lambda v: dense @ v, gamma, rhs, transpose, None, 0.0, dense=dense)
                return scipy.linalg.solve(np.eye(n) - gamma * dense, rhs, check_finite=False), 0.0
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
            raise SolverError(f"I − {gamma:.15g}·M ({n}×{n}) is singular to working precision") from None
    blas = contextlib.nullcontext()
    if n >= PANEL_MIN_ROWS:
        from threadpoolctl import threadpool_limits

        from triad._kernels import PanelMatrix

        product = PanelMatrix(Mt).matvec
        # BLAS threads spin after each dot product and starve the compiled mat-vec's threads.
        blas = threadpool_limits(1, user_api="blas")
    else:
        product = sp.csr_array(Mt).__matmul__
    stochastic = gamma < 1.0 and bool(np.all(np.abs(M @ np.ones(n) - 1.0) <= 1e-12))
    target = rtol * max(float(np.abs(rhs).max()), 1.0)
    with blas:
        if stochastic:
            split = _deflated(product, gamma, rhs, transpose, x0, target)
            if split is not None:
                return split
            x = None
        else:
            x = _krylov(lambda v: v - gamma * product(v), rhs, x0, target, gamma)
        if x is None and n <= SPLU_LIMIT:
            A = sp.csc_array(sp.eye_array(n) - gamma * sp.csc_array(Mt))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    x = spla.splu(A).solve(rhs)
                except RuntimeError:  # "Factor is exactly singular"
                    x = None
            if x is not None and not _accept(float(np.abs(rhs - A @ x).max()), target, rhs, x, gamma):
                x = None
        if x is None:
            x = _richardson(product, gamma, rhs, x0, rtol, target, n)
    return x, 0.0


def _krylov(op: Callable[[np.ndarray], np.ndarray], b: np.ndarray, x0: np.ndarray | None, target: float,
            gamma: float) -> np.ndarray | None:
    """BiCGSTAB, then GMRES, on ``op(x) = b``; ``None`` if neither passes the residual test."""
    n = len(b)
    A = spla.LinearOperator((n, n), matvec=op, dtype=np.float64)
    guess = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64)
    # Krylov methods stop on a 2-norm criterion; ask for a little more than the ∞-norm target.
    krylov_rtol = target / (np.linalg.norm(b) + 1e-300) / 10
    for method in (spla.bicgstab, spla.gmres):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, _ = method(A, b, x0=guess, rtol=krylov_rtol, atol=0.0, maxiter=min(10 * n, 5_000))
        if np.all(np.isfinite(x)) and _accept(float(np.abs(b - op(x)).max()), target, b, x, gamma):
            return x
    return None


def _deflated(product: Callable[[np.ndarray], np.ndarray], gamma: float, b: np.ndarray, transpose: bool,
              x0: np.ndarray | None, target: float, dense: np.ndarray | None = None) -> tuple[np.ndarray, float] | None:
    """The deflated solve of the module docstring for a stochastic ``M`` (``product`` applies ``M`` or
    ``Mᵀ``): ``(h, c)`` with ``x = h + c·1``. By Krylov methods, or by LU of the deflated matrix when
    ``dense`` holds ``M`` (or ``Mᵀ``) as an array."""
    n = len(b)

    def solve(op: Callable[[np.ndarray], np.ndarray], rhs: np.ndarray, guess: np.ndarray | None) -> np.ndarray | None:
        if dense is None:
            return _krylov(op, rhs, guess, target, gamma)
        # The two operators below as matrices: I − γ(M − 1·colmeans(M)) and I − γMᵀ + γ(Mᵀ1)1ᵀ/n.
        if transpose:
            matrix = np.eye(n) - gamma * dense + gamma * np.outer(dense.sum(axis=1), np.ones(n)) / n
        else:
            matrix = np.eye(n) - gamma * (dense - dense.mean(axis=0)[None, :])
        return scipy.linalg.solve(matrix, rhs, check_finite=False)

    if not transpose:
        def op(h: np.ndarray) -> np.ndarray:  # h − γ·Q·M·h
            Mh = product(h)
            return h - gamma * (Mh - Mh.mean())

        h0 = None if x0 is None else np.asarray(x0, dtype=np.float64) - np.mean(x0)
        h = solve(op, b - b.mean(), h0)
        if h is None:
            return None
        c = (b.mean() - h.mean() + gamma * product(h).mean()) / (1.0 - gamma)
        return h, c
    level = b.sum() / (1.0 - gamma) / n  # Σd / n, known exactly

    def op_t(g: np.ndarray) -> np.ndarray:  # (I − γMᵀ)(g − mean g) + mean g
        m = g.mean()
        z = g - m
        return z - gamma * product(z) + m

    ones = np.ones(n)
    b_zero = b - level * (ones - gamma * product(ones))
    g0 = None if x0 is None else np.asarray(x0, dtype=np.float64) - np.mean(x0)
    g = solve(op_t, b_zero, g0)
    return None if g is None else (g - g.mean(), level)


def _richardson(product: Callable[[np.ndarray], np.ndarray], gamma: float, b: np.ndarray, x0: np.ndarray | None,
                rtol: float, target: float, n: int) -> np.ndarray:
    """``x ← b + γMx``: contracts at rate γ from an error of at most ``2·‖b‖/(1 − γ)``; slow, but sure."""
    if gamma >= 1.0:
        raise SolverError(f"linear solve with n={n}, γ = 1 failed: I − M is singular or too ill-conditioned "
                          f"(is every episode sure to terminate?)")
    sweeps = 1 if gamma == 0 else int(np.ceil(np.log(rtol * (1 - gamma) / 2) / np.log(gamma))) + 10
    if sweeps > RICHARDSON_MAX_SWEEPS:
        raise SolverError(f"linear solve with n={n}, γ={gamma:.10g}: the Krylov methods and sparse LU failed, "
                          f"and Richardson iteration would need {sweeps:,} sweeps")
    x = np.zeros(n) if x0 is None else np.array(x0, dtype=np.float64)
    for _ in range(sweeps):
        x = b + gamma * product(x)
    residual = float(np.abs(b - x + gamma * product(x)).max())
    if not _accept(residual, target, b, x, gamma):
        raise SolverError(f"linear solve with n={n}, γ={gamma:.10g} did not reach residual {target:.3g} "
                          f"(got {residual:.3g})")
    return x
