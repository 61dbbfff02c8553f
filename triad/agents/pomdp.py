"""Partially observable versions of gymnasium tasks: observation wrappers that hide part of the state.

``triad/CartPoleNoVel-v1`` is CartPole-v1 with the velocities masked: the agent sees the cart
position and the pole angle ``(x, θ)`` only, so no function of the current observation is an
optimal policy and a memory (a recurrent Q network, R2D2) has something to do. This is the
velocity-masked CartPole of the recurrent-RL benchmarks (Meng, Gorbet & Kulić 2021, "Memory-based
Deep Reinforcement Learning for POMDPs"; rl-baselines3-zoo's ``CartPoleNoVel-v1``, used for
recurrent PPO in sb3-contrib). Its vector entry point wraps gymnasium's ``CartPoleVectorEnv`` (one
numpy call for all envs); ``triad.envs`` registers the id, so ``triad train r2d2-lite --env
triad/CartPoleNoVel-v1`` and ``gymnasium.make("triad/CartPoleNoVel-v1")`` work. No torch here.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv, CartPoleVectorEnv

CARTPOLE_NO_VELOCITY = "triad/CartPoleNoVel-v1"
"""The gymnasium id of velocity-masked CartPole-v1 (time limit 500, as CartPole-v1)."""

CARTPOLE_KEEP = (0, 2)
"""Observation entries kept: cart position x and pole angle θ (velocities ẋ, θ̇ are entries 1 and 3)."""


def _masked_box(box: spaces.Box, keep: tuple[int, ...]) -> spaces.Box:
    return spaces.Box(box.low[list(keep)], box.high[list(keep)], dtype=box.dtype)


class MaskObservation(gymnasium.ObservationWrapper):
    """Keep the entries ``keep`` of a 1-D Box observation (a single environment)."""

    def __init__(self, env: gymnasium.Env, keep: tuple[int, ...] = CARTPOLE_KEEP):
        super().__init__(env)
        self.keep = list(keep)
        self.observation_space = _masked_box(env.observation_space, keep)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[self.keep]


class VectorMaskObservation(gymnasium.vector.VectorObservationWrapper):
    """Keep the entries ``keep`` of every row of a vector env's ``(B, d)`` observations (one slice for all)."""

    def __init__(self, env: gymnasium.vector.VectorEnv, keep: tuple[int, ...] = CARTPOLE_KEEP):
        super().__init__(env)
        self.keep = list(keep)
        self.single_observation_space = _masked_box(env.single_observation_space, keep)
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, env.num_envs)

    def observations(self, observations: np.ndarray) -> np.ndarray:
        return observations[:, self.keep]


def cartpole_no_velocity(**kwargs: Any) -> gymnasium.Env:
    """The single-env entry point: ``CartPoleEnv`` with the velocities masked (gymnasium adds the time limit)."""
    return MaskObservation(CartPoleEnv(**kwargs))


def cartpole_no_velocity_vector(num_envs: int = 1, **kwargs: Any) -> gymnasium.vector.VectorEnv:
    """The vector entry point: gymnasium's ``CartPoleVectorEnv`` (``max_episode_steps`` passed by ``make_vec``), masked."""
    return VectorMaskObservation(CartPoleVectorEnv(num_envs=num_envs, **kwargs))


def register() -> None:
    """Register :data:`CARTPOLE_NO_VELOCITY` with gymnasium (a no-op if present)."""
    if CARTPOLE_NO_VELOCITY not in gymnasium.registry:
        gymnasium.register(CARTPOLE_NO_VELOCITY, entry_point=f"{__name__}:cartpole_no_velocity",
                           vector_entry_point=f"{__name__}:cartpole_no_velocity_vector", max_episode_steps=500,
                           reward_threshold=475.0)
