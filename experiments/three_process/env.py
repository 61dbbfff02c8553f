"""The three-process experiment's tabular twin with features: a gridworld seen through random linear features.

``triad/FeatureGrid-v0`` is the zoo's ``gridworld`` (4×4, slip 0.1, goal +1, pit −1, γ = 0.9) whose
observation of state ``s`` is a row ``φ(s)`` of ``K = 6`` Gaussian random features
(:func:`triad.projections.random_features`, seed 0; zero on the absorbing goal and pit). A linear Q
on these features generalises across states — function approximation, bootstrapping and replayed
(off-policy) data, the three ingredients of the deadly triad — and the exact solvers still know
``Q*``, so the truth probes (``J``, ``‖Q̂ − Q*‖∞``, ``max|Q̂|``) hold for every cell of the grid.
The id is registered when this module is imported; ``"triad.experiments.three_process.env:triad/FeatureGrid-v0"``
imports it on the way (gymnasium's ``module:id`` form), so ``triad train dqn --env`` takes it too.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from triad import zoo
from triad.envs import FiniteEnv
from triad.projections import random_features

ENV_ID = "triad/FeatureGrid-v0"
"""The registered id."""

ENV = f"{__name__}:{ENV_ID}"
"""What ``--env`` / ``loop.train(env=…)`` takes (imports this module first)."""

SPEC, FEATURES, SEED = "gridworld:rows=4,cols=4,slip=0.1", 6, 0
"""The zoo MDP, the number of random features and their seed."""


def problem() -> zoo.Problem:
    """The gridworld with its random features (zero rows on absorbing states)."""
    base = zoo.make(SPEC)
    Phi = random_features(np.random.default_rng(SEED), base.mdp.S, FEATURES)
    if base.mdp.terminal is not None:
        Phi[base.mdp.terminal] = 0.0
    return zoo.Problem(base.mdp, features=Phi, source=f"{SPEC} with {FEATURES} Gaussian random features")


def feature_grid(num_envs: int = 1, max_episode_steps: int | None = 100, **kwargs: Any) -> FiniteEnv:
    """The vector entry point: a :class:`triad.envs.FiniteEnv` of :func:`problem` observing the features."""
    return FiniteEnv(problem(), num_envs, obs="features", max_episode_steps=max_episode_steps, **kwargs)


if ENV_ID not in gymnasium.registry:
    gymnasium.register(ENV_ID, vector_entry_point=f"{__name__}:feature_grid", max_episode_steps=100)
