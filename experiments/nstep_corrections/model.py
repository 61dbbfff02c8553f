"""n-step Q targets from behaviour data on a tabular MDP: their exact mean and their sampled law.

The target of a correction (:func:`triad.multistep.off_policy_targets`) for ``Q(s, a)`` with a
window of ``n`` steps, bootstrapping from a table ``Q̂``, follows the general return
``G_t = r_t + d_t (v_t + c_t (G_{t+1} − q_t))`` with ``v_t = Σ_a π(a|s_{t+1}) Q̂(s_{t+1}, a)``,
``q_t = Q̂(s_{t+1}, a_{t+1})`` and a trace coefficient ``c_t = c(s_{t+1}, a_{t+1})`` that depends on
the next state and action only. Taking expectations under the behaviour μ one step at a time
(Munos, Stepleton, Harutyunyan & Bellemare 2016, eq. 4, cut after ``n`` terms):

    E[G⁽ⁿ⁾] = Q̂ + Σ_{k<n} (γP^{cμ})^k (B^π Q̂ − Q̂),
    P^{cμ}((s, a), (s', a')) = P(s'|s, a) (1 − term(s')) μ(a'|s') c(s', a'),

so a correction is unbiased for ``Q^π`` whenever ``Q̂ = Q^π`` (then ``B^π Q̂ = Q̂``) and otherwise
its bias is the bootstrap's error seen through the traces. ``ignore`` (no correction, ``c = 1``
with the behaviour's action treated as the target's) has mean ``(B^μ)^{n−1} B^π Q̂`` instead:
``n − 1`` steps of the behaviour's own evaluation operator, biased towards ``Q^μ`` even from the
true ``Q^π``. The trace coefficients ``c(s', a')`` come from :func:`triad.multistep.trace_coefficients`
itself (a two-row buffer per pair), so the exact means use the very definition the agents use.

Sampled targets start every stream at a fixed ``(s_0, a_0)``, then follow μ
(:func:`triad.sampling.step_streams`, :func:`triad.sampling.rollout`) and are computed by
:func:`triad.multistep.off_policy_targets` on the stored rows — the same call an agent makes on a
replayed sequence.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from triad import multistep
from triad.mdp import FiniteMDP
from triad.operators import bellman_q
from triad.sampling import RandomSource, Sampler, rollout, step_streams

METHODS = ("ignore", "cut", "importance-sampling", "tree-backup", "retrace")
"""The corrections compared (names of :data:`triad.multistep.OFF_POLICY_METHODS`)."""


def pairs(mdp: FiniteMDP) -> tuple[np.ndarray, np.ndarray]:
    """``(s, a)`` of every allowed action in a non-terminal state (the values a target is for): two ``(m,)`` arrays."""
    live = np.ones(mdp.S, bool) if mdp.terminal is None else ~mdp.terminal
    allowed = np.ones((mdp.S, mdp.A), bool) if mdp.allowed is None else mdp.allowed
    s, a = np.nonzero(live[:, None] & allowed)
    return s, a


def trace_table(method: str, pi: np.ndarray, mu: np.ndarray, lam: float = 1.0) -> np.ndarray:
    """``c(s', a')`` of continuing a target into ``(s', a')``: ``(S, A)``.

    Row 0 of a two-row buffer continues into row 1, whose action is ``a'`` taken in ``s'``; its
    coefficient ``c_0`` is what :func:`triad.multistep.trace_coefficients` returns for it.
    """
    S, A = pi.shape
    s_next, a_next = np.repeat(np.arange(S), A), np.tile(np.arange(A), S)
    a_t = np.stack([np.zeros_like(a_next), a_next])
    pi_t = np.stack([pi[s_next], pi[s_next]])
    mu_t = np.stack([np.ones(S * A), np.maximum(mu[s_next, a_next], 1e-300)])  # μ(a'|s') > 0 where a' is taken
    c = multistep.trace_coefficients(method, a_t, pi_t, mu_t, lam)[0].reshape(S, A)
    return np.where(mu > 0, c, 0.0)


def expected_targets(mdp: FiniteMDP, q_hat: np.ndarray, pi: np.ndarray, mu: np.ndarray, method: str,
                     n: int) -> np.ndarray:
    """``E_μ[G⁽ⁿ⁾(s, a)]`` for every pair, exactly (module docstring): ``(S, A)``.

    ``q_hat`` must be 0 on terminal states (the targets never read it there: the discount is 0).
    """
    one_step = bellman_q(mdp, q_hat, pi)
    if method == "ignore":
        out = one_step
        for _ in range(n - 1):
            out = bellman_q(mdp, out, mu)
        return out
    S, A = mdp.S, mdp.A
    P = mdp.P_flat.toarray() if mdp.sparse else np.asarray(mdp.P_flat)  # (S·A, S)
    if mdp.terminal is not None:
        P = P * ~mdp.terminal[None, :]
    weights = (mu * trace_table(method, pi, mu)).reshape(S * A)
    P_c = mdp.gamma * (P[:, :, None] * weights.reshape(S, A)[None]).reshape(S * A, S * A)
    term = (one_step - q_hat).reshape(S * A)
    total = np.zeros(S * A)
    for _ in range(n):
        total += term
        term = P_c @ term
    return q_hat + total.reshape(S, A)


@dataclasses.dataclass(frozen=True)
class Samples:
    """``samples`` targets per pair, for each method and window.

    Attributes:
        s, a: ``(m,)`` the pairs.
        targets: ``{(method, n): (samples, m)}`` targets for ``Q(s, a)``.
    """

    s: np.ndarray
    a: np.ndarray
    targets: dict[tuple[str, int], np.ndarray]


def sampled_targets(rng: RandomSource, mdp: FiniteMDP, q_hat: np.ndarray, pi: np.ndarray, mu: np.ndarray,
                    methods: tuple[str, ...], ns: tuple[int, ...], samples: int) -> Samples:
    """Targets of ``samples`` independent trajectories from every pair ``(s_0, a_0)`` under μ.

    Step 0 takes ``a_0``; steps 1 … ``max(ns) − 1`` draw their actions from μ (an episode that
    ends restarts from the initial law; the targets stop at the termination, so nothing after it
    is read). ``mu_t[0]`` is set to 1: it names the value being learned and is not read.
    """
    s, a = pairs(mdp)
    m, T = s.size, max(ns)
    s0, a0 = np.tile(s, samples), np.tile(a, samples)
    sampler = Sampler(mdp)
    first = step_streams(rng, sampler, s0, a0, np.zeros_like(s0))
    rows = {"s": [s0], "a": [a0], "r": [first.r_t], "next": [first.next_s_t], "term": [first.terminated_t]}
    if T > 1:
        rest = rollout(rng, mdp, mu, T - 1, s0.size, s0=first.s_tp1, sampler=sampler)
        for key, arr in (("s", rest.s_t), ("a", rest.a_t), ("r", rest.r_t), ("next", rest.next_s_t),
                         ("term", rest.terminated_t)):
            rows[key].extend(arr)
    st, at, rt, nxt, term = (np.stack(rows[k]) for k in ("s", "a", "r", "next", "term"))
    discount = mdp.gamma * (1.0 - term)
    mu_t = mu[st, at]
    mu_t[0] = 1.0
    q_t, pi_t = q_hat[nxt], pi[nxt]
    out = {}
    for method in methods:
        for n in ns:  # row 0's n-step target reads rows 0 … n − 1 only (the last bootstraps)
            G = multistep.off_policy_targets(rt[:n], discount[:n], q_t[:n], at[:n], method, pi_t=pi_t[:n],
                                             mu_t=mu_t[:n])
            out[(method, n)] = G[0].reshape(samples, m)
    return Samples(s, a, out)
