"""Linear solves with the resolvent ``(I − γM)`` of a row-stochastic matrix ``M``.

Policy evaluation ``V = (I − γP^π)⁻¹ r^π`` and discounted visitation
``dᵀ = (1 − γ) μᵀ (I − γP^π)⁻¹`` are both such solves. Dense matrices and small sparse ones use
LU; larger sparse ones use BiCGSTAB, which needs only mat-vecs (the matrix is an M-matrix with ∞-norm
condition number at most (1 + γ)/(1 − γ), so Krylov methods converge in few iterations on
well-mixing chains), with GMRES and then Richardson iteration as fallbacks. The result is always
checked by its true residual.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from triad.errors import SolverError

DENSE_LIMIT = 256
"""Sparse matrices with at most this many rows are solved densely (LU); dense ones always are."""

PANEL_MIN_ROWS = 20_000
"""From this size mat-vecs use the compiled cache-friendly layout of :mod:`triad._kernels`."""


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
        M: ``(n, n)`` row-stochastic matrix, dense or sparse.
        gamma: discount in ``[0, 1)``.
        rhs: ``(n,)`` right-hand side.
        x0: optional starting guess for the iterative solvers (e.g. the previous policy's values).
        rtol: required ``‖rhs − (I − γM)x‖∞ ≤ rtol·max(‖rhs‖∞, 1)``.

    Raises:
        SolverError: if no method reaches the tolerance.
    """
    n = M.shape[0]
    rhs = np.asarray(rhs, dtype=np.float64)
    Mt = M.T if transpose else M
    if n <= DENSE_LIMIT or not sp.issparse(M):
        dense = Mt.toarray() if sp.issparse(Mt) else np.asarray(Mt)
        return scipy.linalg.solve(np.eye(n) - gamma * dense, rhs, check_finite=False)
    blas = contextlib.nullcontext()
    if n >= PANEL_MIN_ROWS:
        from threadpoolctl import threadpool_limits

        from triad._kernels import PanelMatrix

        product = PanelMatrix(Mt).matvec
        # BLAS threads spin after each dot product and starve the compiled mat-vec's threads.
        blas = threadpool_limits(1, user_api="blas")
    else:
        csr = sp.csr_array(Mt)
        product = csr.__matmul__
    op = spla.LinearOperator((n, n), matvec=lambda x: x - gamma * product(x), dtype=np.float64)
    scale = max(float(np.abs(rhs).max()), 1.0)
    target = rtol * scale

    def residual(x: np.ndarray) -> float:
        return float(np.abs(rhs - op.matvec(x)).max())

    guess = np.zeros(n) if x0 is None else np.asarray(x0, dtype=np.float64)
    # Krylov methods stop on a 2-norm criterion; ask for a little more than the ∞-norm target.
    krylov_rtol = target / (np.linalg.norm(rhs) + 1e-300) / 10
    with blas:
        for method in (spla.bicgstab, spla.gmres):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                x, _ = method(op, rhs, x0=guess, rtol=krylov_rtol, atol=0.0, maxiter=10 * n)
            if np.all(np.isfinite(x)) and residual(x) <= target:
                return x
    # Richardson iteration x ← rhs + γMx contracts at rate γ from an error of at most
    # 2·scale/(1 − γ): slow, but it cannot fail.
    x = guess.copy()
    sweeps = 1 if gamma == 0 else int(np.ceil(np.log(rtol * (1 - gamma) / 2) / np.log(gamma))) + 10
    for _ in range(sweeps):
        x = rhs + gamma * product(x)
    if residual(x) > target:
        raise SolverError(f"linear solve with n={n}, γ={gamma:g} did not reach residual {target:.3g} "
                          f"(got {residual(x):.3g})")
    return x
