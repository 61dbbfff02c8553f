"""Maximisation bias: how far ``max`` over noisy estimates overshoots, exactly, and what it does to Q-learning.

Let ``X_1 … X_m`` be independent estimates, ``X_i = μ_i + σ_i Z_i`` with ``Z_i`` standard normal or
uniform on ``[−1, 1]``. The **single estimator** of ``max_i μ_i`` is ``max_i X_i``; its mean is

    E[max_i X_i] = ∫ x d(Π_i F_i(x)) = Σ_i ∫ x f_i(x) Π_{j≠i} F_j(x) dx,

which is ``≥ max_i μ_i`` (Jensen: ``E max ≥ max E``) and for ``m`` i.i.d. estimates reduces to
``∫ x · m f(x) F(x)^{m−1} dx``. The **double estimator** (van Hasselt 2010, "Double Q-learning",
NeurIPS) selects ``a* = argmax_i X^A_i`` with one sample set and evaluates ``X^B_{a*}`` with an
independent one, so

    E[X^B_{a*}] = Σ_i Pr(a* = i) μ_i,      Pr(a* = i) = ∫ f_i(x) Π_{j≠i} F_j(x) dx,

a weighted average of the means and hence ``≤ max_i μ_i``: it trades the upward bias for a
(usually smaller) downward one. Both expectations are computed here by adaptive quadrature
(``scipy.integrate.quad_vec``), checked against closed forms: ``(m − 1)/(m + 1)`` for ``m`` i.i.d.
U(−1, 1), ``1/√π`` and ``3/(2√π)`` for two and three i.i.d. N(0, 1) (David & Nagaraja 2003,
"Order Statistics", §3.2), and Harter's (1961, Biometrika 48) table of normal order statistics.

The Markov-decision version is Sutton & Barto (2018), Example 6.7 / Figure 6.5: tabular Q-learning
and double Q-learning on the zoo's ``maximization-bias`` MDP, vectorised over independent streams,
with the shared machinery of triad: behaviour from :func:`triad.operators.epsilon_greedy`,
transitions from :class:`triad.sampling.Sampler` and :func:`triad.sampling.sample_actions` (so a
:class:`triad.sampling.StreamRNG` makes every stream reproducible on its own), TD errors from
:func:`triad.multistep.q_learning_td` and :func:`triad.multistep.double_q_learning_td`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.integrate
import scipy.special

from triad.errors import ValidationError
from triad.mdp import FiniteMDP
from triad.multistep import double_q_learning_td, q_learning_td
from triad.operators import epsilon_greedy
from triad.sampling import RandomSource, Sampler, sample_actions

FAMILIES = ("normal", "uniform")
"""Noise families: ``Z ~ N(0, 1)`` or ``Z ~ U(−1, 1)``."""

ALGORITHMS = ("q", "double")
"""Tabular learners of :func:`q_learning`: Q-learning and double Q-learning."""

_TAIL = 15.0
"""Normal densities are below e^(−112) beyond 15 standard deviations: the integrals stop there."""


@dataclasses.dataclass(frozen=True)
class _Standard:
    """Density, log-CDF and quantile function of a standard noise family (vectorised ufuncs)."""

    pdf: Callable[[np.ndarray], np.ndarray]
    logcdf: Callable[[np.ndarray], np.ndarray]
    ppf: Callable[[float], float]
    support: float


def _uniform_logcdf(z: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.clip((z + 1.0) / 2.0, 0.0, 1.0))


_FAMILY = {
    "normal": _Standard(pdf=lambda z: np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi), logcdf=scipy.special.log_ndtr,
                        ppf=scipy.special.ndtri, support=_TAIL),
    "uniform": _Standard(pdf=lambda z: np.where(np.abs(z) <= 1.0, 0.5, 0.0), logcdf=_uniform_logcdf,
                         ppf=lambda u: 2.0 * u - 1.0, support=1.0),
}


def _standard(family: str) -> _Standard:
    if family not in _FAMILY:
        raise ValidationError(f"unknown family {family!r} (choose from {', '.join(FAMILIES)})")
    return _FAMILY[family]


def _check_estimates(loc: np.ndarray, scale: np.ndarray | float, family: str) -> tuple[np.ndarray, np.ndarray]:
    _standard(family)
    loc = np.atleast_1d(np.asarray(loc, dtype=np.float64))
    if loc.ndim != 1 or loc.size == 0:
        raise ValidationError(f"loc has shape {loc.shape}, expected (m,) with m ≥ 1")
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), loc.shape) if np.ndim(scale) == 0 else \
        np.asarray(scale, dtype=np.float64)
    if scale.shape != loc.shape:
        raise ValidationError(f"scale has shape {scale.shape}, expected {loc.shape} like loc")
    if not (np.isfinite(loc).all() and np.isfinite(scale).all()):
        raise ValidationError("loc and scale must be finite")
    if (scale <= 0).any():
        raise ValidationError(f"scale[{int(np.argmax(scale <= 0))}] = {scale[np.argmax(scale <= 0)]:g} must be positive")
    return loc, scale


def _integrals(loc: np.ndarray, scale: np.ndarray, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Per estimate ``i``: ``∫ x f_i Π_{j≠i} F_j dx`` and ``∫ f_i Π_{j≠i} F_j dx``, each ``(m,)``.

    Identical ``(μ_i, σ_i)`` pairs share one integral, so ``m`` i.i.d. estimates cost one scalar
    quadrature. The product of CDFs is formed in log space, so ``F^1023`` does not underflow.
    """
    Z = _standard(family)
    pairs, inverse, counts = np.unique(np.stack([loc, scale], axis=1), axis=0, return_inverse=True,
                                       return_counts=True)
    mu, sigma = pairs[:, 0], pairs[:, 1]
    lo, hi = float((mu - Z.support * sigma).min()), float((mu + Z.support * sigma).max())
    # Kinks of the uniform CDFs, and where the maximum of the largest group concentrates.
    top = int(np.argmax(mu + sigma))
    peak = mu[top] + sigma[top] * Z.ppf(0.5 ** (1.0 / counts.sum()))
    points = np.unique(np.concatenate([mu - sigma, mu + sigma, [peak]]) if family == "uniform" else
                       np.concatenate([mu, [peak]]))
    points = points[(points > lo) & (points < hi)]

    def integrand(x: float) -> np.ndarray:
        z = (x - mu) / sigma
        log_F = Z.logcdf(z)
        # Π_{j≠i} F_j for one member i of each group: the full product without one factor F_i.
        others = counts @ log_F - log_F if np.isfinite(log_F).all() else _others_with_zeros(log_F, counts)
        weight = Z.pdf(z) / sigma * np.exp(others)
        return np.concatenate([x * weight, weight])

    values, _ = scipy.integrate.quad_vec(integrand, lo, hi, epsabs=1e-13, epsrel=1e-11, points=points,
                                         limit=20_000)
    G = len(mu)
    return values[:G][inverse], values[G:][inverse]


def _others_with_zeros(log_F: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``log Π_{j≠i} F_j`` per group when some CDFs vanish: only a group that is the sole zero survives."""
    zero = ~np.isfinite(log_F)
    finite_sum = counts[~zero] @ log_F[~zero]
    if zero.sum() == 1 and counts[zero][0] == 1:
        return np.where(zero, finite_sum, -np.inf)
    return np.full(log_F.shape, -np.inf)


def expected_max(loc: np.ndarray, scale: np.ndarray | float = 1.0, family: str = "normal") -> float:
    """Exact ``E[max_i X_i]`` for independent ``X_i = loc_i + scale_i Z_i`` (module docstring).

    Args:
        loc: ``(m,)`` means ``μ_i``.
        scale: ``(m,)`` or scalar ``σ_i`` (standard deviation for ``normal``, half-width for
            ``uniform``).
        family: ``"normal"`` or ``"uniform"``.
    """
    loc, scale = _check_estimates(loc, scale, family)
    first, _ = _integrals(loc, scale, family)
    return float(first.sum())


def argmax_probabilities(loc: np.ndarray, scale: np.ndarray | float = 1.0, family: str = "normal") -> np.ndarray:
    """``Pr(argmax_i X_i = i) = ∫ f_i Π_{j≠i} F_j dx``: ``(m,)``, summing to 1."""
    loc, scale = _check_estimates(loc, scale, family)
    _, second = _integrals(loc, scale, family)
    return second


def expected_double_estimator(loc: np.ndarray, scale: np.ndarray | float = 1.0, family: str = "normal") -> float:
    """Exact mean of van Hasselt's double estimator, ``Σ_i Pr(argmax_i X^A_i = i) μ_i``."""
    loc, scale = _check_estimates(loc, scale, family)
    _, second = _integrals(loc, scale, family)
    return float(second @ loc)


def expected_max_iid(m: int, family: str = "normal") -> float:
    """``E[max of m i.i.d. Z]`` for standard ``Z``: ``∫ x · m f(x) F(x)^{m−1} dx``."""
    if m < 1:
        raise ValidationError(f"m = {m} must be at least 1")
    return expected_max(np.zeros(m), 1.0, family)


@dataclasses.dataclass(frozen=True)
class Estimates:
    """Independent draws of the two estimators of ``max_i μ_i``.

    Attributes:
        single: ``(streams,)`` values of ``max_i X_i``.
        double: ``(streams,)`` values of ``X^B_{argmax X^A}`` with ``X^A, X^B`` independent.
    """

    single: np.ndarray
    double: np.ndarray


def sample_estimators(rng: np.random.Generator, loc: np.ndarray, scale: np.ndarray | float = 1.0,
                      family: str = "normal", streams: int = 10_000, chunk: int = 1 << 20) -> Estimates:
    """Draw ``streams`` independent single and double estimates (vectorised, ``chunk`` numbers at a time).

    Each stream uses fresh estimate sets: ``X`` for the single estimator, ``X^A`` and ``X^B`` for
    the double one. Ties in ``argmax`` go to the lowest index (probability 0 for these families).
    """
    loc, scale = _check_estimates(loc, scale, family)
    if streams < 1:
        raise ValidationError(f"streams = {streams} must be at least 1")
    m = loc.size
    draw = rng.standard_normal if family == "normal" else (lambda shape: rng.uniform(-1.0, 1.0, shape))
    rows = max(1, chunk // m)
    single, double = np.empty(streams), np.empty(streams)
    for start in range(0, streams, rows):
        n = min(rows, streams - start)
        single[start:start + n] = (loc + scale * draw((n, m))).max(axis=1)
        pick = np.argmax(loc + scale * draw((n, m)), axis=1)
        evaluate = loc + scale * draw((n, m))
        double[start:start + n] = evaluate[np.arange(n), pick]
    return Estimates(single=single, double=double)


# --------------------------------------------------------------------------- tabular learners
@dataclasses.dataclass(frozen=True)
class Learning:
    """What :func:`q_learning` recorded.

    Attributes:
        first_action: ``(episodes, streams)`` the action taken at the first step of every episode.
        Q: ``(streams, S, A)`` final action values (for double Q-learning, the mean of the two tables).
    """

    first_action: np.ndarray
    Q: np.ndarray


def q_learning(rng: RandomSource, mdp: FiniteMDP, algorithm: str = "q", episodes: int = 300,
               streams: int = 10_000, epsilon: float = 0.1, alpha: float = 0.1,
               max_episode_steps: int = 1_000) -> Learning:
    """Tabular ε-greedy Q-learning or double Q-learning on an episodic MDP, ``streams`` independent runs at once.

    Every stream starts from zero tables and each episode from ``μ``, and updates
    ``Q(s, a) += α δ`` after each step with ``δ`` from :func:`triad.multistep.q_learning_td`
    (Sutton & Barto 2018, §6.5) or, for ``"double"``, a fair coin picks the table to update and
    ``δ`` comes from :func:`triad.multistep.double_q_learning_td` with the other table evaluating
    (§6.7); the behaviour is :func:`triad.operators.epsilon_greedy` on ``Q1 + Q2`` (ties split at
    random). A terminal transition has discount 0; an episode cut at ``max_episode_steps``
    bootstraps (``discount = γ``), as in :func:`triad.sampling.rollout`. Maxima and greedy choices
    range over ``mdp.allowed`` actions only.

    Each stream runs its episodes back to back, as :func:`triad.sampling.rollout` does: every step
    draws the action, reward and next state of every stream (then, for double Q-learning, the coin,
    and the start state a stream takes if its episode just ended), and a stream that has finished
    its ``episodes`` ignores its draws. So with a :class:`triad.sampling.StreamRNG` of ``streams``
    streams, stream ``i`` learns the same whatever the number of streams beside it.

    Raises:
        ValidationError: unknown algorithm, bad ε/α, or an MDP without terminal states.
    """
    if algorithm not in ALGORITHMS:
        raise ValidationError(f"unknown algorithm {algorithm!r} (choose from {', '.join(ALGORITHMS)})")
    if not 0.0 <= epsilon <= 1.0:
        raise ValidationError(f"epsilon = {epsilon:g} is outside [0, 1]")
    if not 0.0 < alpha <= 1.0:
        raise ValidationError(f"alpha = {alpha:g} is outside (0, 1]")
    if episodes < 1 or streams < 1 or max_episode_steps < 1:
        raise ValidationError(f"episodes, streams and max_episode_steps must be ≥ 1, got {episodes}, {streams}, "
                              f"{max_episode_steps}")
    if mdp.terminal is None or not mdp.terminal.any():
        raise ValidationError(f"{mdp.name or 'the MDP'} has no terminal state, so it has no episodes")
    tables = 2 if algorithm == "double" else 1
    allowed = np.ones((mdp.S, mdp.A), bool) if mdp.allowed is None else mdp.allowed
    sampler = Sampler(mdp)
    # One row per (stream, state): row = stream·S + s, so each step gathers rows with a single index.
    Q = np.zeros((tables, streams * mdp.S, mdp.A))
    first = np.empty((episodes, streams), dtype=np.int64)
    every = np.arange(streams)
    s = sampler.initial_states(rng, (streams,))
    episode = np.zeros(streams, dtype=np.int64)  # the episode each stream is in
    age = np.zeros(streams, dtype=np.int64)  # steps into it
    while (episode < episodes).any():
        row = every * mdp.S + s
        # Ties split at random: all values start equal, and a lowest-index rule would make every
        # stream's first greedy choice ``left``.
        behaviour = epsilon_greedy(Q[:, row].sum(axis=0), epsilon, allowed[s], ties="split")
        a = sample_actions(rng, behaviour, every)
        r = sampler.rewards(rng, s, a)
        nxt = sampler.next_states(rng, s, a)
        k = (rng.random(streams) < 0.5).astype(np.int64) if tables == 2 else np.zeros(streams, np.int64)
        restart = sampler.initial_states(rng, (streams,))
        on = np.flatnonzero(episode < episodes)
        starting = on[age[on] == 0]
        first[episode[starting], starting] = a[starting]
        row, a, r, nxt, k = row[on], a[on], r[on], nxt[on], k[on]
        next_row = on * mdp.S + nxt
        ended = mdp.terminal[nxt]
        discount = np.where(ended, 0.0, mdp.gamma)
        # Forbidden actions must not win the max; terminal rows are zeroed so 0·(−inf) never occurs.
        blocked = ~allowed[nxt] & ~ended[:, None]
        if tables == 1:
            q_next = np.where(blocked, -np.inf, Q[0, next_row])
            delta = q_learning_td(Q[0, row], a, r, discount, q_next)
        else:
            selector = np.where(blocked, -np.inf, Q[k, next_row])
            delta = double_q_learning_td(Q[k, row], a, r, discount, q_t_value=Q[1 - k, next_row],
                                         q_t_selector=selector)
        Q[k, row, a] += alpha * delta
        age[on] += 1
        done = on[ended | (age[on] >= max_episode_steps)]  # terminated, or truncated by the time limit
        s[on] = nxt
        s[done], age[done] = restart[done], 0
        episode[done] += 1
    return Learning(first_action=first, Q=Q.mean(axis=0).reshape(streams, mdp.S, mdp.A))
