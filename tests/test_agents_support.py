"""Test support for the agent tests: a minimal tabular-twin vector env over a zoo problem.

TEMPORARY (agents branch): the agent tests need a FiniteEnv (``env.problem``, ``env.mdp``,
``env.obs_table``, gymnasium's vector API with NEXT_STEP or SAME_STEP autoreset) before
``triad.envs`` lands from the envs branch; at merge the tests switch to ``triad.envs.FiniteEnv``
and this file goes. It samples with :class:`triad.sampling.Sampler`, as ``sampling.rollout`` does.
"""

from __future__ import annotations

import gymnasium
import numpy as np

from triad import zoo
from triad.sampling import Sampler


class TwinEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` streams of a zoo MDP; one-hot observations; ``max_episode_steps`` → truncated."""

    def __init__(self, spec: str, num_envs: int = 1, max_episode_steps: int | None = None, same_step: bool = False):
        self.problem = zoo.make(spec)
        self.mdp = self.problem.mdp
        self.obs_table = np.eye(self.mdp.S, dtype=np.float32)
        self.num_envs, self.max_episode_steps = num_envs, max_episode_steps
        mode = gymnasium.vector.AutoresetMode.SAME_STEP if same_step else gymnasium.vector.AutoresetMode.NEXT_STEP
        self.metadata = {"autoreset_mode": mode}
        self.single_observation_space = gymnasium.spaces.Box(0.0, 1.0, (self.mdp.S,), np.float32)
        self.single_action_space = gymnasium.spaces.Discrete(self.mdp.A)
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, num_envs)
        self._sampler = Sampler(self.mdp)
        self._terminal = self.mdp.terminal if self.mdp.terminal is not None else np.zeros(self.mdp.S, bool)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._s = self._sampler.initial_states(self.np_random, (self.num_envs,))
        self._age = np.zeros(self.num_envs, np.int64)
        self._pending = np.zeros(self.num_envs, bool)
        return self.obs_table[self._s], {}

    def step(self, actions):
        a = np.asarray(actions, np.int64)
        r = self._sampler.rewards(self.np_random, self._s, a)
        nxt = self._sampler.next_states(self.np_random, self._s, a)
        self._age += 1
        term = self._terminal[nxt]
        limit = self.max_episode_steps
        trunc = ~term & (self._age >= limit) if limit is not None else np.zeros(self.num_envs, bool)
        done = term | trunc
        info = {}
        fresh = self._sampler.initial_states(self.np_random, (self.num_envs,))
        if self.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.SAME_STEP:
            shown = np.where(done, fresh, nxt)
            if done.any():
                final = np.full(self.num_envs, None, dtype=object)
                for i in np.flatnonzero(done):
                    final[i] = self.obs_table[nxt[i]]
                info = {"final_obs": final, "_final_obs": done}
            self._s = shown
            self._age[done] = 0
        else:
            pending = self._pending
            shown = np.where(pending, fresh, nxt)
            r, term, trunc = np.where(pending, 0.0, r), term & ~pending, trunc & ~pending
            self._age[pending] = 0
            self._pending = (term | trunc)
            self._s = shown
        return self.obs_table[shown], r, term, trunc, info


def twin_make_env(env: str, num_envs: int = 1, seed: int | None = None, *, obs: str | None = None,
                  max_episode_steps: int | None = None, same_step: bool = False):
    """``make_env`` for tests: a zoo spec → :class:`TwinEnv`, anything else → the loop's gymnasium path."""
    from triad.agents import loop

    if env.partition(":")[0] in zoo.ZOO:
        venv = TwinEnv(env, num_envs, max_episode_steps, same_step)
        venv.reset(seed=seed)
        return venv
    return loop._gymnasium_make_env(env, num_envs, seed, obs=obs or "onehot", max_episode_steps=max_episode_steps)
