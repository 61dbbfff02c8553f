"""Exact solvers for finite MDPs: policy evaluation, VI, PI, modified PI and linear programming.

Every optimal solver returns a :class:`SolveResult` whose ``error_bound`` is a *guaranteed* bound
on ``‖V − V*‖∞``: it is derived from the returned values alone (whatever the method), includes an
allowance for the rounding of the backups in float64, and is 0 only when rewards and values are 0.

**γ < 1.** The span bounds of MacQueen (1966) and Porteus (1971) (Puterman 1994, Thm 6.6.3): for
any ``V`` and ``Δ = B*V − V``,

    B*V + γ/(1−γ)·min Δ  ≤  V*  ≤  B*V + γ/(1−γ)·max Δ,

so the midpoint ``B*V + γ/(1−γ)·(max Δ + min Δ)/2`` is within ``γ/(1−γ)·span(Δ)/2`` of ``V*``. The
span contracts at least as fast as the sup-norm residual, usually much faster on mixing chains.

**γ = 1** (episodic; terminal states are worth 0): a stochastic shortest path problem (Bertsekas &
Tsitsiklis 1996, *Neuro-Dynamic Programming* §2.2; Bertsekas & Tsitsiklis 1991). The solvers accept
two cases, checked up front by graph computations (:func:`triad.mdp.trap_states`,
:func:`triad.mdp.proper_actions`):

1. *Every stationary policy is proper.* Then ``B*`` is a contraction in the weighted norm
   ``max_s |V(s)|/ξ(s)``, where ``ξ(s) = 1 + max_a Σ_{s' live} P(s'|s, a) ξ(s')`` is the largest
   expected number of steps to termination, with modulus ``1 − 1/max ξ`` (B&T 1996, Prop. 2.2).
   The same monotonicity arguments that give MacQueen's bounds give, with ``ζ`` the *smallest*
   expected number of steps to termination (``ζ = 1 + min_a P ζ``),

       B*V + min Δ·(ξ − 1 if min Δ < 0 else ζ − 1)  ≤  V*  ≤  B*V + max Δ·(ξ − 1 if max Δ > 0 else ζ − 1).

   (Upper: ``W = V + max Δ·ξ`` (or ``·ζ`` when ``max Δ ≤ 0``) has ``B*W ≤ W``, hence ``W ≥ V*``, and
   ``V* = B*V* ≤ B*W``. Lower: the same with ``B^π`` for the greedy ``π`` and ``V* ≥ V^π``.) With
   ``ξ = ζ = 1/(1 − γ)`` these are MacQueen's bounds. ``ξ`` and ``ζ`` are computed by policy
   iteration on the step-counting problems and then scaled so that their defining inequalities
   provably hold in float64.
2. *Some policy is improper, but every step from a non-terminal state costs: R(s, a) ≤ −c < 0.*
   Then every improper policy has return −∞ from some state, a proper policy exists (checked), and
   ``V*`` is the unique fixed point of ``B*``; VI converges from any start, PI from a proper policy
   stays proper, and the LP still has ``V*`` as its solution (B&T 1996, Prop. 2.1–2.3; this covers
   Sutton & Barto's Example 4.1, where bumping into a wall keeps the agent in place). ``ξ`` is
   infinite here, so the unfavourable side of each bound uses what is finite: below,
   ``V* ≥ V^π ≥ V + min Δ·τ_π`` with ``τ_π`` the expected time to termination of the greedy
   ``π`` (computed when the cheaper side already meets the tolerance; the bound is ∞ while the
   greedy policy is improper); above, an optimal policy's expected time is at most ``−V*/c``, so
   ``V* ≤ V + max Δ·(−lower/c)``.

**Float64.** Every bound adds an allowance for rounding: each backup sums at most ``terms`` products
(``|fl(Σ pᵢvᵢ) − Σ pᵢvᵢ| ≤ (terms + 2)·ε·(max|R| + γ‖V‖∞)``, Higham 2002 §3.1), the rows of the
stored ``P`` may sum to ``1 ± δ`` (``δ`` measured in extended precision), and the interval's own
arithmetic. Near γ = 1 the residual is formed around a shift of ``V`` (see
:meth:`_Certifier.certify`) so that this allowance scales with the spread of ``V``, not its size.
When rounding alone keeps the bound above ``tol`` (expected episodes of ~1e12 steps, or γ within
about 1e-10 of 1), VI and MPI stop once the bound is within twice that floor (or stalls), with a
warning that says so, rather than sweeping on.

Anything else at γ = 1 is refused: a state that cannot terminate (values ±∞), or a policy that
can avoid termination while collecting rewards ≥ 0 (values may be +∞, or ``B*`` has several fixed
points and none of the methods is sure to find ``V*``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Iterator

import numpy as np
import scipy.optimize
import scipy.sparse as sp

from triad.errors import SolverError, ValidationError
from triad.linalg import solve_resolvent, solve_resolvent_split
from triad.mdp import (
    FiniteMDP,
    check_proper,
    describe_states,
    improper_class,
    proper_actions,
    trap_states,
    validate_policy,
)
from triad.operators import greedy_actions, max_values, policy_reward, policy_transition, q_values
from triad.progress import Progress, advance

METHODS = ("vi", "pi", "mpi", "lp")
"""Names accepted by :func:`solve`."""

KERNEL_MIN_SIZE = 20_000
"""Sparse MDPs with at least this many state-action pairs use the compiled panel sweeps."""

LP_MAX_STATES = 12_000
"""Largest MDP the LP solves; beyond it HiGHS takes over a minute (see tests/benchmarks/README.md),
so :func:`linear_program` refuses up front and suggests policy iteration."""

LP_SIMPLEX_MAX_STATES = 500
"""Up to this size the LP is solved by the dual simplex method, beyond by interior point + crossover."""

LP_PDLP_MIN_STATES = 2_000
"""From this size the LP is solved by PDLP instead of interior point + crossover (measured cross-over)."""

LP_PDLP_MAX_ITERATIONS = 200_000
"""Cap on PDLP iterations (Garnet S = 10,000 needs about 21,000)."""

MAX_RESTARTS = 3
"""VI and MPI restart from the certified interval at most this often when the bound stalls."""

STALL_SWEEPS = 50
"""After the restarts, VI and MPI stop when the bound has not improved by 1% for this many sweeps."""

SSP_MAX_SWEEPS = 100_000
"""Default cap on VI/MPI sweeps at γ = 1 when some policy is improper (no contraction modulus)."""

_EPS = float(np.finfo(np.float64).eps)
_FMAX = float(np.finfo(np.float64).max)
_HEADROOM = 8.0
"""The bounds form sums and differences of a few values: values must stay this far below float64's limit."""


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
        error_bound: guaranteed ``‖V − V*‖∞`` bound (module docstring).
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


# ------------------------------------------------------------------------------ evaluation
def _live(mdp: FiniteMDP) -> np.ndarray:
    """``(S,)`` mask of non-terminal states."""
    return np.ones(mdp.S, bool) if mdp.terminal is None else ~mdp.terminal


def _solve_policy(mdp: FiniteMDP, P_pi: np.ndarray | sp.sparray, r_pi: np.ndarray, x0: np.ndarray | None = None,
                  check: bool = True, what: str = "this policy") -> np.ndarray:
    """``V^π`` from ``(P^π, r^π)``; at γ = 1 on the non-terminal states (terminal ones are worth 0)."""
    h, c = _solve_policy_split(mdp, P_pi, r_pi, x0, check, what)
    return h + c if c else h


def _solve_policy_split(mdp: FiniteMDP, P_pi: np.ndarray | sp.sparray, r_pi: np.ndarray,
                        x0: np.ndarray | None = None, check: bool = True,
                        what: str = "this policy") -> tuple[np.ndarray, float]:
    """``V^π = h + c·1`` as the pair (see :func:`triad.linalg.solve_resolvent_split`)."""
    if mdp.gamma < 1.0:
        return solve_resolvent_split(P_pi, mdp.gamma, r_pi, x0=x0)
    if check:
        check_proper(mdp, P_pi, what)
    idx = np.flatnonzero(_live(mdp))
    M = sp.csr_array(P_pi)[idx][:, idx] if sp.issparse(P_pi) else np.asarray(P_pi)[np.ix_(idx, idx)]
    V = np.zeros(mdp.S)
    if idx.size:
        V[idx] = solve_resolvent(M, 1.0, r_pi[idx], x0=None if x0 is None else x0[idx])
    return V, 0.0


def _values_overflow(what: str, detail: str) -> ValidationError:
    return ValidationError(f"values overflow: {what} {detail} exceeds the float64 range "
                           f"({_FMAX:.3g}, with the headroom of {_HEADROOM:g}× the bounds need); rescale the rewards")


def _check_values(mdp: FiniteMDP, V: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(V)) or np.abs(V).max(initial=0.0) > _FMAX / _HEADROOM:
        raise _values_overflow(what, f"(max |R| = {np.abs(mdp.R).max():.3g}, γ = {mdp.gamma:.15g})")
    return V


def evaluate_policy(mdp: FiniteMDP, pi: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
    """Exact ``V^π = (I − γP^π)⁻¹ r^π`` by a linear solve: ``(S,)``.

    Dense LU for dense or small MDPs, deflated Krylov solvers (warm-started from ``x0``) for large
    sparse ones; see :mod:`triad.linalg`. At γ = 1 the policy must be proper (module docstring of
    :mod:`triad.mdp`): ``V^π = (I − P^π_NN)⁻¹ r^π_N`` on the non-terminal states ``N`` and 0 on
    terminal ones.

    Raises:
        ValidationError: at γ = 1, naming a closed class of ``π`` without terminal state; or the
            values overflow float64.
    """
    pi = validate_policy(pi, mdp)
    r_pi = policy_reward(mdp, pi)
    if mdp.gamma < 1.0 and float(np.abs(r_pi).max(initial=0.0)) > _FMAX / _HEADROOM * (1.0 - mdp.gamma):
        raise _values_overflow("max |r^π| / (1 − γ)", f"= {np.abs(r_pi).max():.3g} / {1 - mdp.gamma:.3g}")
    with np.errstate(over="ignore", invalid="ignore"):
        V = _solve_policy(mdp, policy_transition(mdp, pi), r_pi, x0=x0)
    return _check_values(mdp, V, "V^π")


def evaluate_q(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """Exact ``Q^π(s, a) = R(s, a) + γ Σ_s' P(s'|s, a) V^π(s')``: ``(S, A)``."""
    return q_values(mdp, evaluate_policy(mdp, pi))


def _deterministic_transition(mdp: FiniteMDP, actions: np.ndarray,
                              R: np.ndarray | None = None) -> tuple[np.ndarray | sp.csr_array, np.ndarray]:
    rows = np.arange(mdp.S) * mdp.A + actions
    P_pi = mdp.P[rows] if mdp.sparse else mdp.P_flat[rows]
    return P_pi, (mdp.R if R is None else R)[np.arange(mdp.S), actions]


# ---------------------------------------------------------------------------- certificates
def _row_terms(mdp: FiniteMDP) -> int:
    """The most terms any backup sums: stored successors per row (dense: S)."""
    return int(np.diff(mdp.P.indptr).max(initial=0)) if mdp.sparse else mdp.S


def _row_sum_deviation(mdp: FiniteMDP) -> float:
    """``max_{s,a} |Σ_s' P(s'|s, a) − 1|`` of the stored numbers, summed in extended precision.

    Returned with the summation's own error bound (``(terms − 1)`` units of the long double's
    rounding), so it is an upper bound; where ``long double`` is ``double`` it degrades gracefully.
    """
    ulp = float(np.finfo(np.longdouble).eps) / 2
    worst, rows = 0.0, 1 << 16  # blocks of rows keep the long-double copy small
    flat = mdp.P_flat
    for start in range(0, flat.shape[0], rows):
        stop = min(start + rows, flat.shape[0])
        if mdp.sparse:
            lo, hi = flat.indptr[start], flat.indptr[stop]
            data = flat.data[lo:hi].astype(np.longdouble)
            sums = np.add.reduceat(data, flat.indptr[start:stop] - lo) if data.size else np.zeros(0)
        else:
            sums = flat[start:stop].astype(np.longdouble).sum(axis=1)
        worst = max(worst, float(np.abs(sums - 1).max(initial=0.0)))
    return worst + max(_row_terms(mdp) - 1, 0) * ulp * 1.01


def _steps_bound(mdp: FiniteMDP, tau: np.ndarray, kind: str, actions: np.ndarray | None = None) -> np.ndarray:
    """Scale an approximate expected-time vector so that its defining inequality provably holds.

    ``kind="max"``: returns ``θ ≥ 1 + max_a P_N θ`` (so ``θ ≥ ξ``, every policy's expected time);
    ``"policy"``: ``θ ≥ 1 + P^π_N θ`` for ``actions`` (so ``θ ≥ τ_π``); ``"min"``: ``θ ≤ 1 + min_a P_N θ``
    (so ``θ ≤ ζ``). ``P_N`` drops the terminal columns (``θ = 0`` there). The check includes the
    rounding of ``Pθ``; a scale factor ``1/(1 ∓ g)`` absorbs the violation ``g`` found.
    """
    live = _live(mdp)
    tau = np.where(live, np.maximum(tau, 1.0), 0.0)
    E = mdp.expect(tau)
    if actions is not None:
        step = E[np.arange(mdp.S), actions]
    elif kind == "max":
        step = E.max(axis=1) if mdp.allowed is None else np.where(mdp.allowed, E, -np.inf).max(axis=1)
    else:
        step = E.min(axis=1) if mdp.allowed is None else np.where(mdp.allowed, E, np.inf).min(axis=1)
    err = (_row_terms(mdp) + 3) * _EPS * float(tau.max(initial=0.0))
    if kind == "min":
        g = max(float((tau - 1.0 - step)[live].max(initial=0.0)) + err, 0.0)
        return tau / (1.0 + g)
    g = max(float((1.0 + step - tau)[live].max(initial=0.0)) + err, 0.0)
    if g >= 0.5:
        raise SolverError(f"could not verify the expected time to termination (violation {g:.3g})")
    return tau / (1.0 - g)


def _step_counting(mdp: FiniteMDP, sign: float) -> FiniteMDP:
    """The MDP with reward ``sign`` per step from a non-terminal state (γ = 1): its values are ±expected steps."""
    R = np.where(_live(mdp)[:, None], sign, 0.0) * np.ones((1, mdp.A))
    return FiniteMDP(mdp.P, R, 1.0, allowed=mdp.allowed, terminal=mdp.terminal, name=f"steps of {mdp.name}")


@dataclasses.dataclass(frozen=True, eq=False)
class _Check:
    """One certified look at ``V``: its backup, a point estimate of ``V*`` and its guaranteed error."""

    TV: np.ndarray
    """``B*V``, ``(S,)``."""
    actions: np.ndarray
    """Greedy actions of ``V``, ``(S,)``."""
    X: np.ndarray
    """The estimate: the interval's midpoint, or ``V`` itself."""
    bound: float
    """Guaranteed ``‖X − V*‖∞`` (∞ when no finite bound is known yet)."""
    floor: float
    """The part of ``bound`` that rounding alone would leave: no iteration can go below it."""
    certified: bool
    """False for the optimistic cheap bound of case 2 (module docstring)."""
    residual: float
    """``‖B*V − V‖∞`` over non-terminal states."""
    backed_up: tuple[np.ndarray, float]
    """``B*V`` as ``(B*U, γκ)`` with ``V = U + κ``: the next VI iterate without rounding it to ``V``'s scale."""
    shift: tuple[float, float] | None
    """γ < 1: the interval's midpoint and lower end minus ``B*V``, constants (so a restart from either
    is a shift of ``κ``)."""


class _Certifier:
    """Guaranteed intervals ``lower ≤ V* ≤ upper`` from any ``V`` and its backup (module docstring).

    Built once per solve. Written with expected-time vectors ``θ ≥ 1 + γ max_a P_N θ`` (so ``θ − 1``
    multiplies an unfavourable residual) and ``ζ ≤ 1 + γ min_a P_N ζ``: at γ < 1 they are
    ``1/(1 − γ(1 ± δ))`` with ``δ`` the largest deviation of a row sum of ``P`` from 1 (0 up to
    rounding for normalised rows; MacQueen's bounds); at γ = 1 the expected steps to termination
    (the MDP is classified first, and what no method can solve with a guarantee is refused).
    """

    def __init__(self, mdp: FiniteMDP):
        self.mdp = mdp
        self.live = _live(mdp)
        self.terms = _row_terms(mdp)
        allowed_R = mdp.R if mdp.allowed is None else np.where(mdp.allowed, mdp.R, 0.0)
        self.max_R = float(np.abs(allowed_R).max(initial=0.0))
        self.start: np.ndarray | None = None  # a proper policy (γ = 1)
        self.all_proper = True
        self.long: float | np.ndarray | None
        if mdp.gamma < 1.0:
            self.dev = _row_sum_deviation(mdp)
            # θ − 1 = γ(1 ± δ)/(1 − γ(1 ± δ)), with 1 − γ formed first (exact for γ ≥ 1/2) so that a δ far
            # below float64's ε still counts, and rounded outwards.
            g, slack = mdp.gamma, mdp.gamma * self.dev
            if (1.0 - g) - slack <= 0.0:
                raise ValidationError(f"gamma = {g:.17g} is within the rounding of P's row sums (off 1 by up "
                                      f"to {self.dev:.2g}) of 1: no error bound holds (use γ = 1 with terminal "
                                      f"states, or a smaller γ)")
            self.long = (g + slack) / ((1.0 - g) - slack) * (1.0 + 4 * _EPS)
            self.short = max(g - slack, 0.0) / ((1.0 - g) + slack) * (1.0 - 4 * _EPS)
            self.horizon = 1.0 / (1.0 - mdp.gamma)
            self._check_scale("max |R| / (1 − γ)", f"= {self.max_R:.3g} / {1 - mdp.gamma:.3g}")
            return
        self.dev = 0.0  # at γ = 1 the time vectors are verified against P itself
        self.start = proper_actions(mdp)
        trap = trap_states(mdp)
        self.all_proper = not trap.any()
        if not self.all_proper:
            self.cost = self._step_cost(trap)
        shortest = -_pi_core(_step_counting(mdp, -1.0), self.start)[0]
        self.short = np.maximum(_steps_bound(mdp, shortest, "min") - 1.0, 0.0)
        if self.all_proper:
            self.long = _steps_bound(mdp, _pi_core(_step_counting(mdp, 1.0), self.start)[0], "max") - 1.0
            self.long[~self.live] = 0.0
            self.horizon = float(self.long.max(initial=0.0)) + 1.0
            what = "max |R| × the longest expected episode"
        else:
            self.long = None
            self.horizon = float(self.policy_steps(self.start).max(initial=0.0))
            what = "max |R| × the expected episode length of a proper policy"
        self._check_scale(what, f"= {self.max_R:.3g} × {self.horizon:.6g} steps")

    def _check_scale(self, what: str, detail: str) -> None:
        if self.max_R > _FMAX / _HEADROOM / self.horizon:
            raise _values_overflow(what, detail)

    def _step_cost(self, trap: np.ndarray) -> float:
        """``c`` of case 2 (module docstring), or a ``ValidationError`` explaining why γ = 1 is refused."""
        mdp = self.mdp
        allowed = np.ones((mdp.S, mdp.A), bool) if mdp.allowed is None else mdp.allowed
        live_R = np.where(allowed & self.live[:, None], mdp.R, -np.inf)
        # Actions that keep a trap state inside the trap: a policy using them never terminates.
        out = np.asarray(mdp.P_flat @ (~trap).astype(np.float64)).reshape(mdp.S, mdp.A)
        trapping = allowed & trap[:, None] & (out <= 0.0)
        looping = np.where(trapping, mdp.R, -np.inf)
        traps = describe_states(mdp, np.flatnonzero(trap))
        if looping.max() >= 0.0:
            s, a = np.unravel_index(int(np.argmax(looping)), looping.shape)
            raise ValidationError(f"at γ = 1 a policy can stay forever among {traps} without terminating while "
                                  f"earning R[{s}, {a}] = {mdp.R[s, a]:g} ≥ 0 per step, so optimal values may be "
                                  f"+∞ or not unique (use γ < 1, or make every non-terminating step cost)")
        if live_R.max() >= 0.0:
            s, a = np.unravel_index(int(np.argmax(live_R)), live_R.shape)
            raise ValidationError(f"at γ = 1 some policies never terminate (they can stay among {traps}); the "
                                  f"solvers then need every step to cost (R < 0 at non-terminal states) for their "
                                  f"guarantees, but R[{s}, {a}] = {mdp.R[s, a]:g} (use γ < 1)")
        return float(-live_R.max())

    def policy_steps(self, actions: np.ndarray) -> np.ndarray | None:
        """A verified upper bound ``θ ≥ τ_π`` on the expected steps to termination of ``actions`` (γ = 1),
        or ``None`` if the policy is improper."""
        P_pi, _ = _deterministic_transition(self.mdp, actions)
        if improper_class(self.mdp, P_pi) is not None:
            return None
        tau = _solve_policy(self.mdp, P_pi, self.live.astype(np.float64), check=False)
        return _steps_bound(self.mdp, tau, "policy", actions)

    def certify(self, backups: _Backups, V: np.ndarray, midpoint: bool, full: bool = True,
                split: tuple[np.ndarray, float] | None = None) -> _Check:
        """Back up ``V`` and bound ``V*``; the estimate is the midpoint of the interval or ``V`` itself.

        Near γ = 1 the values are ``~1/(1 − γ)`` times larger than the residual that the bound
        multiplies by ``~1/(1 − γ)``, so forming ``Δ = B*V − V`` at the scale of ``V`` would cost a
        rounding error of ``ε‖V‖/(1 − γ)``. Where it is smaller, ``B*V`` is formed as
        ``B*(V − κ) + γκ`` with ``κ`` the mid-range of ``V`` (γ < 1), and
        ``Δ = B*(V − κ) − (V − κ) − (1 − γ)κ`` at the scale of ``V − κ``; the shift is exact up to
        ``γ|κ|δ`` (``δ``: the row sums' deviation from 1). The allowance ``err`` covers each
        backup's ``terms`` products, the subtraction and the shift. With ``full=False`` in case 2
        the lower side uses ``ζ`` for ``τ_π``: optimistic, a cheap test whether the full bound can
        meet a tolerance. ``split = (h, c)`` with ``V = h + c`` (from a deflated solve) uses ``U = h``,
        ``κ = c`` exactly, without the rounding of ``V`` itself.
        """
        gamma, live, terms = self.mdp.gamma, self.live, self.terms
        if split is not None and split[1]:
            U, kappa = split
        else:
            top = float(np.abs(V).max(initial=0.0))
            kappa = 0.5 * (float(V.max()) + float(V.min())) if gamma < 1.0 and V.size else 0.0
            shifted = (terms + 2) * _EPS * gamma * (top - abs(kappa)) + gamma * abs(kappa) * self.dev
            if not shifted < (terms + 2) * _EPS * gamma * top / 2:
                kappa = 0.0
            U = V - kappa
        TU, actions = backups.optimal(U)
        TV = TU + gamma * kappa if kappa else TU
        delta = (TU - U - (1.0 - gamma) * kappa)[live]
        err = ((terms + 2) * _EPS * (self.max_R + gamma * float(np.abs(U).max(initial=0.0)))
               + _EPS * (float(np.abs(TU).max(initial=0.0)) + 2 * abs((1.0 - gamma) * kappa))
               + gamma * abs(kappa) * self.dev)
        lo = (float(delta.min()) if delta.size else 0.0) - err
        hi = (float(delta.max()) if delta.size else 0.0) + err
        certified = True
        with np.errstate(invalid="ignore", over="ignore"):
            if self.long is not None:
                lower = TV + lo * (self.long if lo < 0 else self.short)
                upper = TV + hi * (self.long if hi > 0 else self.short)
            else:
                if lo >= 0:
                    lower = TV + lo * self.short
                elif not full:
                    lower, certified = TV + lo * self.short, False
                else:
                    theta = self.policy_steps(actions)
                    lower = TV - np.inf if theta is None else TV + lo * (theta - 1.0)
                upper = TV + hi * self.short if hi <= 0 else V + hi * np.maximum(-lower / self.cost, 1.0)
            # TV itself carries the backup's rounding: widen by err.
            lower, upper = lower - err, upper + err
            if gamma == 1.0:
                lower = np.where(live, lower, 0.0)
                upper = np.where(live, upper, 0.0)
            X = (lower + upper) / 2 if midpoint else V
            gap = float(np.max(np.maximum(upper - X, X - lower), initial=0.0))
            scale = float(np.max(np.maximum(np.abs(lower), np.abs(upper)), initial=0.0))
            longest = float(np.max(self.long if self.long is not None else self.short, initial=0.0))
        bound = max(gap, 0.0) + 4 * _EPS * scale if math.isfinite(gap) and math.isfinite(scale) else math.inf
        if not math.isfinite(bound):
            X = TV if midpoint else V
        # What would remain with an exact, zero residual: rounding alone.
        floor = err * (longest + 1.0) + 4 * _EPS * float(np.abs(TV).max(initial=0.0))
        residual = float(np.abs(delta).max(initial=0.0))
        shift = None
        if gamma < 1.0 and self.long is not None:
            low = lo * (self.long if lo < 0 else self.short)
            shift = (0.5 * (low + hi * (self.long if hi > 0 else self.short)), low - err)
        return _Check(TV, actions, X, bound, floor, certified, residual, (TU, gamma * kappa), shift)

    def max_sweeps(self, V: np.ndarray, TV: np.ndarray, first_bound: float, tol: float) -> int:
        """Sweeps by which the bound must be ≤ tol (up to the rounding allowance)."""
        gamma = self.mdp.gamma
        if not math.isfinite(first_bound):
            return SSP_MAX_SWEEPS
        if gamma < 1.0:
            return _max_sweeps(gamma, first_bound, tol)
        if self.long is None:
            return SSP_MAX_SWEEPS
        # ‖Δ_k‖_ξ ≤ β^k ‖Δ_0‖_ξ with β = 1 − 1/max ξ (B&T 1996, Prop. 2.2), and the half-width of the
        # interval is at most ‖Δ‖∞·(max ξ − 1) ≤ max ξ·(max ξ − 1)·‖Δ‖_ξ.
        xi = self.long + 1.0
        top = float(xi.max(initial=1.0))
        if top <= 1.0 or first_bound <= tol:
            return 1
        weighted = float(np.max(np.abs(TV - V)[self.live] / xi[self.live], initial=0.0))
        start = top * (top - 1.0) * weighted
        if start <= tol:
            return 2
        return math.ceil(math.log(tol / start) / math.log1p(-1.0 / top)) + 3


def _max_sweeps(gamma: float, first_bound: float, tol: float) -> int:
    """Sweeps by which the span bound must be ≤ tol at γ < 1: it shrinks by at least γ per sweep."""
    if gamma == 0.0 or first_bound <= tol:
        return 1
    return math.ceil(math.log(tol / first_bound) / math.log(gamma)) + 3


# ------------------------------------------------------------------------------- solvers
def _check_tol(tol: float) -> float:
    if not (tol > 0 and math.isfinite(tol)):
        raise ValidationError(f"tol = {tol!r} must be a positive number")
    return float(tol)


def _finish(backups: _Backups, V: np.ndarray, method: str, iterations: int, residuals: list[float],
            start: float, bound: float, converged: bool) -> SolveResult:
    mdp = backups.mdp
    Q = backups.q(V)
    if not (np.all(np.isfinite(V)) and np.all(np.isfinite(Q[mdp.allowed] if mdp.allowed is not None else Q))):
        raise SolverError(f"values overflow: {method} produced non-finite values (max |R| = "
                          f"{np.abs(mdp.R).max():.3g}, γ = {mdp.gamma:.15g})")
    return SolveResult(V=V, Q=Q, actions=greedy_actions(Q, mdp.allowed), iterations=iterations,
                       residuals=np.asarray(residuals), seconds=time.perf_counter() - start,
                       method=method, error_bound=bound, converged=converged)


def _span_iteration(mdp: FiniteMDP, tol: float, V: np.ndarray, m: int, max_iter: int | None,
                    progress: Progress | None, method: str, start: float,
                    cert: _Certifier) -> SolveResult:
    """``V ← (B^{π_V})^m V`` with ``π_V`` greedy for ``V`` (``m = 1``: value iteration), stopped by the bound."""
    backups = _Backups(mdp)
    if mdp.gamma == 1.0:
        V = np.where(cert.live, V, 0.0)
    # The iterate is kept as h + κ (κ a constant, γ < 1): B*(h + κ) = B*h + γκ, so h stays at the
    # scale of V's spread while V itself may grow like r/(1 − γ) (relative value iteration; White 1963).
    h, kappa = V, 0.0
    residuals: list[float] = []
    k, restarts, last_restart, previous, stalled = 0, 0, 0, math.inf, 0
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            V = h + kappa if kappa else h
            check = cert.certify(backups, V, midpoint=True, full=False, split=(h, kappa))
            k += 1
            if not check.certified and (check.bound <= tol or (max_iter is not None and k >= max_iter)):
                check = cert.certify(backups, V, midpoint=True, split=(h, kappa))
            residuals.append(check.residual)
            advance(progress, 1, bound=check.bound)
            if k == 1 and max_iter is None:
                max_iter = cert.max_sweeps(V, check.TV, check.bound, tol)
            if (check.bound <= tol and check.certified) or k >= max_iter:
                break
            stalled = stalled + 1 if check.bound > 0.99 * previous else 0
            if check.certified and restarts >= MAX_RESTARTS and stalled >= STALL_SWEEPS:
                break  # no progress left to make (the warning below gives the bound reached)
            if check.floor > tol and check.certified and check.bound <= 2 * check.floor:
                break  # rounding alone keeps the bound above tol: stop at the best certifiable accuracy
            h, kappa = check.backed_up
            if (check.certified and math.isfinite(check.bound) and check.bound > 0.9 * previous
                    and restarts < MAX_RESTARTS and k - last_restart >= 10 and (m == 1 or check.shift)):
                # Stalled: the bound is held up by the residual's mean, not its spread (as γ → 1 the
                # rounding of the extrapolation factor makes it a floor). Restart from the interval:
                # VI (which converges from any start) from its midpoint; MPI, which needs B*V ≥ V,
                # from its lower end (Puterman 1994 §6.6.3). At γ < 1 both are constant shifts of V,
                # which leave the span of the next residual unchanged and remove its mean.
                if check.shift is not None:
                    kappa += check.shift[0] if m == 1 else check.shift[1]
                else:
                    h, kappa = check.X, 0.0
                restarts, last_restart = restarts + 1, k
            previous = check.bound
            for _ in range(m - 1):
                h, kappa = backups.policy(h, check.actions), mdp.gamma * kappa
            if mdp.gamma < 1.0 and h.size:
                mid = 0.5 * (float(h.max()) + float(h.min()))
                h, kappa = h - mid, kappa + mid
    if not check.certified:
        check = cert.certify(backups, V, midpoint=True, split=(h, kappa))
    bound = check.bound
    converged = bound <= tol
    if not converged:
        why = (f": float64 rounding alone leaves {check.floor:.3g} at γ = {mdp.gamma:.15g} (policy iteration "
               f"reports V^π with its own bound)" if check.floor > tol else "")
        warnings.warn(f"{method} stopped after {k} iterations with error bound {bound:.3g} > tol {tol:.3g}{why}",
                      RuntimeWarning, stacklevel=3)
    return _finish(backups, check.X, method, k, residuals, start, bound, converged)


def value_iteration(mdp: FiniteMDP, tol: float = 1e-6, V0: np.ndarray | None = None,
                    max_iter: int | None = None, progress: Progress | None = None) -> SolveResult:
    """Value iteration ``V_{k+1} = B*V_k`` stopped by the guaranteed bound: returns ``‖V − V*‖∞ ≤ tol``.

    Args:
        tol: guaranteed accuracy of the returned values (the midpoint of the interval of the
            module docstring). When the bound stalls (held up by the residual's mean, as happens
            for γ within ~1e-5 of 1), VI restarts from that midpoint, at most :data:`MAX_RESTARTS`
            times, then stops after :data:`STALL_SWEEPS` sweeps without progress (with a warning).
        V0: ``(S,)`` starting values (default zeros; at γ = 1 terminal states are set to 0).
        max_iter: cap on sweeps; by default the number after which the bound must have been met
            (γ = 1 with improper policies: :data:`SSP_MAX_SWEEPS`).
        progress: advanced by one per sweep, with the current ``bound`` as status.
    """
    start = time.perf_counter()
    tol = _check_tol(tol)
    cert = _Certifier(mdp)
    V = np.zeros(mdp.S) if V0 is None else np.array(V0, dtype=np.float64)
    return _span_iteration(mdp, tol, V, 1, max_iter, progress, "vi", start, cert)


def _pi_core(mdp: FiniteMDP, actions: np.ndarray, max_iter: int = 10_000, progress: Progress | None = None,
             cert: _Certifier | None = None) -> tuple[np.ndarray, tuple[np.ndarray, float], int, list[float]]:
    """Howard's loop from the deterministic ``actions``: ``(V, V as (h, c), iterations, residuals)``.

    An action is only replaced by a strictly better one (beyond round-off), which rules out cycling
    between tied actions. At γ = 1 started from a proper policy it stays proper (B&T 1996, Prop. 2.3).
    """
    backups = _Backups(mdp)
    check = mdp.gamma == 1.0 and (cert is None or not cert.all_proper)
    V = None
    residuals: list[float] = []
    for k in range(1, max_iter + 1):
        P_pi, r_pi = _deterministic_transition(mdp, actions)
        split = _solve_policy_split(mdp, P_pi, r_pi, x0=V, check=check, what=f"policy iteration's policy {k}")
        h, c = split
        V = h + c if c else h
        # Compare actions on h: B(h + c) = B(h) + γc for every action, so the decisions are the same,
        # but taken at the scale of h rather than of V ≈ c ≈ r/(1 − γ).
        Th, best = backups.optimal(h)
        residuals.append(float(np.max(np.abs(Th - h - (1.0 - mdp.gamma) * c))))
        if progress is not None and cert is not None:
            advance(progress, 1, bound=cert.certify(backups, V, midpoint=False, full=False, split=split).bound)
        current = backups.policy(h, actions)
        improve = Th > current + 1e-12 * np.maximum(1.0, np.abs(current))
        if not improve.any():
            return V, split, k, residuals
        actions = np.where(improve, best, actions)
    raise SolverError(f"policy iteration did not stabilise in {max_iter} improvements")


def policy_iteration(mdp: FiniteMDP, pi0: np.ndarray | None = None, max_iter: int = 10_000,
                     progress: Progress | None = None) -> SolveResult:
    """Howard's policy iteration: exact evaluation, then greedy improvement, until the policy is stable.

    Terminates in finitely many steps (Puterman Thm 6.4.2; at γ = 1, B&T 1996 Prop. 2.3). Returns
    the last policy's values ``V^π`` with the guaranteed bound of the module docstring (it accounts
    for the linear solves' and the backups' rounding, so it is never 0 unless everything is).

    Args:
        pi0: starting policy ``(S, A)``; default: greedy with respect to ``R`` (at γ = 1, if that
            is improper, the proper policy of :func:`triad.mdp.proper_actions`). At γ = 1 a given
            ``pi0`` must be proper.
    """
    start = time.perf_counter()
    cert = _Certifier(mdp)
    if pi0 is None:
        actions = greedy_actions(mdp.R, mdp.allowed)
        if mdp.gamma == 1.0 and improper_class(mdp, _deterministic_transition(mdp, actions)[0]) is not None:
            actions = cert.start
    else:
        pi0 = validate_policy(pi0, mdp, "pi0")
        if not np.all((pi0 == 0) | (pi0 == 1)):
            raise ValidationError("pi0 must be deterministic (one-hot rows) for policy iteration")
        actions = np.argmax(pi0, axis=1)
        if mdp.gamma == 1.0:
            check_proper(mdp, _deterministic_transition(mdp, actions)[0], "pi0")
    with np.errstate(over="ignore", invalid="ignore"):
        V, split, k, residuals = _pi_core(mdp, actions, max_iter, progress, cert)
        backups = _Backups(mdp)
        bound = cert.certify(backups, V, midpoint=False, split=split).bound
    return _finish(backups, V, "pi", k, residuals, start, bound, math.isfinite(bound))


def modified_policy_iteration(mdp: FiniteMDP, tol: float = 1e-6, m: int = 10, V0: np.ndarray | None = None,
                              max_iter: int | None = None, progress: Progress | None = None) -> SolveResult:
    """Modified policy iteration (Puterman & Shin 1978; Puterman 1994 §6.5).

    Each iteration takes the greedy policy ``π_k`` of ``V_k`` and sets ``V_{k+1} = (B^{π_k})^m V_k``;
    ``m = 1`` is value iteration, ``m → ∞`` is policy iteration. The start ``V0`` must satisfy
    ``B*V0 ≥ V0`` for convergence; the default is ``min R / (1 − γ)``, and at γ = 1
    ``min(min R, 0)·θ`` with ``θ ≥ τ_π0`` the verified expected steps of a proper policy ``π0``
    (then ``B^{π0}V0 ≥ V0``; the iterates increase to ``V*``). Stopped by the same bound as VI.
    """
    start = time.perf_counter()
    tol = _check_tol(tol)
    if m < 1:
        raise ValidationError(f"m = {m} must be at least 1")
    cert = _Certifier(mdp)
    allowed_R = mdp.R if mdp.allowed is None else np.where(mdp.allowed, mdp.R, np.inf)
    if V0 is not None:
        V = np.array(V0, dtype=np.float64)
    elif mdp.gamma < 1.0:
        V = np.full(mdp.S, allowed_R.min() / (1 - mdp.gamma))
    else:
        low = min(float(allowed_R[cert.live].min(initial=0.0)), 0.0)
        V = low * cert.policy_steps(cert.start)
    return _span_iteration(mdp, tol, V, m, max_iter, progress, "mpi", start, cert)


def linear_program(mdp: FiniteMDP) -> SolveResult:
    """The LP ``min Σ_s V(s)/S  s.t.  V(s) ≥ R(s, a) + γ Σ_s' P(s'|s, a) V(s')`` (HiGHS), with the guaranteed bound.

    Its unique solution is ``V*`` (Puterman 1994 §6.9; d'Epenoux 1963; at γ = 1 over the
    non-terminal states with terminal values fixed at 0, B&T 1996 §2.2). Positive weights on every
    state pin down ``V*`` everywhere, not only on the support of an initial distribution. The
    constraint matrix ``γP − E`` (``E`` repeats each state's row for its actions) goes to HiGHS as
    a sparse ``(S·A, S)`` matrix with ``nnz(P) + S·A`` entries and rewards scaled to ``max |R| = 1``
    (HiGHS treats bounds beyond 1e20 as infinite).

    Up to :data:`LP_PDLP_MIN_STATES` states: HiGHS's dual simplex (up to
    :data:`LP_SIMPLEX_MAX_STATES`) or interior-point method with crossover (scipy), whose answer is
    a vertex. Every basis of this LP is ``I − γP^π`` for some policy, and on
    random sparse MDPs its LU factors fill in (S = 3,000: 20 s with the optimal basis given, 0
    pivots), so beyond that size the primal-dual first-order method PDLP (Applegate et al. 2021;
    HiGHS's cuPDLP-C), which needs only products with the matrix, solves it to 1e-6. Then, for
    either, the vertex of the greedy policy ``π`` of the LP's values (the basis whose columns are
    the rows ``(s, π(s))``) is computed exactly: its values ``V^π`` by :func:`evaluate_policy`'s
    solver. Whichever of the LP's values and ``V^π`` has the smaller guaranteed bound is returned.

    Raises:
        ValidationError: for more than :data:`LP_MAX_STATES` states (use policy iteration).
    """
    if mdp.S > LP_MAX_STATES:
        raise ValidationError(f"lp on {mdp.S:,} states would be slow (HiGHS needs about a minute at "
                              f"{LP_MAX_STATES:,} states and more beyond): use method 'pi' (policy iteration), "
                              f"which is exact too")
    start = time.perf_counter()
    cert = _Certifier(mdp)
    S, A = mdp.S, mdp.A
    scale = cert.max_R if cert.max_R > 0 else 1.0
    E = sp.csr_array((np.ones(S * A), (np.arange(S * A), np.repeat(np.arange(S), A))), shape=(S * A, S))
    A_ub = sp.csr_array(mdp.gamma * sp.csr_array(mdp.P_flat) - E)
    b_ub = -mdp.R.ravel() / scale
    keep = np.ones(S * A, bool) if mdp.allowed is None else mdp.allowed.ravel().copy()
    upper = np.full(S, np.inf)
    if mdp.gamma == 1.0:
        keep &= np.repeat(cert.live, A)
        upper[~cert.live] = 0.0
    lower = -upper
    A_ub, b_ub = A_ub[keep], b_ub[keep]
    c = np.full(S, 1.0 / S)
    if S <= LP_PDLP_MIN_STATES:
        bounds = np.column_stack([lower, upper])
        # Simplex on small LPs (robust on degenerate ones); interior point beyond (5× faster at S = 1,000).
        for method in ("highs-ipm", "highs-ds") if S > LP_SIMPLEX_MAX_STATES else ("highs-ds",):
            res = scipy.optimize.linprog(c, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method=method)
            if res.status == 0:
                break
        else:
            raise SolverError(f"LP solver failed: {res.message}")
        V, iterations = np.asarray(res.x) * scale, int(res.nit)
    else:
        x, iterations = _pdlp(c, sp.csc_array(A_ub), b_ub, lower, upper)
        V = x * scale
    if mdp.gamma == 1.0:
        V[~cert.live] = 0.0
    backups = _Backups(mdp)
    with np.errstate(over="ignore", invalid="ignore"):
        check = cert.certify(backups, V, midpoint=False)
        if np.all(np.isfinite(check.TV)):
            P_pi, r_pi = _deterministic_transition(mdp, check.actions)
            if mdp.gamma < 1.0 or improper_class(mdp, P_pi) is None:
                split = _solve_policy_split(mdp, P_pi, r_pi, x0=V, check=False)
                vertex = split[0] + split[1] if split[1] else split[0]
                polished = cert.certify(backups, vertex, midpoint=False, split=split)
                if polished.bound < check.bound:
                    V, check = vertex, polished
    return _finish(backups, V, "lp", iterations, [check.residual], start, check.bound, math.isfinite(check.bound))


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1: HiGHS's C++ constructor prints a banner there before options apply."""
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _pdlp(c: np.ndarray, A_ub: sp.csc_array, b_ub: np.ndarray, lower: np.ndarray,
          upper: np.ndarray) -> tuple[np.ndarray, int]:
    """``min cᵀx  s.t.  A_ub x ≤ b_ub, lower ≤ x ≤ upper`` by HiGHS's PDLP: ``(x, iterations)``."""
    import highspy

    with _quiet_stdout():
        h = highspy.Highs()
    for option, value in (("output_flag", False), ("solver", "pdlp"), ("primal_feasibility_tolerance", 1e-6),
                          ("dual_feasibility_tolerance", 1e-6), ("pdlp_iteration_limit", LP_PDLP_MAX_ITERATIONS),
                          ("threads", 1)):
        h.setOptionValue(option, value)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = A_ub.shape[1], A_ub.shape[0]
    inf = highspy.kHighsInf
    lp.col_cost_ = c
    lp.col_lower_ = np.where(np.isfinite(lower), lower, -inf)
    lp.col_upper_ = np.where(np.isfinite(upper), upper, inf)
    lp.row_lower_ = np.full(A_ub.shape[0], -inf)
    lp.row_upper_ = b_ub
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A_ub.indptr
    lp.a_matrix_.index_ = A_ub.indices
    lp.a_matrix_.value_ = A_ub.data
    h.passModel(lp)
    h.run()
    x = np.array(h.getSolution().col_value, dtype=np.float64)
    if x.shape != (A_ub.shape[1],) or not np.all(np.isfinite(x)):
        raise SolverError(f"LP solver (PDLP) failed: {h.modelStatusToString(h.getModelStatus())}")
    return x, int(h.getInfo().pdlp_iteration_count)


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
