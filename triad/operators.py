"""Bellman operators and the quantities a policy induces on a finite MDP.

All operators act on batches: ``V: (..., S)``, ``Q: (..., S, A)``; policies are ``(S, A)``.
Equations follow Puterman (1994) ch. 6 and Sutton & Barto (2018) ch. 3–4:

* ``(B^π V)(s) = Σ_a π(a|s) [R(s, a) + γ Σ_s' P(s'|s, a) V(s')]``
* ``(B* V)(s)  = max_a [R(s, a) + γ Σ_s' P(s'|s, a) V(s')]``
* ``(B^π Q)(s, a) = R(s, a) + γ Σ_s' P(s'|s, a) Σ_a' π(a'|s') Q(s', a')``
* ``(B* Q)(s, a)  = R(s, a) + γ Σ_s' P(s'|s, a) max_a' Q(s', a')``

Both B^π and B* are γ-contractions in ‖·‖∞ (Puterman Prop. 6.2.4).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from triad.errors import ValidationError
from triad.linalg import solve_resolvent
from triad.mdp import FiniteMDP, check_distribution_rows, check_proper, validate_policy


def _masked(Q: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    return Q if allowed is None else np.where(allowed, Q, -np.inf)


def q_values(mdp: FiniteMDP, V: np.ndarray) -> np.ndarray:
    """One-step look-ahead ``Q(s, a) = R(s, a) + γ Σ_s' P(s'|s, a) V(s')``: ``(..., S) → (..., S, A)``."""
    return mdp.R + mdp.gamma * mdp.expect(V)


def state_values(Q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``V(s) = Σ_a π(a|s) Q(s, a)``: ``(..., S, A) → (..., S)``."""
    return np.einsum("...sa,sa->...s", Q, pi)


def max_values(Q: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """``V(s) = max_a Q(s, a)`` over allowed actions: ``(..., S, A) → (..., S)``."""
    return _masked(Q, allowed).max(axis=-1)


def bellman_v(mdp: FiniteMDP, V: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """The policy evaluation operator ``B^π`` on state values: ``(..., S) → (..., S)``."""
    return state_values(q_values(mdp, V), pi)


def bellman_optimality_v(mdp: FiniteMDP, V: np.ndarray) -> np.ndarray:
    """The optimality operator ``B*`` on state values: ``(..., S) → (..., S)``."""
    return max_values(q_values(mdp, V), mdp.allowed)


def bellman_q(mdp: FiniteMDP, Q: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``B^π`` on action values: ``(..., S, A) → (..., S, A)``."""
    return q_values(mdp, state_values(Q, pi))


def bellman_optimality_q(mdp: FiniteMDP, Q: np.ndarray) -> np.ndarray:
    """``B*`` on action values (the Q-learning target in expectation): ``(..., S, A) → (..., S, A)``."""
    return q_values(mdp, max_values(Q, mdp.allowed))


def greedy_actions(Q: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """``argmax_a Q(s, a)`` over allowed actions, ties to the lowest index: ``(..., S, A) → (..., S)``."""
    return np.argmax(_masked(Q, allowed), axis=-1)


def greedy(Q: np.ndarray, allowed: np.ndarray | None = None, ties: str = "first") -> np.ndarray:
    """The greedy policy: ``(..., S, A) → (..., S, A)``.

    ``ties="first"``: one-hot on the lowest-index maximiser (deterministic); ``ties="split"``: equal
    probability on every maximiser (what random tie-breaking does on average — it matters when values
    start equal, as in tabular Q-learning from zeros).
    """
    if ties == "first":
        return np.eye(Q.shape[-1])[greedy_actions(Q, allowed)]
    if ties != "split":
        raise ValidationError(f"ties = {ties!r} must be 'first' or 'split'")
    masked = _masked(Q, allowed)
    best = (masked == masked.max(axis=-1, keepdims=True)).astype(np.float64)
    return best / best.sum(axis=-1, keepdims=True)


def epsilon_greedy(Q: np.ndarray, epsilon: float, allowed: np.ndarray | None = None, ties: str = "first") -> np.ndarray:
    """ε-greedy: probability ε spread uniformly over allowed actions, 1 − ε on the greedy one(s) (see :func:`greedy`)."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValidationError(f"epsilon = {epsilon:g} is outside [0, 1]")
    mask = np.ones(Q.shape[-2:]) if allowed is None else np.broadcast_to(allowed, Q.shape).astype(np.float64)
    uniform = mask / mask.sum(axis=-1, keepdims=True)
    return (1.0 - epsilon) * greedy(Q, allowed, ties) + epsilon * uniform


def boltzmann(Q: np.ndarray, temperature: float, allowed: np.ndarray | None = None) -> np.ndarray:
    """Softmax policy ``π(a|s) ∝ exp(Q(s, a) / τ)`` over allowed actions (stable for any scale)."""
    if not temperature > 0:
        raise ValidationError(f"temperature = {temperature:g} must be positive")
    logits = _masked(np.asarray(Q, dtype=np.float64) / temperature, allowed)
    logits = logits - logits.max(axis=-1, keepdims=True)
    w = np.exp(logits)
    return w / w.sum(axis=-1, keepdims=True)


def policy_transition(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray | sp.csr_array:
    """``P^π(s, s') = Σ_a π(a|s) P(s'|s, a)``: ``(S, S)``, sparse when ``mdp`` is sparse."""
    pi = validate_policy(pi, mdp)
    if mdp.sparse:
        weights = sp.csr_array((pi.ravel(), (np.repeat(np.arange(mdp.S), mdp.A),
                                             np.arange(mdp.S * mdp.A))), shape=(mdp.S, mdp.S * mdp.A))
        return sp.csr_array(weights @ mdp.P)
    return np.einsum("sa,sat->st", pi, mdp.P)


def policy_reward(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """``r^π(s) = Σ_a π(a|s) R(s, a)``: ``(S,)``."""
    return state_values(mdp.R, validate_policy(pi, mdp))


def discounted_visitation(mdp: FiniteMDP, pi: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
    """Normalised discounted state visitation ``d^π_μ = (1 − γ) Σ_t γ^t μᵀ (P^π)^t``: ``(S,)``.

    Solves ``(I − γ P^πᵀ) d = (1 − γ) μ``; sums to 1. ``mu`` defaults to ``mdp.initial``.
    Source: Sutton, McAllester, Singh & Mansour (2000); Kakade & Langford (2002).

    At γ = 1 (episodic, ``π`` proper) the sum is the expected number of visits per episode; this
    returns it normalised over the non-terminal states, ``η ∝ μ_Nᵀ (I − P^π_NN)⁻¹`` (0 on terminal
    states): the on-policy distribution of Sutton & Barto (2018) eqs. 9.2–9.3, the weighting of the
    episodic policy-gradient theorem (§13.2). (As γ → 1 the discounted law itself piles up on the
    absorbing terminal states, which carry no value.)

    Raises:
        ValidationError: at γ = 1 if ``π`` is improper (naming a closed class without terminal
            state) or ``mu`` puts no mass on non-terminal states.
    """
    mu = mdp.initial if mu is None else np.asarray(mu, dtype=np.float64)
    if mu.shape != (mdp.S,):
        raise ValidationError(f"mu has shape {mu.shape}, expected ({mdp.S},)")
    check_distribution_rows(mu, "mu")
    P_pi = policy_transition(mdp, pi)
    if mdp.gamma < 1.0:
        d = np.clip(solve_resolvent(P_pi, mdp.gamma, (1.0 - mdp.gamma) * mu, transpose=True), 0.0, None)
        return d / d.sum()
    check_proper(mdp, P_pi)
    idx = np.flatnonzero(~mdp.terminal) if mdp.terminal is not None else np.arange(mdp.S)
    if mu[idx].sum() <= 0:
        raise ValidationError("mu puts no mass on non-terminal states: at γ = 1 no state is ever visited")
    M = sp.csr_array(P_pi)[idx][:, idx] if sp.issparse(P_pi) else np.asarray(P_pi)[np.ix_(idx, idx)]
    d = np.zeros(mdp.S)
    d[idx] = np.clip(solve_resolvent(M, 1.0, mu[idx], transpose=True), 0.0, None)
    return d / d.sum()


def stationary_distribution(mdp: FiniteMDP, pi: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """The stationary distribution ``d = dP^π`` of the chain a policy induces: ``(S,)``.

    Raises ``ValidationError`` when it is not unique (``P^π`` has several closed classes), since
    then the state weighting a caller wants is ambiguous; use :func:`discounted_visitation` or a
    chain with one recurrent class.
    """
    P_pi = policy_transition(mdp, pi)
    S = mdp.S
    if S <= 2000:  # an SVD is cheap here and detects several closed classes reliably
        M = (P_pi.toarray() if sp.issparse(P_pi) else P_pi).T - np.eye(S)
        # Null space of (P^πᵀ − I): its dimension counts the closed classes.
        _, s, vt = np.linalg.svd(M)
        null = s <= 1e-10 * max(1.0, s[0])
        if null.sum() > 1:
            raise ValidationError(f"the stationary distribution of P^π is not unique: the chain has "
                                  f"{int(null.sum())} closed classes")
        d = np.abs(vt[-1])
        return d / d.sum()
    # Power iteration on the lazy chain (I + P^π)/2: same stationary law, no periodicity.
    P_t = sp.csr_array(P_pi.T)
    d = np.full(S, 1.0 / S)
    for _ in range(100_000):
        nxt = 0.5 * (d + P_t @ d)
        if np.abs(nxt - d).sum() < tol:
            return nxt / nxt.sum()
        d = nxt
    raise ValidationError("power iteration for the stationary distribution did not converge "
                          "(is the chain reducible?)")


def td_system(
    mdp: FiniteMDP, pi: np.ndarray, features: np.ndarray, weighting: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The linear system of expected semi-gradient TD(0): ``A = ΦᵀD(γP^π − I)Φ``, ``b = ΦᵀD r^π``.

    The expected TD(0) update is ``w ← w + α(Aw + b)``; its fixed point (the TD / LSTD solution)
    solves ``Aw = −b``, and the update is stable for small α iff every eigenvalue of ``A`` has a
    negative real part (Tsitsiklis & Van Roy 1997; Sutton & Barto 2018 §9.4, §11.2).

    Args:
        features: ``Φ``, ``(S, d)``.
        weighting: the state weighting ``D = diag(weighting)``, ``(S,)`` (on-policy: the
            stationary distribution of ``π``; off-policy: that of the behaviour policy).
    Returns:
        ``A: (d, d)`` and ``b: (d,)``.
    """
    Phi = np.asarray(features, dtype=np.float64)
    if Phi.ndim != 2 or Phi.shape[0] != mdp.S:
        raise ValidationError(f"features have shape {Phi.shape}, expected (S, d) with S = {mdp.S}")
    D = np.asarray(weighting, dtype=np.float64)
    if D.shape != (mdp.S,):
        raise ValidationError(f"weighting has shape {D.shape}, expected ({mdp.S},)")
    P_pi = policy_transition(mdp, pi)
    DPhi = D[:, None] * Phi
    A = DPhi.T @ (mdp.gamma * (P_pi @ Phi) - Phi)
    b = DPhi.T @ policy_reward(mdp, pi)
    return A, b
