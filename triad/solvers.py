"""Exact solvers for finite MDPs: policy evaluation, VI, PI, modified PI and linear programming.

Every optimal solver returns a :class:`SolveResult` whose ``error_bound`` is a *guaranteed* bound
on ``‖V − V*‖∞``, so results of different methods can be compared with a known tolerance.

Value iteration stops on the span bounds of MacQueen (1966) and Porteus (1971)
(Puterman 1994, Thm 6.6.3): for any ``V`` and ``Δ = B*V − V``,

    B*V + γ/(1−γ)·min Δ  ≤  V*  ≤  B*V + γ/(1−γ)·max Δ,

so the midpoint ``B*V + γ/(1−γ)·(max Δ + min Δ)/2`` is within ``γ/(1−γ)·span(Δ)/2`` of ``V*``. The
span contracts at least as fast as the sup-norm residual, usually much faster on mixing chains.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from triad.errors import SolverError, ValidationError
from triad.linalg import solve_resolvent
from triad.mdp import FiniteMDP, validate_policy
from triad.operators import greedy_actions, max_values, policy_reward, policy_transition, q_values
from triad.progress import Progress, advance

METHODS = ("vi", "pi", "mpi", "lp")
"""Names accepted by :func:`solve`."""

KERNEL_MIN_SIZE = 20_000
"""Sparse MDPs with at least this many state-action pairs use the compiled panel sweeps."""



@dataclasses.dataclass(frozen=True, eq=False)
class SolveResult:
    """What an optimal solver found.

    Attributes:
        V: ``(S,)`` optimal values (within ``error_bound``).
        Q: ``(S, A)`` one-step look-ahead of ``V``.
        actions: ``(S,)`` greedy actions of ``Q`` (ties to the lowest index).
        iterations: sweeps (VI, MPI), improvement steps (PI) or simplex/IPM iterations (LP).
        residuals: ``‖B*V_k − V_k‖∞`` after each iteration.
        seconds: wall time.
        method: ``"vi"``, ``"pi"``, ``"mpi"`` or ``"lp"``.
        error_bound: guaranteed ``‖V − V*‖∞`` bound.
        converged: whether the requested tolerance was met.
    """

    V: np.ndarray
    Q: np.ndarray
    actions: np.ndarray
    iterations: int
    residuals: np.ndarray
    seconds: float
    method: str
    error_bound: float
    converged: bool

    @property
    def policy(self) -> np.ndarray:
        """The greedy policy as a one-hot ``(S, A)`` array."""
        return np.eye(self.Q.shape[1])[self.actions]


class _Backups:
    """Bellman backups of one MDP, through the compiled panel sweeps where the MDP is large and sparse."""

    def __init__(self, mdp: FiniteMDP):
        self.mdp = mdp
        self.compiled = mdp.sparse and mdp.S * mdp.A >= KERNEL_MIN_SIZE
        if self.compiled:
            from triad._kernels import PanelMatrix

            self._P = PanelMatrix(mdp.P, group=mdp.A)
            self._allowed = np.ones((mdp.S, mdp.A), bool) if mdp.allowed is None else mdp.allowed
            self._R = np.ascontiguousarray(mdp.R)

    def q(self, V: np.ndarray) -> np.ndarray:
        """``Q = R + γPV``: ``(S, A)``."""
        if self.compiled:
            return self._R + self.mdp.gamma * self._P.matvec(V).reshape(self.mdp.S, self.mdp.A)
        return q_values(self.mdp, V)

    def optimal(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B*V, greedy actions)``."""
        if self.compiled:
            out_v = np.empty(self.mdp.S)
            out_a = np.empty(self.mdp.S, dtype=np.int64)
            self._P.optimal_backup(self._R, self._allowed, self.mdp.gamma, V, out_v, out_a)
            return out_v, out_a
        Q = q_values(self.mdp, V)
        return max_values(Q, self.mdp.allowed), greedy_actions(Q, self.mdp.allowed)

    def policy(self, V: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``B^π V`` for the deterministic policy ``actions``."""
        if self.compiled:
            out = np.empty(self.mdp.S)
            self._P.policy_backup(self._R, actions, self.mdp.gamma, V, out)
            return out
        return np.take_along_axis(q_values(self.mdp, V), actions[:, None], axis=1)[:, 0]


def _deterministic_transition(mdp: FiniteMDP, actions: np.ndarray) -> tuple[np.ndarray | sp.csr_array, np.ndarray]:
    rows = np.arange(mdp.S) * mdp.A + actions
    P_pi = mdp.P[rows] if mdp.sparse else mdp.P_flat[rows]
    return P_pi, mdp.R[np.arange(mdp.S), actions]


def evaluate_policy(mdp: FiniteMDP, pi: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
    """Exact ``V^π = (I − γP^π)⁻¹ r^π`` by a linear solve: ``(S,)``.

    Dense LU for dense or small MDPs, BiCGSTAB (warm-started from ``x0``) for large sparse ones;
    see :mod:`triad.linalg`.
    """
    pi = validate_policy(pi, mdp)
    return solve_resolvent(policy_transition(mdp, pi), mdp.gamma, policy_reward(mdp, pi), x0=x0)


def evaluate_q(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """Exact ``Q^π(s, a) = R(s, a) + γ Σ_s' P(s'|s, a) V^π(s')``: ``(S, A)``."""
    return q_values(mdp, evaluate_policy(mdp, pi))


def _check_tol(tol: float) -> float:
    if not (tol > 0 and math.isfinite(tol)):
        raise ValidationError(f"tol = {tol!r} must be a positive number")
    return float(tol)


def _span_stop(mdp: FiniteMDP, TV: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Midpoint estimate of V*, its guaranteed error and the sup-norm residual (module docstring)."""
    delta = TV - V
    lo, hi = float(delta.min()), float(delta.max())
    c = mdp.gamma / (1.0 - mdp.gamma)
    return TV + c * (hi + lo) / 2.0, c * (hi - lo) / 2.0, max(abs(lo), abs(hi))


def _finish(backups: _Backups, V: np.ndarray, method: str, iterations: int, residuals: list[float],
            start: float, bound: float, converged: bool) -> SolveResult:
    mdp = backups.mdp
    Q = backups.q(V)
    return SolveResult(V=V, Q=Q, actions=greedy_actions(Q, mdp.allowed), iterations=iterations,
                       residuals=np.asarray(residuals), seconds=time.perf_counter() - start,
                       method=method, error_bound=bound, converged=converged)


def _max_sweeps(gamma: float, first_bound: float, tol: float) -> int:
    """Sweeps by which the span bound must be ≤ tol: it shrinks by at least γ per sweep."""
    if gamma == 0.0 or first_bound <= tol:
        return 1
    return math.ceil(math.log(tol / first_bound) / math.log(gamma)) + 3


def _span_iteration(mdp: FiniteMDP, tol: float, V: np.ndarray, m: int, max_iter: int | None,
                    progress: Progress | None, method: str) -> SolveResult:
    """``V ← (B^{π_V})^m V`` with ``π_V`` greedy for ``V`` (``m = 1``: value iteration), stopped by the span bound."""
    start = time.perf_counter()
    backups = _Backups(mdp)
    residuals: list[float] = []
    k = 0
    while True:
        TV, actions = backups.optimal(V)
        k += 1
        V_mid, bound, residual = _span_stop(mdp, TV, V)
        residuals.append(residual)
        advance(progress, 1, bound=bound)
        if k == 1 and max_iter is None:
            max_iter = _max_sweeps(mdp.gamma, bound, tol)
        if bound <= tol or k >= max_iter:
            break
        V = TV
        for _ in range(m - 1):
            V = backups.policy(V, actions)
    converged = bound <= tol
    if not converged:
        warnings.warn(f"{method} stopped after {k} iterations with error bound {bound:.3g} > tol {tol:.3g}",
                      RuntimeWarning, stacklevel=3)
    return _finish(backups, V_mid, method, k, residuals, start, bound, converged)


def value_iteration(mdp: FiniteMDP, tol: float = 1e-6, V0: np.ndarray | None = None,
                    max_iter: int | None = None, progress: Progress | None = None) -> SolveResult:
    """Value iteration ``V_{k+1} = B*V_k`` stopped by the span bound: returns ``‖V − V*‖∞ ≤ tol``.

    Args:
        tol: guaranteed accuracy of the returned values.
        V0: ``(S,)`` starting values (default zeros).
        max_iter: cap on sweeps; by default the number after which the bound must have been met.
        progress: advanced by one per sweep, with the current ``bound`` as status.
    """
    V = np.zeros(mdp.S) if V0 is None else np.array(V0, dtype=np.float64)
    return _span_iteration(mdp, _check_tol(tol), V, 1, max_iter, progress, "vi")


def policy_iteration(mdp: FiniteMDP, pi0: np.ndarray | None = None, max_iter: int = 10_000,
                     progress: Progress | None = None) -> SolveResult:
    """Howard's policy iteration: exact evaluation, then greedy improvement, until the policy is stable.

    An action is only replaced by a strictly better one (beyond round-off), which rules out cycling
    between tied actions. Terminates in finitely many steps (Puterman Thm 6.4.2).

    Args:
        pi0: starting policy ``(S, A)``; default: greedy with respect to ``R``.
    """
    start = time.perf_counter()
    backups = _Backups(mdp)
    if pi0 is None:
        actions = greedy_actions(mdp.R, mdp.allowed)
    else:
        pi0 = validate_policy(pi0, mdp, "pi0")
        if not np.all((pi0 == 0) | (pi0 == 1)):
            raise ValidationError("pi0 must be deterministic (one-hot rows) for policy iteration")
        actions = np.argmax(pi0, axis=1)
    V = None
    residuals: list[float] = []
    for k in range(1, max_iter + 1):
        P_pi, r_pi = _deterministic_transition(mdp, actions)
        V = solve_resolvent(P_pi, mdp.gamma, r_pi, x0=V)
        TV, best = backups.optimal(V)
        residual = float(np.max(TV - V))
        residuals.append(residual)
        advance(progress, 1, bound=residual / (1 - mdp.gamma))
        current = backups.policy(V, actions)
        improve = TV > current + 1e-12 * np.maximum(1.0, np.abs(current))
        if not improve.any():
            bound = float(np.abs(TV - V).max()) / (1.0 - mdp.gamma)
            return _finish(backups, V, "pi", k, residuals, start, bound, True)
        actions = np.where(improve, best, actions)
    raise SolverError(f"policy iteration did not stabilise in {max_iter} improvements")


def modified_policy_iteration(mdp: FiniteMDP, tol: float = 1e-6, m: int = 10, V0: np.ndarray | None = None,
                              max_iter: int | None = None, progress: Progress | None = None) -> SolveResult:
    """Modified policy iteration (Puterman & Shin 1978; Puterman 1994 §6.5).

    Each iteration takes the greedy policy ``π_k`` of ``V_k`` and sets ``V_{k+1} = (B^{π_k})^m V_k``;
    ``m = 1`` is value iteration, ``m → ∞`` is policy iteration. The start ``V0`` defaults to
    ``min R / (1 − γ)``, which satisfies ``B*V0 ≥ V0`` as convergence requires. Stopped by the
    same span bound as value iteration.
    """
    tol = _check_tol(tol)
    if m < 1:
        raise ValidationError(f"m = {m} must be at least 1")
    allowed_R = mdp.R if mdp.allowed is None else np.where(mdp.allowed, mdp.R, np.inf)
    V = np.full(mdp.S, allowed_R.min() / (1 - mdp.gamma)) if V0 is None else np.array(V0, dtype=np.float64)
    return _span_iteration(mdp, tol, V, m, max_iter, progress, "mpi")


def linear_program(mdp: FiniteMDP) -> SolveResult:
    """The primal LP ``min Σ_s V(s)/S  s.t.  V(s) ≥ R(s, a) + γ Σ_s' P(s'|s, a) V(s')`` (HiGHS).

    Its unique solution is ``V*`` (Puterman 1994 §6.9; d'Epenoux 1963). Positive weights on every
    state pin down ``V*`` everywhere, not only on the support of an initial distribution.
    """
    start = time.perf_counter()
    S, A = mdp.S, mdp.A
    E = sp.csr_array((np.ones(S * A), (np.arange(S * A), np.repeat(np.arange(S), A))), shape=(S * A, S))
    A_ub = sp.csr_array(mdp.gamma * sp.csr_array(mdp.P_flat) - E)
    b_ub = -mdp.R.ravel()
    if mdp.allowed is not None:
        keep = mdp.allowed.ravel()
        A_ub, b_ub = A_ub[keep], b_ub[keep]
    res = scipy.optimize.linprog(np.full(S, 1.0 / S), A_ub=A_ub, b_ub=b_ub, bounds=(None, None), method="highs")
    if res.status != 0:
        raise SolverError(f"LP solver failed: {res.message}")
    V = np.asarray(res.x)
    backups = _Backups(mdp)
    TV, _ = backups.optimal(V)
    residual = float(np.abs(TV - V).max())
    return _finish(backups, V, "lp", int(res.nit), [residual], start, residual / (1 - mdp.gamma), True)


def solve(mdp: FiniteMDP, method: str = "vi", tol: float = 1e-6, progress: Progress | None = None) -> SolveResult:
    """Solve for ``V*`` with ``method`` in :data:`METHODS` (``tol`` is ignored by ``pi`` and ``lp``)."""
    if method == "vi":
        return value_iteration(mdp, tol=tol, progress=progress)
    if method == "pi":
        return policy_iteration(mdp, progress=progress)
    if method == "mpi":
        return modified_policy_iteration(mdp, tol=tol, progress=progress)
    if method == "lp":
        return linear_program(mdp)
    raise ValidationError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
