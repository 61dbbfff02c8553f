"""Exact bias and variance of return and advantage estimators on a finite MDP, and a sampler of them.

The process (exactly what :func:`triad.sampling.rollout` draws): in state ``s`` take ``a ~ π(·|s)``
(or a given first action), receive ``r = R(s, a) + σ(s, a)·ε`` with ``ε ~ N(0, 1)`` independent of
everything else (``σ = mdp.reward_std``, zero if absent), move to ``s' ~ P(·|s, a)``; the episode
terminates when ``s'`` is terminal, so the discount to ``s'`` is ``γ'(s') = γ·(1 − terminal(s'))``.

Every estimator ``X`` of ``V^π(s)`` studied here satisfies a one-step recursion

    X(s) = r + γ'(s')·Y(s'),

where ``Y(s')`` depends only on what happens from ``s'`` on: the Monte-Carlo return has
``Y = G(s')``; the n-step return ``G⁽ⁿ⁾`` has ``Y = G⁽ⁿ⁻¹⁾(s')`` with ``G⁽⁰⁾ = V̂`` (the state
augmented by the steps left); the λ-return has ``Y = (1 − λ)·V̂(s') + λ·G^λ(s')``. Conditioning on
``(a, s')`` (law of total variance) gives, for the first action ``a``,

    E[X | s, a]   = R(s, a) + γ Σ_s' P̃(s'|s, a) E[Y | s'],
    Var[X | s, a] = σ²(s, a) + γ² Var_{s'~P(·|s,a)}[(1 − terminal(s'))·E[Y | s']]
                    + γ² Σ_s' P̃(s'|s, a) Var[Y | s'],

with ``P̃(s'|s, a) = P(s'|s, a)·(1 − terminal(s'))``, and over ``a ~ π``,
``Var[X | s] = Σ_a π(a|s) (Var[X | s, a] + (E[X | s, a] − E[X | s])²)``. For Monte-Carlo and
λ-returns these are linear fixed-point equations (the variance Bellman equation of Sobel 1982;
its λ-return form, White & White 2016); for n-step returns ``n`` backups from ``V̂``. Variances are
built from non-negative terms, never as ``E[X²] − E[X]²``, so they carry no cancellation error.

Advantage estimators of ``A^π(s, a) = Q^π(s, a) − V^π(s)`` start with the action ``a`` and subtract
``V̂(s)``: Monte-Carlo ``G − V̂(s)``, n-step ``G⁽ⁿ⁾ − V̂(s)`` and GAE(λ), which equals
``G^λ − V̂(s)`` (Schulman et al. 2016, eq. 18), so their moments are the first-action moments above.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse as sp

from triad import multistep
from triad.errors import ValidationError
from triad.linalg import solve_resolvent
from triad.mdp import FiniteMDP, check_finite, validate_policy
from triad.operators import policy_transition, state_values
from triad.sampling import Sampler, rollout, sample_actions
from triad.solvers import evaluate_policy, evaluate_q

VALUE_ESTIMATORS = ("mc", "nstep", "lambda")
"""Estimators of ``V^π(s)``: Monte-Carlo return, n-step return, λ-return."""

ADVANTAGE_ESTIMATORS = ("mc", "nstep", "gae")
"""Estimators of ``A^π(s, a)``: ``G − V̂(s)``, ``G⁽ⁿ⁾ − V̂(s)``, GAE(λ)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Moments:
    """Exact (or sampled) moments of an estimator, per start state ``(S,)`` or pair ``(S, A)``.

    Attributes:
        estimator: its name, e.g. ``"lambda"``.
        mean: ``E[X]``.
        variance: ``Var[X]``.
        target: what ``X`` estimates: ``V^π`` or ``A^π``.
    """

    estimator: str
    mean: np.ndarray
    variance: np.ndarray
    target: np.ndarray

    @property
    def bias(self) -> np.ndarray:
        """``E[X] − target``."""
        return self.mean - self.target

    @property
    def mse(self) -> np.ndarray:
        """``E[(X − target)²] = bias² + variance``."""
        return self.bias**2 + self.variance


# ---------------------------------------------------------------------------------- validation
def _check_options(estimator: str, choices: tuple[str, ...], kind: str, n: int, lam: float) -> None:
    if estimator not in choices:
        raise ValidationError(f"unknown {kind} estimator {estimator!r} (choose from {', '.join(choices)})")
    if estimator == "nstep" and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValidationError(f"n = {n!r} must be an integer ≥ 1")
    if estimator in ("lambda", "gae") and not 0.0 <= lam <= 1.0:
        raise ValidationError(f"lam = {lam:g} is outside [0, 1]")


def _check_v_hat(mdp: FiniteMDP | Episodes, v_hat: np.ndarray | None, needed: bool) -> np.ndarray:
    if v_hat is None:
        if needed:
            raise ValidationError("this estimator bootstraps from (or subtracts) a value estimate: pass v_hat, shape (S,)")
        return np.zeros(mdp.S)
    v_hat = np.asarray(v_hat, dtype=np.float64)
    if v_hat.shape != (mdp.S,):
        raise ValidationError(f"v_hat has shape {v_hat.shape}, expected (S,) = ({mdp.S},)")
    check_finite(v_hat, "v_hat")
    return v_hat


# --------------------------------------------------------------------------------------- exact
class _Dynamics:
    """What the moment recursions need from ``(mdp, π)``, computed once."""

    def __init__(self, mdp: FiniteMDP, pi: np.ndarray):
        self.mdp = mdp
        self.pi = validate_policy(pi, mdp)
        self.cont = 1.0 - (mdp.terminal if mdp.terminal is not None else np.zeros(mdp.S, bool))
        self.noise = np.zeros((mdp.S, mdp.A)) if mdp.reward_std is None else np.asarray(mdp.reward_std) ** 2
        P_pi = policy_transition(mdp, self.pi)
        # P̃^π: transitions into terminal states carry no further value.
        self.P_cont = (sp.csr_array(P_pi @ sp.diags_array(self.cont)) if sp.issparse(P_pi)
                       else P_pi * self.cont[None, :])
        flat = sp.csr_array(mdp.P_flat)
        self.rows = np.repeat(np.arange(mdp.S * mdp.A), np.diff(flat.indptr))
        self.cols = flat.indices
        self.probs = flat.data

    def one_step(self, mean_y: np.ndarray, var_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(E[X | s, a], Var[X | s, a])``, ``(S, A)``, from ``E[Y | s']`` and ``Var[Y | s']``."""
        mdp = self.mdp
        y = self.cont * mean_y
        e = mdp.expect(y)
        gap = y[self.cols] - e.ravel()[self.rows]
        spread = np.bincount(self.rows, weights=self.probs * gap * gap, minlength=mdp.S * mdp.A)
        var = self.noise + mdp.gamma**2 * (spread.reshape(mdp.S, mdp.A) + mdp.expect(self.cont * var_y))
        return mdp.R + mdp.gamma * e, var

    def over_actions(self, mean_sa: np.ndarray, var_sa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State-level ``(E[X | s], Var[X | s])`` with ``a ~ π`` (law of total variance)."""
        mean = state_values(mean_sa, self.pi)
        return mean, state_values(var_sa + (mean_sa - mean[:, None]) ** 2, self.pi)


def _first_action_moments(dyn: _Dynamics, estimator: str, v_hat: np.ndarray, n: int,
                          lam: float) -> tuple[np.ndarray, np.ndarray]:
    """``(E[X | s, a], Var[X | s, a])`` of the Monte-Carlo, n-step or λ-return started with ``a``."""
    if estimator == "nstep":
        mean, var = v_hat, np.zeros(dyn.mdp.S)  # G⁽⁰⁾ = V̂, known exactly
        for _ in range(n):
            mean_sa, var_sa = dyn.one_step(mean, var)
            mean, var = dyn.over_actions(mean_sa, var_sa)
        return mean_sa, var_sa
    lam = 1.0 if estimator == "mc" else lam
    g = dyn.mdp.gamma
    # E[G^λ] = r^π + γ P̃^π ((1 − λ) V̂ + λ E[G^λ])
    r_pi = state_values(dyn.mdp.R, dyn.pi)
    m = solve_resolvent(dyn.P_cont, g * lam, r_pi + g * (1.0 - lam) * (dyn.P_cont @ v_hat))
    mean_y = (1.0 - lam) * v_hat + lam * m
    # Var[G^λ | s] = c(s) + γ²λ² P̃^π Var[G^λ]: c holds every term but the copy from s'.
    mean_sa, local_sa = dyn.one_step(mean_y, np.zeros(dyn.mdp.S))
    _, c = dyn.over_actions(mean_sa, local_sa)
    # The solve of a non-negative fixed point can land a few ulps below 0 (seen: −9e-44): clip.
    v = np.clip(solve_resolvent(dyn.P_cont, (g * lam) ** 2, c), 0.0, None)
    return mean_sa, local_sa + (g * lam) ** 2 * dyn.mdp.expect(dyn.cont * v)


def value_moments(mdp: FiniteMDP, pi: np.ndarray, estimator: str, v_hat: np.ndarray | None = None,
                  n: int = 1, lam: float = 1.0) -> Moments:
    """Exact mean and variance of an estimator of ``V^π(s)`` for every start state.

    Args:
        estimator: ``"mc"`` (Monte-Carlo return), ``"nstep"`` (n-step return bootstrapping from
            ``v_hat``) or ``"lambda"`` (λ-return bootstrapping from ``v_hat``).
        v_hat: ``(S,)`` any value estimate (needed by ``nstep`` and ``lambda``).
        n, lam: the estimator's parameter.
    Returns:
        :class:`Moments` of shape ``(S,)`` with ``target = V^π``. With ``v_hat = V^π`` every
        estimator is unbiased; ``lam = 1`` gives the Monte-Carlo moments.
    """
    _check_options(estimator, VALUE_ESTIMATORS, "value", n, lam)
    v_hat = _check_v_hat(mdp, v_hat, needed=estimator != "mc")
    dyn = _Dynamics(mdp, pi)
    mean, var = dyn.over_actions(*_first_action_moments(dyn, estimator, v_hat, n, lam))
    return Moments(estimator, mean, var, evaluate_policy(mdp, dyn.pi))


def advantage_moments(mdp: FiniteMDP, pi: np.ndarray, estimator: str, v_hat: np.ndarray,
                      n: int = 1, lam: float = 1.0) -> Moments:
    """Exact mean and variance of an estimator of ``A^π(s, a)`` for every pair ``(s, a)``.

    Args:
        estimator: ``"mc"`` (``G − V̂(s)``), ``"nstep"`` (``G⁽ⁿ⁾ − V̂(s)``, Sutton & Barto 2018
            §13.5 with n steps) or ``"gae"`` (GAE(λ), Schulman et al. 2016).
        v_hat: ``(S,)`` the critic: baseline and bootstrap.
    Returns:
        :class:`Moments` of shape ``(S, A)`` with ``target = Q^π − V^π``.
    """
    _check_options(estimator, ADVANTAGE_ESTIMATORS, "advantage", n, lam)
    v_hat = _check_v_hat(mdp, v_hat, needed=True)
    dyn = _Dynamics(mdp, pi)
    kind = "lambda" if estimator == "gae" else estimator
    mean_sa, var_sa = _first_action_moments(dyn, kind, v_hat, n, lam)
    q = evaluate_q(mdp, dyn.pi)
    return Moments(estimator, mean_sa - v_hat[:, None], var_sa, q - state_values(q, dyn.pi)[:, None])


# ------------------------------------------------------------------------------------- sampled
SAMPLE_CHUNK = 1 << 20
"""Upper bound on ``horizon × streams`` :func:`sample_estimates` simulates at once (memory only)."""

SAMPLE_BLOCK = 32
""":func:`simulate` advances this many steps at a time, stopping once every episode has ended."""


def default_horizon(gamma: float, tol: float = 1e-10) -> int:
    """The smallest ``H`` with ``γ^H ≤ tol``: the sampler cuts episodes after ``H`` steps.

    The cut replaces what would follow step ``H`` (a return, or for λ-returns a return mixed with
    ``V̂``) by 0 or ``V̂(s_H)``, a change weighted by at most ``γ^H``: it moves the mean by at most
    ``γ^H·(max|R|/(1 − γ) + max|V̂|)``, far below the sampling error at the default ``tol``.
    """
    return 1 if gamma == 0.0 else max(1, math.ceil(math.log(tol) / math.log(gamma)))


@dataclasses.dataclass(frozen=True, eq=False)
class Episodes:
    """Simulated episodes, one stream per start, time on axis 0, cut after ``H`` steps.

    ``S``: states of the MDP; ``s0: (B,)`` start states; ``r_t, discount_t, next_s_t: (H, B)``:
    reward, discount ``γ·(1 − terminated)`` and state reached at each step. Step 0 takes the given
    first action.
    """

    S: int
    s0: np.ndarray
    r_t: np.ndarray
    discount_t: np.ndarray
    next_s_t: np.ndarray


def starts(mdp: FiniteMDP, streams: int, advantage: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """``streams`` copies of every state (or, with ``advantage``, every pair): ``s0`` and ``a0`` (or None).

    One independent stream (episode) per copy, laid out so that :func:`estimates` output reshapes to
    ``(S, streams)`` or ``(S, A, streams)``.
    """
    if streams < 1:
        raise ValidationError(f"streams = {streams} must be ≥ 1")
    if not advantage:
        return np.repeat(np.arange(mdp.S), streams), None
    return np.repeat(np.arange(mdp.S), mdp.A * streams), np.tile(np.repeat(np.arange(mdp.A), streams), mdp.S)


def simulate(rng: np.random.Generator, mdp: FiniteMDP, pi: np.ndarray, s0: np.ndarray, a0: np.ndarray | None = None,
             horizon: int | None = None, sampler: Sampler | None = None) -> Episodes:
    """Run one episode of ``π`` from each start ``s0[i]`` (first action ``a0[i]``, or ``a ~ π``).

    Steps after the first come from :func:`triad.sampling.rollout`; whatever follows a
    termination is cut by its zero discount. Episodes are simulated in blocks of
    :data:`SAMPLE_BLOCK` steps until every one has terminated or ``horizon`` (default
    :func:`default_horizon`) steps have passed. Memory: ``3 × horizon × len(s0)`` numbers.
    """
    pi = validate_policy(pi, mdp)
    horizon = default_horizon(mdp.gamma) if horizon is None else horizon
    if horizon < 1:
        raise ValidationError(f"horizon = {horizon} must be ≥ 1")
    sampler = sampler or Sampler(mdp)
    terminal = mdp.terminal if mdp.terminal is not None else np.zeros(mdp.S, bool)
    s0 = np.asarray(s0, dtype=np.int64)
    a0 = sample_actions(rng, pi, s0) if a0 is None else np.asarray(a0, dtype=np.int64)
    s1 = sampler.next_states(rng, s0, a0)
    r, nxt, term = [sampler.rewards(rng, s0, a0)[None]], [s1[None]], [terminal[s1][None]]
    alive = ~term[0][0]
    steps = 1
    while steps < horizon and alive.any():
        block = min(SAMPLE_BLOCK, horizon - steps)
        traj = rollout(rng, mdp, pi, block, len(s0), s0=nxt[-1][-1], sampler=sampler)
        r.append(traj.r_t)
        nxt.append(traj.next_s_t)
        term.append(traj.terminated_t)
        alive &= ~traj.terminated_t.any(axis=0)
        steps += block
    return Episodes(mdp.S, s0, np.vstack(r), mdp.gamma * (1.0 - np.vstack(term)), np.vstack(nxt))


def estimates(episodes: Episodes, estimator: str, v_hat: np.ndarray | None = None, n: int = 1, lam: float = 1.0,
              advantage: bool = False) -> np.ndarray:
    """Each episode's estimate, computed by :mod:`triad.multistep`: ``(B,)``.

    Value estimators (``mc``, ``nstep``, ``lambda``) estimate ``V^π(s0)``; with ``advantage``,
    ``mc``, ``nstep`` and ``gae`` estimate ``A^π(s0, a0)`` and subtract ``V̂(s0)``. The same
    episodes serve every estimator and every ``v_hat``.
    """
    choices = ADVANTAGE_ESTIMATORS if advantage else VALUE_ESTIMATORS
    _check_options(estimator, choices, "advantage" if advantage else "value", n, lam)
    ep = episodes
    v_hat = _check_v_hat(ep, v_hat, needed=advantage or estimator != "mc")
    if estimator == "nstep" and n > len(ep.r_t) and (ep.discount_t > 0).all(axis=0).any():
        raise ValidationError(f"the episodes were cut after {len(ep.r_t)} steps, fewer than n = {n}")
    if estimator == "mc":
        g = multistep.discounted_returns(ep.r_t, ep.discount_t, 0.0)[0]
    elif estimator == "nstep":
        g = multistep.n_step_returns(ep.r_t, ep.discount_t, v_hat[ep.next_s_t], n)[0]
    elif estimator == "gae":
        values = np.vstack([v_hat[ep.s0][None], v_hat[ep.next_s_t]])
        return multistep.gae(ep.r_t, ep.discount_t, values, lam)[0]
    else:
        g = multistep.lambda_returns(ep.r_t, ep.discount_t, v_hat[ep.next_s_t], lam)[0]
    return g - v_hat[ep.s0] if advantage else g


def sample_estimates(rng: np.random.Generator, mdp: FiniteMDP, pi: np.ndarray, estimator: str, streams: int,
                     v_hat: np.ndarray | None = None, n: int = 1, lam: float = 1.0, advantage: bool = False,
                     horizon: int | None = None) -> np.ndarray:
    """Draw the estimator by simulation on ``streams`` independent episodes per start.

    :func:`simulate` then :func:`estimates`, in chunks of at most :data:`SAMPLE_CHUNK` steps.

    Args:
        estimator, v_hat, n, lam: as in :func:`value_moments` (``advantage=False``) or
            :func:`advantage_moments` (``advantage=True``).
        advantage: start from every pair ``(s, a)`` instead of every state with ``a ~ π``.
        horizon: steps simulated per estimate; default ``n`` for ``nstep`` (exact) and
            :func:`default_horizon` otherwise (the tail beyond it is negligible).
    Returns:
        ``(S, streams)`` or, with ``advantage``, ``(S, A, streams)`` estimates.
    """
    choices = ADVANTAGE_ESTIMATORS if advantage else VALUE_ESTIMATORS
    _check_options(estimator, choices, "advantage" if advantage else "value", n, lam)
    v_hat = _check_v_hat(mdp, v_hat, needed=advantage or estimator != "mc")
    s0, a0 = starts(mdp, streams, advantage)
    if horizon is None:
        horizon = n if estimator == "nstep" else default_horizon(mdp.gamma)
    sampler = Sampler(mdp)
    out = np.empty(s0.size)
    chunk = max(1, SAMPLE_CHUNK // max(horizon, 1))
    for lo in range(0, s0.size, chunk):
        hi = min(lo + chunk, s0.size)
        episodes = simulate(rng, mdp, pi, s0[lo:hi], None if a0 is None else a0[lo:hi], horizon, sampler)
        out[lo:hi] = estimates(episodes, estimator, v_hat, n, lam, advantage)
    return out.reshape((mdp.S, mdp.A, streams) if advantage else (mdp.S, streams))


def sampled_moments(draws: np.ndarray, target: np.ndarray, estimator: str) -> Moments:
    """Sample mean and (unbiased) sample variance along the last axis of sampled estimates."""
    return Moments(estimator, draws.mean(axis=-1), draws.var(axis=-1, ddof=1), np.asarray(target))
