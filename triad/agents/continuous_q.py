"""Q-learning with continuous actions on the off-policy driver: NAF, QT-Opt, CEM-Q and shooting-Q.

Each is a :class:`~triad.agents.config.ContinuousQConfig` of one agent, :class:`ContinuousQAgent`,
on the three-process driver of :mod:`triad.agents.offpolicy` (replay, rates, Polyak targets,
checkpoints). What differs is how ``max_a Q(s', a)`` of the target is taken — the seed notes' three
answers, all behind :func:`triad.agents.maximise.maximise` — and how many target critics there are:

==========  ========  ==============================  ==============  ===================================
algorithm   critic    maximiser                       target critics  source
==========  ========  ==============================  ==============  ===================================
naf         NAF       analytic, a* = μ(s)             1 (Polyak)      Gu, Lillicrap, Sutskever & Levine 2016
qtopt       MLP       CEM, 2 × 64 samples, 6 elites   2 (min)         Kalashnikov et al. 2018
cem-q       MLP       CEM                             1               QT-Opt without clipped double Q
shooting-q  MLP       random shooting, 128 samples    1               the seed notes' "random sampling"
==========  ========  ==============================  ==============  ===================================

Per gradient step (process 3 of the driver) two components run in turn, with a narrow interface
between them, as QT-Opt's distributed *Bellman updaters* and *trainers* do (Kalashnikov et al.
2018, §4.1 and Fig. 3) — here in one process; issue 16 spreads them over Ray:

1. :class:`BellmanUpdater` (the labeller) takes a replayed batch's ``(r_t, discount_t, s_{t+1})``
   and returns the labels ``y_t = r_t + discount_t · min_i Q̄_i(s_{t+1}, a*)``, ``a* = argmax_a
   Q̄_1(s_{t+1}, a)``, from :func:`triad.multistep.discounted_returns` (a one-step return with
   bootstrap ``min_i Q̄_i``). It holds the target critics (in-process: the learner's own target
   modules; elsewhere: copies kept current through ``set_weights``) and its own generator.
2. The regression step fits ``Q̂(s_t, a_t)`` to the labels, ``½ mean (y − Q̂)²``, one Adam step.

``discount_t = γ(1 − terminated_t)``: terminations cut the target, truncations bootstrap from the
stored true next state (the driver's replay keeps the two apart). QT-Opt's second target critic is
lagged further than the Polyak-averaged first: ``Q̄_2`` is a copy of ``Q̄_1`` taken every
``lag_period`` gradient steps; the label takes the minimum of the two at the argmax of ``Q̄_1``
(clipped double Q, Fujimoto et al. 2018, as QT-Opt uses it).

NAF's critic ``Q(s, a) = V(s) − ½(a − μ(s))ᵀP(s)(a − μ(s))``, ``P = LLᵀ`` with ``L`` lower triangular
and a positive diagonal, is concave in ``a`` with its maximum ``V(s)`` at ``a = μ(s)``. ``μ(s) =
tanh(·)`` lies inside the normalised box ``(−1, 1)^d``, so the unconstrained argmax is also the
argmax over the box and no clipping (which would be wrong for a non-diagonal ``P``) is needed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from triad import multistep
from triad.agents import maximise as mx
from triad.agents.config import ContinuousQConfig
from triad.agents.nets import QCritic, _linear, layers_of, mlp, polyak_update, run_layers
from triad.agents.offpolicy import OffPolicyAgent, Transitions
from triad.agents.onpolicy import EnvSpaces

_ACT = {"relu": torch.relu, "tanh": torch.tanh}


# ------------------------------------------------------------------------------------- NAF
class NAFCritic(nn.Module):
    """NAF's critic ``Q(s, a) = V(s) − ½‖L(s)ᵀ(a − μ(s))‖²`` (Gu et al. 2016, eqs. 2–4), ``P = LLᵀ``.

    One trunk ``MLP(s)``, then linear heads for ``V (1)``, ``μ (d)`` (squashed by tanh into the
    normalised box) and the ``d(d+1)/2`` entries of the lower-triangular ``L`` whose diagonal is made
    positive by ``exp`` (Gu et al.), ``softplus``, or ``bounded``: every entry squashed by tanh first,
    so ``L_ii = exp(tanh(·)) ∈ [e⁻¹, e]`` and ``|L_ij| ≤ 1`` — ``P`` can then neither vanish nor blow up
    (with ``exp`` alone ``P → 0`` happens: ``∂A/∂μ = P(a − μ)`` vanishes with it, ``μ`` freezes, and ``Q̂``
    no longer depends on the action). ``P`` is positive definite in every case.
    Shapes: ``obs (N, obs_dim)``, ``action (N, d)`` → ``(N,)``; :meth:`parts` gives ``V (N,)``,
    ``μ (N, d)``, ``L (N, d, d)``.
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], generator: torch.Generator,
                 activation: str = "relu", diagonal: str = "exp"):
        super().__init__()
        d = int(action_dim)
        self.dim, self.diagonal = d, diagonal
        self.trunk = mlp([obs_dim, *hidden], generator, activation, ortho=False, out_activation=True)
        self.heads = _linear(hidden[-1], 1 + d + d * (d + 1) // 2, generator, None)
        self._trunk, self._act = layers_of(self.trunk), _ACT[activation]
        rows, cols = torch.tril_indices(d, d)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.register_buffer("on_diagonal", rows == cols, persistent=False)

    def parts(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(V, μ, L)`` of every state."""
        out = F.linear(run_layers(self._trunk, obs, self._act), self.heads.weight, self.heads.bias)
        d = self.dim
        value, mu, entries = out[:, 0], torch.tanh(out[:, 1:1 + d]), out[:, 1 + d:]
        if self.diagonal == "bounded":
            entries = torch.tanh(entries)
        positive = F.softplus(entries) if self.diagonal == "softplus" else torch.exp(entries)
        entries = torch.where(self.on_diagonal, positive, entries)
        L = obs.new_zeros((obs.shape[0], d, d))
        L[:, self.rows, self.cols] = entries
        return value, mu, L

    def advantage(self, action: torch.Tensor, mu: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        """``A = −½ (a − μ)ᵀLLᵀ(a − μ) = −½‖Lᵀ(a − μ)‖²``: ``(N,)``."""
        z = torch.einsum("nji,nj->ni", L, action - mu)
        return -0.5 * (z * z).sum(-1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        value, mu, L = self.parts(obs)
        return value + self.advantage(action, mu, L)

    def argmax(self, obs: torch.Tensor) -> torch.Tensor:
        """``argmax_a Q(s, a) = μ(s)`` (inside the box): ``(N, d)``."""
        return self.parts(obs)[1]

    def precision(self, obs: torch.Tensor) -> torch.Tensor:
        """``P(s) = L(s)L(s)ᵀ``: ``(N, d, d)``."""
        L = self.parts(obs)[2]
        return L @ L.transpose(1, 2)


class MLPQ(nn.Module):
    """A single MLP critic ``Q(s, a)`` as a ``q_fn``: ``(N, obs_dim), (N, d) -> (N,)`` (one member of a :class:`QCritic`)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: Sequence[int], generator: torch.Generator,
                 activation: str = "relu"):
        super().__init__()
        self.q = QCritic(obs_dim, action_dim, hidden, generator, members=1, activation=activation)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.q(obs, action)[0]


# ------------------------------------------------------------------------------- the labeller
@dataclasses.dataclass
class Labelled:
    """A replayed batch with its labels: ``obs (N, obs_dim)``, ``action (N, d)``, ``target (N,)`` (what regression needs)."""

    obs: torch.Tensor
    action: torch.Tensor
    target: torch.Tensor
    data: dict[str, np.ndarray]


class BellmanUpdater:
    """QT-Opt's Bellman updater: replayed transitions in, labels ``y = r + discount · min_i Q̄_i(s', a*)`` out.

    Args:
        critics: the target critics ``Q̄_1, …`` (``q_fn`` modules); ``a* = argmax_a Q̄_1(s', a)``.
        maximiser: how that argmax is taken (:mod:`triad.agents.maximise`).
        action_dim: ``d``, the dimension of the normalised action box ``[−1, 1]^d``.
        seed: seeds its own generator (the sampling maximisers draw from it only).

    The interface is narrow on purpose — :meth:`label` on tensors, :meth:`get_weights` /
    :meth:`set_weights` for the critics' parameters, :meth:`state_dict` for its generator — so the
    labeller can run where the replay is and the trainer elsewhere (issue 16).
    """

    def __init__(self, critics: Sequence[nn.Module], maximiser: mx.Maximiser, action_dim: int, seed: int):
        self.critics = list(critics)
        self.maximiser = maximiser
        self.action_dim = int(action_dim)
        self.generator = torch.Generator().manual_seed(int(seed))

    def bootstrap(self, next_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(min_i Q̄_i(s', a*), a*)`` with ``a* = argmax Q̄_1(s', ·)``: ``(N,)``, ``(N, d)``; no gradient."""
        with torch.no_grad():
            best = mx.maximise(self.critics[0], next_obs, self.maximiser, self.generator, dim=self.action_dim)
            value = best.value
            for critic in self.critics[1:]:
                value = torch.minimum(value, critic(next_obs, best.action))
        return value, best.action

    def label(self, reward: torch.Tensor, discount: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """``y_t = r_t + discount_t · min_i Q̄_i(s_{t+1}, a*)`` (:func:`triad.multistep.discounted_returns`, T = 1): ``(N,)``."""
        value, _ = self.bootstrap(next_obs)
        return multistep.discounted_returns(reward[None], discount[None], value)[0]

    def get_weights(self) -> list[dict[str, torch.Tensor]]:
        return [{k: v.detach().clone() for k, v in c.state_dict().items()} for c in self.critics]

    def set_weights(self, weights: Sequence[Mapping[str, torch.Tensor]]) -> None:
        for critic, w in zip(self.critics, weights, strict=True):
            critic.load_state_dict(w)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, d: Mapping) -> None:
        self.generator.set_state(d["generator"])


# ---------------------------------------------------------------------------------- the agent
def make_maximiser(config: ContinuousQConfig) -> mx.Maximiser:
    """The config's maximiser (:mod:`triad.agents.maximise`)."""
    if config.maximiser == "analytic":
        return mx.Analytic()
    if config.maximiser == "shooting":
        return mx.RandomShooting(config.samples)
    return mx.CrossEntropy(config.samples, config.elites, config.iterations, config.min_std)


class ContinuousQAgent(OffPolicyAgent):
    """Q-learning with a maximiser over Box actions (module docstring): naf, qtopt, cem-q, shooting-q."""

    action_spaces = ("Box",)

    def __init__(self, config: ContinuousQConfig, spaces: EnvSpaces, seed: int, name: str = "continuous-q"):
        super().__init__(config, spaces, seed, name)
        c, g = config, self.generator
        if c.network == "naf":
            self.critic: nn.Module = NAFCritic(self.obs_dim, self.action_dim, c.hidden, g, c.activation,
                                               c.naf_diagonal)
        else:
            self.critic = MLPQ(self.obs_dim, self.action_dim, c.hidden, g, c.activation)
        self.nets = {"critic": self.critic}
        self.critic_target = self.add_target("critic")
        self.lagged: nn.Module | None = None
        targets = [self.critic_target]
        if c.target_critics == 2:
            self.lagged = copy.deepcopy(self.critic_target).requires_grad_(False)
            targets.append(self.lagged)
        self.optimizers = {"critic": self.adam(list(self.critic.parameters()))}
        self.maximiser = make_maximiser(c)
        labeller_seed, self.greedy_seed = (int(s.generate_state(1)[0]) for s in
                                           np.random.SeedSequence([int(seed), 15]).spawn(2))
        self.labeller = BellmanUpdater(targets, self.maximiser, self.action_dim, labeller_seed)
        self._lo = torch.full((self.action_dim,), -1.0)
        self._hi = torch.full((self.action_dim,), 1.0)

    # -------------------------------------------------------------------------------- actor
    def greedy(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> mx.Argmax:
        """``argmax_a Q̂(s, a)`` on the online critic for encoded observations (a fresh fixed-seed generator by default,
        so a greedy action is a function of the parameters and the observation alone)."""
        if generator is None:
            generator = torch.Generator().manual_seed(self.greedy_seed)
        return mx.maximise(self.critic, obs, self.maximiser, generator, low=self._lo, high=self._hi)

    def select(self, obs: torch.Tensor, explore: bool,
               mask: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        c = self.config
        if not explore:
            return self.greedy(obs).action.numpy(), {}
        a = self.greedy(obs, self.generator).action
        return mx.explore(self.generator, a, c.action_noise, c.epsilon, self._lo, self._hi).numpy(), {}

    # ------------------------------------------------------------------------------ learner
    def sample(self) -> Labelled:
        """A replayed batch, labelled by the Bellman updater (the step before regression)."""
        return self.labelled(super().sample())

    def labelled(self, b: Transitions) -> Labelled:
        """The Bellman updater's labels of a batch (in-process here; on Ray in :mod:`triad.distributed.qtopt`)."""
        return Labelled(b.obs, b.action, self.labeller.label(b.reward, b.discount, b.next_obs), b.data)

    def regress(self, batch: Labelled) -> dict[str, torch.Tensor]:
        """One Adam step on ``½ mean (y − Q̂(s, a))²``."""
        q = self.critic(batch.obs, batch.action)
        td = batch.target - q
        loss = 0.5 * (td * td).mean()
        self.descend("critic", loss)
        return {"critic_loss": loss.detach(), "q_mean": q.detach().mean(), "target_mean": batch.target.mean()}

    def update_targets(self) -> None:
        """Process 2: Polyak-average ``Q̄_1``; with two targets, copy ``Q̄_1`` into ``Q̄_2`` every ``lag_period`` gradient steps."""
        super().update_targets()
        if self.lagged is not None and self.gradient_steps % self.config.lag_period == 0:
            polyak_update(list(self.lagged.parameters()), list(self.critic_target.parameters()), 1.0)

    # ------------------------------------------------------------------------------ reading
    def q_values(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``Q̂(s, a)`` of the online critic for raw observations ``(N, ...)`` and normalised actions ``(N, d)``: ``(N,)``."""
        with torch.no_grad():
            return self.critic(self.encode(obs), torch.as_tensor(actions, dtype=torch.float32)).double().numpy()

    # ------------------------------------------------------------------------------ weights
    def _model(self) -> dict[str, torch.Tensor]:
        out = super()._model()
        if self.lagged is not None:
            out.update({f"target.lagged.critic.{k}": v for k, v in self.lagged.state_dict().items()})
        return out

    def state_dict(self) -> dict:
        return {**super().state_dict(), "labeller": self.labeller.state_dict()}

    def load_state_dict(self, d: Mapping) -> None:
        super().load_state_dict(d)
        if self.lagged is not None:
            self.lagged.load_state_dict(self._part(d["model"], "target.lagged.critic."))
        self.labeller.load_state_dict(d["labeller"])


def build(config: ContinuousQConfig, spaces: EnvSpaces, seed: int, name: str = "continuous-q") -> ContinuousQAgent:
    """The registry's builder of ``naf``, ``qtopt``, ``cem-q`` and ``shooting-q``."""
    return ContinuousQAgent(config, spaces, seed, name)
