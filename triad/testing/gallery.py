"""Known bugs of return and advantage estimators, written as a user would write them.

Each function is a plain backward loop over time with one classic mistake about episode ends or
weights; :func:`triad.testing.check_estimator` must flag each against the target named in its
docstring (``tests/test_estimator_kit.py``), and :data:`GALLERY` lists them with that target.
Shapes: ``(T, B)`` arrays as in :mod:`triad.multistep` (``values``: ``(T + 1, B)``).
"""

from __future__ import annotations

import numpy as np


def return_truncation_as_termination(r_t, discount_t, v_t, truncated_t):
    """Discounted return that does not bootstrap at a time-limit truncation.

    Correct: ``G_t = r_t + discount_t · v_t`` where ``truncated_t`` (the episode was cut, the state
    still has value). Bug: ``G_t = r_t`` there, as if the episode had terminated. Biased for
    ``v_pi`` at every step whose episode is cut by the time limit.
    """
    r_t, discount_t, v_t = (np.asarray(x, dtype=np.float64) for x in (r_t, discount_t, v_t))
    T = len(r_t)
    g = np.empty_like(r_t)
    for t in range(T - 1, -1, -1):
        nxt = v_t[t] if t == T - 1 else g[t + 1]
        nxt = np.where(truncated_t[t], 0.0, nxt)  # BUG: should bootstrap v_t[t]
        g[t] = r_t[t] + discount_t[t] * nxt
    return g


def n_step_across_episode_end(r_t, discount_t, v_t, truncated_t, n=3):
    """n-step return whose window runs on past a truncation into the next episode.

    Correct: the window stops at a truncation and bootstraps ``v_t`` there. Bug: ``truncated_t``
    is ignored, so the rewards of the episode that the environment reset into are added (a
    termination still stops the window, since ``discount_t = 0``). Biased for ``v_pi`` (and
    ``nstep:3``) within ``n`` steps of a truncation.
    """
    r_t, discount_t, v_t = (np.asarray(x, dtype=np.float64) for x in (r_t, discount_t, v_t))
    T = len(r_t)
    g = np.empty_like(r_t)
    for t in range(T):
        end = min(t + n, T)
        acc, scale = np.zeros_like(r_t[0]), np.ones_like(r_t[0])
        for k in range(t, end):  # BUG: no stop at truncated_t[k]
            acc = acc + scale * r_t[k]
            scale = scale * discount_t[k]
        g[t] = acc + scale * v_t[end - 1]
    return g


def gae_no_bootstrap_at_end(r_t, discount_t, values, lam=0.95, truncated_t=None, bootstrap_t=None):
    """GAE that treats the end of the buffer as a termination.

    Correct: ``δ_{T−1} = r_{T−1} + discount_{T−1} · V(s_T) − V(s_{T−1})``. Bug: ``V(s_T)`` is
    taken as 0 (the last state's value is dropped), while truncations inside the buffer are handled
    correctly. Biased for ``advantage`` at the last steps of every column.
    """
    r_t, discount_t, values = (np.asarray(x, dtype=np.float64) for x in (r_t, discount_t, values))
    T = len(r_t)
    v_next = values[1:].copy()
    v_next[-1] = 0.0  # BUG: should be values[T]
    stop = np.zeros(r_t.shape, bool) if truncated_t is None else np.asarray(truncated_t, bool)
    if truncated_t is not None:
        v_next = np.where(stop, bootstrap_t, v_next)
    adv = np.empty_like(r_t)
    run = np.zeros_like(r_t[0])
    for t in range(T - 1, -1, -1):
        delta = r_t[t] + discount_t[t] * v_next[t] - values[t]
        run = delta + np.where(stop[t], 0.0, discount_t[t] * lam * run)
        adv[t] = run
    return adv


def lambda_return_swapped_weights(r_t, discount_t, v_t, lam=0.9, truncated_t=None):
    """λ-return with the weights of the bootstrap and the continuation swapped.

    Correct: ``G_t = r_t + discount_t · ((1 − λ) · v_t + λ · G_{t+1})``. Bug: ``λ · v_t + (1 − λ) ·
    G_{t+1}``, the λ-return of ``1 − λ``. Still unbiased for ``v_pi`` with the exact critic (every
    λ-return is); biased for ``lambda-return:0.9`` with any other critic.
    """
    r_t, discount_t, v_t = (np.asarray(x, dtype=np.float64) for x in (r_t, discount_t, v_t))
    stop = np.zeros(r_t.shape, bool) if truncated_t is None else np.asarray(truncated_t, bool)
    g = np.empty_like(r_t)
    T = len(r_t)
    g[T - 1] = r_t[T - 1] + discount_t[T - 1] * v_t[T - 1]
    for t in range(T - 2, -1, -1):
        mix = lam * v_t[t] + (1.0 - lam) * g[t + 1]  # BUG: (1 − λ)·v_t + λ·G_{t+1}
        g[t] = r_t[t] + discount_t[t] * np.where(stop[t], v_t[t], mix)
    return g


GALLERY = {
    "return_truncation_as_termination": (return_truncation_as_termination, "v_pi"),
    "n_step_across_episode_end": (n_step_across_episode_end, "v_pi"),
    "gae_no_bootstrap_at_end": (gae_no_bootstrap_at_end, "advantage"),
    "lambda_return_swapped_weights": (lambda_return_swapped_weights, "lambda-return:0.9"),
}
"""name → (buggy estimator, the target it fails)."""
