"""Off-policy actor-critics on the shared driver: the seed notes' off-policy actor-critic, SAC, TD3 and DDPG.

Each is a config, a regression step and the three-process driver of :mod:`triad.agents.offpolicy`
(replay, rates, targets, checkpoints); DDPG is a setting of TD3, not a class. Bellman targets are
:func:`triad.multistep.td_error` with ``discount_t = γ(1 − terminated_t)`` on the stored arrays
(terminations cut, truncations bootstrap from the stored true next state), evaluated for every
member of a stacked critic ensemble at once (:class:`triad.agents.nets.QCritic`: twin critics in one
batched forward and one backward).

* ``offpolicy-ac`` (:class:`OffPolicyActorCritic`): the seed notes' repair of "replay in
  actor-critic", which is broken twice. Bug 1 (``V̂(s')`` estimates the old policies' value) is fixed
  with a Q critic on ``y = r + γ Q̂'(s', a')``, ``a' ~ π_θ(·|s')`` re-sampled from the *current*
  policy; bug 2 (``∇log π(a_i|s_i)`` at the stored, old action) with the score-function gradient
  ``∇log π(a^π|s) (Q̂(s, a^π) − b(s))`` at actions ``a^π ~ π_θ(·|s)`` re-sampled at the replayed
  states (CS285 lecture 6). What remains is the state distribution: the states are the
  replay's, not π's ("nothing we can do here, just accept it"); on a tabular twin the probes
  measure how far the resulting direction is from the true ∇J (``cos_true``).
* ``sac`` (:class:`SoftActorCritic`): the same repair with the reparameterisation
  ``a = tanh(μ_θ(s) + σ_θ(s)ε)`` and an entropy bonus: twin soft Q critics on
  ``r + γ(min_e Q̂'_e(s', a') − α log π(a'|s'))``, the actor on ``α log π(a|s) − min_e Q̂_e(s, a)``,
  α learned toward the entropy target ``−dim(A)`` (Haarnoja et al. 2018a, b). With Discrete actions,
  SAC-discrete (Christodoulou 2019): the expectations over π as sums over the actions.
* ``td3`` / ``ddpg`` (:class:`TD3`): a deterministic actor trained as the approximate maximiser
  ``μ_θ(s) ≈ argmax_a Q̂(s, a)`` (the seed notes: DDPG is approximate Q-learning), clipped double Q,
  target policy smoothing and delayed actor updates (Fujimoto, van Hoof & Meger 2018); DDPG is
  ``critics = 1, target_noise = 0, policy_delay = 1`` (Lillicrap et al. 2016).

The critic steps of SAC, TD3 and DDPG (:func:`descend_critic`) and TD3's actor step write their
gradients out and drive the stacked networks' backward passes by hand — autograd's gradients bit for
bit, without building a graph; SAC's actor step and the off-policy actor-critic use autograd.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from triad import multistep
from triad.agents import losses
from triad.agents.config import OffPolicyACConfig, SACConfig, TD3Config
from triad.agents.nets import (
    LOG_2PI,
    CategoricalHead,
    DeterministicActor,
    DiscreteQCritic,
    QCritic,
    SquashedGaussianActor,
    StackedMLP,
    categorical_entropy,
    policy_expectation,
)
from triad.agents.offpolicy import OffPolicyAgent, Transitions, adam_step
from triad.agents.onpolicy import EnvSpaces, flat_grad, masked
from triad.errors import ValidationError


# ------------------------------------------------------------------------- offpolicy-ac
class OffPolicyActorCritic(OffPolicyAgent):
    """The seed notes' off-policy actor-critic (module docstring), discrete or Box actions (discrete: over the
    actions a twin's masks allow, :attr:`~triad.agents.offpolicy.OffPolicyAgent.keeps_masks`).

    Discrete: a softmax actor, a critic ``Q̂(s, ·)``, the baseline ``Σ_a π(a|s) Q̂(s, a)`` (exact
    under π, independent of the sampled action, so the estimate stays unbiased for the critic's
    gradient). Box: a tanh-Gaussian actor (log-density of the sampled pre-squash ``u``), a critic
    ``Q̂(s, a)``, the leave-one-out mean of the other re-sampled actions' ``Q̂`` as baseline. The
    critic and actor losses are computed at the same parameters and take one backward pass.
    """

    keeps_masks = ("mask", "next_mask")

    def __init__(self, config: OffPolicyACConfig, spaces: EnvSpaces, seed: int, name: str = "offpolicy-ac"):
        super().__init__(config, spaces, seed, name)
        c, g = config, self.generator
        if not self.discrete and c.baseline and c.pg_samples < 2:
            raise ValidationError(f"{name}: baseline=true with Box actions needs pg_samples ≥ 2 (the baseline is "
                                  f"the mean of the other re-sampled actions' Q̂), got pg_samples = {c.pg_samples}")
        if self.discrete:
            self.head = CategoricalHead(self.n_actions)
            self.actor = StackedMLP(1, [self.obs_dim, *c.hidden, self.n_actions], g, c.activation)
            self.critic = DiscreteQCritic(self.obs_dim, self.n_actions, c.hidden, g, 1, c.activation)
        else:
            self.actor = SquashedGaussianActor(self.obs_dim, self.action_dim, c.hidden, g, c.activation)
            self.critic = QCritic(self.obs_dim, self.action_dim, c.hidden, g, 1, c.activation)
        self.nets = {"actor": self.actor, "critic": self.critic}
        self.critic_target = self.add_target("critic")
        self.optimizers = {"all": self.adam([*self.actor.parameters(), *self.critic.parameters()])}
        self._direction: np.ndarray | None = None
        self._direction_actor: nn.Module | None = None

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """The discrete actor's logits ``(B, A)``."""
        return self.actor(obs)[0]

    def select(self, obs: torch.Tensor, explore: bool,
               mask: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self.discrete:
            logits = masked(self.logits(obs), mask)
            a = self.head.sample(logits, self.generator)[0] if explore else logits.argmax(-1)
            return a.numpy(), {}
        a = self.actor.sample(obs, self.generator)[0] if explore else self.actor.mode(obs)
        return a.numpy(), {}

    def regress(self, b: Transitions) -> dict[str, torch.Tensor]:
        c, g, K = self.config, self.generator, self.config.pg_samples
        N = b.reward.shape[0]
        mask, next_mask = self.masks(b)
        with torch.no_grad():  # fix 1: a' ~ π(·|s') from the current policy (over the allowed actions)
            if self.discrete:
                a2 = self.head.sample(masked(self.logits(b.next_obs), next_mask), g)[0]
                q2 = self.critic_target(b.next_obs)[0].gather(-1, a2[:, None]).squeeze(-1)
            else:
                q2 = self.critic_target(b.next_obs, self.actor.sample(b.next_obs, g)[0])[0]
        obs_k = b.obs.repeat(K, 1)
        if self.discrete:
            q_all = self.critic(b.obs)[0]
            q = q_all.gather(-1, b.action[:, None]).squeeze(-1)
            logits = masked(self.logits(b.obs), mask)
            logp_all = torch.log_softmax(logits, -1)
            with torch.no_grad():  # fix 2: a^π ~ π(·|s) at the replayed states
                a_pi = self.head.sample(logits.detach().repeat(K, 1), g)[0]
                q_det = q_all.detach()
                adv = q_det.repeat(K, 1).gather(-1, a_pi[:, None]).squeeze(-1)
                if c.baseline:  # a forbidden action (probability 0) and its never-trained Q̂ do not enter
                    p = logp_all.detach().exp()
                    adv = adv - policy_expectation(p, q_det).repeat(K)
            logp = logp_all.repeat(K, 1).gather(-1, a_pi[:, None]).squeeze(-1)
            entropy = categorical_entropy(logits)
        else:
            q = self.critic(b.obs, b.action)[0]
            a_pi, _, logp = self.actor.sample_detached(obs_k, g)
            with torch.no_grad():
                q_pi = self.critic(obs_k, a_pi)[0].reshape(K, N)
                adv = q_pi - (q_pi.sum(0) - q_pi) / (K - 1) if c.baseline else q_pi
                adv = adv.reshape(-1)
            log_std = self.actor.distribution(b.obs)[1]
            entropy = (0.5 + 0.5 * LOG_2PI + log_std).sum(-1)  # of the pre-squash Gaussian
        td = multistep.td_error(q, b.reward, b.discount, q2)
        critic_loss = 0.5 * losses.q_regression_loss(td)
        policy_loss = losses.policy_gradient_loss(logp, adv)
        loss = critic_loss + policy_loss
        if c.ent_coef > 0:
            loss = loss + c.ent_coef * losses.entropy_loss(entropy)
        if self.track_direction and self.discrete:
            self._record_direction(policy_loss)
        self.descend("all", loss)
        return {"critic_loss": critic_loss.detach(), "policy_loss": policy_loss.detach(),
                "entropy": entropy.detach().mean(), "q_mean": q.detach().mean()}

    # ------------------------------------------------------------------------------ probes
    def _record_direction(self, policy_loss: torch.Tensor) -> None:
        params = list(self.actor.parameters())
        self._direction = -flat_grad(policy_loss, params, retain_graph=True)
        self._direction_actor = copy.deepcopy(self.actor)

    def policy_table(self, obs_table: np.ndarray) -> np.ndarray:
        """``π(a|s)`` for every state's observation: ``(S, A)`` float64 (discrete actions)."""
        self._need_discrete("policy tables")
        with torch.no_grad():
            return torch.softmax(self.logits(self.encode(obs_table)), -1).double().numpy()

    def q_table(self, obs_table: np.ndarray) -> np.ndarray:
        """``Q̂(s, a)`` for every state's observation: ``(S, A)`` float64 (discrete actions)."""
        self._need_discrete("Q tables")
        with torch.no_grad():
            return self.critic(self.encode(obs_table))[0].double().numpy()

    def policy_direction(self) -> np.ndarray | None:
        """The last step's policy-gradient estimate ``−∇_θ L_π`` at its pre-step parameters (flat; discrete)."""
        return self._direction

    def direction_policy(self) -> tuple[Callable[[np.ndarray], torch.Tensor], list[nn.Parameter]]:
        """``(probs, params)`` at the parameters :meth:`policy_direction` was taken at (for the exact ∇J)."""
        actor = self._direction_actor

        def probs(obs_table: np.ndarray) -> torch.Tensor:
            return torch.softmax(actor(self.encode(obs_table))[0], -1)

        return probs, list(actor.parameters())

    def _need_discrete(self, what: str) -> None:
        if not self.discrete:
            raise ValidationError(f"{self.name}: {what} need Discrete actions")


# ------------------------------------------------------------------------ critic regression
def descend_critic(agent: OffPolicyAgent, b: Transitions, v_t: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """One step of ``agent``'s ``critic`` optimiser on ``scale · losses.q_regression_loss(δ)``,
    ``δ_e = r + discount·v_t − Q̂_e(s, a)`` for every member of ``agent.critic`` (a :class:`QCritic`, or a
    :class:`DiscreteQCritic` read at the stored actions), with the
    target ``v_t`` ``(N,)`` held fixed; returns the loss. The gradient without autograd: the loss has
    ``∂/∂Q̂_e(s_i, a_i) = −2·scale·δ_{e,i}/N``, which the critic's own backward pass
    (:meth:`~triad.agents.nets.StackedMLP.backward_from`) carries to the parameters, written straight into the
    optimiser's flat gradient: ``loss.backward()``'s gradient bit for bit (tested), without building a graph."""
    net, discrete = agent.critic.net, isinstance(agent.critic, DiscreteQCritic)
    out, tape = net.taped(b.obs if discrete else torch.cat([b.obs, b.action], -1))  # (E, N, A) or (E, N, 1)
    index = b.action.reshape(1, -1, 1).expand(out.shape[0], -1, 1) if discrete else None
    q = out.gather(-1, index) if discrete else out
    with torch.no_grad():
        td = multistep.td_error(q.squeeze(-1), b.reward, b.discount, v_t)
        loss = scale * losses.q_regression_loss(td)
        g = (td * (1.0 / td.shape[-1]) * (-2.0 * scale))[..., None]
        if discrete:  # only the taken action's output has a gradient
            g = torch.zeros_like(out).scatter_(-1, index, g)
        net.backward_from(tape, g, into_grads=True)  # views of the optimiser's flat gradient (OffPolicyAgent.adam)
    adam_step(agent.optimizers["critic"])
    return loss


# ---------------------------------------------------------------------------------- SAC
class Temperature(nn.Module):
    """SAC's entropy temperature, parameterised as ``log α`` (softlearning, SB3)."""

    def __init__(self, initial: float):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(math.log(initial)))


class SoftActorCritic(OffPolicyAgent):
    """SAC (module docstring), Box or Discrete actions: per gradient step the critics, then the actor and the temperature.

    The order of Haarnoja et al. (2018b), Algorithm 1, and of SB3's ``SAC.train``: (1) the twin
    critics descend ``J_Q`` (one batched forward, one backward) with the temperature α in force
    before this step; (2) the actor descends ``J_π`` through the critics *after* their step (weights
    held constant: no critic weight gradient is computed for it) at the same α, and ``log α``
    descends ``J(α)`` on the same sample's ``log π`` (SB3 steps α first, but nothing else reads the
    new α within the step, so the order of (2)'s two parts does not matter). Two fused Adam steps:
    ``critic``, and ``actor`` (actor and ``log α``; Adam is per parameter, so it is SB3's two
    optimisers with the same settings).

    Discrete actions: SAC-discrete (Christodoulou 2019, "Soft Actor-Critic for Discrete Action
    Settings", eqs. 10–12): a softmax actor and critics ``Q̂_e(s, ·)`` over all actions, so every
    expectation over π is a sum over the actions instead of a sample — the soft value
    ``Σ_a π(a|s')(min_e Q̂'_e(s', a) − α log π(a|s'))``, the actor loss
    ``Σ_a π(a|s)(α log π(a|s) − min_e Q̂_e(s, a))`` and the temperature's ``log π`` replaced by
    ``Σ_a π log π`` (no reparameterisation is needed); entropy target ``0.98·log|A|`` (his code).
    """

    keeps_masks = ("mask", "next_mask")

    def __init__(self, config: SACConfig, spaces: EnvSpaces, seed: int, name: str = "sac"):
        super().__init__(config, spaces, seed, name)
        c, g = config, self.generator
        if self.discrete:
            self.head = CategoricalHead(self.n_actions)
            self.actor = StackedMLP(1, [self.obs_dim, *c.hidden, self.n_actions], g)
            self.critic = DiscreteQCritic(self.obs_dim, self.n_actions, c.hidden, g, members=c.critics)
        else:
            self.actor = SquashedGaussianActor(self.obs_dim, self.action_dim, c.hidden, g)
            self.critic = QCritic(self.obs_dim, self.action_dim, c.hidden, g, members=c.critics)
        self.nets = {"actor": self.actor, "critic": self.critic}
        self.learn_alpha = c.ent_coef.startswith("auto")
        if self.learn_alpha:
            self.temperature = Temperature(float(c.ent_coef[5:]) if c.ent_coef.startswith("auto_") else 1.0)
            self.nets["temperature"] = self.temperature
        else:
            self._alpha = torch.tensor(float(c.ent_coef))
        if c.target_entropy != "auto":
            self.target_entropy = float(c.target_entropy)
        else:  # Haarnoja et al. 2018b §5: −dim(A); Christodoulou 2019: 98 % of the uniform policy's entropy
            self.target_entropy = 0.98 * math.log(self.n_actions) if self.discrete else -float(self.action_dim)
        self.critic_target = self.add_target("critic")
        actor = [p for n, m in self.nets.items() if n != "critic" for p in m.parameters()]
        self.optimizers = {"critic": self.adam(list(self.critic.parameters())), "actor": self.adam(actor)}

    def alpha(self) -> torch.Tensor:
        """The temperature α in force (a constant of the losses)."""
        return self.temperature.log_alpha.detach().exp() if self.learn_alpha else self._alpha

    def select(self, obs: torch.Tensor, explore: bool,
               mask: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if self.discrete:
            logits = masked(self.actor(obs)[0], mask)
            return (self.head.sample(logits, self.generator)[0] if explore else logits.argmax(-1)).numpy(), {}
        a = self.actor.sample(obs, self.generator)[0] if explore else self.actor.mode(obs)
        return a.numpy(), {}

    def frozen_q(self, obs: torch.Tensor, action: torch.Tensor | None) -> torch.Tensor:
        """``min_e Q̂_e(s, a)`` with the critics' weights as constants (gradients reach ``a`` only): ``(N,)``;
        discrete (``action`` None): ``min_e Q̂_e(s, ·)`` over all actions, ``(N, A)``."""
        return self.critic(obs, detach=True).amin(0) if self.discrete else self.critic(obs, action, detach=True).amin(0)

    def actor_losses(self, obs: torch.Tensor, alpha: torch.Tensor,
                     q: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
                     mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """``(J_π, J(α) or None, log π)`` at reparameterised actions ``a ~ π(·|s)`` for the critic ``q(obs, a)``;
        discrete: in expectation over π (over the actions ``mask`` allows), ``log π`` being ``Σ_a π(a|s) log π(a|s)``
        and ``q(obs, None)`` ``(N, A)``."""
        if self.discrete:
            logp_all = torch.log_softmax(masked(self.actor(obs)[0], mask), -1)
            p = logp_all.exp()
            logp = policy_expectation(p, logp_all)
            actor_loss = losses.soft_policy_loss(logp, policy_expectation(p, q(obs, None)), alpha)
        else:
            a, logp = self.actor.sample(obs, self.generator)
            actor_loss = losses.soft_policy_loss(logp, q(obs, a), alpha)
        temp = (losses.temperature_loss(self.temperature.log_alpha, logp.detach(), self.target_entropy)
                if self.learn_alpha else None)
        return actor_loss, temp, logp

    def soft_target(self, next_obs: torch.Tensor, alpha: torch.Tensor,
                    next_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``min_e Q̂'_e(s', a') − α log π(a'|s')``, ``a' ~ π(·|s')`` (no gradient): ``(N,)``; discrete: its
        expectation ``Σ_a π(a|s')(min_e Q̂'_e(s', a) − α log π(a|s'))`` over the actions ``next_mask`` allows
        (a forbidden action has probability 0, so its never-trained Q̂ does not enter)."""
        with torch.no_grad():
            if self.discrete:
                logp2 = torch.log_softmax(masked(self.actor(next_obs)[0], next_mask), -1)
                p2 = logp2.exp()
                return policy_expectation(p2, self.critic_target(next_obs).amin(0) - alpha * logp2)
            a2, logp2 = self.actor.sample(next_obs, self.generator)
            return self.critic_target(next_obs, a2).amin(0) - alpha * logp2

    def policy_table(self, obs_table: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """``π(a|s)`` for every state's observation over the actions ``mask`` ``(S, A)`` allows: ``(S, A)`` float64
        (discrete actions; the truth probes)."""
        if not self.discrete:
            raise ValidationError(f"{self.name}: policy tables need Discrete actions")
        with torch.no_grad():
            logits = masked(self.actor(self.encode(obs_table))[0].double(), mask)
            return torch.softmax(logits, -1).numpy()  # rows sum to 1 in float64

    def regress(self, b: Transitions) -> dict[str, torch.Tensor]:
        alpha = self.alpha()  # the α of this whole step (SB3: read before its own update)
        mask, next_mask = self.masks(b)
        critic_loss = descend_critic(self, b, self.soft_target(b.next_obs, alpha, next_mask),
                                     scale=0.5)  # J_Q = ½ Σ_e mean δ_e²
        actor_loss, temp_loss, logp = self.actor_losses(b.obs, alpha, self.frozen_q, mask)  # the updated critics
        self.descend("actor", actor_loss if temp_loss is None else actor_loss + temp_loss)
        logs = {"critic_loss": critic_loss, "actor_loss": actor_loss.detach(), "alpha": alpha,
                "entropy": -logp.detach().mean()}
        if temp_loss is not None:
            logs["temperature_loss"] = temp_loss.detach()
        return logs


# ------------------------------------------------------------------------------ TD3 / DDPG
class TD3(OffPolicyAgent):
    """TD3 and, with ``critics = 1, target_noise = 0, policy_delay = 1``, DDPG (module docstring).

    Per gradient step: the critics regress on ``r + γ(1 − term) min_e Q̂'_e(s', ã)``,
    ``ã = clip(μ'(s') + clip(N(0, σ̃²), ±c), −1, 1)``, in one batched forward and one backward; every
    ``policy_delay``-th step the actor descends ``−Q̂_1(s, μ_θ(s))`` through the *updated* first critic
    (weights held constant), as Fujimoto et al.'s code and SB3 do; the driver then moves both targets
    (``target_period = policy_delay``). Exploration: ``a = clip(μ_θ(s) + N(0, σ²), −1, 1)``.
    """

    action_spaces = ("Box",)

    def __init__(self, config: TD3Config, spaces: EnvSpaces, seed: int, name: str = "td3"):
        super().__init__(config, spaces, seed, name)
        c, g = config, self.generator
        self.actor = DeterministicActor(self.obs_dim, self.action_dim, c.hidden, g)
        self.critic = QCritic(self.obs_dim, self.action_dim, c.hidden, g, members=c.critics)
        self.nets = {"actor": self.actor, "critic": self.critic}
        self.actor_target = self.add_target("actor")
        self.critic_target = self.add_target("critic")
        self.optimizers = {"actor": self.adam(list(self.actor.parameters())),
                           "critic": self.adam(list(self.critic.parameters()))}

    def select(self, obs: torch.Tensor, explore: bool,
               mask: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        a = self.actor(obs)
        sigma = self.config.action_noise
        if explore and sigma > 0:
            a = (a + sigma * torch.randn(a.shape, generator=self.generator)).clamp(-1.0, 1.0)
        return a.numpy(), {}

    def target_values(self, next_obs: torch.Tensor) -> torch.Tensor:
        """``min_e Q̂'_e(s', ã)`` with the smoothed target action ``ã`` (no gradient): ``(N,)``."""
        c = self.config
        with torch.no_grad():
            a2 = self.actor_target(next_obs)
            if c.target_noise > 0:
                noise = (torch.randn(a2.shape, generator=self.generator) * c.target_noise).clamp(-c.noise_clip,
                                                                                               c.noise_clip)
                a2 = (a2 + noise).clamp(-1.0, 1.0)
            return self.critic_target(next_obs, a2).amin(0)

    def regress(self, b: Transitions) -> dict[str, torch.Tensor]:
        logs = {"critic_loss": descend_critic(self, b, self.target_values(b.next_obs))}
        if (self.gradient_steps + 1) % self.config.policy_delay == 0:
            logs["actor_loss"] = self.descend_actor(b.obs)
        return logs

    def descend_actor(self, obs: torch.Tensor) -> torch.Tensor:
        """One step of the ``actor`` optimiser on ``losses.deterministic_policy_loss(Q̂_1(s, μ_θ(s)))`` through the
        first critic, its weights held constant; returns the loss. The gradient without autograd, as
        :func:`descend_critic`: ``∂/∂Q̂_1(s_i, ·) = −1/N``, carried to the action by the critic's backward pass
        (input only, :meth:`~triad.agents.nets.StackedMLP.input_grad_from`: no critic weight gradient), through
        ``tanh``, then by the actor's backward pass into its flat gradient (``loss.backward()``'s, tested)."""
        out, tape = self.actor.net.taped(obs)
        a = torch.tanh(out[0])  # DeterministicActor.forward
        q, q_tape = self.critic.net.taped(torch.cat([obs, a], -1), members=slice(0, 1), weights=False)
        with torch.no_grad():
            loss = losses.deterministic_policy_loss(q[0, :, 0])
            g = torch.full_like(q, -1.0 / q.shape[1])
            dx = self.critic.net.input_grad_from(q_tape, g)
            du = torch.ops.aten.tanh_backward(dx[:, self.obs_dim:], a).contiguous()
            self.actor.net.backward_from(tape, du[None], into_grads=True)
        adam_step(self.optimizers["actor"])
        return loss


# ------------------------------------------------------------------------------- builders
def build_offpolicy_ac(config: OffPolicyACConfig, spaces: EnvSpaces, seed: int,
                       name: str = "offpolicy-ac") -> OffPolicyActorCritic:
    """The registry's builder of ``offpolicy-ac``."""
    return OffPolicyActorCritic(config, spaces, seed, name)


def build_sac(config: SACConfig, spaces: EnvSpaces, seed: int, name: str = "sac") -> SoftActorCritic:
    """The registry's builder of ``sac``."""
    return SoftActorCritic(config, spaces, seed, name)


def build_td3(config: TD3Config, spaces: EnvSpaces, seed: int, name: str = "td3") -> TD3:
    """The registry's builder of ``td3`` and ``ddpg`` (a :class:`~triad.agents.config.DDPGConfig` is a TD3 setting)."""
    return TD3(config, spaces, seed, name)
