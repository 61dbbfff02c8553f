"""The deep level's tabular twin: a 5×5 gridworld with two pits, seen through Gaussian random features, at γ = 0.99.

``triad/TriadGrid-v0`` is the zoo's ``gridworld`` (slip 0.1, goal +1, pits −1, γ = 0.99, episodes cut at
100 steps) whose observation of state ``s`` is a row ``φ(s)`` of ``K = 8`` Gaussian random features
(:func:`triad.projections.random_features`, seed 0; zero on the absorbing goal and pits). A Q network
on these features generalises across states (function approximation), learns from replay
(off-policy data) and bootstraps — the triad — and the exact solvers still know ``Q*``. Rewards lie
in ``[−1, 1]`` and ``γ = 0.99``, so no return exceeds ``1/(1 − γ) = 100`` in magnitude: the same bound
van Hasselt et al. (2018) use for soft divergence with clipped rewards. The id is registered when
this module is imported (``"triad.experiments.deadly_triad.env:triad/TriadGrid-v0"`` imports it).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from triad import zoo
from triad.envs import FiniteEnv
from triad.projections import random_features

ENV_ID = "triad/TriadGrid-v0"
"""The registered id."""

ENV = f"{__name__}:{ENV_ID}"
"""What ``loop.train`` / :func:`triad.agents.members.train_members` take (imports this module first)."""

LAYOUT, FEATURES, SEED, GAMMA, LIMIT = "S..../.#.X./...../.X.#./....G", 8, 0, 0.99, 100
"""The grid (``S`` start, ``G`` goal, ``X`` pits, ``#`` walls), feature count and seed, discount, episode limit."""


def problem() -> zoo.Problem:
    """The gridworld with its random features (zero rows on absorbing states)."""
    base = zoo.gridworld(layout=LAYOUT, slip=0.1, gamma=GAMMA)
    Phi = random_features(np.random.default_rng(SEED), base.mdp.S, FEATURES)
    Phi[base.mdp.terminal] = 0.0
    return zoo.Problem(base.mdp, features=Phi, source=f"gridworld {LAYOUT} with {FEATURES} Gaussian random features")


def triad_grid(num_envs: int = 1, max_episode_steps: int | None = LIMIT, **kwargs: Any) -> FiniteEnv:
    """The vector entry point: a :class:`triad.envs.FiniteEnv` of :func:`problem` observing the features."""
    return FiniteEnv(problem(), num_envs, obs="features", max_episode_steps=max_episode_steps, **kwargs)


if ENV_ID not in gymnasium.registry:
    gymnasium.register(ENV_ID, vector_entry_point=f"{__name__}:triad_grid", max_episode_steps=LIMIT)
