"""The one on-policy learner. REINFORCE, batch and online actor-critic, A2C and PPO are settings of it.

Per update the learner (1) takes the rollout buffer's arrays, (2) evaluates the critic on every
stored state and on the true next states where the return must bootstrap (truncations and the end
of the buffer), (3) gets advantages and critic targets from :mod:`triad.multistep` — ``gae`` with
``truncated_t``/``bootstrap_t`` for the critic-based settings, ``discounted_returns`` (bootstrapped
at truncations) for Monte-Carlo REINFORCE — and (4) descends one of two objectives:

* joint (A2C, PPO, REINFORCE): ``epochs`` passes of minibatches of
  ``L = L_π + vf_coef · L_V + ent_coef · L_H`` with ``L_π`` :func:`~triad.agents.losses.policy_gradient_loss`
  (``clip = 0``) or :func:`~triad.agents.losses.ppo_clip_loss` (``clip > 0``), one optimiser;
* critic first (the seed notes' batch / online actor-critic, CS285 lecture 6): ``critic_steps``
  regression steps of V̂ on ``y = r + γV̂(s')`` (targets refreshed every ``critic_target_every``
  steps), then one actor step on ``δ = r + γV̂(s') − V̂(s)`` from the refitted critic; two optimisers.

=============  ==========  ============  =============  ======  =====  =========================
setting        rollout     advantage     critic_first   epochs  clip   other
=============  ==========  ============  =============  ======  =====  =========================
reinforce      episodes    mc            —              1       0      reward_to_go, baseline
ac-batch       steps 250   gae λ = 0     yes (100)      1       0      CS285 hw3 sizes
ac-online      steps 1     gae λ = 0     yes (1)        1       0      8 envs
a2c            steps 5     gae λ = 1     no             1       0      RMSprop, SB3 defaults
ppo            steps 2048  gae λ = 0.95  no             10      0.2    minibatches, schedules
=============  ==========  ============  =============  ======  =====  =========================

``discount_weighting = 2`` multiplies step t's policy term by ``γ^t``, t counted from the start of
its episode (the stepper's ``episode_step``); ``1`` drops it (the seed notes' two options).

For the algorithms built on top: an A3C worker runs :meth:`OnPolicyAgent.gradients` on its own
rollout and the shared learner applies them with :meth:`OnPolicyAgent.apply_gradients`; Q-Prop
subclasses and overrides :meth:`OnPolicyAgent.advantages` (to subtract its control variate) and
:meth:`OnPolicyAgent.policy_loss` (to add the analytic term).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from triad import multistep
from triad.agents import losses
from triad.agents.config import OnPolicyConfig
from triad.agents.nets import ActorCritic, action_head
from triad.agents.storage import RolloutBuffer
from triad.errors import ValidationError


@dataclasses.dataclass(frozen=True)
class EnvSpaces:
    """What a builder needs to know about the environment."""

    observation_space: Any
    action_space: Any
    num_envs: int


def observation_encoder(space: Any, where: str) -> tuple[int, Any]:
    """``(obs_dim, encode)``: ``encode(np obs (B, ...)) -> float32 tensor (B, obs_dim)``.

    Box observations are flattened; Discrete(n) ones (FiniteEnv ``obs=state``) become one-hot rows.
    """
    import gymnasium

    if isinstance(space, gymnasium.spaces.Discrete):
        n, start = int(space.n), int(space.start)
        eye = torch.eye(n)

        def encode_discrete(obs: np.ndarray) -> torch.Tensor:
            return eye[torch.as_tensor(np.asarray(obs, dtype=np.int64) - start)]

        return n, encode_discrete
    if isinstance(space, gymnasium.spaces.Box):
        dim = int(np.prod(space.shape))

        def encode_box(obs: np.ndarray) -> torch.Tensor:
            a = np.ascontiguousarray(obs, dtype=np.float32)
            x = torch.from_numpy(a if a.flags.writeable else a.copy())  # FiniteEnv hands out read-only rows
            return x.reshape(x.shape[0], dim)

        return dim, encode_box
    raise ValidationError(f"{where} cannot handle the observation space {space} (it takes Box or Discrete)")


@dataclasses.dataclass
class Batch:
    """One update's data as flat tensors over the ``N`` used steps (weight > 0).

    ``obs (N, obs_dim)``, ``action``, ``logp_old``, ``adv``, ``target`` (critic regression target),
    ``v_old`` (critic at collection), ``pg_weight`` (γ^t; ``None`` for option 1: all ones), ``mask``
    (allowed actions, ``None`` when the env has no mask). ``rows`` indexes the ``(T·B)``
    flattened buffer; the full arrays are kept for the critic-first refits.
    """

    obs: torch.Tensor
    action: torch.Tensor
    logp_old: torch.Tensor
    adv: torch.Tensor
    target: torch.Tensor
    v_old: torch.Tensor
    pg_weight: torch.Tensor | None
    mask: torch.Tensor | None
    rows: np.ndarray
    data: dict[str, np.ndarray]


class OnPolicyAgent:
    """Actor and learner of every on-policy setting (module docstring); the Agent interface of the design."""

    def __init__(self, config: OnPolicyConfig, spaces: EnvSpaces, seed: int, name: str = "on-policy"):
        config.validate()
        self.config, self.name = config, name
        torch.set_num_threads(config.threads)  # process-wide: fixed by the config (determinism, fair timing)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.obs_dim, self.encode = observation_encoder(spaces.observation_space, name)
        self.head = action_head(spaces.action_space, config.squash, config.log_std_init, name)
        self.discrete = self.head.discrete
        self.model = ActorCritic(self.obs_dim, self.head, config.hidden, self.generator, config.critic,
                                 config.activation, config.ortho_init, with_value=config.uses_critic)
        self.buffer = RolloutBuffer(spaces.num_envs, config.rollout, config.n_steps, config.batch_steps)
        if config.critic_first:
            self._params = {"actor": self.model.policy_parameters(), "critic": self.model.value_parameters()}
        else:
            self._params = {"all": list(self.model.parameters())}
        self.optimizers = {k: self._optimizer(p, config.critic_lr or config.lr if k == "critic" else config.lr)
                           for k, p in self._params.items()}
        self.env_steps = 0
        self.updates = 0
        self.total_steps: int | None = None
        """Env steps of the whole run; set by the loop, read by the linear schedules."""
        self.track_direction = False
        """Record :meth:`policy_direction` at every update (the loop sets it on a FiniteEnv)."""
        self._direction: np.ndarray | None = None
        self._direction_model: ActorCritic | None = None

    # ----------------------------------------------------------------------------- plumbing
    def _optimizer(self, params: list[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
        c = self.config
        if c.optimizer == "adam":  # the fused kernel: one call for all parameters (the same update, ~3× faster)
            return torch.optim.Adam(params, lr=lr, eps=c.optimizer_eps, fused=True)
        return torch.optim.RMSprop(params, lr=lr, alpha=c.rmsprop_alpha, eps=c.optimizer_eps, foreach=True)

    def _remaining(self) -> float:
        """``1 − env_steps / total_steps`` (SB3's progress_remaining), 1 when the horizon is unknown."""
        if not self.total_steps:
            return 1.0
        return max(0.0, 1.0 - self.env_steps / self.total_steps)

    def _set_schedules(self) -> float:
        """Apply the learning-rate schedule; return the clip range in force."""
        c, frac = self.config, self._remaining()
        for key, opt in self.optimizers.items():
            base = c.critic_lr or c.lr if key == "critic" else c.lr
            for group in opt.param_groups:
                group["lr"] = base * frac if c.lr_schedule == "linear" else base
        return c.clip * frac if c.clip_schedule == "linear" else c.clip

    # -------------------------------------------------------------------------------- actor
    def act(self, obs: np.ndarray, explore: bool = True,
            mask: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Actions ``(B, ...)`` for the env and the extras to store (``logp``; ``raw`` for Gaussian heads).

        ``mask``: ``(B, A)`` allowed actions (a FiniteEnv's ``info["action_mask"]``); others get probability 0.
        """
        with torch.inference_mode():
            out = masked(self.model.policy_output(self.encode(obs)), mask)
            if explore:
                raw, logp = self.head.sample(out, self.generator)
                extras = {"logp": logp.numpy()}
            else:
                raw, extras = self.head.mode(out), {}
        raw_np = raw.numpy()
        if not self.discrete:
            extras["raw"] = raw_np
        return self.head.to_env(raw_np), extras

    def observe(self, step: Any) -> None:
        """Hand one vector step (a :class:`triad.agents.loop.Step`) to the rollout buffer."""
        extras = step.extras
        row = {"obs": step.obs, "action": extras.get("raw", step.action), "reward": step.reward,
               "terminated": step.terminated, "truncated": step.truncated, "next_obs": step.next_obs,
               "episode_step": step.episode_step, "valid": step.valid, "logp": extras["logp"]}
        if getattr(step, "mask", None) is not None:
            row["mask"] = step.mask
        self.buffer.add(row)
        self.env_steps += self.buffer.streams

    # ------------------------------------------------------------------------------ learner
    def update(self) -> dict[str, float] | None:
        """Learn from the buffer once it is ready (every call otherwise does nothing)."""
        if not self.buffer.ready():
            return None
        data = self.buffer.data()
        self.buffer.clear()
        if not data["weight"].any():
            return None
        clip = self._set_schedules()
        logs = self._critic_first(data) if self.config.critic_first else self._joint(self.estimate(data), clip)
        self.updates += 1
        logs["discarded_steps"] = float(self.buffer.discarded)
        return logs

    def _values(self, data: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Critic values ``(T + 1, B)`` (``V(s_0) … V(s_{T−1})`` and the last step's true next state),
        ``bootstrap_t (T, B)`` (``V`` of the true next state at truncations, else 0) and the truncation flags."""
        T, B = data["reward"].shape
        trunc = data["truncated"].astype(bool)
        rows = np.flatnonzero(trunc.reshape(-1))
        if not self.config.uses_critic:
            return np.zeros((T + 1, B)), np.zeros((T, B)), trunc
        flat = data["obs"].reshape(T * B, *data["obs"].shape[2:])
        nxt = data["next_obs"].reshape(T * B, *data["next_obs"].shape[2:])
        stacked = np.concatenate([flat, data["next_obs"][-1], nxt[rows]], axis=0)
        with torch.no_grad():
            v = self.model.value(self.encode(stacked)).double().numpy()
        values = v[: (T + 1) * B].reshape(T + 1, B)
        boot = np.zeros(T * B)
        boot[rows] = v[(T + 1) * B:]
        return values, boot.reshape(T, B), trunc

    def advantages(self, data: Mapping[str, np.ndarray], values: np.ndarray, boot: np.ndarray,
                   trunc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Â_t, y_t)``: advantages and critic targets, ``(T, B)`` each, from :mod:`triad.multistep`.

        gae: ``Â = gae(r, γ(1 − term), V, λ)`` with truncations bootstrapped, ``y = Â + V`` (the λ-return).
        mc: ``G = discounted_returns`` (bootstrapped from V̂ at truncations when there is a critic),
        the whole episode's return when ``reward_to_go`` is off, ``Â = G − V`` with a baseline, ``y = G``.
        Q-Prop overrides this to subtract its control variate.
        """
        c = self.config
        discount = c.gamma * (1.0 - data["terminated"].astype(np.float64))
        r = data["reward"].astype(np.float64)
        if c.advantage == "gae":
            adv = multistep.gae(r, discount, values, c.gae_lambda, truncated_t=trunc, bootstrap_t=boot)
            return adv, adv + values[:-1]
        G = multistep.discounted_returns(r, discount, boot, truncated_t=trunc)
        if not c.reward_to_go:
            T = r.shape[0]
            start = np.clip(np.arange(T)[:, None] - data["episode_step"], 0, T - 1)
            G = np.take_along_axis(G, start, axis=0)
        return (G - values[:-1] if c.baseline else G), G

    def estimate(self, data: Mapping[str, np.ndarray]) -> Batch:
        """The :class:`Batch` of an update: critic values, advantages, targets and weights of the used steps."""
        c = self.config
        values, boot, trunc = self._values(data)
        adv, target = self.advantages(data, values, boot, trunc)
        weight = data["weight"]
        pg_weight = np.power(c.gamma, data["episode_step"]) if c.discount_weighting == 2 else None
        rows = np.flatnonzero(weight.reshape(-1) > 0)
        T, B = weight.shape

        def pick(x: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(x.reshape(T * B, *x.shape[2:])[rows])).to(dtype)

        action_dtype = torch.int64 if self.discrete else torch.float32
        return Batch(obs=self.encode(data["obs"].reshape(T * B, *data["obs"].shape[2:])[rows]),
                     action=pick(data["action"], action_dtype), logp_old=pick(data["logp"]), adv=pick(adv),
                     target=pick(target), v_old=pick(values[:-1]),
                     pg_weight=None if pg_weight is None else pick(pg_weight),
                     mask=pick(data["mask"], torch.bool) if "mask" in data else None, rows=rows,
                     data=dict(data))

    def policy_loss(self, batch: Batch, idx: torch.Tensor | slice, out: torch.Tensor, clip: float,
                    normalize: bool, adv: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_π, log π(a|s))`` on the steps ``idx`` of ``batch`` given the policy output ``out`` there.

        ``adv``: the advantages of those steps if already prepared (normalised once for a whole-batch step).
        Q-Prop overrides this to add its analytic control-variate term.
        """
        logp = self.head.log_prob(out, batch.action[idx])
        if adv is None:
            adv = losses.normalize(batch.adv[idx]) if normalize else batch.adv[idx]
        weight = None if batch.pg_weight is None else batch.pg_weight[idx]
        if clip > 0:
            return losses.ppo_clip_loss(logp, batch.logp_old[idx], adv, clip, weight), logp
        return losses.policy_gradient_loss(logp, adv, weight), logp

    def policy_gradient(self, batch: Batch) -> np.ndarray:
        """The batch's policy-gradient estimate ``−∇_θ L_π`` at the current parameters, flattened over
        :meth:`policy_parameters` (``L_π`` unclipped: at the collecting parameters PPO's gradient is this)."""
        out = masked(self.model.policy_output(batch.obs), batch.mask)
        loss, _ = self.policy_loss(batch, slice(None), out, 0.0, self.config.normalize_advantage)
        return -flat_grad(loss, self.model.policy_parameters())

    def _record_direction(self, batch: Batch) -> None:
        self._direction = self.policy_gradient(batch)
        self._direction_model = copy.deepcopy(self.model)

    def _step(self, key: str, loss: torch.Tensor) -> torch.Tensor:
        """One optimiser step on ``loss`` (global gradient norm clipped); returns the norm before clipping."""
        params = self._params[key]
        for p in params:
            p.grad = None
        loss.backward()
        norm = torch.zeros(())
        if self.config.max_grad_norm > 0:
            norm = clip_grad_norm(params, self.config.max_grad_norm)
        self.optimizers[key].step()
        return norm

    def _entropy(self, out: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Per-step entropy; outside the graph when ``ent_coef = 0`` (it is only logged then)."""
        if self.config.ent_coef > 0:
            return self.head.entropy(out, action)
        with torch.no_grad():
            return self.head.entropy(out.detach(), action)

    def _joint(self, batch: Batch, clip: float) -> dict[str, float]:
        """``epochs`` passes of minibatch steps on ``L_π + vf_coef·L_V + ent_coef·L_H`` (one fused forward each)."""
        c = self.config
        if self.track_direction:
            self._record_direction(batch)
        n = batch.obs.shape[0]
        size = c.batch_size if 0 < c.batch_size < n else n
        whole = losses.normalize(batch.adv) if c.normalize_advantage and size == n else None
        stats: dict[str, list[torch.Tensor]] = {"policy_loss": [], "value_loss": [], "entropy": [], "grad_norm": []}
        for _ in range(c.epochs):
            order = torch.randperm(n, generator=self.generator) if size < n else None
            for start in range(0, n, size):
                idx = order[start:start + size] if order is not None else slice(None)
                loss, parts = self.minibatch_loss(batch, idx, clip, adv=whole, entropy=not stats["entropy"])
                for key, value in parts.items():
                    stats[key].append(value)
                stats["grad_norm"].append(self._step("all", loss))
        logs = {k: torch.stack(v).mean().item() for k, v in stats.items() if v}
        logs["clip"] = clip
        return logs

    def minibatch_loss(self, batch: Batch, idx: torch.Tensor | slice, clip: float, adv: torch.Tensor | None = None,
                       entropy: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The joint loss ``L_π + vf_coef·L_V + ent_coef·L_H`` on the steps ``idx`` (one fused forward).

        Returns the loss and its detached parts (``entropy`` is evaluated when ``ent_coef > 0`` or
        asked for). An A3C worker calls this on its own rollout and sends :meth:`gradients` of it.
        """
        c = self.config
        out, v = self.model(batch.obs[idx])
        out = masked(out, None if batch.mask is None else batch.mask[idx])
        pl, _ = self.policy_loss(batch, idx, out, clip, c.normalize_advantage, adv=adv)
        loss, parts = pl, {"policy_loss": pl.detach()}
        if c.ent_coef > 0:
            ent = self.head.entropy(out, batch.action[idx])
            loss = loss + c.ent_coef * losses.entropy_loss(ent)
            parts["entropy"] = ent.detach().mean()
        elif entropy:  # only logged
            parts["entropy"] = self._entropy(out, batch.action[idx]).mean()
        if v is not None:
            vl = losses.value_loss(v, batch.target[idx], batch.v_old[idx], c.value_clip or None)
            loss = loss + c.vf_coef * vl
            parts["value_loss"] = vl.detach()
        return loss, parts

    def _critic_first(self, data: Mapping[str, np.ndarray]) -> dict[str, float]:
        c = self.config
        T, B = data["weight"].shape
        rows = np.flatnonzero(data["weight"].reshape(-1) > 0)
        obs = self.encode(data["obs"].reshape(T * B, *data["obs"].shape[2:])[rows])
        discount = c.gamma * (1.0 - data["terminated"].astype(np.float64))
        value_loss = 0.0
        for k in range(c.critic_steps):
            if k % c.critic_target_every == 0:
                values, boot, trunc = self._values(data)
                # One-step TD targets y = r + γ(1 − term) V̂(s'), bootstrapping from the true s' at truncations.
                v_next = np.where(trunc, boot, values[1:])
                y = multistep.lambda_returns(data["reward"].astype(np.float64), discount, v_next, 0.0,
                                             truncated_t=trunc)
                target = torch.as_tensor(y.reshape(-1)[rows], dtype=torch.float32)
            vl = losses.value_loss(self.model.value(obs), target)
            self._step("critic", vl)
            value_loss += vl.item()
        batch = self.estimate(data)
        if self.track_direction:
            self._record_direction(batch)
        out = masked(self.model.policy_output(batch.obs), batch.mask)
        pl, _ = self.policy_loss(batch, slice(None), out, 0.0, c.normalize_advantage)
        ent = self._entropy(out, batch.action)
        grad_norm = self._step("actor", pl + c.ent_coef * losses.entropy_loss(ent) if c.ent_coef > 0 else pl)
        return {"policy_loss": pl.item(), "value_loss": value_loss / c.critic_steps, "entropy": ent.mean().item(),
                "grad_norm": float(grad_norm)}

    # ------------------------------------------------------------------------- A3C support
    def gradients(self, loss: torch.Tensor) -> list[torch.Tensor | None]:
        """Gradients of ``loss`` for every parameter, parameters untouched.

        An A3C worker: ``batch = agent.estimate(data)``, ``loss, _ = agent.minibatch_loss(batch,
        slice(None), clip)``, then ``agent.gradients(loss)`` goes to the shared learner's
        :meth:`apply_gradients`.
        """
        params = list(self.model.parameters())
        return list(torch.autograd.grad(loss, params, allow_unused=True))

    def apply_gradients(self, grads: list[torch.Tensor | None], key: str = "all") -> None:
        """Set ``p.grad`` from ``grads`` (one per parameter, as :meth:`gradients` returns) and step optimiser ``key``."""
        for p, g in zip(self.model.parameters(), grads):
            p.grad = None if g is None else g.detach().clone()
        opt = self.optimizers[key]
        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], self.config.max_grad_norm)
        opt.step()

    # ------------------------------------------------------------------------------ weights
    def get_weights(self) -> dict[str, torch.Tensor]:
        """The model's parameters (learner → actor)."""
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def set_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        self.model.load_state_dict(weights)

    def state_dict(self) -> dict:
        """Everything a resume needs: model, optimisers, RNG, buffer, counters."""
        return {"model": self.model.state_dict(), "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "generator": self.generator.get_state(), "buffer": self.buffer.state_dict(),
                "env_steps": self.env_steps, "updates": self.updates, "total_steps": self.total_steps,
                "direction": self._direction,
                "direction_model": None if self._direction_model is None else self._direction_model.state_dict()}

    def load_state_dict(self, d: Mapping) -> None:
        self.model.load_state_dict(d["model"])
        for k, o in self.optimizers.items():
            o.load_state_dict(d["optimizers"][k])
        self.generator.set_state(d["generator"])
        self.buffer.load_state_dict(d["buffer"])
        self.env_steps, self.updates, self.total_steps = d["env_steps"], d["updates"], d["total_steps"]
        self._direction = d["direction"]
        self._direction_model = None
        if d["direction_model"] is not None:
            self._direction_model = copy.deepcopy(self.model)
            self._direction_model.load_state_dict(d["direction_model"])

    def env_replaced(self) -> None:
        """The loop rebuilt the env (it could not be pickled): close the stored rollout at that seam."""
        self.buffer.seam()

    def parameters_finite(self) -> str | None:
        """The name of the first parameter holding a NaN or inf, or ``None``."""
        for name, p in self.model.named_parameters():
            if not bool(torch.isfinite(p).all()):
                return name
        return None

    # ------------------------------------------------------------------------------- probes
    def policy_probs(self, obs_table: np.ndarray) -> torch.Tensor:
        """Differentiable ``π_θ(a|s)`` for every row of ``obs_table``: ``(S, A)`` (Discrete actions)."""
        if not self.discrete:
            raise ValidationError(f"{self.name}: policy tables need Discrete actions")
        return self.head.probs(self.model.policy_output(self.encode(obs_table)))

    def policy_table(self, obs_table: np.ndarray) -> np.ndarray:
        """``π(a|s)`` for every state's observation: ``(S, A)`` float64."""
        with torch.no_grad():
            return self.policy_probs(obs_table).double().numpy()

    def value_table(self, obs_table: np.ndarray) -> np.ndarray | None:
        """``V̂(s)`` for every state's observation: ``(S,)``; ``None`` without a critic."""
        if not self.config.uses_critic:
            return None
        with torch.no_grad():
            return self.model.value(self.encode(obs_table)).double().numpy()

    def policy_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters :meth:`policy_direction` is flattened over, in that order."""
        return self.model.policy_parameters()

    def policy_direction(self) -> np.ndarray | None:
        """The last update's policy-gradient estimate ``−∇_θ L_π`` at its pre-update parameters (flat)."""
        return self._direction

    def direction_policy(self) -> tuple[Any, list[torch.nn.Parameter]]:
        """``(probs, params)`` at the parameters :meth:`policy_direction` was taken at: ``probs(obs_table)``
        is differentiable in ``params`` (flattened in the same order), for the exact ∇J there."""
        model = self._direction_model

        def probs(obs_table: np.ndarray) -> torch.Tensor:
            return self.head.probs(model.policy_output(self.encode(obs_table)))

        return probs, model.policy_parameters()


MASKED_LOGIT = -1e9
"""Logit of a forbidden action: probability exactly 0 after softmax, and ``0 · log 0`` terms stay 0."""


def masked(logits: torch.Tensor, mask: np.ndarray | torch.Tensor | None) -> torch.Tensor:
    """``logits`` with forbidden actions (``mask`` false) set to :data:`MASKED_LOGIT`; unchanged without a mask."""
    if mask is None:
        return logits
    allowed = mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.array(mask, dtype=bool))
    return logits.masked_fill(~allowed, MASKED_LOGIT)


def clip_grad_norm(params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale the gradients so their global L2 norm is at most ``max_norm``; return the norm before.

    The rule of ``torch.nn.utils.clip_grad_norm_`` (scale ``max_norm / (norm + 1e-6)`` when above),
    with two foreach calls and none of its wrapper layers (this runs once per minibatch).
    """
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (norm + 1e-6), max=1.0))
    return norm


def flat_grad(loss: torch.Tensor, params: list[torch.nn.Parameter], retain_graph: bool = False) -> np.ndarray:
    """``∇ loss`` over ``params``, flattened and concatenated (zeros where a parameter is unused), float64."""
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=retain_graph)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                      for g, p in zip(grads, params)]).double().numpy()


def build(config: OnPolicyConfig, spaces: EnvSpaces, seed: int, name: str = "on-policy") -> OnPolicyAgent:
    """The builder the registry calls: ``build(config, env_spaces, seed) -> Agent``."""
    return OnPolicyAgent(config, spaces, seed, name)
