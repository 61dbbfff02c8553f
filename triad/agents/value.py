"""The value-based suite: online Q-learning, DQN and FQI as rates of one three-process loop.

Q-learning with function approximation is three processes running at their own rates (the seed
notes, after CS285 lecture 8 and Ape-X / QT-Opt): (1) data collection with an exploration policy
into a replay buffer, (2) the target-network update ``φ' ← φ``, (3) regression of ``Q̂_φ`` onto
``y = r + γ max_a' Q̂_φ'(s', a')``. This module is the regression and exploration of that loop.

Pure pieces here (the agent composes them):

* exploration: :func:`exploration_value` (a linear schedule of ε or the Boltzmann temperature, as
  SB3's ``LinearSchedule``) and :func:`behaviour_probabilities` (``triad.operators.epsilon_greedy``
  / ``boltzmann`` on the rows of ``Q̂``), whose probability of the taken action is what the replay
  stores as ``mu`` for the n-step corrections;
* targets: :func:`td_errors` — :func:`triad.multistep.q_learning_td`,
  :func:`~triad.multistep.double_q_learning_td` (one step) or
  :func:`~triad.multistep.off_policy_targets` (replayed sequences); none is re-derived here;
* the exact regression of a linear Q (:func:`fit_linear_q`) and the expected data set of a finite
  MDP (:func:`expected_transitions`): with both, one FQI iteration is exactly ``Π_D B* Q̂`` and FQI
  is the projected value iteration of :func:`triad.projections.projected_value_iteration`;
* truth probes on a tabular twin (:func:`q_truth`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from triad import multistep
from triad.agents.replay import beta_schedule
from triad.errors import ValidationError
from triad.operators import boltzmann, epsilon_greedy, greedy
from triad.solvers import evaluate_q

EXPLORATION = ("epsilon", "boltzmann")
"""Exploration policies: ε-greedy in Q̂, or Boltzmann ``π(a|s) ∝ exp(Q̂(s, a)/τ)`` (the seed notes)."""


# ----------------------------------------------------------------------------------- exploration
def exploration_value(step: int, total: int, initial: float, final: float, fraction: float) -> float:
    """The exploration parameter (ε or τ) at env step ``step`` of ``total``: linear from ``initial`` to
    ``final`` over the first ``fraction·total`` steps, constant after (SB3 ``LinearSchedule``;
    the ramp is :func:`triad.agents.replay.beta_schedule`)."""
    return beta_schedule(step, int(fraction * total), initial, final)


def behaviour_probabilities(q: np.ndarray, explore: str, value: float, mask: np.ndarray | None = None) -> np.ndarray:
    """``μ(·|s)`` for each row of ``q``: ``(B, A)``.

    ``epsilon``: ``(1 − ε)`` on the greedy action (lowest index among ties) plus ``ε`` spread over the
    allowed actions (:func:`triad.operators.epsilon_greedy`); ``boltzmann``: ``softmax(Q̂/τ)``
    over the allowed actions (:func:`triad.operators.boltzmann`). ``mask``: ``(B, A)`` allowed actions.
    """
    if explore == "epsilon":
        return epsilon_greedy(q, value, mask)
    if explore == "boltzmann":
        return boltzmann(q, value, mask)
    raise ValidationError(f"explore = {explore!r} must be one of {', '.join(EXPLORATION)}")


# ---------------------------------------------------------------------------------------- targets
def td_errors(q_tm1: Any, a_t: Any, r_t: Any, discount_t: Any, q_t: Any, q_t_selector: Any | None = None) -> Any:
    """One-step TD errors ``δ = y − Q̂(s, a)`` of a batch of transitions: ``(B,)``.

    ``q_t``: the bootstrap network's ``Q̂(s', ·)`` (the target network; the online network itself
    for online Q-learning). With ``q_t_selector`` (the online network's ``Q̂(s', ·)``) the next
    action is chosen by the selector and evaluated by ``q_t``: double DQN, van Hasselt, Guez &
    Silver (2016) eq. 4, through :func:`triad.multistep.double_q_learning_td`; otherwise
    :func:`triad.multistep.q_learning_td`. Either stops the gradient at the target, so ``½δ²`` is the
    semi-gradient loss (not the residual gradient).
    """
    if q_t_selector is None:
        return multistep.q_learning_td(q_tm1, a_t, r_t, discount_t, q_t)
    return multistep.double_q_learning_td(q_tm1, a_t, r_t, discount_t, q_t, q_t_selector)


# ---------------------------------------------------------------------------- exact (linear) FQI
def fit_linear_q(x: np.ndarray, a: np.ndarray, y: np.ndarray, weight: np.ndarray, n_actions: int) -> np.ndarray:
    """Weighted least squares for ``Q̂(s, a) = W[:, a]ᵀx(s)``: ``argmin_W Σ_i w_i (W[:, a_i]ᵀx_i − y_i)²``, ``(d, A)``.

    The state-action features ``e_a ⊗ x(s)`` make the normal equations block-diagonal in the
    action, so each column is its own weighted least-squares problem, solved with the minimum-norm
    solution (``numpy.linalg.lstsq`` on ``√w·x``) — the fitted values are those of the projection
    ``Φ(ΦᵀDΦ)⁺ΦᵀD`` (:func:`triad.projections.weighted_least_squares`); a column with no data is 0.
    Shapes: ``x (N, d)``, ``a, y, weight (N,)``.
    """
    x, y, w = np.asarray(x, np.float64), np.asarray(y, np.float64), np.asarray(weight, np.float64)
    W = np.zeros((x.shape[1], n_actions))
    root = np.sqrt(w)
    for k in range(n_actions):
        rows = np.flatnonzero((np.asarray(a) == k) & (w > 0))
        if rows.size:
            W[:, k] = np.linalg.lstsq(root[rows, None] * x[rows], root[rows] * y[rows], rcond=None)[0]
    return W


def expected_transitions(mdp: Any, obs_table: np.ndarray, weighting: np.ndarray) -> dict[str, np.ndarray]:
    """The whole data distribution of a finite MDP as one weighted batch (the FQI data set in expectation).

    One row per ``(s, a, s')`` with ``d(s, a) > 0`` and ``P(s'|s, a) > 0``: ``obs = obs_table[s]``,
    ``action = a``, ``reward = R(s, a)`` (the expected reward), ``terminated = terminal[s']``,
    ``truncated = False``, ``next_obs = obs_table[s']`` and ``weight = d(s, a)·P(s'|s, a)``. The
    ``weight``-weighted squared error of a regression on these rows is, up to a constant, the
    ``d``-weighted error against the expected target ``E[y | s, a] = (B*Q̂)(s, a)``, so its least-squares
    fit is ``Π_D B* Q̂`` (the rows' reward noise and transitions average out exactly).

    Shapes: ``obs_table (S, ...)``; ``weighting (S, A)`` state-action weights ``d``.
    """
    d = np.asarray(weighting, np.float64)
    P = mdp.P_flat.toarray() if mdp.sparse else np.asarray(mdp.P_flat)
    pair, nxt = np.nonzero(d.reshape(-1)[:, None] * P > 0)
    s, a = pair // mdp.A, pair % mdp.A
    terminal = np.zeros(mdp.S, bool) if mdp.terminal is None else mdp.terminal
    return {"obs": obs_table[s], "action": a, "reward": mdp.R[s, a], "terminated": terminal[nxt],
            "truncated": np.zeros(nxt.size, bool), "next_obs": obs_table[nxt],
            "weight": d.reshape(-1)[pair] * P[pair, nxt]}


# ---------------------------------------------------------------------------------------- probes
def q_truth(mdp: Any, Q_hat: np.ndarray, Q_star: np.ndarray, weighting: Any) -> dict[str, float]:
    """The value-based truth probes of a table ``Q̂ (S, A)`` on a finite MDP.

    * ``q_error`` = ``‖Q̂ − Q*‖∞`` over the allowed actions of non-terminal states (a terminal state
      is never a state of the data, and its value is 0 by definition);
    * ``overestimation`` = ``E_{s~d_π}[max_a Q̂(s, a) − Q^π(s, π(s))]`` for π greedy in Q̂ (ties to the
      lowest action) and its exact ``Q^π`` (:func:`triad.solvers.evaluate_q`), ``d_π = weighting(π)``
      the state law along π (the loop passes the stationary law of π's stream with restarts);
      positive when the agent believes its own policy better than it is (Thrun & Schwartz 1993;
      van Hasselt et al. 2016 measure it the same way, against the policy's true return);
    * ``q_abs_max`` = ``max |Q̂|`` over the same pairs and ``return_bound`` = ``max|R|/(1 − γ)``, the
      largest possible ``|Q|``: beyond it the estimate has softly diverged.
    """
    live = np.ones(mdp.S, bool) if mdp.terminal is None else ~mdp.terminal
    allowed = np.ones((mdp.S, mdp.A), bool) if mdp.allowed is None else mdp.allowed
    pairs = live[:, None] & allowed
    pi = greedy(Q_hat, mdp.allowed)
    Q_pi = evaluate_q(mdp, pi)
    d = weighting(pi)
    gap = np.einsum("sa,sa->s", pi, Q_hat - Q_pi)
    bound = np.abs(mdp.R).max() / (1.0 - mdp.gamma) if mdp.gamma < 1 else np.inf
    return {"q_error": float(np.abs(Q_hat - Q_star)[pairs].max()), "overestimation": float(d[live] @ gap[live]),
            "q_abs_max": float(np.abs(Q_hat)[pairs].max()), "return_bound": float(bound)}


def check_batch(batch: Mapping[str, np.ndarray], where: str) -> None:
    """One :class:`ValidationError` naming the first missing field of a regression batch."""
    for field in ("obs", "action", "reward", "terminated", "next_obs"):
        if field not in batch:
            raise ValidationError(f"{where}: the batch has no {field!r}")
