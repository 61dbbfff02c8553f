"""``triad/Unimodal-v0``: a two-step point mass whose true Q over the action plane is bimodal.

A point in the plane starts near the origin; the goal lies straight ahead at ``g = (0, 1.6)`` and
an obstacle — an elongated Gaussian bump of cost, a soft wall — sits across the straight path at
``o = (offset, 0.7)``. Each step moves the point by the action, ``p_{t+1} = p_t + a_t``, with
``a_t ∈ [−1, 1]²``; the episode ends after the second step:

* step 0 (``t = 0``): ``r_0 = −λ‖a_0‖² − c·φ(p_1)``, ``φ(p) = exp(−(p_x − o_x)²/2ρ_x² − (p_y − o_y)²/2ρ_y²)``;
* step 1 (``t = 1``): ``r_1 = −λ‖a_1‖² − κ‖p_2 − g‖²``, then ``terminated``.

Constants: ``λ = 0.1`` (effort), ``c = 2`` (obstacle height), ``ρ = (0.25, 0.5)``, ``κ = 1``.
Observations are ``(x, y, t)`` (float32). The first waypoint decides the route: straight ahead
lands in the obstacle, a detour to the left or to the right avoids it, so ``Q(s_0, ·)`` has two
separated maxima near ``a_0 = (±0.74, 0.78)`` with a deep saddle between them — and their mean,
straight ahead, is the worst place to go. This is the seed notes' example of what a unimodal
(quadratic) advantage cannot represent.

The true values are known in closed form:

* ``Q*(s_1, a) = −λ‖a‖² − κ‖p_1 + a − g‖²`` — a concave quadratic (NAF can represent it exactly);
* ``V*(s_1) = Σ_i v(g_i − p_{1,i})`` with ``v(e) = max_{|u| ≤ 1} −λu² − κ(e − u)²``: both costs are
  sums over the coordinates, so the maximisation separates into two one-dimensional concave
  quadratics whose maximisers are ``u* = clip(κe/(λ + κ), −1, 1)``;
* ``Q*(s_0, a) = −λ‖a‖² − c·φ(p_0 + a) + γ V*(p_0 + a)``.

:func:`q_value` evaluates them; :func:`optimal_value` maximises ``Q*(s, ·)`` on a fine grid.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces

ENV_ID = "triad/Unimodal-v0"
"""The gymnasium id (registered by :func:`register`, which importing :mod:`triad.envs` calls)."""

EFFORT = 0.1
"""λ: cost per unit of squared action."""
OBSTACLE_HEIGHT = 2.0
"""c: the obstacle's cost at its centre."""
OBSTACLE_CENTRE_Y = 0.7
"""o_y: the obstacle's centre across the straight path (o_x is the env's ``offset``)."""
OBSTACLE_RADII = (0.25, 0.5)
"""ρ_x, ρ_y: the obstacle is narrow across and long along the straight path (a soft wall)."""
GOAL = (0.0, 1.6)
"""g: the goal."""
GOAL_WEIGHT = 1.0
"""κ: weight of the squared final distance to the goal."""
HORIZON = 2
"""Steps per episode."""


def obstacle(p: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """``φ(p) ∈ (0, 1]`` for positions ``(..., 2)``: ``(...)``."""
    p = np.asarray(p, np.float64)
    (rx, ry), oy = OBSTACLE_RADII, OBSTACLE_CENTRE_Y
    return np.exp(-(p[..., 0] - offset) ** 2 / (2 * rx * rx) - (p[..., 1] - oy) ** 2 / (2 * ry * ry))


def _best_last_move(e: np.ndarray) -> np.ndarray:
    """``u* = argmax_{|u| ≤ 1} −λu² − κ(e − u)² = clip(κe/(λ + κ), −1, 1)`` per coordinate."""
    return np.clip(GOAL_WEIGHT * e / (EFFORT + GOAL_WEIGHT), -1.0, 1.0)


def last_q(p1: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``Q*(s_1, a) = r_1 = −λ‖a‖² − κ‖p_1 + a − g‖²`` for ``p1 (..., 2)``, ``a (..., 2)``: ``(...)``."""
    p1, a = np.asarray(p1, np.float64), np.asarray(a, np.float64)
    return -EFFORT * (a * a).sum(-1) - GOAL_WEIGHT * ((p1 + a - np.asarray(GOAL)) ** 2).sum(-1)


def last_value(p1: np.ndarray) -> np.ndarray:
    """``V*(s_1) = max_a Q*(s_1, a)`` in closed form (module docstring): ``(...)`` for ``p1 (..., 2)``."""
    p1 = np.asarray(p1, np.float64)
    return last_q(p1, _best_last_move(np.asarray(GOAL) - p1))


def best_last_action(p1: np.ndarray) -> np.ndarray:
    """``argmax_a Q*(s_1, a)``: ``(..., 2)``."""
    return _best_last_move(np.asarray(GOAL) - np.asarray(p1, np.float64))


def first_reward(p0: np.ndarray, a: np.ndarray, offset: float = 0.0) -> np.ndarray:
    """``r_0 = −λ‖a‖² − c·φ(p_0 + a)``: ``(...)``."""
    p0, a = np.asarray(p0, np.float64), np.asarray(a, np.float64)
    return -EFFORT * (a * a).sum(-1) - OBSTACLE_HEIGHT * obstacle(p0 + a, offset)


def first_q(p0: np.ndarray, a: np.ndarray, gamma: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """``Q*(s_0, a) = r_0 + γ V*(p_0 + a)``: ``(...)`` for ``p0 (..., 2)`` (broadcast against ``a (..., 2)``)."""
    p0, a = np.asarray(p0, np.float64), np.asarray(a, np.float64)
    return first_reward(p0, a, offset) + gamma * last_value(p0 + a)


def q_value(obs: np.ndarray, actions: np.ndarray, gamma: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """The true ``Q*(s, a)`` of observations ``(x, y, t)`` ``(3,)`` or ``(N, 3)`` and actions ``(..., 2)``.

    One observation is broadcast against any batch of actions (a grid over the action plane);
    ``N`` observations take ``(N, 2)`` actions, one each. Actions outside ``[−1, 1]²`` are clipped,
    as the environment clips them.
    """
    obs = np.asarray(obs, np.float64)
    a = np.clip(np.asarray(actions, np.float64), -1.0, 1.0)
    p, t = obs[..., :2], obs[..., 2]
    if obs.ndim == 2:
        if a.shape != (obs.shape[0], 2):
            raise ValueError(f"q_value: {obs.shape[0]} observations need actions of shape ({obs.shape[0]}, 2), "
                             f"got {a.shape}")
    elif obs.shape != (3,):
        raise ValueError(f"q_value: obs must be (3,) or (N, 3), got {obs.shape}")
    else:
        p = np.broadcast_to(p, a.shape)
        t = np.full(a.shape[:-1], float(t))
    return np.where(t < 0.5, first_q(p, a, gamma, offset), last_q(p, a))


def action_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(axis (n,), actions (n, n, 2))``: the ``n × n`` grid over ``[−1, 1]²``, ``actions[i, j] = (axis[i], axis[j])``."""
    axis = np.linspace(-1.0, 1.0, n)
    return axis, np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)


def optimal_value(obs: np.ndarray, gamma: float = 1.0, offset: float = 0.0, n: int = 401) -> tuple[float, np.ndarray]:
    """``(max_a Q*(s, a), argmax)`` for one observation, on an ``n × n`` grid of the action box (spacing ``2/(n − 1)``)."""
    _, grid = action_grid(n)
    q = q_value(obs, grid, gamma, offset)
    i, j = np.unravel_index(int(np.argmax(q)), q.shape)
    return float(q[i, j]), grid[i, j]


class UnimodalEnv(gymnasium.Env):
    """The two-step point mass (module docstring) as a single gymnasium environment.

    Args:
        jitter: the start is ``U([−jitter, jitter]²)`` around the origin.
        offset: ``o_x``, the obstacle's sideways offset (0: the two detours are equally good;
            ``offset > 0`` makes the left one better).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, jitter: float = 0.1, offset: float = 0.0, render_mode: str | None = None):
        if not 0.0 <= jitter <= 0.5 or not abs(offset) <= 0.5:
            raise ValueError(f"UnimodalEnv: jitter = {jitter} must be in [0, 0.5] and |offset| = {abs(offset)} "
                             "at most 0.5")
        self.jitter, self.offset, self.render_mode = float(jitter), float(offset), render_mode
        self.observation_space = spaces.Box(np.array([-4.0, -4.0, 0.0], np.float32),
                                            np.array([4.0, 4.0, 1.0], np.float32), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self._p = np.zeros(2)
        self._t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self._p[0], self._p[1], self._t], np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        # Positions are kept at float32 precision, so the observation is the state exactly.
        self._p = self.np_random.uniform(-self.jitter, self.jitter, 2).astype(np.float32).astype(np.float64)
        self._t = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.clip(np.asarray(action, np.float64).reshape(2), -1.0, 1.0)
        if self._t == 0:
            reward = float(first_reward(self._p, a, self.offset))
        else:
            reward = float(last_q(self._p, a))
        self._p = (self._p + a).astype(np.float32).astype(np.float64)
        self._t += 1
        return self._obs(), reward, self._t >= HORIZON, False, {}


def register() -> None:
    """Register :data:`ENV_ID` with gymnasium (a no-op if present)."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(ENV_ID, entry_point=f"{__name__}:UnimodalEnv")
