"""Q-Prop: the on-policy policy gradient with an off-policy Q critic as a control variate.

Gu, Lillicrap, Ghahramani, Turner & Levine (2017), "Q-Prop: Sample-Efficient Policy Gradient with
an Off-Policy Critic" (ICLR). For any f(s, a), ``E_π[∇log π(a|s) f(s, a)] = ∇_θ E_π[f(s, a)]`` (f
held fixed), so subtracting f inside the score-function estimate and adding the analytic gradient
back leaves the mean unchanged (§3.1):

    ∇J = E_{ρ,π}[∇log π(a_t|s_t) (Â_t − η_t Ā_t)] + E_ρ[η_t ∇_θ E_{a∼π_θ}[Ā(s_t, a)]]

with Â the on-policy advantage estimate (GAE, or Monte-Carlo returns) and Ā the critic's
centred control variate:

* **continuous actions** — the first-order Taylor expansion of Q_w around the policy mean μ_θ(s)
  (§3.1), ``Ā(s, a) = ∇_a Q_w(s, a)|_{a=μ_θ(s)} · (a − μ_θ(s))``, whose expectation under the
  Gaussian is 0 and whose analytic term is the deterministic policy gradient
  ``∇_a Q_w(s, a)|_{a=μ_θ(s)} ∇_θ μ_θ(s)``. The expansion is taken in the space where the policy
  *is* Gaussian — the stored pre-squash / pre-clip action ``u`` (the critic is trained on ``u``
  too) — so ``E[u] = μ`` holds exactly, also for the tanh-squashed and clipped heads;
* **discrete actions** — the exact expectation over actions instead of a Taylor expansion:
  ``Ā(s, a) = Q_w(s, a) − Σ_b π(b|s) Q_w(s, b)`` and the analytic term
  ``∇_θ Σ_a π_θ(a|s) Ā(s, a) = Σ_a ∇π_θ(a|s) Q_w(s, a)`` (the "all-action" gradient).

η is chosen per batch (§3.2; their variance analysis gives the optimal ``η* = Cov(Â, Ā) / Var(Ā)``):
``adaptive=none`` uses η = 1 (plain Q-Prop), ``conservative`` η = 1 where ``Cov(Â, Ā) > 0``
and 0 otherwise (never increases the variance bound; the paper's recommended variant), and
``aggressive`` η = sign(Cov(Â, Ā)). The covariance is estimated over the batch's steps, one η per
update (a per-state estimate would need several actions per state). Any η that does not depend
on the batch's own actions keeps the estimator unbiased; estimated from the batch it adds the
bias of a batch-dependent coefficient, small for large batches.

The Q critic is trained off-policy from a :class:`triad.agents.replay.ReplayBuffer` of every
transition collected, with a soft-updated target network Q' (τ = 0.001) and one-step targets
``y = r + γ(1 − terminated) V'(s')`` from :func:`triad.multistep.n_step_returns` (n = 1): for
discrete actions the expected-SARSA value of the current policy, ``V'(s') = Σ_a π(a|s') Q'(s', a)``
(the next state's action mask is not stored: π(·|s') is unmasked there); for continuous ones the
DDPG value ``V'(s') = Q'(s', μ_θ(s'))`` that the paper uses. Terminal steps have discount 0; a
truncated step bootstraps from its true next state. Per batch (Algorithm 1): the batch goes into the replay, the critic takes
``q_updates_per_step`` steps per env step collected, then the policy and V̂ take the on-policy
learner's step with the learning signals ``Â − ηĀ`` and the analytic term added to the policy
loss. With ``normalize_advantage`` the learning signals are standardised (Algorithm 1 centres
them) and the analytic term is divided by the same standard deviation, so the two parts keep their
ratio. The control variate is off (η = 0) until the replay holds ``q_warmup`` transitions.

A PPO-style clipped loss (``clip > 0``) or several epochs take the signals fixed at collection and
re-evaluate the analytic term at the current parameters (Ā held fixed): at the collecting
parameters the gradient is the estimator above.
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
from triad.agents.config import QPropConfig
from triad.agents.nets import QCritic, layers_of, mlp, run_layers
from triad.agents.onpolicy import Batch, EnvSpaces, OnPolicyAgent, masked
from triad.agents.replay import ReplayBuffer, multistep_inputs


@dataclasses.dataclass
class QPropBatch(Batch):
    """A :class:`~triad.agents.onpolicy.Batch` whose ``adv`` holds the learning signals ``Â − ηĀ``, plus:

    ``abar`` ``(N,)``: Ā at the taken actions; ``cv`` the fixed coefficients of the analytic term —
    ``(N, A)`` the table ``Ā(s, ·)`` (discrete) or ``(N, d)`` ``∇_u Q_w(s, u)|_{u=μ(s)}`` (continuous);
    ``eta``: the batch's η; ``covariance``: the batch estimate of ``Cov(Â, Ā)``.
    """

    abar: torch.Tensor | None = None
    cv: torch.Tensor | None = None
    eta: float = 0.0
    covariance: float = 0.0


def choose_eta(adv_t: np.ndarray, abar_t: np.ndarray, adaptive: str) -> tuple[float, float]:
    """``(η, Cov(Â, Ā))`` of a batch: ``none`` → 1; ``conservative`` → 1 if Cov > 0 else 0;
    ``aggressive`` → sign(Cov) (Gu et al. 2017, §3.2). Shapes: ``(N,)`` each; Cov is the plain
    sample covariance (0 for fewer than two steps)."""
    adv_t, abar_t = np.asarray(adv_t, np.float64), np.asarray(abar_t, np.float64)
    cov = float(np.mean((adv_t - adv_t.mean()) * (abar_t - abar_t.mean()))) if adv_t.size > 1 else 0.0
    if adaptive == "none":
        return 1.0, cov
    if adaptive == "conservative":
        return (1.0 if cov > 0 else 0.0), cov
    return float(np.sign(cov)), cov


class QPropAgent(OnPolicyAgent):
    """The on-policy learner with Q-Prop's control variate (module docstring)."""

    def __init__(self, config: QPropConfig, spaces: EnvSpaces, seed: int, name: str = "qprop"):
        super().__init__(config, spaces, seed, name)
        c = config
        obs_space, act_space = spaces.observation_space, spaces.action_space
        if self.discrete:
            self.n_actions = int(act_space.n)
            self.q_net = mlp([self.obs_dim, *c.q_hidden, self.n_actions], self.generator, "relu", ortho=False)
            action_shape, action_dtype = (), np.int64
        else:
            self.action_dim = int(np.prod(act_space.shape))
            self.q_net = QCritic(self.obs_dim, self.action_dim, c.q_hidden, self.generator, members=1)
            action_shape, action_dtype = (self.action_dim,), np.float32
        self.q_target = copy.deepcopy(self.q_net)
        for p in self.q_target.parameters():
            p.requires_grad_(False)
        if self.discrete:
            self._q_layers = {False: layers_of(self.q_net), True: layers_of(self.q_target)}
        self.q_optimizer = torch.optim.Adam(self.q_net.parameters(), lr=c.q_lr, fused=True)
        self.replay = ReplayBuffer(c.replay_size, obs_space.shape, obs_space.dtype, action_shape, action_dtype)
        self.rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(1,)))
        self.q_steps = 0
        self._cv: tuple[np.ndarray, np.ndarray, float, float] | None = None

    # ------------------------------------------------------------------------------ critic Q_w
    def q_values(self, obs: torch.Tensor, action: torch.Tensor | None = None, target: bool = False) -> torch.Tensor:
        """``Q(s, ·)`` ``(N, A)`` (discrete, ``action`` None) or ``Q(s, u)`` ``(N,)`` (continuous / discrete with
        actions); ``target`` uses Q'."""
        net = self.q_target if target else self.q_net
        if self.discrete:
            q = run_layers(self._q_layers[target], obs, torch.relu)  # the MLP without module-call overhead
            return q if action is None else q.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)
        return net(obs, action)[0]

    def q_table(self, obs_table: np.ndarray) -> np.ndarray:
        """``Q_w(s, a)`` for every state's observation: ``(S, A)`` float64 (Discrete actions)."""
        with torch.no_grad():
            return self.q_values(self.encode(obs_table)).double().numpy()

    def observe(self, step: Any) -> None:
        """The rollout buffer's step, and every valid transition into the replay (raw actions for Box spaces)."""
        super().observe(step)
        self.replay.add({"obs": step.obs, "action": step.extras.get("raw", step.action), "reward": step.reward,
                         "terminated": step.terminated, "truncated": step.truncated, "next_obs": step.next_obs,
                         "valid": step.valid})

    def _q_step(self) -> float:
        """One regression step of Q_w on replayed transitions and a soft target update; returns the loss."""
        c = self.config
        b = self.replay.sample(self.rng, c.q_batch_size)
        x = multistep_inputs(b, c.gamma)
        obs, nxt = self.encode(b["obs"]), self.encode(b["next_obs"])
        action = torch.as_tensor(b["action"])
        with torch.no_grad():
            out_next = self.model.policy_output(nxt)
            if self.discrete:  # expected SARSA under the current policy: V'(s') = Σ_a π(a|s') Q'(s', a)
                v = (self.head.probs(out_next) * self.q_values(nxt, target=True)).sum(-1)
            else:  # DDPG: V'(s') = Q'(s', μ_θ(s'))
                v = self.q_values(nxt, out_next, target=True)
        # one-step targets y = r + γ(1 − terminated) V'(s'), the replay's rows as multistep takes them (T = 1)
        y = multistep.n_step_returns(x.r_t[None], x.discount_t[None], v.double().numpy()[None], 1)[0]
        loss = losses.value_loss(self.q_values(obs, action), torch.as_tensor(y, dtype=torch.float32))
        self.q_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.q_optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.q_target.parameters()), list(self.q_net.parameters()), c.q_tau)
        self.q_steps += 1
        return loss.item()

    def _q_ready(self) -> bool:
        return len(self.replay) >= max(1, self.config.q_warmup)

    # ------------------------------------------------------------------------------ learner
    def update(self) -> dict[str, float] | None:
        """Once the rollout is ready: Q-critic steps on the replay, then the on-policy step with the control variate."""
        if not self.buffer.ready():
            return None
        q_logs: dict[str, float] = {}
        if self._q_ready():
            n = round(self.config.q_updates_per_step * float(self.buffer.data()["weight"].sum()))
            q_loss = [self._q_step() for _ in range(n)]
            if q_loss:
                q_logs["q_loss"] = float(np.mean(q_loss))
        logs = super().update()
        if logs is None:
            return q_logs or None
        if self._cv is not None:
            logs["eta"], logs["cv_covariance"] = self._cv[2], self._cv[3]
        return {**logs, **q_logs}

    def control_variate(self, obs: torch.Tensor, action: torch.Tensor,
                        mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Ā(s_i, a_i), cv_i)`` for ``N`` steps at the current parameters (no gradient).

        Discrete: ``Ā = Q_w(s, a) − Σ_b π(b|s) Q_w(s, b)``, ``cv = Ā(s, ·)`` ``(N, A)``. Continuous:
        ``cv = ∇_u Q_w(s, u)|_{u=μ(s)}`` ``(N, d)`` and ``Ā = cv · (u − μ(s))`` (Gu et al. 2017, §3.1).
        """
        with torch.no_grad():
            out = masked(self.model.policy_output(obs), mask)
        if self.discrete:
            with torch.no_grad():
                q = self.q_values(obs)
                pi = self.head.probs(out)
                table = q - (pi * q).sum(-1, keepdim=True)
                return table.gather(-1, action.long().unsqueeze(-1)).squeeze(-1), table
        mu = out.detach().requires_grad_(True)
        grad = torch.autograd.grad(self.q_values(obs, mu).sum(), mu)[0]
        return (grad * (action - out)).sum(-1), grad

    def advantages(self, data: Mapping[str, np.ndarray], values: np.ndarray, boot: np.ndarray,
                   trunc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Â − ηĀ, y)``: the base learner's advantages minus the control variate; the critic targets unchanged."""
        adv, target = super().advantages(data, values, boot, trunc)
        T, B = adv.shape
        obs = self.encode(data["obs"].reshape(T * B, *data["obs"].shape[2:]))
        action = torch.as_tensor(np.ascontiguousarray(data["action"].reshape(T * B, *data["action"].shape[2:])))
        mask = torch.as_tensor(data["mask"].reshape(T * B, -1)) if "mask" in data else None
        abar_t, cv = self.control_variate(obs, action if self.discrete else action.float(), mask)
        abar = abar_t.double().numpy().reshape(T, B)
        used = data["weight"] > 0
        if self._q_ready():
            eta, cov = choose_eta(adv[used], abar[used], self.config.adaptive)
        else:
            eta, cov = 0.0, 0.0
        self._cv = (abar, cv.detach().numpy(), eta, cov)
        return adv - eta * abar, target

    def estimate(self, data: Mapping[str, np.ndarray]) -> QPropBatch:
        """The base learner's :class:`Batch` (with ``adv = Â − ηĀ``) and Q-Prop's ``abar``, ``cv``, ``eta``."""
        batch = super().estimate(data)
        abar, cv, eta, cov = self._cv
        rows = torch.as_tensor(batch.rows)
        fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(Batch)}
        return QPropBatch(**fields, abar=torch.as_tensor(abar.reshape(-1), dtype=torch.float32)[rows],
                          cv=torch.as_tensor(cv, dtype=torch.float32)[rows], eta=eta, covariance=cov)

    def policy_loss(self, batch: Batch, idx: torch.Tensor | slice, out: torch.Tensor, clip: float,
                    normalize: bool, adv: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The base loss on the learning signals minus ``η · (1/N) Σ_i w_i E_{a∼π_θ}[Ā(s_i, a)]`` (Ā fixed).

        Its negative gradient adds ``η ∇_θ E_π[Ā]``: ``η Σ_a ∇π(a|s) Ā(s, a)`` (discrete) or
        ``η ∇_u Q_w ∇_θ μ_θ(s)`` (continuous), divided by the learning signals' standard deviation when
        they are standardised.
        """
        loss, logp = super().policy_loss(batch, idx, out, clip, normalize, adv)
        if not isinstance(batch, QPropBatch) or batch.eta == 0.0:
            return loss, logp
        cv = batch.cv[idx]
        expected = (self.head.probs(out) * cv).sum(-1) if self.discrete else (cv * out).sum(-1)
        weight = None if batch.pg_weight is None else batch.pg_weight[idx]
        analytic = batch.eta * (expected.mean() if weight is None else (weight * expected).mean())
        signals = batch.adv[idx]
        if normalize and signals.numel() > 1:
            analytic = analytic / (signals.std() + 1e-8)  # the scale losses.normalize divides the signals by
        return loss - analytic, logp

    # ------------------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        d = super().state_dict()
        d.update(q_net=self.q_net.state_dict(), q_target=self.q_target.state_dict(),
                 q_optimizer=self.q_optimizer.state_dict(), replay=self.replay.state_dict(),
                 rng=self.rng.bit_generator.state, q_steps=self.q_steps)
        return d

    def load_state_dict(self, d: Mapping) -> None:
        super().load_state_dict(d)
        self.q_net.load_state_dict(d["q_net"])
        self.q_target.load_state_dict(d["q_target"])
        self.q_optimizer.load_state_dict(d["q_optimizer"])
        self.replay.load_state_dict(d["replay"])
        self.rng.bit_generator.state = d["rng"]
        self.q_steps = d["q_steps"]

    def parameters_finite(self) -> str | None:
        bad = super().parameters_finite()
        if bad is not None:
            return bad
        for name, p in self.q_net.named_parameters():
            if not bool(torch.isfinite(p).all()):
                return f"q_net.{name}"
        return None


def build(config: QPropConfig, spaces: EnvSpaces, seed: int, name: str = "qprop") -> QPropAgent:
    """The builder the registry calls."""
    return QPropAgent(config, spaces, seed, name)
