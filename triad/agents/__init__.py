"""Deep-RL agents on the theory core: every return from :mod:`triad.multistep`, every truth from the solvers.

:data:`REGISTRY` maps an algorithm's name to its :class:`Algorithm` — config class, builder, the
action spaces and env families it handles, a one-line summary and its per-env presets;
:func:`registry` hands it to ``triad list``. Importing this package does not import torch; the
builder's module is imported when an agent is built. :mod:`triad.agents.replay` (issue 13) holds
the replay buffers of the off-policy agents, :mod:`triad.agents.offpolicy` their shared
three-process driver, :mod:`triad.agents.actor_critic` the off-policy actor-critics and
:mod:`triad.agents.value` / :mod:`triad.agents.recurrent` the value-based suite, and
:mod:`triad.agents.continuous_q` Q-learning with continuous actions (max by :mod:`triad.agents.maximise`).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

from triad.agents import config as cfg
from triad.errors import SpecError


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """One entry of :data:`REGISTRY`.

    Attributes:
        name: what ``triad train NAME`` takes.
        config: the config dataclass.
        builder: ``"module:function"``; the function is ``build(config, env_spaces, seed) -> Agent``.
        spaces: action spaces it handles (gymnasium class names).
        families: env families it is meant for (``finite``: triad's tabular twins; gymnasium groups).
        summary: one line for ``triad list``.
        presets: env id → field overrides applied before ``--set`` (documented beside the config).
    """

    name: str
    config: type[cfg.AgentConfig]
    builder: str
    spaces: tuple[str, ...]
    families: tuple[str, ...]
    summary: str
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    @property
    def description(self) -> str:
        """The summary (what ``triad list`` shows)."""
        return self.summary

    @property
    def envs(self) -> tuple[str, ...]:
        """The env families (what ``triad list`` shows)."""
        return self.families

    def build(self, config: cfg.AgentConfig, env_spaces: Any, seed: int) -> Any:
        """Import the builder's module (and torch) and build the agent."""
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)(config, env_spaces, seed, name=self.name)

    def resolve(self, env_id: str, overrides: Mapping[str, Any] | None = None) -> cfg.AgentConfig:
        """The config for ``env_id``: defaults, then the env's preset, then ``overrides`` (``--set``)."""
        config = cfg.override(self.config(), dict(self.presets.get(env_id, {})), where=f"{self.name} preset {env_id}")
        return cfg.override(config, dict(overrides or {}))


_ON_POLICY = "triad.agents.onpolicy:build"
_SPACES = ("Discrete", "Box")
_FAMILIES = ("finite", "classic-control", "box2d", "mujoco")
_CONTINUOUS = ("classic-control", "box2d", "mujoco")
_VALUE = "triad.agents.value:build"
_DISCRETE = ("Discrete",)
_VALUE_FAMILIES = ("finite", "classic-control", "box2d")
_CONTINUOUS_Q = "triad.agents.continuous_q:build"
_CONTINUOUS_Q_FAMILIES = (*_CONTINUOUS, "unimodal")

REGISTRY: dict[str, Algorithm] = {a.name: a for a in (
    Algorithm("reinforce", cfg.ReinforceConfig, _ON_POLICY, _SPACES, _FAMILIES,
              "REINFORCE (Williams 1992) on whole episodes; reward-to-go and a learned baseline are switches"),
    Algorithm("ac-batch", cfg.ACBatchConfig, _ON_POLICY, _SPACES, _FAMILIES,
              "batch actor-critic (seed notes, CS285): fit V̂ to r + γV̂(s'), then one actor step on δ"),
    Algorithm("ac-online", cfg.ACOnlineConfig, _ON_POLICY, _SPACES, _FAMILIES,
              "online actor-critic (seed notes, CS285): one transition per env, critic step, actor step"),
    Algorithm("a2c", cfg.A2CConfig, _ON_POLICY, _SPACES, _FAMILIES,
              "synchronous advantage actor-critic (Mnih et al. 2016), vectorised envs, SB3 defaults",
              cfg.A2C_PRESETS),
    Algorithm("ppo", cfg.PPOConfig, _ON_POLICY, _SPACES, _FAMILIES,
              "PPO, clipped objective with GAE and minibatch epochs (Schulman et al. 2017)", cfg.PPO_PRESETS),
    Algorithm("a3c", cfg.A3CConfig, "triad.agents.a3c:build", _SPACES, _FAMILIES,
              "asynchronous advantage actor-critic (Mnih et al. 2016): worker processes, shared RMSProp, Hogwild",
              cfg.A3C_PRESETS),
    Algorithm("qprop", cfg.QPropConfig, "triad.agents.qprop:build", _SPACES, _FAMILIES,
              "Q-Prop (Gu et al. 2017): policy gradient with an off-policy Q critic as control variate, adaptive η"),
    Algorithm("offpolicy-ac", cfg.OffPolicyACConfig, "triad.agents.actor_critic:build_offpolicy_ac", _SPACES,
              _FAMILIES, "off-policy actor-critic (seed notes): replay, Q critic on r + γQ'(s', a' ~ π), "
                         "policy gradient at re-sampled a ~ π"),
    Algorithm("sac", cfg.SACConfig, "triad.agents.actor_critic:build_sac", _SPACES, _FAMILIES,
              "soft actor-critic (Haarnoja et al. 2018): tanh-Gaussian actor, twin Q, Polyak targets, learned α; "
              "Discrete actions: SAC-discrete (Christodoulou 2019)",
              cfg.SAC_PRESETS),
    Algorithm("td3", cfg.TD3Config, "triad.agents.actor_critic:build_td3", ("Box",), _CONTINUOUS,
              "TD3 (Fujimoto et al. 2018): clipped double Q, target policy smoothing, delayed actor",
              cfg.TD3_PRESETS),
    Algorithm("ddpg", cfg.DDPGConfig, "triad.agents.actor_critic:build_td3", ("Box",), _CONTINUOUS,
              "DDPG (Lillicrap et al. 2016) as a TD3 setting: one critic, no smoothing, no delay",
              cfg.DDPG_PRESETS),
    Algorithm("online-q", cfg.OnlineQConfig, _VALUE, _DISCRETE, _VALUE_FAMILIES,
              "online Q-learning (seed notes): replay 1, batch 1, target = the current network under stop-gradient"),
    Algorithm("dqn", cfg.DQNConfig, _VALUE, _DISCRETE, _VALUE_FAMILIES,
              "DQN (Mnih et al. 2015): large replay, periodic hard target copy; SB3 defaults, zoo presets",
              cfg.DQN_PRESETS),
    Algorithm("double-dqn", cfg.DoubleDQNConfig, _VALUE, _DISCRETE, _VALUE_FAMILIES,
              "double DQN (van Hasselt et al. 2016): the online network selects, the target evaluates",
              cfg.DQN_PRESETS),
    Algorithm("dueling-dqn", cfg.DuelingDQNConfig, _VALUE, _DISCRETE, _VALUE_FAMILIES,
              "dueling DQN (Wang et al. 2016): Q = V + A − mean A", cfg.DQN_PRESETS),
    Algorithm("fqi", cfg.FQIConfig, _VALUE, _DISCRETE, _VALUE_FAMILIES,
              "fitted Q-iteration (Ernst et al. 2005): collect once; freeze target, regress, copy; exact on a table"),
    Algorithm("nstep-q", cfg.NStepQConfig, _VALUE, _DISCRETE, _VALUE_FAMILIES,
              "n-step Q-learning from replayed sequences: correction ignore|cut|importance-sampling|tree-backup|"
              "retrace", cfg.DQN_PRESETS),
    Algorithm("rainbow-lite", cfg.RainbowLiteConfig, _VALUE, _DISCRETE, _VALUE_FAMILIES,
              "Rainbow-lite (Hessel et al. 2018): double + dueling + 3-step + prioritised replay", cfg.DQN_PRESETS),
    Algorithm("apex", cfg.ApexConfig, "triad.distributed.apex:build", _DISCRETE, _VALUE_FAMILIES,
              "Ape-X DQN (Horgan et al. 2018) on Ray: N ε_i-greedy actor processes, prioritised replay shards, one "
              "double/dueling n-step learner, enforced samples per insert (distributed extra)"),
    Algorithm("r2d2-lite", cfg.R2D2LiteConfig, "triad.agents.recurrent:build", _DISCRETE, _VALUE_FAMILIES,
              "R2D2-lite (Kapturowski et al. 2019): recurrent Q, sequence replay, stored state, burn-in"),
    Algorithm("naf", cfg.NAFConfig, _CONTINUOUS_Q, ("Box",), _CONTINUOUS_Q_FAMILIES,
              "NAF (Gu et al. 2016): quadratic advantage V − ½(a − μ)ᵀP(a − μ), analytic max and argmax",
              cfg.CONTINUOUS_Q_PRESETS),
    Algorithm("qtopt", cfg.QTOptConfig, _CONTINUOUS_Q, ("Box",), _CONTINUOUS_Q_FAMILIES,
              "QT-Opt (Kalashnikov et al. 2018): CEM argmax, clipped double Q over two lagged targets, "
              "a Bellman updater labels replayed batches", cfg.CONTINUOUS_Q_PRESETS),
    Algorithm("qtopt-distributed", cfg.QTOptDistributedConfig, "triad.distributed.qtopt:build", ("Box",),
              _CONTINUOUS_Q_FAMILIES, "decoupled QT-Opt (Kalashnikov et al. 2018) on Ray: collectors, Bellman updaters "
              "labelling replayed batches with CEM targets, a trainer, each at its own rate (`triad train qtopt "
              "--distributed`; distributed extra)", cfg.CONTINUOUS_Q_PRESETS),
    Algorithm("cem-q", cfg.CEMQConfig, _CONTINUOUS_Q, ("Box",), _CONTINUOUS_Q_FAMILIES,
              "Q-learning whose max is the cross-entropy method's (QT-Opt without clipped double Q)",
              cfg.CONTINUOUS_Q_PRESETS),
    Algorithm("shooting-q", cfg.ShootingQConfig, _CONTINUOUS_Q, ("Box",), _CONTINUOUS_Q_FAMILIES,
              "Q-learning whose max is random shooting over uniform actions", cfg.CONTINUOUS_Q_PRESETS),
)}
"""Every algorithm ``triad train`` knows."""


def registry() -> dict[str, Algorithm]:
    """:data:`REGISTRY` (the hook ``triad list`` reads)."""
    return dict(REGISTRY)


def get(name: str) -> Algorithm:
    """The registry entry ``name``; an unknown name is one :class:`SpecError` listing the known ones."""
    if name not in REGISTRY:
        raise SpecError(f"unknown algorithm {name!r} (available: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def describe() -> list[dict[str, Any]]:
    """``name``, ``summary``, ``spaces``, ``families`` of every algorithm (for ``triad list``)."""
    return [{"name": a.name, "summary": a.summary, "spaces": list(a.spaces), "families": list(a.families)}
            for a in REGISTRY.values()]
