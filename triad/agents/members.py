"""Independent value-based agents trained side by side in one process: one stacked network, one env batch each.

A cell of the deep deadly-triad grid is many DQN-family agents that differ only in their seed and
in settings that leave the network's shape alone (target network none / periodic / Polyak, double
Q on/off, prioritised replay on/off). :class:`ValueMembers` trains ``E`` such agents as the
members of one :class:`triad.agents.nets.QNetwork` (``members = E``): every forward and backward
pass of acting and of the regression is one batched pass over all members, while everything
else stays each member's own —

* member ``e`` is a full :class:`triad.agents.value.ValueAgent` built from its config and seed
  (its initial weights, its numpy generator, its replay — uniform or prioritised —, its
  exploration schedule, its clock :meth:`~triad.agents.offpolicy.OffPolicyAgent.tick`); the
  stacked network starts from the members' initial weights;
* each member has its own vector env (``config.envs`` streams) stepped by its own
  :class:`triad.agents.loop.VectorStepper`;
* the regression sums the members' losses, so member ``e``'s gradient is its own loss's; the
  gradient norm is clipped per member and Adam (or SGD) steps per member, with a step count per
  member (:func:`member_adam_step`), so a member whose iteration is not due does not move;
* targets: ``target_period = 0`` bootstraps from the online member (stop-gradient), otherwise
  member ``e``'s target follows ``φ'_e ← (1 − τ_e)φ'_e + τ_e φ_e`` every ``target_period_e`` of
  its gradient steps (τ = 1: a copy).

So member ``e`` follows the same computation as ``ValueAgent(configs[e], spaces, seeds[e])``
trained alone by :func:`triad.agents.loop.train` with the same seed, up to floating-point
rounding of the batched products (the tests train both ways and compare). Every target comes
from :mod:`triad.multistep` (one-step Q-learning / double Q-learning TD errors, or
:func:`~triad.multistep.off_policy_targets` on replayed sequences), as in the single agent.

Requirements: the members share everything that fixes a shape or the clock — network
(``q_net``, ``hidden``, ``activation``), ``batch_size``, ``n_step`` with its ``correction`` and
``trace_lambda``, ``gamma``, ``loss``, ``optimizer``, ``lr``, ``max_grad_norm``, ``envs``,
``train_every``, ``grad_steps``, ``learning_starts``; ``twin_q`` and ``fit=exact`` are not taken.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from triad import multistep
from triad.agents.nets import QNetwork
from triad.agents.replay import multistep_inputs
from triad.agents.value import MASKED_Q, ValueAgent, huber
from triad.errors import ValidationError
from triad.progress import Progress

SHARED = ("q_net", "hidden", "activation", "batch_size", "n_step", "correction", "trace_lambda", "gamma", "loss",
          "optimizer", "lr", "max_grad_norm", "envs", "train_every", "grad_steps", "learning_starts", "random_starts")
"""Config fields every member must share (shapes of the stacked network and batches, the optimiser, the clock)."""

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
"""torch's Adam defaults, which :meth:`OffPolicyAgent.adam` uses (and SB3)."""


def member_adam_step(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], m: Sequence[torch.Tensor],
                     v: Sequence[torch.Tensor], t: torch.Tensor, due: torch.Tensor, lr: float) -> None:
    """One Adam step of the members ``due``, in place (Kingma & Ba 2015, Algorithm 1, as ``torch.optim.Adam``):

    ``m ← β₁m + (1 − β₁)g``, ``v ← β₂v + (1 − β₂)g²``, ``θ ← θ − lr/(1 − β₁^t) · m / (√v/√(1 − β₂^t) + ε)``

    with the step count ``t`` of each member (already incremented for the due ones). Members not
    ``due`` keep ``θ, m, v``. Shapes: every tensor ``(E, ...)``; ``t`` float64 ``(E,)``; ``due`` bool ``(E,)``.
    """
    b1, b2 = ADAM_BETAS
    c1 = (1.0 - b1 ** t.clamp(min=1.0)).float()
    c2 = (1.0 - b2 ** t.clamp(min=1.0)).float().sqrt()
    for p, g, mm, vv in zip(params, grads, m, v):
        shape = (-1,) + (1,) * (p.dim() - 1)
        keep = due.reshape(shape)
        m_new = mm.lerp(g, 1.0 - b1)
        v_new = vv * b2 + (1.0 - b2) * g * g
        step = m_new / ((v_new.sqrt() / c2.reshape(shape)) + ADAM_EPS) * (lr / c1).reshape(shape)
        mm.copy_(torch.where(keep, m_new, mm))
        vv.copy_(torch.where(keep, v_new, vv))
        p.sub_(torch.where(keep, step, torch.zeros_like(step)))


def clip_member_norms(grads: Sequence[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale each member's gradient to global L2 norm at most ``max_norm`` (``torch.nn.utils.clip_grad_norm_``'s
    rule ``max_norm/(norm + 1e-6)``, per member), in place; the norms before: ``(E,)``."""
    norms = torch.stack([g.reshape(g.shape[0], -1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
    scale = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale.reshape((-1,) + (1,) * (g.dim() - 1)))
    return norms


class ValueMembers:
    """``E`` independent :class:`~triad.agents.value.ValueAgent` s on one stacked Q network (module docstring).

    Args:
        configs: one :class:`~triad.agents.config.ValueConfig` per member (fields in :data:`SHARED` equal).
        spaces: the observation and action spaces of every member's env.
        seeds: one agent seed per member (what :func:`triad.agents.loop.train` passes to the builder).
        name: the algorithm's name (errors).
    """

    def __init__(self, configs: Sequence[Any], spaces: Any, seeds: Sequence[int], name: str = "dqn"):
        configs = list(configs)
        if not configs or len(configs) != len(seeds):
            raise ValidationError(f"{name} members: {len(configs)} configs for {len(seeds)} seeds (need one each, ≥ 1)")
        first = configs[0]
        for c in configs:
            differ = [f for f in SHARED if getattr(c, f) != getattr(first, f)]
            if differ:
                raise ValidationError(f"{name} members must share {', '.join(differ)} (they set the stacked network's "
                                      f"shape, the optimiser or the clock)")
            if c.twin_q or c.fit != "gradient":
                raise ValidationError(f"{name} members: twin_q and fit=exact are not taken")
        self.configs, self.name = configs, name
        self.agents = [ValueAgent(c, spaces, int(s), name) for c, s in zip(configs, seeds)]
        self.E = len(self.agents)
        a = self.agents[0]
        self.q = QNetwork(a.obs_dim, a.n_actions, first.hidden, torch.Generator().manual_seed(0), first.q_net,
                          first.activation, members=self.E)
        self.params = list(self.q.parameters())
        with torch.no_grad():
            for p, singles in zip(self.params, zip(*(list(agent.q.parameters()) for agent in self.agents))):
                p.copy_(torch.cat([s.detach() for s in singles], 0))
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.target_params = list(self.q_target.parameters())
        for p in self.params:
            p.grad = torch.zeros_like(p)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = torch.zeros(self.E, dtype=torch.float64)
        self.period = np.array([c.target_period for c in configs])
        self.tau = torch.tensor([c.tau for c in configs], dtype=torch.float32)
        self.double = torch.tensor([c.double for c in configs])
        self.no_target = torch.tensor([c.target_period == 0 for c in configs])

    # -------------------------------------------------------------------------------- actor
    def encode(self, obs: Sequence[np.ndarray]) -> torch.Tensor:
        """Every member's observations encoded: ``(E, B, obs_dim)`` float32."""
        return torch.stack([agent.encode(np.asarray(o)) for agent, o in zip(self.agents, obs)])

    def act(self, obs: Sequence[np.ndarray], explore: bool = True,
            masks: Sequence[np.ndarray | None] | None = None) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """``(actions, extras)`` of every member for its observations ``obs[e]`` ``(B, ...)``: uniform during its
        random starts (:meth:`OffPolicyAgent.act`), else :meth:`ValueAgent.choose` on the stacked ``Q̂``."""
        masks = list(masks) if masks is not None else [None] * self.E
        out: list[Any] = [None] * self.E
        thinking = []
        for e, agent in enumerate(self.agents):
            c = agent.config
            if explore and c.random_starts and agent.env_steps < c.learning_starts:
                out[e] = agent.act(obs[e], explore, masks[e]) if masks[e] is not None else agent.act(obs[e], explore)
            else:
                thinking.append(e)
        if thinking:
            with torch.inference_mode():
                q = self.q(self.encode(obs))
            for e in thinking:
                out[e] = self.agents[e].choose(q[e], explore, masks[e])
        return out

    def observe(self, steps: Sequence[Any]) -> None:
        """Member ``e`` stores ``steps[e]`` (a :class:`triad.agents.loop.Step` of its env)."""
        for agent, step in zip(self.agents, steps):
            agent.observe(step)

    # ------------------------------------------------------------------------------ learner
    def update(self) -> dict[str, np.ndarray] | None:
        """One vector step of every member's clock; the members whose iteration is due regress ``grad_steps``
        times together. Returns per-member logs ``(E,)`` (NaN for members that did not regress), or ``None``."""
        due = np.array([agent.tick() for agent in self.agents])
        if not due.any():
            return None
        logs = [self.regress(due) for _ in range(self.configs[0].grad_steps)]
        for e in np.flatnonzero(due):
            self.agents[e].iterations += 1
        return {k: np.stack([log[k] for log in logs]).mean(0) for k in logs[0]}

    def _batches(self, due: np.ndarray) -> list[Any]:
        """Each due member's :meth:`ValueAgent.sample` (its own generator and replay); the others repeat a due one's
        batch as a placeholder whose loss is not counted."""
        batches: list[Any] = [None] * self.E
        for e in np.flatnonzero(due):
            batches[e] = self.agents[e].sample()
        fill = batches[int(np.flatnonzero(due)[0])]
        return [fill if b is None else b for b in batches]

    def _td(self, batches: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(δ, Q̂(s, ·))`` of every member's batch, ``(E, N)`` and ``(E, N, A)``, as :meth:`ValueAgent.td`."""
        c = self.configs[0]
        stack = torch.stack
        obs, next_obs = stack([b.obs for b in batches]), stack([b.next_obs for b in batches])
        with torch.no_grad():
            online_next = self.q(next_obs)
            target_next = self.q_target(next_obs)
        q_t = torch.where(self.no_target[:, None, None], online_next, target_next)
        masks = [b.next_mask for b in batches]
        if any(mk is not None for mk in masks):
            mask = stack([torch.ones(q_t.shape[1:], dtype=torch.bool) if mk is None else mk.reshape(q_t.shape[1:])
                          for mk in masks])
            q_t, online_next = q_t.masked_fill(~mask, MASKED_Q), online_next.masked_fill(~mask, MASKED_Q)
        action, reward, discount = (stack([getattr(b, k) for b in batches]) for k in ("action", "reward", "discount"))
        n = batches[0].steps
        if n is None:
            q_tm1 = self.q(obs)
            plain = multistep.q_learning_td(q_tm1, action, reward, discount, q_t)
            double = multistep.double_q_learning_td(q_tm1, action, reward, discount, q_t, online_next)
            return torch.where(self.double[:, None], double, plain), q_tm1
        E, N = self.E, action.shape[2]
        q_t = q_t.reshape(E, n, N, -1).transpose(0, 1)  # time first: (n, E, N, A)
        greedy_online = torch.nn.functional.one_hot(online_next.reshape(E, n, N, -1).transpose(0, 1).argmax(-1),
                                                    q_t.shape[-1]).float()
        x = [multistep_inputs(b.data, c.gamma, mu="mu") for b in batches]
        mu_t = torch.as_tensor(np.stack([xi.mu_t for xi in x], 1), dtype=torch.float32)
        truncated_t = torch.as_tensor(np.stack([xi.truncated_t for xi in x], 1))
        G = torch.zeros(reward.shape[1:2] + (E, N))
        for use_double in (False, True):  # π greedy in the target network (default) or in the online network
            rows = (self.double == use_double).nonzero().flatten()
            if rows.numel():
                G[:, rows] = multistep.off_policy_targets(
                    reward.transpose(0, 1)[:, rows], discount.transpose(0, 1)[:, rows], q_t[:, rows],
                    action.transpose(0, 1)[:, rows], c.correction, pi_t=greedy_online[:, rows] if use_double else None,
                    mu_t=mu_t[:, rows], lam=c.trace_lambda, truncated_t=truncated_t[:, rows])
        q_tm1 = self.q(obs[:, :N])
        return G[0] - q_tm1.gather(-1, action[:, 0, :, None]).squeeze(-1), q_tm1

    def regress(self, due: np.ndarray) -> dict[str, np.ndarray]:
        """One regression step of the due members (:meth:`ValueAgent.regress`, batched): the weighted Huber or
        squared loss of δ per member, summed; gradients clipped per member; the per-member optimiser step;
        priorities updated; each due member's targets moved on its own period."""
        c = self.configs[0]
        batches = self._batches(due)
        delta, q_tm1 = self._td(batches)
        per = huber(delta) if c.loss == "huber" else 0.5 * delta * delta
        weight = torch.stack([torch.ones(per.shape[1]) if b.weight is None else b.weight for b in batches])
        loss = (weight * per).mean(1)
        on = torch.from_numpy(due)
        for g in (p.grad for p in self.params):
            g.zero_()
        torch.where(on, loss, torch.zeros_like(loss)).sum().backward()
        grads = [p.grad for p in self.params]
        if c.max_grad_norm > 0:
            clip_member_norms(grads, c.max_grad_norm)
        self.t += on.double()
        with torch.no_grad():
            if c.optimizer == "adam":
                member_adam_step(self.params, grads, self.m, self.v, self.t, on, c.lr)
            else:
                for p, g in zip(self.params, grads):
                    p.sub_(torch.where(on.reshape((-1,) + (1,) * (p.dim() - 1)), c.lr * g, torch.zeros_like(g)))
        td = delta.detach().double().numpy()
        moved = np.zeros(self.E, bool)
        for e in np.flatnonzero(due):
            agent = self.agents[e]
            if agent.config.prioritized:
                b = batches[e]
                agent.replay.update_priorities(b.data["key"][0] if b.steps else b.data["key"], agent.priorities(td[e]))
            agent.gradient_steps += 1
            moved[e] = bool(self.period[e]) and agent.gradient_steps % self.period[e] == 0
        if moved.any():
            self.update_targets(torch.from_numpy(moved))
        q = q_tm1.detach()
        nan = np.where(due, 0.0, np.nan)
        return {"loss": loss.detach().numpy() + nan, "q_mean": q.mean((1, 2)).numpy() + nan,
                "q_batch_max": q.abs().amax((1, 2)).numpy() + nan}

    def update_targets(self, members: torch.Tensor) -> None:
        """``φ'_e ← (1 − τ_e)φ'_e + τ_e φ_e`` for ``members`` (bool ``(E,)``); τ_e = 1: a copy (``polyak_update``)."""
        with torch.no_grad():
            for pt, po in zip(self.target_params, self.params):
                shape = (-1,) + (1,) * (pt.dim() - 1)
                tau = self.tau.reshape(shape)
                moved = torch.where(tau >= 1.0, po, torch.lerp(pt, po, tau))
                pt.copy_(torch.where(members.reshape(shape), moved, pt))

    # --------------------------------------------------------------------------- members
    def sync(self) -> list[ValueAgent]:
        """Copy every member's online and target weights into its :class:`ValueAgent` (its ``q_table``,
        probes and checkpoints then describe the member); returns the agents."""
        with torch.no_grad():
            for e, agent in enumerate(self.agents):
                for p, single in zip(self.params, agent.q.parameters()):
                    single.copy_(p[e:e + 1])
                if agent.q_target is not agent.q:
                    for p, single in zip(self.target_params, agent.q_target.parameters()):
                        single.copy_(p[e:e + 1])
        return self.agents

    def q_tables(self, obs_table: np.ndarray) -> np.ndarray:
        """``Q̂_e(s, a)`` of every member for every state's observation: ``(E, S, A)`` float64."""
        with torch.no_grad():
            return self.q(self.agents[0].encode(obs_table)).double().numpy()


@dataclasses.dataclass
class MembersRun:
    """What :func:`train_members` returns: the trained members, per member the finished episodes
    ``(step, return, length)``, the regression logs ``{quantity: [(step, (E,) values)]}`` and the
    probe rows ``[(step, e, {quantity: value})]``; ``seconds`` of wall time."""

    members: ValueMembers
    episodes: list[list[tuple[int, float, int]]]
    logs: dict[str, list[tuple[int, np.ndarray]]]
    probes: list[tuple[int, int, dict[str, float]]]
    seconds: float


def train_members(configs: Sequence[Any], env: str, steps: int, seeds: Sequence[int], name: str = "dqn",
                  probe_every: int = 0, probe: Callable[[ValueAgent, Any], Mapping[str, float]] | None = None,
                  progress: Progress | None = None) -> MembersRun:
    """Train ``E = len(configs)`` members for ``steps`` env steps each, vectorised (:class:`ValueMembers`).

    Member ``e`` runs what ``triad.agents.loop.train(name, env, steps, seed=seeds[e])`` runs with
    ``configs[e]``: its env and agent seeds are the loop's (``SeedSequence(seed).spawn``), its env
    is ``loop.make_env(env, config.envs, env_seed)`` reset with ``env_seed``, and each vector step
    is act → env step → observe → update. Every ``probe_every`` env steps (and at the end)
    ``probe(agent, env)`` is called on each synced member (e.g. a :class:`~triad.agents.probes.TruthProbe`).
    """
    from triad.agents import loop

    derived = [loop._seeds(int(s)) for s in seeds]
    envs = [loop.make_env(env, num_envs=c.envs, seed=d[0]) for c, d in zip(configs, derived)]
    try:
        members = ValueMembers(configs, loop.env_spaces(envs[0]), [d[1] for d in derived], name)
        for agent in members.agents:
            agent.total_steps = int(steps)
        steppers = [loop.VectorStepper(e, d[0]) for e, d in zip(envs, derived)]
        B = steppers[0].B
        episodes: list[list[tuple[int, float, int]]] = [[] for _ in configs]
        logs: dict[str, list[tuple[int, np.ndarray]]] = {}
        probes: list[tuple[int, int, dict[str, float]]] = []
        if progress is not None:
            progress.total(int(steps))
        step, start = 0, time.perf_counter()
        while step < steps:
            chosen = members.act([s.obs for s in steppers], masks=[s.mask for s in steppers])
            members.observe([s.step(a, x) for s, (a, x) in zip(steppers, chosen)])
            before, step = step, step + B
            out = members.update()
            if out is not None:
                for k, values in out.items():
                    logs.setdefault(k, []).append((step, values))
            for e, s in enumerate(steppers):
                episodes[e].extend((step, r, n) for r, n in s.finished)
                s.finished.clear()
            if probe is not None and probe_every and (step // probe_every > before // probe_every or step >= steps):
                for e, agent in enumerate(members.sync()):
                    probes.append((step, e, dict(probe(agent, envs[e]))))
            if progress is not None:
                progress.advance(B)
        members.sync()
        return MembersRun(members, episodes, logs, probes, time.perf_counter() - start)
    finally:
        for e in envs:
            e.close()
