"""Return and target estimators: pure, vectorised functions of arrays.

Conventions (rlax-style): arrays are named by their time index (``r_t``, ``v_tm1``, ``q_t``);
time runs along axis 0 and any batch axes follow it; ``discount_t = γ·(1 − terminated_t)`` so a
terminal step cuts the return, while at a time-limit truncation the discount stays γ and the
bootstrap value is that of the truncated state. Each docstring states its recursion and source.
Agents and experiments take every target from this module; none keeps its own copy.
"""

from __future__ import annotations

import numpy as np


def q_learning_td(q_tm1: np.ndarray, a_tm1: np.ndarray, r_t: np.ndarray, discount_t: np.ndarray,
                  q_t: np.ndarray) -> np.ndarray:
    """Q-learning TD error ``δ = r_t + discount_t · max_a q_t[a] − q_tm1[a_tm1]``.

    Shapes: ``q_tm1, q_t: (B, A)``; ``a_tm1, r_t, discount_t: (B,)``. Returns ``(B,)``.
    Source: Watkins & Dayan (1992); Sutton & Barto (2018) eq. 6.8.
    """
    q_tm1, q_t = np.asarray(q_tm1), np.asarray(q_t)
    taken = np.take_along_axis(q_tm1, np.asarray(a_tm1)[..., None], axis=-1)[..., 0]
    return r_t + discount_t * q_t.max(axis=-1) - taken


def double_q_learning_td(q_tm1: np.ndarray, a_tm1: np.ndarray, r_t: np.ndarray, discount_t: np.ndarray,
                         q_t_value: np.ndarray, q_t_selector: np.ndarray) -> np.ndarray:
    """Double Q-learning TD error ``δ = r_t + discount_t · q_t_value[argmax_a q_t_selector[a]] − q_tm1[a_tm1]``.

    One estimate selects the action, the other evaluates it, which removes the upward bias of
    ``max`` over noisy estimates. Shapes as in :func:`q_learning_td`; ties in the selector go to
    the lowest index. Source: van Hasselt (2010); Sutton & Barto (2018) eq. 6.10.
    """
    q_tm1 = np.asarray(q_tm1)
    taken = np.take_along_axis(q_tm1, np.asarray(a_tm1)[..., None], axis=-1)[..., 0]
    best = np.argmax(np.asarray(q_t_selector), axis=-1)
    value = np.take_along_axis(np.asarray(q_t_value), best[..., None], axis=-1)[..., 0]
    return r_t + discount_t * value - taken
