"""Typed agent configurations: frozen dataclasses whose fields document themselves.

Every field of a config carries a one-line docstring directly below it (CleanRL style), read here
from the class source with :mod:`ast`, so ``triad train ALGO --help-config`` and the error for an
unknown ``--set`` key show the same words as the code. Values typed on the command line are parsed
with :func:`triad.spec.coerce` to the type of the field's default; every error is one line.

This module imports no torch: ``triad list`` reads the registry without it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import math
import textwrap
from collections.abc import Mapping
from typing import Any, TypeVar

from triad.errors import SpecError, ValidationError
from triad.spec import coerce

C = TypeVar("C", bound="AgentConfig")


AUTORESET = ("next-step", "same-step")
"""The vector env's autoreset modes an agent's config may ask for (gymnasium's NEXT_STEP and SAME_STEP)."""


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """Fields every agent has. Subclasses add their own, each with a docstring line and a cited default."""

    envs: int = 1
    """Parallel environments stepped as one vector env."""
    gamma: float = 0.99
    """Discount factor γ of returns and targets (Sutton & Barto 2018, eq. 3.8)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer widths of every MLP (SB3 MlpPolicy default: two layers of 64)."""
    threads: int = 1
    """torch intra-op threads (1: deterministic and a fair comparison on a shared machine)."""
    log_every: int = 1000
    """Env steps between log rows of losses, speed and truth probes."""

    def validate(self) -> None:
        """Raise :class:`ValidationError` naming the first field outside its range."""
        _at_least(self, "envs", 1)
        _at_least(self, "threads", 1)
        _at_least(self, "log_every", 1)
        if not 0.0 <= self.gamma <= 1.0:
            raise ValidationError(f"gamma = {self.gamma:g} must be in [0, 1]")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValidationError(f"hidden = {self.hidden} must list at least one positive layer width")


def _at_least(config: AgentConfig, name: str, low: float) -> None:
    value = getattr(config, name)
    if not value >= low:
        raise ValidationError(f"{name} = {value!r} must be at least {low:g}")


def _one_of(config: AgentConfig, name: str, choices: tuple) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ValidationError(f"{name} = {value!r} must be one of {', '.join(map(str, choices))}")


# ------------------------------------------------------------------------------------ field docs
@functools.cache
def _own_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` of the fields a class body itself declares (a string right below each)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0].body
    docs: dict[str, str] = {}
    for stmt, nxt in itertools.pairwise(body):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)):
            docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def field_docs(cls: type[AgentConfig]) -> dict[str, str]:
    """The docstring of every field of ``cls``, subclasses' words winning over their bases'."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_own_docs(klass))
    return {f.name: docs.get(f.name, "") for f in dataclasses.fields(cls)}


def describe(config: AgentConfig) -> list[tuple[str, Any, str]]:
    """``(field, value, doc)`` rows, in declaration order."""
    docs = field_docs(type(config))
    return [(f.name, getattr(config, f.name), docs[f.name]) for f in dataclasses.fields(config)]


# ------------------------------------------------------------------------------------ overrides
def override(config: C, raw: Mapping[str, Any], where: str = "--set") -> C:
    """A copy of ``config`` with fields replaced; string values are parsed to the field's type.

    Raises:
        SpecError: an unknown key (the message lists the valid ones) or a value of the wrong type.
        ValidationError: a value outside its field's range.
    """
    names = [f.name for f in dataclasses.fields(config)]
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            raise SpecError(f"{where}: {type(config).__name__} has no field {key!r} (valid keys: {', '.join(names)})")
        default = getattr(config, key)
        changes[key] = coerce(value, default, f"{where} {key}") if isinstance(value, str) else _typed(
            value, default, f"{where} {key}")
    out = dataclasses.replace(config, **changes)
    out.validate()
    return out


def _typed(value: Any, default: Any, where: str) -> Any:
    """A non-string value checked against the type of ``default`` (JSON lists become tuples)."""
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise SpecError(f"{where}={value!r} is not a list")
        element = default[0] if default else value[0] if value else ""
        return tuple(_typed(v, element, where) for v in value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SpecError(f"{where}={value!r} is not a valid bool")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise SpecError(f"{where}={value!r} is not a valid int")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"{where}={value!r} is not a valid float")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise SpecError(f"{where}={value!r} is not a valid str")
    return value


def to_json(config: AgentConfig) -> dict[str, Any]:
    """The fields as a JSON-ready dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def from_json(cls: type[C], data: Mapping[str, Any]) -> C:
    """The inverse of :func:`to_json` (every value type-checked)."""
    return override(cls(), dict(data), where=f"{cls.__name__} from JSON")


# ------------------------------------------------------------------------------ on-policy family
@dataclasses.dataclass(frozen=True)
class OnPolicyConfig(AgentConfig):
    """The one on-policy learner; REINFORCE, batch/online actor-critic, A2C and PPO are settings of it.

    Defaults are Stable-Baselines3's A2C/PPO defaults unless a field says otherwise.
    """

    rollout: str = "steps"
    """How data is collected: steps (n_steps per env, episodes run on across updates) or episodes (whole episodes only)."""
    n_steps: int = 5
    """Steps per env per update when rollout=steps (SB3 A2C default: 5)."""
    batch_steps: int = 1000
    """rollout=episodes: update once every env's whole episodes begun since the last update hold batch_steps/envs steps (CS285 hw2: -b 1000)."""
    advantage: str = "gae"
    """gae (GAE(λ) with the critic, Schulman et al. 2016) or mc (Monte-Carlo returns, REINFORCE)."""
    reward_to_go: bool = True
    """advantage=mc: weight ∇log π(a_t|s_t) by the return from t (true) or by the whole episode's return (false)."""
    baseline: bool = True
    """Subtract the learned V̂(s_t) from the return (always true for gae; advantage=mc: REINFORCE with baseline)."""
    gae_lambda: float = 1.0
    """λ of GAE and of the critic's λ-return target (SB3 A2C default: 1.0)."""
    critic: str = "separate"
    """separate (actor and critic networks) or shared (one trunk, two heads): the seed notes' two designs."""
    critic_first: bool = False
    """Fit the critic first, then take the actor step with advantages from the refitted critic (seed notes' batch/online AC)."""
    critic_steps: int = 1
    """critic_first: gradient steps on the critic per update."""
    critic_target_every: int = 1
    """critic_first: recompute the bootstrapped targets r + γV̂(s') every this many critic steps (CS285 hw3 -ngsptu)."""
    discount_weighting: int = 1
    """1: no γ^t in front of ∇log π (seed option 1); 2: weight step t by γ^t, t from the episode's start (option 2)."""
    epochs: int = 1
    """Passes over each batch (SB3 PPO default: 10)."""
    batch_size: int = 0
    """Minibatch size within an epoch; 0: the whole batch in one step (SB3 PPO default: 64)."""
    clip: float = 0.0
    """PPO clip range ε of the probability ratio; 0: the plain policy-gradient loss (Schulman et al. 2017, eq. 7)."""
    clip_schedule: str = "constant"
    """constant or linear (decays ε to 0 over the run, rl-baselines3-zoo lin_)."""
    value_clip: float = 0.0
    """Clip the value prediction to within this of its old value (pessimistic max, OpenAI baselines ppo2); 0: off."""
    lr: float = 7e-4
    """Learning rate (SB3 A2C default: 7e-4)."""
    lr_schedule: str = "constant"
    """constant or linear (decays the learning rate to 0 over the run, rl-baselines3-zoo lin_)."""
    critic_lr: float = 0.0
    """critic_first: learning rate of the critic's optimiser; 0: the same as lr."""
    optimizer: str = "rmsprop"
    """adam or rmsprop (SB3 A2C default: RMSprop, α = 0.99, ε = 1e-5)."""
    optimizer_eps: float = 1e-5
    """ε of Adam / RMSprop (SB3: 1e-5 for both)."""
    rmsprop_alpha: float = 0.99
    """Smoothing constant of RMSprop (SB3 A2C default: 0.99)."""
    vf_coef: float = 0.5
    """Weight of the value loss in the joint loss (SB3 default: 0.5)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus (SB3 default: 0.0)."""
    max_grad_norm: float = 0.5
    """Clip the global gradient norm to this; 0: off (SB3 default: 0.5)."""
    normalize_advantage: bool = False
    """Standardise advantages within each minibatch (SB3: false for A2C, true for PPO)."""
    activation: str = "tanh"
    """tanh or relu hidden units (SB3 MlpPolicy default: tanh)."""
    ortho_init: bool = True
    """Orthogonal initialisation, gains √2 (hidden), 0.01 (policy head), 1 (value head) (SB3 default)."""
    log_std_init: float = 0.0
    """Initial log standard deviation of Gaussian policies (SB3 default: 0.0)."""
    squash: bool = False
    """Box actions: tanh-squashed Gaussian scaled to the bounds (true) or a Gaussian clipped to them (false, SB3)."""

    def validate(self) -> None:
        super().validate()
        _one_of(self, "rollout", ("steps", "episodes"))
        _one_of(self, "advantage", ("gae", "mc"))
        _one_of(self, "critic", ("separate", "shared"))
        _one_of(self, "discount_weighting", (1, 2))
        _one_of(self, "clip_schedule", ("constant", "linear"))
        _one_of(self, "lr_schedule", ("constant", "linear"))
        _one_of(self, "optimizer", ("adam", "rmsprop"))
        _one_of(self, "activation", ("tanh", "relu"))
        for name in ("n_steps", "batch_steps", "epochs", "critic_steps", "critic_target_every"):
            _at_least(self, name, 1)
        for name in ("batch_size",):
            _at_least(self, name, 0)
        for name in ("clip", "value_clip", "critic_lr", "vf_coef", "ent_coef", "max_grad_norm"):
            _at_least(self, name, 0.0)
        if not self.lr > 0:
            raise ValidationError(f"lr = {self.lr!r} must be positive")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ValidationError(f"gae_lambda = {self.gae_lambda:g} must be in [0, 1]")
        if self.advantage == "gae" and not self.baseline:
            raise ValidationError("advantage=gae always subtracts the critic's V̂; baseline=false needs advantage=mc")
        if self.advantage == "mc" and self.baseline and not self.reward_to_go:
            raise ValidationError("baseline=true needs reward_to_go=true (V̂(s_t) is a baseline for the return from t)")
        if self.advantage == "mc" and self.rollout != "episodes":
            raise ValidationError("advantage=mc needs rollout=episodes (Monte-Carlo returns need whole episodes)")
        if self.critic_first and self.advantage != "gae":
            raise ValidationError("critic_first=true refits a bootstrapping critic: it needs advantage=gae")

    @property
    def uses_critic(self) -> bool:
        """Whether the learner trains a value network."""
        return self.advantage == "gae" or self.baseline


@dataclasses.dataclass(frozen=True)
class ReinforceConfig(OnPolicyConfig):
    """REINFORCE (Williams 1992): whole episodes, Monte-Carlo returns, reward-to-go and baseline as switches."""

    envs: int = 4
    """Parallel environments (triad default; each env contributes batch_steps/envs steps of whole episodes)."""
    rollout: str = "episodes"
    """Whole episodes only (REINFORCE needs complete Monte-Carlo returns)."""
    advantage: str = "mc"
    """Monte-Carlo returns (Williams 1992)."""
    baseline: bool = False
    """Subtract a learned V̂(s_t) (REINFORCE with baseline, Sutton & Barto 2018 §13.4); false: plain REINFORCE."""
    batch_steps: int = 1000
    """Steps of whole episodes per update (CS285 hw2 CartPole: -b 1000)."""
    optimizer: str = "adam"
    """Adam (CS285 hw2)."""
    lr: float = 5e-3
    """Learning rate (CS285 hw2 default: 5e-3)."""
    max_grad_norm: float = 0.0
    """No gradient clipping (CS285 hw2)."""
    vf_coef: float = 1.0
    """Weight of the baseline's squared error (its own network, so the weight only scales its step)."""
    normalize_advantage: bool = True
    """Standardise the weights of ∇log π (CS285 hw2 'standardize advantages')."""
    optimizer_eps: float = 1e-8
    """ε of Adam (torch default, as CS285)."""


@dataclasses.dataclass(frozen=True)
class ACBatchConfig(OnPolicyConfig):
    """Batch actor-critic of the seed notes (CS285 lecture 6): sample a batch, fit V̂ to r + γV̂(s'), step the actor on δ."""

    envs: int = 4
    """Parallel environments (triad default)."""
    n_steps: int = 250
    """Steps per env per batch: 4 × 250 = 1000 transitions (CS285 hw3: -b 1000)."""
    gae_lambda: float = 0.0
    """λ = 0: the advantage is the TD error δ_t = r_t + γV̂(s_{t+1}) − V̂(s_t) (seed notes)."""
    critic_first: bool = True
    """Fit the critic first, then evaluate Â with it (seed notes' batch actor-critic)."""
    critic_steps: int = 100
    """Critic gradient steps per batch (CS285 hw3: -ntu 10 × -ngsptu 10)."""
    critic_target_every: int = 10
    """Recompute r + γV̂(s') every 10 critic steps (CS285 hw3: -ngsptu 10)."""
    optimizer: str = "adam"
    """Adam (CS285 hw3)."""
    lr: float = 5e-3
    """Actor learning rate (CS285 hw3 default: 5e-3)."""
    optimizer_eps: float = 1e-8
    """ε of Adam (torch default, as CS285)."""
    max_grad_norm: float = 0.0
    """No gradient clipping (CS285 hw3)."""
    normalize_advantage: bool = True
    """Standardise advantages (CS285 hw3)."""


@dataclasses.dataclass(frozen=True)
class ACOnlineConfig(OnPolicyConfig):
    """Online actor-critic of the seed notes (CS285 lecture 6): one transition per env, critic step, then actor step."""

    envs: int = 8
    """Parallel environments: online AC "works best with a batch, e.g. parallel workers" (CS285 lecture 6)."""
    n_steps: int = 1
    """One transition per env per update (online)."""
    gae_lambda: float = 0.0
    """λ = 0: the advantage is the TD error δ_t (seed notes)."""
    critic_first: bool = True
    """Update V̂ on r + γV̂(s') first, then evaluate δ with it (seed notes' online actor-critic)."""
    critic_steps: int = 1
    """One critic step per transition batch."""
    optimizer: str = "adam"
    """Adam."""
    lr: float = 1e-3
    """Actor learning rate (triad default)."""
    optimizer_eps: float = 1e-8
    """ε of Adam (torch default)."""


@dataclasses.dataclass(frozen=True)
class A2CConfig(OnPolicyConfig):
    """Synchronous advantage actor-critic (Mnih et al. 2016; SB3 defaults, which the zoo keeps for CartPole-v1)."""

    envs: int = 8
    """Parallel environments (rl-baselines3-zoo a2c.yml, CartPole-v1: n_envs 8)."""


@dataclasses.dataclass(frozen=True)
class PPOConfig(OnPolicyConfig):
    """PPO with the clipped objective (Schulman et al. 2017); SB3 PPO defaults."""

    envs: int = 1
    """Parallel environments (SB3 default: 1)."""
    n_steps: int = 2048
    """Steps per env per update (SB3 PPO default: 2048)."""
    batch_size: int = 64
    """Minibatch size (SB3 PPO default: 64)."""
    epochs: int = 10
    """Epochs per update (SB3 PPO default: 10)."""
    gae_lambda: float = 0.95
    """λ of GAE (SB3 PPO default: 0.95)."""
    clip: float = 0.2
    """Clip range ε (SB3 PPO default: 0.2; Schulman et al. 2017)."""
    lr: float = 3e-4
    """Learning rate (SB3 PPO default: 3e-4)."""
    optimizer: str = "adam"
    """Adam (SB3 PPO)."""
    normalize_advantage: bool = True
    """Standardise advantages per minibatch (SB3 PPO default)."""


@dataclasses.dataclass(frozen=True)
class A3CConfig(OnPolicyConfig):
    """Asynchronous advantage actor-critic (Mnih et al. 2016): worker processes, shared parameters and RMSProp.

    Each worker runs the on-policy learner's n-step advantage actor-critic loss on its own rollouts
    (GAE with λ = 1 is the paper's forward-view n-step return, bootstrapped at the end of the rollout).
    """

    workers: int = 2
    """Worker processes, each with its own env(s) (Mnih et al. 2016 used 16 CPU threads; 2 fit the 2-core machines here)."""
    envs: int = 1
    """Environments per worker (Mnih et al. 2016: one)."""
    n_steps: int = 5
    """t_max: steps per env per rollout, one gradient each (Mnih et al. 2016, experimental setup: t_max = 5)."""
    ent_coef: float = 0.01
    """Entropy weight β (Mnih et al. 2016, experimental setup: β = 0.01)."""
    shared_statistics: bool = True
    """RMSProp's mean square g shared by all workers (Mnih et al. 2016, §4 and supplementary "optimization details": the most robust); false: per worker."""
    lock: bool = False
    """Serialise the shared optimiser steps with a lock; false: Hogwild, lock-free (Recht et al. 2011), as Mnih et al."""
    start_method: str = "auto"
    """How workers start: fork, spawn, forkserver, or auto (fork where the platform has it, spawn elsewhere)."""

    def validate(self) -> None:
        super().validate()
        _at_least(self, "workers", 1)
        _one_of(self, "start_method", ("auto", "fork", "spawn", "forkserver"))
        if self.optimizer != "rmsprop":
            raise ValidationError("a3c applies its workers' gradients with the paper's shared RMSProp: optimizer=rmsprop")
        if self.rollout != "steps" or self.critic_first or self.epochs != 1 or self.batch_size != 0:
            raise ValidationError("a3c takes one gradient per n-step rollout: rollout=steps, critic_first=false, "
                                  "epochs=1, batch_size=0")


@dataclasses.dataclass(frozen=True)
class QPropConfig(OnPolicyConfig):
    """Q-Prop (Gu, Lillicrap, Ghahramani, Turner & Levine 2017): the on-policy gradient with an off-policy Q critic
    as control variate. Defaults: the paper's vanilla-policy-gradient variant with GAE (§5), the Q critic of the
    authors' rllab++ code (ICLR 2017 release)."""

    envs: int = 4
    """Parallel environments (triad default; each contributes n_steps steps to a batch)."""
    n_steps: int = 250
    """Steps per env per batch: 4 × 250 = 1000 (triad default; the paper's MuJoCo batches held 5000 steps)."""
    gae_lambda: float = 0.97
    """λ of GAE (Gu et al. 2017, §5: λ = 0.97)."""
    optimizer: str = "adam"
    """Adam for the policy and V̂ (CS285 hw2, as REINFORCE here)."""
    lr: float = 5e-3
    """Learning rate of the policy and V̂ (CS285 hw2's policy-gradient default, as REINFORCE here)."""
    optimizer_eps: float = 1e-8
    """ε of Adam (torch default)."""
    max_grad_norm: float = 0.0
    """No gradient clipping (as REINFORCE here)."""
    normalize_advantage: bool = True
    """Centre and scale the learning signals Â − ηĀ (Algorithm 1 centres them); the analytic term is scaled alike."""
    adaptive: str = "conservative"
    """η of the control variate: none (η = 1), conservative (η = 1 if cov(Â, Ā) > 0 else 0) or aggressive
    (η = sign cov(Â, Ā)), the covariance over the batch (Gu et al. 2017, §3.2; conservative is the paper's choice)."""
    q_hidden: tuple[int, ...] = (100, 100)
    """Hidden widths of the Q critic, ReLU units (rllab++ qf_hid_size 100, qf_hidden_nonlinearity relu)."""
    q_lr: float = 1e-3
    """Adam learning rate of the Q critic (rllab++ qf_learning_rate 1e-3)."""
    q_batch_size: int = 64
    """Replayed transitions per Q-critic step (rllab++ launcher: qf_batch_size 64)."""
    q_updates_per_step: float = 1.0
    """Q-critic steps per env step collected (rllab++ qf_updates_ratio 1)."""
    q_tau: float = 0.001
    """Soft target-network update rate τ (rllab++ soft_target_tau 0.001, as DDPG)."""
    replay_size: int = 1_000_000
    """Replay capacity in transitions (rllab++ replay_pool_size 1e6)."""
    q_warmup: int = 1000
    """Transitions in replay before the critic trains and the control variate is used (rllab++ launcher min_pool_size)."""

    def validate(self) -> None:
        super().validate()
        _one_of(self, "adaptive", ("none", "conservative", "aggressive"))
        for name in ("q_batch_size", "replay_size"):
            _at_least(self, name, 1)
        for name in ("q_updates_per_step", "q_warmup"):
            _at_least(self, name, 0)
        if not self.q_hidden or any(h < 1 for h in self.q_hidden):
            raise ValidationError(f"q_hidden = {self.q_hidden} must list at least one positive layer width")
        if not self.q_lr > 0:
            raise ValidationError(f"q_lr = {self.q_lr!r} must be positive")
        if not 0.0 < self.q_tau <= 1.0:
            raise ValidationError(f"q_tau = {self.q_tau:g} must be in (0, 1]")


# --------------------------------------------------------------------------------------- presets
PPO_PRESETS: dict[str, dict[str, Any]] = {
    # rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1 ("Tuned"): lin_0.001 and lin_0.2 are linear decays to 0.
    "CartPole-v1": {"envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "epochs": 20,
                    "ent_coef": 0.0, "lr": 1e-3, "lr_schedule": "linear", "clip": 0.2, "clip_schedule": "linear"},
    # rl-baselines3-zoo hyperparams/ppo.yml, Pendulum-v1 ("Tuned"; the zoo's gSDE exploration is not implemented).
    "Pendulum-v1": {"envs": 4, "n_steps": 1024, "gae_lambda": 0.95, "gamma": 0.9, "epochs": 10, "ent_coef": 0.0,
                    "lr": 1e-3, "clip": 0.2},
}
"""Per-env overrides of :class:`PPOConfig`, applied before ``--set``."""

A2C_PRESETS: dict[str, dict[str, Any]] = {
    # rl-baselines3-zoo hyperparams/a2c.yml, CartPole-v1: n_envs 8, ent_coef 0.0, everything else SB3's A2C defaults.
    "CartPole-v1": {"envs": 8, "ent_coef": 0.0},
}
"""Per-env overrides of :class:`A2CConfig`, applied before ``--set``."""

A3C_PRESETS: dict[str, dict[str, Any]] = {
    # Each worker steps rl-baselines3-zoo's A2C setting for CartPole-v1 (a2c.yml: n_envs 8, ent_coef 0.0), so every
    # asynchronous gradient averages 8 × 5 steps: eval ≥ 475 within 20k–70k steps for seeds 0, 1, 2 with 1 and with
    # 2 workers (tests/benchmarks/README.md, issue 12). With the paper's one env per worker (envs=1) the 5-sample
    # gradients reached 475 in only 2 of 7 exploratory two-worker runs within 300k–500k steps (lr 1e-4, 2.5e-4 or
    # 7e-4; not recorded in the benchmark table); --set envs=1 restores the paper's setting.
    "CartPole-v1": {"envs": 8, "ent_coef": 0.0},
}
"""Per-env overrides of :class:`A3CConfig`, applied before ``--set``."""


# ----------------------------------------------------------------------------- off-policy family
@dataclasses.dataclass(frozen=True)
class OffPolicyConfig(AgentConfig):
    """The shared off-policy driver (:mod:`triad.agents.offpolicy`): the seed notes' three processes at these rates.

    (1) data collection into a FIFO replay (``envs``, ``train_every``, ``learning_starts``,
    ``random_starts``, ``capacity``, ``collect_once``), (2) the target update (``target_period``,
    ``tau``), (3) regression (``grad_steps`` of ``batch_size``, ``lr``). Online Q-learning, DQN,
    fitted Q-iteration, SAC, TD3 and DDPG are points of this space (CS285 lecture 8; Levine's
    "three processes"). Defaults are Stable-Baselines3's off-policy defaults.
    """

    capacity: int = 1_000_000
    """Replay capacity in transitions, oldest evicted first (SB3 buffer_size default: 1e6); 1 with batch_size 1 is online learning."""
    batch_size: int = 256
    """Transitions per gradient step, drawn uniformly with replacement (SB3 SAC/TD3 default: 256)."""
    learning_starts: int = 100
    """Env steps collected before the first gradient step (SB3 default: 100); with collect_once, the size of the data set."""
    random_starts: bool = True
    """Act uniformly at random during the first learning_starts env steps (as SB3's off-policy algorithms do)."""
    train_every: int = 1
    """Process 1: vector-env steps per iteration, i.e. train_every · envs env steps (SB3 train_freq default: 1)."""
    grad_steps: int = 1
    """Process 3: gradient steps per iteration (SB3 gradient_steps default: 1)."""
    target_period: int = 1
    """Process 2: update the targets every this many gradient steps (SB3 target_update_interval default: 1); 0: no target networks, targets from the current ones under stop-gradient."""
    tau: float = 0.005
    """Target update φ' ← (1 − τ)φ' + τφ (Polyak averaging, SB3 default τ = 0.005); τ = 1: a hard copy (DQN)."""
    collect_once: bool = False
    """Collect one data set (the first learning_starts env steps), then only regress (fitted Q-iteration); the env keeps running for the episode statistics."""
    lr: float = 3e-4
    """Adam learning rate of every network (SB3 SAC default: 3e-4)."""

    def validate(self) -> None:
        super().validate()
        for name in ("capacity", "batch_size", "train_every", "grad_steps"):
            _at_least(self, name, 1)
        for name in ("learning_starts", "target_period"):
            _at_least(self, name, 0)
        if not 0.0 < self.tau <= 1.0:
            raise ValidationError(f"tau = {self.tau:g} must be in (0, 1]")
        if not self.lr > 0:
            raise ValidationError(f"lr = {self.lr!r} must be positive")
        if self.collect_once:
            if self.learning_starts < 1:
                raise ValidationError("collect_once needs learning_starts ≥ 1 (the size of the data set)")
            if self.capacity < self.learning_starts + self.envs - 1:
                raise ValidationError(f"collect_once keeps the first learning_starts = {self.learning_starts} env steps: "
                                      f"capacity = {self.capacity} must hold {self.learning_starts + self.envs - 1}")

    def rates(self) -> dict[str, Any]:
        """The process rates this configuration implies (what :meth:`explain` states), as numbers.

        ``env_steps_per_iteration``, ``grad_steps_per_iteration``, ``grad_steps_per_env_step``,
        ``replay_ratio`` (sampled transitions per collected env step), ``target_update`` (``none``,
        ``copy`` or ``polyak``), ``target_period`` (gradient steps) and ``target_period_env_steps``
        (``None`` without targets), ``tau``, ``capacity``, ``batch_size``, ``learning_starts``,
        ``collect_once``, ``online`` (capacity 1 and batch 1: no replay).
        """
        per_iter = self.train_every * self.envs
        per_env = self.grad_steps / per_iter
        update = "none" if self.target_period == 0 else "copy" if self.tau >= 1.0 else "polyak"
        return {"env_steps_per_iteration": per_iter, "grad_steps_per_iteration": self.grad_steps,
                "grad_steps_per_env_step": per_env, "replay_ratio": self.batch_size * per_env,
                "target_update": update, "target_period": self.target_period,
                "target_period_env_steps": None if update == "none" else self.target_period / per_env,
                "tau": self.tau, "capacity": self.capacity, "batch_size": self.batch_size,
                "learning_starts": self.learning_starts, "collect_once": self.collect_once,
                "online": self.capacity == 1 and self.batch_size == 1}

    def regression(self) -> str:
        """One line on what a gradient step of process 3 does (each algorithm's config says)."""
        return "subclass-defined regression step"

    def explain(self, name: str = "") -> str:
        """The three processes and their rates in words (``triad train ALGO --explain``)."""
        r = self.rates()
        head = f"{name}: " if name else ""
        starts = "uniformly random actions" if self.random_starts else "the agent's own actions"
        if self.collect_once:
            data = (f"collected ONCE: the first {self.learning_starts:,} env steps ({starts}) are the data set; "
                    "afterwards nothing enters the replay and only processes 2 and 3 run")
        else:
            evict = "evicted immediately (online: no replay)" if r["online"] else "FIFO eviction"
            data = (f"the first {self.learning_starts:,} env steps use {starts}; replay of {self.capacity:,} "
                    f"transitions, {evict}")
        if r["target_update"] == "none":
            target = "none: targets come from the current networks under stop-gradient"
        else:
            rule = "hard copy φ' ← φ" if r["target_update"] == "copy" else f"Polyak φ' ← {1 - self.tau:g}·φ' + {self.tau:g}·φ"
            target = (f"{rule} every {self.target_period:,} gradient step(s) = every "
                      f"{r['target_period_env_steps']:,.6g} env steps")
        collect = (f"  1. data collection: {self.envs} env(s) × {self.train_every} step(s) = "
                   f"{r['env_steps_per_iteration']:,} env steps per iteration; {data}")
        regress = (f"  3. regression: {self.grad_steps:,} gradient step(s) per iteration on batches of "
                   f"{self.batch_size:,} = {r['grad_steps_per_env_step']:.6g} per env step (replay ratio "
                   f"{r['replay_ratio']:.6g} sampled transitions per env step), from env step "
                   f"{self.learning_starts + 1:,} on; {self.regression()}")
        title = f"{head}three processes (seed notes: collect data / update the target / regress), one iteration ="
        return "\n".join([title, collect, f"  2. target update: {target}", regress])


@dataclasses.dataclass(frozen=True)
class OffPolicyACConfig(OffPolicyConfig):
    """The seed notes' off-policy actor-critic: replay with both bugs fixed (CS285 lecture 6, "off-policy actor-critic").

    Fix 1: a Q critic trained on ``r + γQ̂'(s', a')`` with ``a' ~ π(·|s')`` re-sampled from the
    current policy. Fix 2: the score-function policy gradient ``∇log π(a^π|s) Q̂(s, a^π)`` at
    actions ``a^π ~ π(·|s)`` re-sampled at the replayed states, not the stored actions.
    Replay and target defaults are SB3's SAC defaults; the sizes are triad's (small problems).
    """

    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the actor and the critic (SB3 MlpPolicy default for small problems: 64, 64)."""
    batch_size: int = 64
    """Transitions per gradient step (triad default: small tabular twins and classic control)."""
    learning_starts: int = 256
    """Env steps of uniformly random actions before the first gradient step (triad default)."""
    lr: float = 1e-3
    """Adam learning rate of actor and critic (triad default)."""
    pg_samples: int = 4
    """Actions a^π re-sampled from π at every replayed state for the policy gradient (CS285: "sample as many as we like"; triad default: 4)."""
    baseline: bool = True
    """Subtract a baseline from Q̂(s, a^π): Σ_a π(a|s)Q̂(s, a) for discrete actions, the mean of the other samples' Q̂ for Box (needs pg_samples ≥ 2)."""
    ent_coef: float = 0.0
    """Weight of an entropy bonus on π (SB3 default: 0.0; for Box, the entropy of the pre-squash Gaussian)."""
    activation: str = "relu"
    """relu or tanh hidden units (SB3 off-policy default: relu)."""

    def validate(self) -> None:
        super().validate()
        _at_least(self, "pg_samples", 1)
        _at_least(self, "ent_coef", 0.0)
        _one_of(self, "activation", ("relu", "tanh"))

    def regression(self) -> str:
        return (f"critic Q̂(s, a) on r + γ·Q̂'(s', a'), a' ~ π(·|s') re-sampled; actor −∇log π(a^π|s)·"
                f"{'(Q̂(s, a^π) − baseline)' if self.baseline else 'Q̂(s, a^π)'}, {self.pg_samples} a^π ~ π(·|s) per "
                "replayed state; one backward for both")


def _auto_or_number(config: OffPolicyConfig, name: str, learned: bool) -> None:
    """``auto``, a number, and with ``learned`` also ``auto_X`` (learned from X > 0); one line otherwise."""
    value = getattr(config, name)
    if value == "auto":
        return
    initial = learned and value.startswith("auto_")
    try:
        number = float(value[5:] if initial else value)
    except ValueError:
        raise ValidationError(f"{name} = {value!r} must be auto, {'auto_X or ' if learned else ''}a number") from None
    if learned and not (number > 0 if initial else number >= 0):
        raise ValidationError(f"{name} = {value!r}: the temperature must be {'positive' if initial else '≥ 0'}")


@dataclasses.dataclass(frozen=True)
class SACConfig(OffPolicyConfig):
    """Soft actor-critic (Haarnoja et al. 2018a, b): tanh-Gaussian actor, twin Q critics, Polyak targets, learned α.

    Defaults are SB3's SAC defaults. One gradient step descends the critics, then the actor (through
    the updated critics) and the temperature, all at the α in force before the step (Haarnoja et
    al. 2018b, Algorithm 1; SB3 ``SAC.train``). With Discrete actions it is SAC-discrete
    (Christodoulou 2019): a softmax actor and critics over all actions, the same settings.
    """

    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of actor and critics (SB3 SAC net_arch default: 256, 256)."""
    critics: int = 2
    """Q critics in the stacked ensemble; targets use their minimum (clipped double Q; Haarnoja et al. 2018b)."""
    ent_coef: str = "auto"
    """Temperature α: auto (learned, initial 1), auto_X (learned, initial X) or a fixed number (SB3 default: auto)."""
    target_entropy: str = "auto"
    """Entropy target H̄ of the learned α: auto = −dim(A) for Box (Haarnoja et al. 2018b, §5), 0.98·log|A| for Discrete (Christodoulou 2019), or a number."""

    def validate(self) -> None:
        super().validate()
        _at_least(self, "critics", 1)
        _auto_or_number(self, "ent_coef", learned=True)
        _auto_or_number(self, "target_entropy", learned=False)

    def regression(self) -> str:
        alpha = "learned α toward H̄" if self.ent_coef.startswith("auto") else f"fixed α = {self.ent_coef}"
        return (f"critics on r + γ·(min_e Q̂'_e(s', a') − α log π(a'|s')) with a' ~ π(·|s'); actor on α log π − "
                f"min_e Q̂_e at reparameterised a = tanh(μ + σε); {alpha}; {self.critics} critic(s) in one batched "
                "forward and backward, stepped before the actor's loss is evaluated through them (Discrete actions: "
                "SAC-discrete, every expectation over π a sum over the actions)")


@dataclasses.dataclass(frozen=True)
class TD3Config(OffPolicyConfig):
    """TD3 (Fujimoto, van Hoof & Meger 2018): clipped double Q, target policy smoothing, delayed actor, Polyak targets.

    Defaults are SB3's TD3 defaults with Gaussian exploration noise N(0, 0.1) (Fujimoto et al.;
    SB3 itself defaults to none). Actions are normalised to [−1, 1]: noise scales are fractions
    of the half-range of the env's box.
    """

    hidden: tuple[int, ...] = (400, 300)
    """Hidden widths of actor and critics (SB3 TD3 net_arch default: 400, 300; Fujimoto et al. 2018)."""
    lr: float = 1e-3
    """Adam learning rate of actor and critics (SB3 TD3 default: 1e-3)."""
    critics: int = 2
    """Q critics in the stacked ensemble; the target takes their minimum (clipped double Q, Fujimoto et al. §4.1)."""
    policy_delay: int = 2
    """One actor step every this many critic steps (delayed policy updates, Fujimoto et al. §5.2: d = 2)."""
    target_period: int = 2
    """Targets move with the delayed actor: every policy_delay gradient steps (SB3 TD3, Fujimoto et al.); must equal policy_delay."""
    target_noise: float = 0.2
    """Std of the Gaussian added to the target action (target policy smoothing, Fujimoto et al. §5.3: 0.2); 0: off."""
    noise_clip: float = 0.5
    """Clip of the target-smoothing noise (Fujimoto et al.: 0.5)."""
    action_noise: float = 0.1
    """Std of the Gaussian exploration noise on the actor's action (Fujimoto et al. 2018: N(0, 0.1))."""

    def validate(self) -> None:
        super().validate()
        for name in ("critics", "policy_delay"):
            _at_least(self, name, 1)
        for name in ("target_noise", "noise_clip", "action_noise"):
            _at_least(self, name, 0.0)
        if self.target_period != self.policy_delay:
            raise ValidationError(f"target_period = {self.target_period} must equal policy_delay = {self.policy_delay}: "
                                  "TD3's targets move on the delayed actor's steps (Fujimoto et al. 2018, Algorithm 1; "
                                  "SB3); set both")

    def regression(self) -> str:
        target = "min_e Q̂'_e" if self.critics > 1 else "Q̂'"
        smooth = (f"μ'(s') + clip(N(0, {self.target_noise:g}²), ±{self.noise_clip:g})" if self.target_noise > 0
                  else "μ'(s')")
        return (f"{self.critics} critic(s) on r + γ·{target}(s', {smooth}); actor on −Q̂_1(s, μ(s)) every "
                f"{self.policy_delay} gradient step(s); exploration a = clip(μ(s) + N(0, {self.action_noise:g}²))")


@dataclasses.dataclass(frozen=True)
class DDPGConfig(TD3Config):
    """DDPG (Lillicrap et al. 2016) as a TD3 setting: one critic, no target smoothing, no delay.

    Gaussian exploration noise instead of Ornstein-Uhlenbeck, as in Fujimoto et al.'s DDPG
    re-implementation ("OurDDPG", 2018) and SB3's DDPG, which is this setting of its TD3.
    """

    critics: int = 1
    """One critic, no clipped double Q (Lillicrap et al. 2016)."""
    policy_delay: int = 1
    """An actor step after every critic step."""
    target_period: int = 1
    """Polyak targets after every gradient step."""
    target_noise: float = 0.0
    """No target policy smoothing."""


# rl-baselines3-zoo hyperparams/{sac,td3,ddpg}.yml. The zoo's gSDE exploration (use_sde) and
# Ornstein-Uhlenbeck noise are not implemented: the presets keep their other settings (OU noise
# becomes Gaussian noise of the same σ).
SAC_PRESETS: dict[str, dict[str, Any]] = {
    "Pendulum-v1": {"lr": 1e-3},  # sac.yml: n_timesteps 20000, learning_rate 1e-3, SB3 defaults otherwise
    "MountainCarContinuous-v0": {"lr": 3e-4, "capacity": 50_000, "batch_size": 512, "ent_coef": "0.1",
                                 "train_every": 32, "grad_steps": 32, "gamma": 0.9999, "tau": 0.01,
                                 "learning_starts": 0, "hidden": (64, 64)},
}
"""Per-env overrides of :class:`SACConfig`, applied before ``--set``."""

_TD3_PENDULUM = {"gamma": 0.98, "capacity": 200_000, "learning_starts": 10_000, "action_noise": 0.1,
                 "grad_steps": 1, "train_every": 1, "lr": 1e-3, "hidden": (400, 300)}
TD3_PRESETS: dict[str, dict[str, Any]] = {
    "Pendulum-v1": dict(_TD3_PENDULUM),  # td3.yml Pendulum-v1 (normal noise σ 0.1)
    "MountainCarContinuous-v0": {"action_noise": 0.5, "grad_steps": 1, "train_every": 1, "lr": 1e-3,
                                 "batch_size": 256},  # td3.yml: OU noise σ 0.5
}
"""Per-env overrides of :class:`TD3Config`, applied before ``--set``."""

DDPG_PRESETS: dict[str, dict[str, Any]] = {
    "Pendulum-v1": dict(_TD3_PENDULUM),  # ddpg.yml Pendulum-v1: the same settings as td3.yml
    "MountainCarContinuous-v0": {"action_noise": 0.5},  # ddpg.yml: OU noise σ 0.5
}
"""Per-env overrides of :class:`DDPGConfig`, applied before ``--set``."""


# ------------------------------------------------------------------------------- value-based suite
Q_NETS = ("mlp", "dueling", "linear")
"""Architectures of :class:`triad.agents.nets.QNetwork`."""

CORRECTIONS = ("ignore", "cut", "importance-sampling", "tree-backup", "retrace")
"""n-step corrections of :class:`ValueConfig` (names of :data:`triad.multistep.OFF_POLICY_METHODS`)."""


@dataclasses.dataclass(frozen=True)
class ValueConfig(OffPolicyConfig):
    """The value-based suite (:mod:`triad.agents.value`): Q-learning at the rates of the three processes.

    Defaults are Stable-Baselines3's DQN defaults (which follow Mnih et al. 2015 with Adam);
    online Q-learning, DQN, FQI and the rest are settings of these fields (see each config and
    ``triad train ALGO --explain``). Switches combine: ``--set double=true --set q_net=dueling``.
    """

    capacity: int = 1_000_000
    """Replay capacity in transitions, oldest evicted first (SB3 DQN buffer_size: 1e6)."""
    batch_size: int = 32
    """Transitions (or sequences) per gradient step (SB3 DQN: 32)."""
    learning_starts: int = 100
    """Env steps before the first gradient step, acting uniformly at random (SB3 DQN: 100)."""
    train_every: int = 4
    """Process 1: vector-env steps per iteration (SB3 DQN train_freq: 4)."""
    grad_steps: int = 1
    """Process 3: gradient steps per iteration (SB3 DQN gradient_steps: 1)."""
    target_period: int = 2500
    """Process 2: copy φ' ← φ every this many gradient steps (SB3 DQN: every 10,000 env steps = 2,500 gradient steps at train_freq 4); 0: no target network."""
    tau: float = 1.0
    """Target update φ' ← (1 − τ)φ' + τφ; 1: a hard copy (SB3 DQN tau: 1.0)."""
    autoreset: str = "next-step"
    """How the vector env starts a new episode: ``next-step`` (gymnasium's default: the step after an episode
    end is the env's reset, not a transition, yet one step of the run's budget) or ``same-step`` (the reset
    happens inside the ending step, its final observation in ``info``: SB3's VecEnv semantics, where every
    step of the budget is a transition)."""
    whole_rollouts: bool = False
    """A run of N env steps ends with the iteration that reaches N, N rounded up to whole train_every·envs
    (SB3's learn collects whole rollouts of train_freq steps and trains after each: learn(50,000) at
    train_freq 256 takes 50,176 steps and ends with a training phase); false: exactly N steps."""
    lr: float = 1e-4
    """Learning rate (SB3 DQN: 1e-4)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the Q network (SB3 DQN net_arch default: 64, 64)."""
    q_net: str = "mlp"
    """mlp, dueling (V̂ + Â − mean Â, Wang et al. 2016) or linear (Q̂(s, ·) = Wᵀx(s) from zero: a table on one-hot observations)."""
    activation: str = "relu"
    """relu or tanh hidden units (SB3 DQN: ReLU)."""
    double: bool = False
    """Double Q-learning targets: the online network selects argmax_a' Q̂(s', a'), the target network evaluates it (van Hasselt, Guez & Silver 2016)."""
    twin_q: bool = False
    """Double Q-learning with two Q functions (van Hasselt 2010): each transition updates one at random, the other evaluates its argmax; acting and probes use their mean."""
    loss: str = "huber"
    """huber (smooth L1 of δ, SB3 DQN) or l2 (½δ², the plain semi-gradient of Q-learning)."""
    max_grad_norm: float = 10.0
    """Clip the global gradient norm to this (SB3 DQN: 10); 0: off."""
    optimizer: str = "adam"
    """adam (SB3 DQN) or sgd (plain steps φ ← φ + lr·δ∇Q̂: with a linear table, tabular Q-learning with α = lr)."""
    fit: str = "gradient"
    """gradient (grad_steps optimiser steps per iteration) or exact (q_net=linear: each step is the weighted least-squares fit on the whole replay — FQI's regression to convergence)."""
    explore: str = "epsilon"
    """epsilon (ε-greedy in Q̂) or boltzmann (π ∝ exp(Q̂/τ)), the seed notes' two exploration rules."""
    explore_initial: float = 1.0
    """ε (or τ) at the start of the schedule (SB3 exploration_initial_eps: 1.0)."""
    explore_final: float = 0.05
    """ε (or τ) at the end of the schedule (SB3 exploration_final_eps: 0.05)."""
    explore_fraction: float = 0.1
    """Fraction of the run over which ε (or τ) decreases linearly (SB3 exploration_fraction: 0.1)."""
    n_step: int = 1
    """Steps of the target: 1 is Q-learning; n > 1 regresses on replayed sequences of n steps with the correction below."""
    correction: str = "ignore"
    """n-step correction: ignore, cut, importance-sampling, tree-backup or retrace (triad.multistep.off_policy_targets)."""
    trace_lambda: float = 1.0
    """λ of the trace coefficients c = λ·(…) of the corrections (Munos et al. 2016: λ = 1)."""
    prioritized: bool = False
    """Proportional prioritised replay with importance weights (Schaul et al. 2016)."""
    priority_alpha: float = 0.6
    """Priority exponent α of p = (|δ| + ε)^α (Schaul et al. 2016, proportional variant: 0.6)."""
    priority_beta: float = 0.4
    """Initial importance-weight exponent β, annealed linearly to 1 over the run (Schaul et al. 2016: 0.4)."""
    priority_eps: float = 1e-6
    """ε of the priorities (keeps every transition drawable)."""

    def validate(self) -> None:
        super().validate()
        _one_of(self, "q_net", Q_NETS)
        _one_of(self, "activation", ("relu", "tanh"))
        _one_of(self, "loss", ("huber", "l2"))
        _one_of(self, "optimizer", ("adam", "sgd"))
        _one_of(self, "fit", ("gradient", "exact"))
        _one_of(self, "explore", ("epsilon", "boltzmann"))
        _one_of(self, "autoreset", AUTORESET)
        _one_of(self, "correction", CORRECTIONS)
        _at_least(self, "n_step", 1)
        _at_least(self, "max_grad_norm", 0.0)
        for name in ("explore_fraction", "trace_lambda"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValidationError(f"{name} = {value:g} must be in [0, 1]")
        for name in ("explore_initial", "explore_final"):
            value = getattr(self, name)
            if self.explore == "epsilon" and not 0.0 <= value <= 1.0:
                raise ValidationError(f"{name} = {value:g} is an ε: it must be in [0, 1]")
            if self.explore == "boltzmann" and not value > 0:
                raise ValidationError(f"{name} = {value:g} is a temperature: it must be positive")
        if self.priority_alpha < 0 or not self.priority_eps > 0 or not 0 <= self.priority_beta <= 1:
            raise ValidationError("priority_alpha ≥ 0, priority_eps > 0 and priority_beta in [0, 1] are required")
        if self.fit == "exact" and (self.q_net != "linear" or self.n_step != 1 or self.prioritized or self.twin_q):
            raise ValidationError("fit=exact solves the least squares of a linear Q: it needs q_net=linear, n_step=1, "
                                  "prioritized=false and twin_q=false")
        if self.twin_q and (self.n_step != 1 or self.double):
            raise ValidationError("twin_q (van Hasselt's double Q-learning) takes one-step targets from the other "
                                  "table: it needs n_step=1 and double=false")

    def regression(self) -> str:
        target = "Q̂'(s', argmax Q̂(s', ·))" if self.double else "max_a' Q̂'(s', a')"
        if self.twin_q:
            target = "Q̂'_{1−k}(s', argmax Q̂'_k(s', ·)) for the member k updated (a fair coin per transition)"
        if self.target_period == 0:
            target = target.replace("Q̂'", "Q̂") + " (the current network under stop-gradient)"
        if self.n_step > 1:
            y = (f"{self.n_step}-step {self.correction} targets on replayed sequences "
                 f"(triad.multistep.off_policy_targets, π greedy in {'the online' if self.double else 'the target'} "
                 f"network)")
        else:
            y = f"y = r + γ(1 − terminated)·{target} (triad.multistep.{'double_' if self.double else ''}q_learning_td)"
        fit = ("the exact weighted least-squares fit of the linear Q on the whole replay" if self.fit == "exact"
               else f"{self.optimizer} on the {self.loss} loss of δ = y − Q̂(s, a)")
        per = "; prioritised replay, importance weights β annealed to 1" if self.prioritized else ""
        return f"{self.q_net} Q̂ regressed onto {y} by {fit}{per}"


@dataclasses.dataclass(frozen=True)
class OnlineQConfig(ValueConfig):
    """Online Q-learning: every process at the same rate (the seed notes) — one transition, one step, no target network.

    Replay of 1 and batches of 1 (the transition is used once and evicted), a gradient step after
    every env step, and the target computed from the current network under stop-gradient (a
    semi-gradient, not the residual gradient). With ``q_net=linear`` on one-hot observations,
    ``optimizer=sgd``, ``loss=l2`` and a constant ε this is tabular Watkins Q-learning with α = lr
    (Sutton & Barto 2018 §6.5; the learner of :func:`triad.analysis.maximization.q_learning`).
    """

    capacity: int = 1
    """The replay holds only the newest transition (evict immediately)."""
    batch_size: int = 1
    """One transition per gradient step."""
    learning_starts: int = 0
    """Learn from the first step."""
    random_starts: bool = False
    """No uniformly random warm-up (ε starts at explore_initial)."""
    train_every: int = 1
    """A gradient step after every vector-env step."""
    target_period: int = 0
    """No target network: y uses the current network under stop-gradient."""
    lr: float = 1e-3
    """Adam learning rate (triad default for online updates)."""


@dataclasses.dataclass(frozen=True)
class DQNConfig(ValueConfig):
    """DQN (Mnih et al. 2015): large replay, frequent regression steps, slow periodic hard copies of the target.

    SB3 DQN defaults; rl-baselines3-zoo's tuned CartPole-v1 settings in :data:`DQN_PRESETS`.
    """


@dataclasses.dataclass(frozen=True)
class DoubleDQNConfig(DQNConfig):
    """Double DQN (van Hasselt, Guez & Silver 2016): DQN whose online network selects the bootstrap action."""

    double: bool = True
    """The online network selects argmax_a' Q̂(s', a'), the target network evaluates it."""


@dataclasses.dataclass(frozen=True)
class DuelingDQNConfig(DQNConfig):
    """Dueling DQN (Wang et al. 2016): DQN with the value/advantage head Q̂ = V̂ + Â − mean Â."""

    q_net: str = "dueling"
    """Dueling head."""


@dataclasses.dataclass(frozen=True)
class FQIConfig(ValueConfig):
    """Fitted Q-iteration (Ernst, Geurts & Wehenkel 2005; Riedmiller 2005): collect a data set once, then
    repeat — freeze the target, regress to convergence, copy.

    The first ``learning_starts`` env steps (uniformly random actions) are the data set; each
    iteration takes ``grad_steps`` regression steps against a frozen target and copies it after
    them (``target_period = grad_steps``). With ``q_net=linear`` and ``fit=exact`` one step is the
    exact least-squares fit on the whole data set, and FQI is projected value iteration with the
    data's state-action law (:func:`triad.projections.projected_value_iteration`). The env keeps
    running (its episodes report the current policy); its steps are the iteration clock.
    """

    capacity: int = 10_000
    """Holds the whole data set."""
    learning_starts: int = 10_000
    """The data set: the first 10,000 env steps (triad default)."""
    collect_once: bool = True
    """Nothing enters the replay after the data set."""
    train_every: int = 500
    """One FQI iteration every 500 vector-env steps of the clock (triad default)."""
    grad_steps: int = 500
    """Regression steps per iteration, against a frozen target (triad default)."""
    target_period: int = 500
    """Copy the target after each iteration's regression (= grad_steps)."""
    batch_size: int = 256
    """Transitions per regression step (triad default)."""
    lr: float = 1e-3
    """Adam learning rate (triad default)."""


@dataclasses.dataclass(frozen=True)
class NStepQConfig(DQNConfig):
    """n-step Q-learning from replayed sequences with stored behaviour probabilities and an off-policy correction.

    The target policy π is greedy in the current (online) network (``double``); the targets
    for Q̂(s_t, a_t) are :func:`triad.multistep.off_policy_targets` with ``correction`` —
    ignore (Rainbow, Ape-X, R2D2), cut (Watkins), importance-sampling, tree-backup (Precup et al.
    2000) or retrace (Munos et al. 2016) — on n-step sequences bootstrapping from the target network.
    """

    n_step: int = 3
    """Steps per target (Hessel et al. 2018, Rainbow: 3)."""
    correction: str = "retrace"
    """Retrace (Munos et al. 2016): safe and efficient."""
    double: bool = True
    """π greedy in the online network, values from the target network."""


@dataclasses.dataclass(frozen=True)
class RainbowLiteConfig(DQNConfig):
    """Rainbow-lite (Hessel et al. 2018 without distributional values and noisy nets): double + dueling + 3-step + PER."""

    double: bool = True
    """Double Q-learning."""
    q_net: str = "dueling"
    """Dueling head."""
    n_step: int = 3
    """Uncorrected 3-step targets (Hessel et al. 2018)."""
    correction: str = "ignore"
    """No off-policy correction (Rainbow)."""
    prioritized: bool = True
    """Proportional prioritised replay."""
    priority_alpha: float = 0.5
    """Priority exponent (Hessel et al. 2018: ω = 0.5)."""


@dataclasses.dataclass(frozen=True)
class R2D2LiteConfig(ValueConfig):
    """R2D2-lite (Kapturowski et al. 2019, one process): recurrent dueling Q, sequence replay with stored state and burn-in.

    Triad defaults sized for velocity-masked CartPole (the paper's own Atari settings in brackets).
    """

    envs: int = 4
    """Parallel environments (each stores its own sequences)."""
    capacity: int = 100_000
    """Replay capacity in transitions (paper: 4e6 observations in sequences)."""
    batch_size: int = 32
    """Sequences per gradient step (paper: 64)."""
    learning_starts: int = 2_000
    """Env steps before the first gradient step."""
    random_starts: bool = False
    """Act with the network from the start (so every stored recurrent state is the actor's)."""
    train_every: int = 4
    """Vector steps per iteration: 16 env steps with 4 envs."""
    grad_steps: int = 1
    """Gradient steps per iteration."""
    target_period: int = 500
    """Copy the target every 500 gradient steps (paper: 2,500)."""
    lr: float = 1e-3
    """Adam learning rate (paper: 1e-4)."""
    hidden: tuple[int, ...] = (64,)
    """Width of the encoder before the LSTM."""
    memory: int = 64
    """LSTM units (paper: 512)."""
    q_net: str = "dueling"
    """Dueling head (paper)."""
    double: bool = True
    """Double Q-learning targets (paper)."""
    n_step: int = 5
    """Uncorrected 5-step targets (paper: n = 5)."""
    correction: str = "ignore"
    """No off-policy correction (paper)."""
    burn_in: int = 8
    """Leading steps of each sequence that only warm up the recurrent state (paper: 40 of 80)."""
    sequence: int = 16
    """Steps of each sequence that are regressed, after the burn-in (paper: 40)."""
    explore_fraction: float = 0.2
    """ε decays over the first 20% of the run (triad default; the paper's actors use fixed ε_i)."""

    def validate(self) -> None:
        super().validate()
        _at_least(self, "memory", 1)
        _at_least(self, "burn_in", 0)
        _at_least(self, "sequence", 1)
        if self.random_starts:
            raise ValidationError("r2d2-lite acts with its network from the first step: random_starts must be false")
        if self.q_net == "linear" or self.fit == "exact":
            raise ValidationError("r2d2-lite has a recurrent network: q_net must be mlp or dueling and fit gradient")

    def rates(self) -> dict[str, Any]:
        """As :meth:`OffPolicyConfig.rates`; a batch entry is a sequence, so ``replay_ratio`` counts its
        ``sequence`` regressed steps (the burn-in steps are read, not regressed)."""
        out = super().rates()
        out["replay_ratio"] *= self.sequence
        return out

    def regression(self) -> str:
        return (f"recurrent {self.q_net} Q̂ (LSTM of {self.memory}) unrolled over sequences of {self.burn_in} burn-in + "
                f"{self.sequence} regressed steps from the stored state, onto {self.n_step}-step {self.correction} "
                f"targets (triad.multistep.off_policy_targets; double: {self.double}), {self.loss} loss")


DQN_PRESETS: dict[str, dict[str, Any]] = {
    # rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1: n_timesteps 5e4, learning_rate 2.3e-3, batch_size 64,
    # buffer_size 100000, learning_starts 1000, gamma 0.99, target_update_interval 10, train_freq 256,
    # gradient_steps 128, exploration_fraction 0.16, exploration_final_eps 0.04, net_arch [256, 256].
    # The target is copied every 10 env steps but the network only changes in the 128-step training
    # phases, so SB3's target is the network as of the start of each phase: target_period = 128.
    # SB3's DummyVecEnv resets inside the ending step (terminal_observation in info) and counts only
    # transitions in num_timesteps (common/vec_env/dummy_vec_env.py, off_policy_algorithm.py): same-step;
    # its learn() runs whole rollouts of train_freq (off_policy_algorithm.py, learn/collect_rollouts): whole_rollouts.
    "CartPole-v1": {"lr": 2.3e-3, "batch_size": 64, "capacity": 100_000, "learning_starts": 1000, "gamma": 0.99,
                    "target_period": 128, "train_every": 256, "grad_steps": 128, "explore_fraction": 0.16,
                    "explore_final": 0.04, "hidden": (256, 256), "autoreset": "same-step",
                    "whole_rollouts": True},
}
"""Per-env overrides of the DQN family's configs, applied before ``--set``."""


# ------------------------------------------------------------------------------ distributed (issue 16)
@dataclasses.dataclass(frozen=True)
class ApexConfig(ValueConfig):
    """Ape-X DQN (Horgan et al. 2018, "Distributed Prioritized Experience Replay") on Ray: :mod:`triad.distributed.apex`.

    ``actors`` actor processes with fixed ε_i = ε^(1 + α·i/(N − 1)) fill local buffers, give each
    transition its initial priority from their own copy of the network (the value suite's n-step
    target) and send them to ``shards`` replay shards (prioritised replay); one learner (double,
    dueling, n-step Q regression of the value suite) samples the shards, sends new priorities back
    and publishes its weights through the object store every ``weight_period`` learner steps.
    ``samples_per_insert`` is enforced: sampling waits when the learner is ahead of the actors,
    inserting waits when the actors are ahead. The fields of the single-process clock
    (``train_every``, ``grad_steps``, the ε schedule) do not apply. Paper values in brackets where
    triad's default (sized for CartPole on a small machine) differs.
    """

    actors: int = 4
    """Actor processes, each a Ray actor with its own env(s) and ε_i (paper: 360)."""
    envs: int = 1
    """Environments per actor, stepped as one vector env (paper: 1)."""
    actor_epsilon: float = 0.4
    """ε of ε_i = ε^(1 + α·i/(N − 1)) (Horgan et al. 2018, §4.1: ε = 0.4); one actor uses ε."""
    epsilon_alpha: float = 7.0
    """α of the same (Horgan et al. 2018, §4.1: α = 7)."""
    local_buffer: int = 50
    """Transitions an actor gathers before it computes their initial priorities and sends them to its shard (paper: 50)."""
    weight_pull: int = 400
    """Env steps of an actor between its looks for newer weights (paper: copies every 400 frames)."""
    weight_period: int = 50
    """K: learner steps between publications of the weights through the object store (triad default)."""
    shards: int = 1
    """Replay shards (Ray actors); actor i sends to shard i mod shards, the learner samples them in turn (paper: 1)."""
    samples_per_insert: float = 8.0
    """Enforced ratio of sampled batch entries to inserted transitions (triad default: Rainbow's 32-batch every 4 steps)."""
    ratio_tolerance: float = 0.0
    """Allowed drift of samples − samples_per_insert·(inserts − learning_starts), in samples, per shard (Reverb's error buffer); 0: auto = samples_per_insert·local_buffer·(actors per shard) + batch_size."""
    cpus: int = 0
    """CPUs of the local Ray instance (0: the machine's); ignored when joining a cluster."""
    address: str = ""
    """Ray cluster to join (host:port of its head, or auto); empty: start a local instance."""
    capacity: int = 100_000
    """Replay capacity in transitions over all shards (paper: 2,000,000; triad: CartPole)."""
    batch_size: int = 64
    """Sequences of n_step per learner step (paper: 512)."""
    learning_starts: int = 1000
    """Transitions in the replay (over all shards) before the learner samples (triad default, as the CartPole DQN preset)."""
    random_starts: bool = False
    """Actors act with their ε_i from the start (paper)."""
    target_period: int = 250
    """Copy the target network every this many learner steps (paper: 2,500; triad: CartPole)."""
    lr: float = 1e-3
    """Adam learning rate (paper: centred RMSProp 0.00025/4; triad: CartPole)."""
    hidden: tuple[int, ...] = (256, 256)
    """Hidden widths of the Q network (the rl-baselines3-zoo CartPole DQN: 256, 256)."""
    max_grad_norm: float = 40.0
    """Clip the global gradient norm (paper: 40)."""
    double: bool = True
    """Double Q-learning targets (paper)."""
    q_net: str = "dueling"
    """Dueling head (paper)."""
    n_step: int = 3
    """n of the uncorrected n-step targets (paper: 3)."""
    correction: str = "ignore"
    """No off-policy correction (paper)."""
    prioritized: bool = True
    """Proportional prioritised replay (paper)."""
    priority_alpha: float = 0.6
    """Priority exponent α (paper: 0.6)."""
    priority_beta: float = 0.4
    """Importance-weight exponent β, kept constant (paper: 0.4, not annealed)."""
    train_every: int = 4
    """Not used by apex: actors and learner run at their own speeds, tied only by samples_per_insert."""
    grad_steps: int = 1
    """Not used by apex (see train_every)."""
    explore_initial: float = 1.0
    """Not used by apex: actor i explores with the fixed ε_i (actor_epsilon, epsilon_alpha)."""
    explore_final: float = 0.05
    """Not used by apex (see explore_initial); evaluation is greedy."""
    explore_fraction: float = 0.1
    """Not used by apex (see explore_initial)."""

    def validate(self) -> None:
        super().validate()
        for name in ("actors", "local_buffer", "weight_pull", "weight_period", "shards"):
            _at_least(self, name, 1)
        _at_least(self, "cpus", 0)
        _at_least(self, "ratio_tolerance", 0.0)
        if not 0.0 <= self.actor_epsilon <= 1.0:
            raise ValidationError(f"actor_epsilon = {self.actor_epsilon:g} is an ε: it must be in [0, 1]")
        _at_least(self, "epsilon_alpha", 0.0)
        if not self.samples_per_insert > 0:
            raise ValidationError(f"samples_per_insert = {self.samples_per_insert!r} must be positive")
        if self.shards > self.actors:
            raise ValidationError(f"shards = {self.shards} must not exceed actors = {self.actors} (each shard is "
                                  "filled by its own actors)")
        if not self.prioritized or self.n_step < 2 or self.fit != "gradient" or self.twin_q or self.explore != "epsilon":
            raise ValidationError("apex regresses on prioritised n-step sequences with ε-greedy actors: it needs "
                                  "prioritized=true, n_step ≥ 2, fit=gradient, twin_q=false and explore=epsilon")
        band = self.samples_per_insert * self.local_buffer + self.batch_size
        if self.ratio_tolerance and 2 * self.ratio_tolerance < band:
            raise ValidationError(f"ratio_tolerance = {self.ratio_tolerance:g} must be at least {band / 2:g} "
                                  "((samples_per_insert·local_buffer + batch_size)/2: one insert and one sample must "
                                  "fit in the band, or actors and learner would wait for each other forever)")
        if self.capacity < self.shards * (self.local_buffer + self.batch_size) or self.capacity < self.learning_starts:
            raise ValidationError(f"capacity = {self.capacity} must hold learning_starts = {self.learning_starts} and, "
                                  "per shard, a local buffer and a batch")

    def tolerance(self) -> float:
        """``ratio_tolerance`` per shard, or its auto value (the field's doc)."""
        if self.ratio_tolerance:
            return float(self.ratio_tolerance)
        per_shard = -(-self.actors // self.shards)
        return self.samples_per_insert * self.local_buffer * per_shard + self.batch_size

    def regression(self) -> str:
        return super().regression().replace("β annealed to 1", f"β = {self.priority_beta:g}")

    def rates(self) -> dict[str, Any]:
        """As :meth:`OffPolicyConfig.rates`, with the rates the enforced ``samples_per_insert`` sets: a learner
        step per ``batch_size / samples_per_insert`` inserted transitions; plus ``actors``, ``shards``,
        ``samples_per_insert``, ``weight_period``, ``weight_pull``, ``local_buffer``."""
        out = super().rates()
        per_env = self.samples_per_insert / self.batch_size
        out.update(env_steps_per_iteration=None, grad_steps_per_iteration=None, grad_steps_per_env_step=per_env,
                   replay_ratio=self.samples_per_insert, target_period_env_steps=self.target_period / per_env,
                   actors=self.actors, shards=self.shards, samples_per_insert=self.samples_per_insert,
                   weight_period=self.weight_period, weight_pull=self.weight_pull, local_buffer=self.local_buffer)
        return out

    def explain(self, name: str = "") -> str:
        """The three processes as Ape-X runs them, physically apart (``triad train apex --explain``)."""
        from triad.distributed.apex import actor_epsilons

        r = self.rates()
        head = f"{name}: " if name else ""
        eps = ", ".join(f"{e:.3g}" for e in actor_epsilons(self.actors, self.actor_epsilon, self.epsilon_alpha)[:8])
        collect = (f"  1. data collection: {self.actors} actor(s) × {self.envs} env(s), ε_i = {eps}"
                   f"{' …' if self.actors > 8 else ''}; batches of {self.local_buffer} transitions with initial "
                   f"priorities to {self.shards} shard(s) holding {self.capacity:,} transitions; weights pulled every "
                   f"{self.weight_pull:,} env steps")
        target = (f"  2. target update: hard copy every {self.target_period:,} learner steps = every "
                  f"{r['target_period_env_steps']:,.6g} env steps; weights published every {self.weight_period} "
                  "learner steps")
        regress = (f"  3. regression (the learner): {self.samples_per_insert:g} sampled sequences per inserted "
                   f"transition, enforced (= {r['grad_steps_per_env_step']:.6g} learner steps per env step), from "
                   f"{self.learning_starts:,} transitions on; {self.regression()}")
        return "\n".join([f"{head}three processes as separate Ray processes (Horgan et al. 2018):", collect, target,
                          regress])


# ------------------------------------------------------------------- continuous-action Q-learning
@dataclasses.dataclass(frozen=True)
class ContinuousQConfig(OffPolicyConfig):
    """Q-learning with continuous actions on the off-policy driver (issue 15): the max of the target is a maximiser's.

    One critic ``Q̂(s, a)`` — an MLP, or NAF's quadratic ``V(s) − ½(a − μ(s))ᵀP(s)(a − μ(s))`` —
    regresses on labels ``y = r + γ(1 − terminated)·min_i Q̂'_i(s', a*)``, ``a* = argmax_a Q̂'_1(s', a)``
    found by the ``maximiser`` (random shooting, CEM, or NAF's analytic ``μ'(s')``), with one target
    critic or two (``target_critics = 2``: QT-Opt's clipped double Q, the second target a lagged copy
    of the first). A Bellman-updater step labels every replayed batch before the regression step
    (QT-Opt's decoupled labeller, run in-process). The actor is the same maximiser on the online
    critic plus Gaussian noise (and ε-uniform actions). Replay and target defaults are SB3's.
    """

    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the critic (triad default: the maximisers evaluate it samples × iterations times per state)."""
    batch_size: int = 256
    """Transitions per gradient step (SB3 SAC/TD3 default: 256)."""
    learning_starts: int = 1000
    """Env steps of uniformly random actions before the first gradient step (triad default)."""
    lr: float = 1e-3
    """Adam learning rate (SB3 TD3 default: 1e-3)."""
    activation: str = "relu"
    """relu or tanh hidden units (SB3 off-policy default: relu)."""
    network: str = "mlp"
    """mlp (Q̂(s, a) on the concatenation [s, a]) or naf (Gu et al. 2016: V(s) − ½(a − μ(s))ᵀP(s)(a − μ(s)), P = LLᵀ)."""
    naf_diagonal: str = "bounded"
    """network=naf: positive diagonal of L by exp (Gu et al. 2016, §4: "the diagonal terms exponentiated"), softplus, or bounded (every entry tanh-squashed first, L_ii = exp(tanh(·)) ∈ [1/e, e], as Dittert's NAF for Pendulum; exp let P collapse to 0 and μ freeze on Pendulum-v1, seed 1)."""
    maximiser: str = "cem"
    """How max_a Q̂(s, a) is taken, in the target and for acting: cem, shooting, or analytic (network=naf only: a* = μ(s))."""
    samples: int = 64
    """Actions evaluated per state: per CEM iteration (QT-Opt: 64), or in all by random shooting."""
    elites: int = 6
    """CEM: best samples refit by the Gaussian of the next iteration (QT-Opt: 6)."""
    iterations: int = 2
    """CEM: sample-and-refit rounds (QT-Opt: 2)."""
    min_std: float = 0.05
    """CEM: floor of the refit Gaussian's σ, as a fraction of the action box's half-width (triad default)."""
    target_critics: int = 1
    """1: one Polyak target; 2: clipped double Q with a second, lagged target — the label takes the minimum (QT-Opt)."""
    lag_period: int = 6000
    """target_critics=2: the second target is a copy of the first taken every this many gradient steps (QT-Opt: lagged ~6000 steps)."""
    action_noise: float = 0.1
    """Std of the Gaussian exploration noise on the maximiser's action, as a fraction of the half-width (TD3: N(0, 0.1))."""
    epsilon: float = 0.0
    """Probability of a uniformly random exploring action instead (ε-greedy in a box; triad default: 0)."""

    def validate(self) -> None:
        super().validate()
        _one_of(self, "activation", ("relu", "tanh"))
        _one_of(self, "network", ("mlp", "naf"))
        _one_of(self, "naf_diagonal", ("exp", "softplus", "bounded"))
        _one_of(self, "maximiser", ("cem", "shooting", "analytic"))
        _one_of(self, "target_critics", (1, 2))
        for name in ("samples", "elites", "iterations", "lag_period"):
            _at_least(self, name, 1)
        for name in ("min_std", "action_noise"):
            _at_least(self, name, 0.0)
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValidationError(f"epsilon = {self.epsilon:g} must be in [0, 1]")
        if self.elites > self.samples:
            raise ValidationError(f"elites = {self.elites} must be at most samples = {self.samples}")
        if self.maximiser == "analytic" and self.network != "naf":
            raise ValidationError("maximiser=analytic needs network=naf (only NAF's critic has a closed-form argmax)")

    def maximiser_text(self) -> str:
        """The maximiser in words (``explain``)."""
        if self.maximiser == "analytic":
            return "NAF's analytic argmax a* = μ(s) (max = V(s))"
        if self.maximiser == "shooting":
            return f"random shooting over {self.samples} uniform actions"
        return (f"CEM, {self.iterations} iteration(s) × {self.samples} samples, Gaussian refit to the best "
                f"{self.elites} (σ ≥ {self.min_std:g}·half-width)")

    def regression(self) -> str:
        q = "NAF Q̂ = V − ½(a − μ)ᵀLLᵀ(a − μ)" if self.network == "naf" else "MLP Q̂(s, a)"
        if self.target_critics == 2:
            target = (f"min(Q̂'_1, Q̂'_2)(s', a*), Q̂'_2 a copy of Q̂'_1 every {self.lag_period:,} gradient steps "
                      "(clipped double Q)")
        else:
            target = "Q̂'(s', a*)"
        return (f"a Bellman-updater step labels the batch with y = r + γ(1 − terminated)·{target}, a* = argmax "
                f"Q̂'_1(s', ·) by {self.maximiser_text()}; then {q} regresses on y; acting: the same maximiser on "
                f"Q̂ + N(0, {self.action_noise:g}²) noise" + (f", ε = {self.epsilon:g} uniform" if self.epsilon else ""))


@dataclasses.dataclass(frozen=True)
class NAFConfig(ContinuousQConfig):
    """NAF (Gu, Lillicrap, Sutskever & Levine 2016): a quadratic advantage, so max and argmax are analytic."""

    network: str = "naf"
    """NAF's critic V(s) − ½(a − μ(s))ᵀL(s)L(s)ᵀ(a − μ(s))."""
    maximiser: str = "analytic"
    """a* = μ(s), max_a Q̂ = V(s) (Gu et al. 2016, eq. 5)."""


@dataclasses.dataclass(frozen=True)
class QTOptConfig(ContinuousQConfig):
    """QT-Opt (Kalashnikov et al. 2018): CEM argmax, clipped double Q over two lagged targets, Polyak averaging, a Bellman updater."""

    maximiser: str = "cem"
    """CEM (QT-Opt §4.2)."""
    target_critics: int = 2
    """Clipped double Q: the label takes the minimum of two target critics (QT-Opt §4.1, after Fujimoto et al. 2018)."""


@dataclasses.dataclass(frozen=True)
class QTOptDistributedConfig(QTOptConfig):
    """Decoupled QT-Opt on Ray (Kalashnikov et al. 2018, §4 and Fig. 3): :mod:`triad.distributed.qtopt`.

    ``collectors`` Ray actors act with the CEM policy of their copy of the critic and fill
    ``shards`` replay shards; ``updaters`` Bellman-updater Ray actors sample the shards, label each
    batch with the QT-Opt target under their copy of the target critics (the same
    :class:`~triad.agents.continuous_q.BellmanUpdater` as the single-process ``qtopt``) and push it
    to a bounded FIFO train buffer; the trainer (in the ``triad`` process) regresses on the labelled
    batches, updates its targets as ``qtopt`` does and publishes its weights every ``weight_period``
    steps. Each process runs at its own rate (the paper's decoupling); ``samples_per_insert > 0``
    ties the updaters to the collectors, and the full train buffer ties them to the trainer. The
    single-process clock (``train_every``, ``grad_steps``) does not apply.
    """

    collectors: int = 2
    """Collector processes, each a Ray actor with its own env(s) (triad default; the paper collects with 7 robots)."""
    updaters: int = 1
    """Bellman-updater processes (Ray actors) labelling replayed batches with CEM targets (triad default, sized for 2 cores)."""
    envs: int = 1
    """Environments per collector, stepped as one vector env (triad default)."""
    local_buffer: int = 50
    """Transitions a collector gathers before it sends them to its shard in one call (as apex: Horgan et al. 2018, 50)."""
    weight_pull: int = 400
    """Env steps of a collector between its looks for newer weights (as apex: Horgan et al. 2018, every 400 frames)."""
    weight_period: int = 50
    """K: trainer steps between publications of the weights (online and target critics) through the object store (triad default, as apex)."""
    shards: int = 1
    """Replay shards (Ray actors); collector i sends to shard i mod shards, updaters sample them in turn (triad default)."""
    samples_per_insert: float = 0.0
    """Labelled transitions per inserted transition, enforced at the shards when positive; 0: not tied, the updaters run at their own rate (QT-Opt §4: the processes run asynchronously)."""
    ratio_tolerance: float = 0.0
    """samples_per_insert > 0: allowed drift, in samples, per shard; 0: auto = samples_per_insert·local_buffer·(collectors per shard) + batch_size (as apex)."""
    train_buffer: int = 8
    """Labelled batches the train buffer holds (bounded FIFO; a full buffer makes the updaters wait) (triad default)."""
    updater_batches: int = 4
    """Batches an updater labels per call before it reports its counts to the driver (triad default)."""
    cpus: int = 0
    """CPUs of the local Ray instance (0: the machine's); ignored when joining a cluster."""
    address: str = ""
    """Ray cluster to join (host:port of its head, or auto); empty: start a local instance."""
    capacity: int = 100_000
    """Replay capacity in transitions over all shards (triad default, Pendulum-sized)."""
    train_every: int = 1
    """Not used by qtopt --distributed: collectors, updaters and trainer run at their own rates."""
    grad_steps: int = 1
    """Not used by qtopt --distributed (see train_every)."""

    n_step = 1
    """One-step labels (QT-Opt): the shards hold single transitions (not a field)."""
    priority_alpha = 0.0
    """Uniform replay (QT-Opt samples its replay uniformly; not a field): priorities (|δ| + ε)^0 = 1."""
    priority_eps = 1e-6
    """ε of the shards' priorities (irrelevant with α = 0; not a field)."""

    def validate(self) -> None:
        super().validate()
        for name in ("collectors", "updaters", "local_buffer", "weight_pull", "weight_period", "shards",
                     "train_buffer", "updater_batches"):
            _at_least(self, name, 1)
        for name in ("cpus", "samples_per_insert", "ratio_tolerance"):
            _at_least(self, name, 0)
        if self.shards > self.collectors:
            raise ValidationError(f"shards = {self.shards} must not exceed collectors = {self.collectors} (each shard "
                                  "is filled by its own collectors)")
        band = self.samples_per_insert * self.local_buffer + self.batch_size
        if self.samples_per_insert and self.ratio_tolerance and 2 * self.ratio_tolerance < band:
            raise ValidationError(f"ratio_tolerance = {self.ratio_tolerance:g} must be at least {band / 2:g} "
                                  "((samples_per_insert·local_buffer + batch_size)/2, or collectors and updaters "
                                  "would wait for each other forever)")
        if self.capacity < self.shards * (self.local_buffer + self.batch_size) or self.capacity < self.learning_starts:
            raise ValidationError(f"capacity = {self.capacity} must hold learning_starts = {self.learning_starts} and, "
                                  "per shard, a local buffer and a batch")

    def tolerance(self) -> float:
        """The shards' band: infinite when ``samples_per_insert = 0`` (not tied), else ``ratio_tolerance`` or its auto value."""
        if not self.samples_per_insert:
            return math.inf
        if self.ratio_tolerance:
            return float(self.ratio_tolerance)
        return self.samples_per_insert * self.local_buffer * -(-self.collectors // self.shards) + self.batch_size

    def rates(self) -> dict[str, Any]:
        """As :meth:`OffPolicyConfig.rates`, without the single-process clock (``None``: set by the processes' speeds, or
        by ``samples_per_insert`` when positive); plus ``collectors``, ``updaters``, ``shards``, ``samples_per_insert``,
        ``train_buffer``, ``weight_period``, ``weight_pull``, ``local_buffer``."""
        out = super().rates()
        per_env = self.samples_per_insert / self.batch_size if self.samples_per_insert else None
        out.update(env_steps_per_iteration=None, grad_steps_per_iteration=None, grad_steps_per_env_step=per_env,
                   replay_ratio=self.samples_per_insert or None,
                   target_period_env_steps=self.target_period / per_env if per_env else None,
                   collectors=self.collectors, updaters=self.updaters, shards=self.shards,
                   samples_per_insert=self.samples_per_insert, train_buffer=self.train_buffer,
                   weight_period=self.weight_period, weight_pull=self.weight_pull, local_buffer=self.local_buffer)
        return out

    def explain(self, name: str = "") -> str:
        """The processes as decoupled QT-Opt runs them, physically apart (``triad train qtopt --distributed --explain``)."""
        head = f"{name}: " if name else ""
        tie = (f"{self.samples_per_insert:g} labelled transitions per inserted one, enforced" if self.samples_per_insert
               else "at their own rate (not tied to the collectors)")
        collect = (f"  1. data collection: {self.collectors} collector(s) × {self.envs} env(s), acting with "
                   f"{self.maximiser_text()} on their critic + N(0, {self.action_noise:g}²) noise (uniform for the first "
                   f"{self.learning_starts:,} transitions); batches of {self.local_buffer} to {self.shards} shard(s) "
                   f"holding {self.capacity:,} transitions; weights pulled every {self.weight_pull:,} env steps")
        label = (f"  2. Bellman updaters: {self.updaters} process(es) label batches of {self.batch_size} {tie}; "
                 f"into a train buffer of {self.train_buffer} batches")
        rule = "hard copy" if self.tau >= 1.0 else f"Polyak τ = {self.tau:g}"
        regress = (f"  3. trainer: one step per labelled batch; target update ({rule}) every {self.target_period:,} "
                   f"step(s); weights published every {self.weight_period} steps; {self.regression()}")
        return "\n".join([f"{head}decoupled QT-Opt, separate Ray processes (Kalashnikov et al. 2018, Fig. 3):",
                          collect, label, regress])


@dataclasses.dataclass(frozen=True)
class CEMQConfig(ContinuousQConfig):
    """Q-learning whose max is the cross-entropy method's, one Polyak target (QT-Opt without clipped double Q)."""

    maximiser: str = "cem"
    """CEM (QT-Opt's settings)."""


@dataclasses.dataclass(frozen=True)
class ShootingQConfig(ContinuousQConfig):
    """Q-learning whose max is random shooting over uniform actions, one Polyak target."""

    maximiser: str = "shooting"
    """Random shooting."""
    samples: int = 128
    """Uniform actions per state: the evaluations of CEM's default 2 × 64, so the two compare at equal cost."""


_CONTINUOUS_Q_PENDULUM: dict[str, Any] = {"gamma": 0.98, "learning_starts": 1000}
# Pendulum-v1: γ = 0.98 as rl-baselines3-zoo's td3/sac/ddpg.yml; a 1,000-step random start (the zoo's 10,000
# would be a third of the 30k-step budget of the benchmark).
CONTINUOUS_Q_PRESETS: dict[str, dict[str, Any]] = {"Pendulum-v1": dict(_CONTINUOUS_Q_PENDULUM)}
"""Per-env overrides of the continuous-action Q-learners (naf, qtopt, cem-q, shooting-q), applied before ``--set``."""
