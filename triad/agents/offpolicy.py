"""The shared off-policy driver: the seed notes' three processes, run at the rates of a config.

Every agent that learns from replay — Q-learning in all its forms and the off-policy
actor-critics — runs three processes (seed notes; CS285 lecture 8, "a more general view"):

1. **data collection**: the actor steps the envs and the transitions enter a FIFO replay of
   ``capacity`` (:class:`triad.agents.replay.ReplayBuffer`; terminated and truncated apart);
2. **target update**: target networks ``φ'`` follow the learned ones, ``φ' ← (1 − τ)φ' + τφ``
   every ``target_period`` gradient steps (τ = 1: a hard copy; ``target_period = 0``: none, the
   targets come from the current networks under stop-gradient);
3. **regression**: ``grad_steps`` gradient steps on batches of ``batch_size`` sampled transitions.

:class:`OffPolicyAgent` runs them inside the one training loop (:mod:`triad.agents.loop`), which
calls ``act`` → env step → ``observe`` → ``update`` once per vector step. Every ``train_every``
vector steps is one *iteration*: once more than ``learning_starts`` env steps have been
collected, it runs ``grad_steps`` regression steps, updating the targets after every
``target_period``-th. With ``collect_once`` only the first ``learning_starts`` env steps enter
the replay (a fixed data set, fitted Q-iteration); the env keeps running, so the episode
statistics report the current policy. The named algorithms are points of this space:

=============  ========  =====  ===========  =============  ======  ===================================
setting        capacity  batch  train_every  target_period  tau     regression (process 3)
=============  ========  =====  ===========  =============  ======  ===================================
online-q       1         1      1            0 (none)       —       Q on r + γ max Q(s', ·) (issue 14)
dqn            1e6       32     4            2,500          1       Q on r + γ max Q'(s', ·) (issue 14)
fqi            ≥ data    —      —            K steps        1       collect_once; regress K, copy (14)
offpolicy-ac   1e6       64     1            1              0.005   Q on r + γQ'(s', a' ~ π), PG at a^π ~ π
sac            1e6       256    1            1              0.005   twin soft Q, reparameterised actor, α
td3            1e6       256    1            2              0.005   clipped double Q, smoothing, delay 2
ddpg           1e6       256    1            1              0.005   TD3 with 1 critic, no smoothing/delay
=============  ========  =====  ===========  =============  ======  ===================================

:meth:`OffPolicyAgent.explain` (``OffPolicyConfig.explain``) states the rates a configuration
implies; :meth:`OffPolicyConfig.rates` gives them as numbers.

Writing an algorithm on the driver
----------------------------------
Subclass :class:`OffPolicyAgent`; in ``__init__`` (after ``super().__init__``) put the networks
in ``self.nets`` (name → module), make target copies with :meth:`~OffPolicyAgent.add_target`
and the optimisers in ``self.optimizers`` (name → optimiser); then implement

* ``select(obs, explore, mask) -> (actions, extras)``: the actor after the random starts, on
  encoded observations ``(B, obs_dim)`` under ``torch.inference_mode``; actions in the stored
  form (discrete indices, or Box actions normalised to ``[−1, 1]^d``), numpy;
* ``regress(batch) -> {name: 0-d tensor}``: one gradient step of process 3 on the batch that
  :meth:`~OffPolicyAgent.sample` returns (by default uniform :class:`Transitions`; override
  ``sample`` and ``make_replay`` for prioritised or sequence replay). ``self.gradient_steps`` is
  the number of steps already taken (a delayed actor reads it).

Every Bellman target comes from :mod:`triad.multistep` on the stored arrays
(``discount_t = γ·(1 − terminated_t)`` from :func:`triad.agents.replay.multistep_inputs`: a
truncated step bootstraps from its stored true next state).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from triad.agents.config import OffPolicyConfig
from triad.agents.nets import denormals_flushed, flat_parameters, paired_spans, polyak_update, to_bounds
from triad.agents.onpolicy import EnvSpaces, clip_grad_norm, observation_encoder
from triad.agents.replay import ReplayBuffer, multistep_inputs
from triad.errors import ValidationError


@dataclasses.dataclass
class Transitions:
    """A uniformly sampled batch of ``N`` transitions as tensors (what :meth:`OffPolicyAgent.regress` gets).

    ``obs``, ``next_obs``: encoded ``(N, obs_dim)`` float32 (``next_obs`` the true ``s_{t+1}``);
    ``action``: ``(N,)`` int64 indices or ``(N, d)`` float32 normalised actions; ``reward`` and
    ``discount = γ·(1 − terminated)``: ``(N,)`` float32; ``data``: the sample as the replay
    returned it (numpy, incl. ``truncated``, ``key`` and stored extras).
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    discount: torch.Tensor
    next_obs: torch.Tensor
    data: dict[str, np.ndarray]


class OffPolicyAgent:
    """The three-process driver (module docstring); the Agent interface of the design document.

    Args:
        config: the process rates and the algorithm's settings.
        spaces: observation and action spaces of the vector env.
        seed: seeds the torch generator (initialisation, action sampling) and the numpy
            generator (replay sampling, random starts).
        name: the algorithm's name (errors and :meth:`explain`).
        extras: ``{name: (shape, dtype)}`` of what :meth:`select` returns besides the action and
            the replay must keep (e.g. ``logp``: the behaviour's log-probability of the action).
    """

    action_spaces: tuple[str, ...] = ("Discrete", "Box")
    """The gymnasium action spaces the algorithm handles (a subclass narrows it)."""
    keeps_masks: tuple[str, ...] = ()
    """Discrete actions: which allowed-action masks the replay keeps — ``mask`` (of ``s``) and/or ``next_mask``
    (of ``s'``), all allowed where the env has none (a max or an expectation over π at ``s'`` must not range over
    actions whose Q̂ is never trained); :meth:`masks` returns them for a batch once the env has shown one
    (:attr:`has_masks`)."""

    def __init__(self, config: OffPolicyConfig, spaces: EnvSpaces, seed: int, name: str = "off-policy",
                 extras: Mapping[str, tuple[tuple[int, ...], Any]] | None = None):
        import gymnasium

        config.validate()
        self.config, self.name = config, name
        torch.set_num_threads(config.threads)  # process-wide: fixed by the config (determinism, fair timing)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.rng = np.random.default_rng(int(seed))
        self.obs_dim, self.encode = observation_encoder(spaces.observation_space, name)
        space = spaces.action_space
        self.discrete = isinstance(space, gymnasium.spaces.Discrete)
        box = isinstance(space, gymnasium.spaces.Box) and bool(np.all(np.isfinite(space.low)) and
                                                                np.all(np.isfinite(space.high)))
        kind = "Discrete" if self.discrete else "Box" if box else None
        if kind not in self.action_spaces or (self.discrete and int(space.start) != 0):
            wanted = " or ".join("Discrete (from 0)" if k == "Discrete" else "bounded Box" for k in self.action_spaces)
            raise ValidationError(f"{name} cannot handle the action space {space} (it takes {wanted} actions)")
        if self.discrete:
            self.n_actions, self.action_dim = int(space.n), 0
            action_shape, action_dtype = (), np.int64
        else:
            self.action_shape = tuple(space.shape)
            self.action_dim = int(np.prod(space.shape))
            self.low = np.asarray(space.low, np.float32).reshape(-1)
            self.high = np.asarray(space.high, np.float32).reshape(-1)
            action_shape, action_dtype = (self.action_dim,), np.float32
        self.store = dict(extras or {})
        if self.discrete:
            for name in self.keeps_masks:
                self.store.setdefault(name, ((self.n_actions,), bool))
        self.has_masks = False
        """Whether a step with an action mask has been seen (until then a batch's masks are all true)."""
        self._all_allowed = np.ones((0, 0), bool)
        obs_space = spaces.observation_space
        self.replay = self.make_replay(tuple(obs_space.shape), obs_space.dtype, action_shape, action_dtype)
        self.nets: dict[str, torch.nn.Module] = {}
        self.targets: dict[str, torch.nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self._online_params: list[torch.Tensor] = []
        self._target_params: list[torch.Tensor] = []
        self._spans: tuple[tuple[int, ...], list[torch.Tensor], list[torch.Tensor]] | None = None
        self.env_steps = 0
        """Env steps observed (summed over the parallel envs)."""
        self.vector_steps = 0
        """Calls of :meth:`update` (one per vector step)."""
        self.gradient_steps = 0
        """Regression steps taken."""
        self.iterations = 0
        """Iterations that regressed."""
        self.total_steps: int | None = None
        """Env steps of the whole run; set by the loop (for schedules)."""
        self.track_direction = False
        """Set by the loop on a tabular twin: record the policy-gradient direction (if the agent has one)."""

    # ------------------------------------------------------------------------- construction
    def make_replay(self, obs_shape: tuple[int, ...], obs_dtype: Any, action_shape: tuple[int, ...],
                    action_dtype: Any) -> ReplayBuffer:
        """The replay of ``capacity`` transitions with the declared extras (override: prioritised replay)."""
        return ReplayBuffer(self.config.capacity, obs_shape, obs_dtype, action_shape, action_dtype, extras=self.store)

    def add_target(self, name: str) -> torch.nn.Module:
        """A target copy of ``self.nets[name]`` (no gradients), moved by :meth:`update_targets`.

        With ``target_period = 0`` there are no target networks: the online module itself is returned
        (targets are computed under ``torch.no_grad``, i.e. stop-gradient).
        """
        online = self.nets[name]
        if self.config.target_period == 0:
            self.targets[name] = online
            return online
        target = copy.deepcopy(online).requires_grad_(False)
        flat_parameters(list(target.parameters()), grad=False)  # one run of memory: one Polyak kernel per network
        self.targets[name] = target
        self._online_params.extend(online.parameters())
        self._target_params.extend(target.parameters())
        self._spans = None
        return target

    def adam(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """Adam at ``config.lr`` with torch's defaults (β = (0.9, 0.999), ε = 1e-8, as SB3), fused kernel,
        over ``params`` laid out as one tensor (:func:`~triad.agents.nets.flat_parameters`: one kernel
        call per step). Every one of ``params`` must get a gradient at each step of this optimiser;
        step it with :meth:`descend` (gradients are zeroed in place, never set to None)."""
        return torch.optim.Adam([flat_parameters(params)], lr=self.config.lr, fused=True)

    # -------------------------------------------------------------------------------- actor
    def act(self, obs: np.ndarray, explore: bool = True,
            mask: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Env actions ``(B, ...)`` and the extras to store (``raw``: the normalised Box action).

        During the first ``learning_starts`` env steps (``random_starts``) exploring actions are
        uniform over the action space (over the allowed actions where ``mask`` is given).
        """
        c = self.config
        if explore and c.random_starts and self.env_steps < c.learning_starts:
            actions = self.random_actions(np.shape(obs)[0], mask)
            extras = self.random_extras(actions, mask)
        else:
            with torch.inference_mode():
                actions, extras = self.select(self.encode(obs), explore, mask)
        if self.discrete:
            return actions, extras
        env = to_bounds(actions, self.low, self.high).reshape((actions.shape[0], *self.action_shape))
        return env, {**extras, "raw": actions}

    def random_actions(self, B: int, mask: np.ndarray | None = None) -> np.ndarray:
        """``B`` uniform actions in the stored form (indices; or normalised ``U[−1, 1]^d``)."""
        if not self.discrete:
            return self.rng.uniform(-1.0, 1.0, (B, self.action_dim)).astype(np.float32)
        if mask is None:
            return self.rng.integers(0, self.n_actions, B)
        return np.argmax(self.rng.random((B, self.n_actions)) * np.asarray(mask, bool), axis=1)

    def random_extras(self, actions: np.ndarray, mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The declared extras of uniform actions: ``logp`` = log of the uniform density (normalised space)."""
        out = {}
        if "logp" in self.store:
            B = actions.shape[0]
            if not self.discrete:
                out["logp"] = np.full(B, -self.action_dim * np.log(2.0), np.float32)
            else:
                allowed = np.full(B, self.n_actions) if mask is None else np.asarray(mask, bool).sum(1)
                out["logp"] = -np.log(allowed).astype(np.float32)
        missing = set(self.store) - set(out) - set(_MASKS)  # the masks come with the step (observe)
        if missing:
            raise NotImplementedError(f"{self.name}: random_extras must provide {sorted(missing)}")
        return out

    def select(self, obs: torch.Tensor, explore: bool,
               mask: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The actor on encoded observations (module docstring); subclasses implement it."""
        raise NotImplementedError

    def observe(self, step: Any) -> None:
        """Hand one vector step (a :class:`triad.agents.loop.Step`) to the replay (process 1).

        Invalid steps (NEXT_STEP reset steps) are skipped by the replay; with ``collect_once``
        nothing is stored after the first ``learning_starts`` env steps.
        """
        c = self.config
        B = int(np.shape(step.reward)[0])
        keep = not (c.collect_once and self.env_steps >= c.learning_starts)
        self.env_steps += B
        kept = {name: getattr(step, name, None) for name in self.keeps_masks} if self.discrete else {}
        self.has_masks |= any(mask is not None for mask in kept.values())
        if not keep:
            return
        extras = step.extras
        row = {"obs": step.obs, "action": extras.get("raw", step.action), "reward": step.reward,
               "terminated": step.terminated, "truncated": step.truncated, "next_obs": step.next_obs,
               "valid": step.valid}
        for name, mask in kept.items():
            row[name] = self._allowed(B) if mask is None else np.asarray(mask, bool)
        for name in self.store:
            if name not in row:
                row[name] = extras[name]
        self.replay.add(row)

    def _allowed(self, B: int) -> np.ndarray:
        """``(B, A)`` all true, read-only and shared by every step without a mask (the replay copies it)."""
        if self._all_allowed.shape[0] != B:
            self._all_allowed = np.ones((B, self.n_actions), bool)
            self._all_allowed.setflags(write=False)
        return self._all_allowed

    def masks(self, b: Transitions) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The allowed actions of a batch's ``s`` and ``s'`` (:attr:`keeps_masks`), ``(N, A)`` bool each; ``None``
        where the batch carries none or no mask has been seen yet (all allowed)."""
        return tuple(torch.from_numpy(b.data[k]) if self.has_masks and b.data.get(k) is not None else None
                     for k in _MASKS)

    # ------------------------------------------------------------------------------ learner
    def update(self) -> dict[str, float] | None:
        """One vector step of the clock: every ``train_every``-th, past ``learning_starts``, an iteration
        of ``grad_steps`` regression steps with target updates; returns the mean of their logs."""
        c = self.config
        if not self.tick():
            return None
        logs: list[dict[str, torch.Tensor]] = []
        with self.learning():
            for _ in range(c.grad_steps):
                logs.append(self.regress(self.sample()))
                self.gradient_steps += 1
                if c.target_period and self.gradient_steps % c.target_period == 0:
                    self.update_targets()
        self.iterations += 1
        return _mean_logs(logs)

    def learning(self) -> contextlib.AbstractContextManager:
        """The scope an iteration's regression steps run in: subnormal floats flushed to zero
        (:func:`~triad.agents.nets.denormals_flushed`). Adam's decaying moments of dead ReLU units, and the
        activations and gradients computed from them, drift into the subnormal range over a run; unflushed,
        TD3's Pendulum-v1 step took 8.3 ms instead of 5.9 by the end of 20k steps (DQN's ~10× slower)."""
        return denormals_flushed()

    def tick(self) -> bool:
        """Process 1's clock, one vector step: whether an iteration (``grad_steps`` regression steps) is due now —
        every ``train_every``-th vector step, past ``learning_starts`` env steps, with a non-empty replay.
        :meth:`update` runs the iteration; :class:`triad.agents.members.ValueMembers` reads the clock of
        each of its members through it."""
        c = self.config
        self.vector_steps += 1
        return not (self.vector_steps % c.train_every or self.env_steps <= c.learning_starts or not len(self.replay))

    def sample(self) -> Transitions:
        """A batch of ``batch_size`` transitions drawn uniformly (override for other replay schemes)."""
        return self.transitions(self.replay.sample(self.rng, self.config.batch_size))

    def transitions(self, data: dict[str, np.ndarray]) -> Transitions:
        """A batch as the replay returned it (numpy, leading axis ``N``) → :class:`Transitions` (encoded tensors)."""
        x = multistep_inputs(data, self.config.gamma)
        action = torch.from_numpy(data["action"])
        return Transitions(obs=self.encode(data["obs"]), action=action,
                           reward=torch.from_numpy(x.r_t.astype(np.float32)),
                           discount=torch.from_numpy(x.discount_t.astype(np.float32)),
                           next_obs=self.encode(data["next_obs"]), data=data)

    def regress(self, batch: Any) -> dict[str, torch.Tensor]:
        """One gradient step of process 3 (module docstring); subclasses implement it."""
        raise NotImplementedError

    def update_targets(self) -> None:
        """Process 2: ``φ' ← (1 − τ)φ' + τφ`` over every target network at once (:func:`~triad.agents.nets.polyak_update`)."""
        if self._target_params:
            # The pairs merged into runs of adjacent memory (flat Adam parameters, flat targets), recomputed
            # if a parameter was laid out anew since.
            key = tuple(p.data_ptr() for p in (*self._target_params, *self._online_params))
            if self._spans is None or self._spans[0] != key:
                self._spans = (key, *paired_spans(self._target_params, self._online_params))
            polyak_update(self._spans[1], self._spans[2], self.config.tau)

    def descend(self, name: str, loss: torch.Tensor, max_grad_norm: float = 0.0,
                params: list[torch.nn.Parameter] | None = None) -> None:
        """One step of optimiser ``name`` on ``loss`` (its gradients reset first; the global norm of
        ``params``' gradients clipped to ``max_grad_norm`` when positive)."""
        opt = self.optimizers[name]
        for group in opt.param_groups:  # in place: the gradients are views of one flat tensor
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.zero_()
        loss.backward()
        if max_grad_norm > 0:
            clip_grad_norm(params, max_grad_norm)
        adam_step(opt)

    def explain(self) -> str:
        """The process rates this agent's configuration implies, in words."""
        return self.config.explain(self.name)

    def rates(self) -> dict[str, Any]:
        """The same as numbers (:meth:`triad.agents.config.OffPolicyConfig.rates`)."""
        return self.config.rates()

    # ------------------------------------------------------------------------------ weights
    def _model(self) -> dict[str, torch.Tensor]:
        out = {f"{n}.{k}": v for n, m in self.nets.items() for k, v in m.state_dict().items()}
        for n, m in self.targets.items():
            if m is not self.nets[n]:
                out.update({f"target.{n}.{k}": v for k, v in m.state_dict().items()})
        return out

    @staticmethod
    def _part(model: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in model.items() if k.startswith(prefix)}

    def get_weights(self) -> dict[str, torch.Tensor]:
        """Every network's parameters, ``"net.param"`` (learner → actor)."""
        return {k: v.detach().clone() for k, v in self._model().items() if not k.startswith("target.")}

    def set_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        for n, m in self.nets.items():
            m.load_state_dict(self._part(weights, f"{n}."))

    def state_dict(self) -> dict:
        """Everything a resume needs: networks and targets (``model``), optimisers, both generators,
        the replay, the counters."""
        return {"model": self._model(), "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "generator": self.generator.get_state(), "rng": copy.deepcopy(self.rng.bit_generator.state),
                "replay": self.replay.state_dict(), "total_steps": self.total_steps,
                "counters": {"env_steps": self.env_steps, "vector_steps": self.vector_steps,
                             "gradient_steps": self.gradient_steps, "iterations": self.iterations}}

    def load_state_dict(self, d: Mapping) -> None:
        model = d["model"]
        for n, m in self.nets.items():
            m.load_state_dict(self._part(model, f"{n}."))
        for n, m in self.targets.items():
            if m is not self.nets[n]:
                m.load_state_dict(self._part(model, f"target.{n}."))
        for k, o in self.optimizers.items():
            o.load_state_dict(d["optimizers"][k])
        self.generator.set_state(d["generator"])
        self.rng.bit_generator.state = d["rng"]
        self.replay.load_state_dict(d["replay"])
        self.total_steps = d["total_steps"]
        for k, v in d["counters"].items():
            setattr(self, k, v)

    def env_replaced(self) -> None:
        """The loop rebuilt the env (it could not be pickled): cut every stream of the replay there."""
        self.replay.seam()

    def parameters_finite(self) -> str | None:
        """The name of the first parameter (of a network or a target) holding a NaN or inf, or ``None``."""
        for name, p in self._model().items():
            if p.is_floating_point() and not bool(torch.isfinite(p).all()):
                return name
        return None


_MASKS = ("mask", "next_mask")
"""The replay's names of the allowed actions of ``s`` and ``s'`` (:attr:`OffPolicyAgent.keeps_masks`)."""


def adam_step(opt: torch.optim.Optimizer) -> None:
    """``opt.step()``; for the driver's fused Adam (:meth:`OffPolicyAgent.adam`), once its state exists,
    the same kernel calls without the optimiser's per-call Python: the step counters ``+= 1``, then
    ``torch._fused_adam_`` (what ``torch.optim.Adam(fused=True).step`` runs on CPU, so the update is
    bit-identical). Optimisers with hooks, other settings or other types take ``opt.step()``."""
    from torch.optim.optimizer import _global_optimizer_post_hooks, _global_optimizer_pre_hooks

    if (type(opt) is not torch.optim.Adam or opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks
            or _global_optimizer_pre_hooks or _global_optimizer_post_hooks):
        opt.step()
        return
    groups = []
    for group in opt.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        states = [opt.state.get(p) for p in params]
        if (not group["fused"] or group["amsgrad"] or group["weight_decay"] or group["maximize"]
                or group["differentiable"] or group["capturable"] or group.get("decoupled_weight_decay")
                or torch.is_tensor(group["lr"]) or not all(states)):
            opt.step()  # first step (creates the state) or a setting the fast path does not cover
            return
        groups.append((group, params, states))
    for group, params, states in groups:
        steps = [s["step"] for s in states]
        torch._foreach_add_(steps, 1)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                           [s["exp_avg_sq"] for s in states], [], steps, lr=group["lr"], beta1=beta1,
                           beta2=beta2, weight_decay=0.0, eps=group["eps"], amsgrad=False, maximize=False)


def _mean_logs(logs: list[Mapping[str, torch.Tensor | float]]) -> dict[str, float]:
    """Per quantity, the mean over the steps that reported it (one conversion to floats for all)."""
    if len(logs) == 1:  # one gradient step per iteration: its values
        values = [torch.as_tensor(v, dtype=torch.float32).reshape(()) for v in logs[0].values()]
        return dict(zip(logs[0], torch.stack(values).tolist())) if values else {}
    names: dict[str, list[torch.Tensor]] = {}
    for out in logs:
        for k, v in out.items():
            names.setdefault(k, []).append(torch.as_tensor(v, dtype=torch.float32).reshape(()))
    if not names:
        return {}
    means = torch.stack([torch.stack(v).mean() for v in names.values()]).tolist()
    return dict(zip(names, means))
