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
* the uniform one-step members' replays are rows of one storage (:class:`MemberReplay`: one add per
  vector step, one gather for all their batches), each member drawing its own indices from its own
  generator; prioritised and n-step members keep their own replay;
* each member has its own vector env (``config.envs`` streams, seeded as the loop seeds it); on a
  tabular twin all of them advance in one numpy call (:class:`MemberEnvs`, :class:`MemberDraws`:
  member ``e``'s streams still draw from member ``e``'s generator), elsewhere member by member;
* acting is one forward of the stacked network and one ε-greedy draw from each member's generator;
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
from triad.agents.nets import QNetwork, _StackedForward, _Tape, denormals_flushed
from triad.agents.replay import ReplayBuffer, multistep_inputs
from triad.agents.value import MASKED_Q, PHASE_ROWS, ValueAgent, huber
from triad.errors import ValidationError
from triad.operators import greedy
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
    When every member is due the moments and parameters are updated in place (no copies, no selection).
    """
    b1, b2 = ADAM_BETAS
    c1 = (1.0 - b1 ** t.clamp(min=1.0)).float()
    c2 = (1.0 - b2 ** t.clamp(min=1.0)).float().sqrt()
    every = bool(due.all())
    for p, g, mm, vv in zip(params, grads, m, v):
        shape = (-1,) + (1,) * (p.dim() - 1)
        if every:
            mm.lerp_(g, 1.0 - b1)
            vv.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            denom = vv.sqrt().div_(c2.reshape(shape)).add_(ADAM_EPS)
            p.sub_(torch.div(mm, denom, out=denom).mul_((lr / c1).reshape(shape)))
            continue
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


def member_flat(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Lay stacked parameters ``(E, ...)`` out as one ``(E, P)`` tensor whose column blocks they become views of
    (:func:`triad.agents.nets.flat_parameters` with a member axis): the per-member optimiser, the gradient
    clipping and the target update then act on one tensor instead of one per layer. Returns the flat tensor."""
    params = list(params)
    E = params[0].shape[0]
    sizes = [p[0].numel() for p in params]
    flat = torch.empty(E, sum(sizes), dtype=params[0].dtype)
    offset = 0
    with torch.no_grad():
        for p, k in zip(params, sizes):
            block = flat[:, offset:offset + k]
            block.copy_(p.reshape(E, k))
            p.data = block.view(p.shape)
            offset += k
    return flat


def taped(q: QNetwork, x: torch.Tensor, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
    """An MLP's forward pass without autograd and what its backward needs (:meth:`StackedMLP.taped`), for every
    member or only the members ``rows`` (int64 indices; ``x`` then holds their inputs): ``(R, B, A)`` and the tape."""
    net = q.net
    if rows is None:
        return net.taped(x)
    tape = _Tape(len(net._params))
    with torch.no_grad():
        return _StackedForward.forward(tape, x, net._tanh, *(p[rows] for p in net._params)), tape


def values(q: QNetwork, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """``Q̂(s, ·)`` of every member (or of the members ``rows``, an MLP only) without gradients: ``(E, B, A)``.
    An MLP runs its forward pass directly (:func:`taped`: no autograd node); other networks under ``torch.no_grad``."""
    if q.kind == "mlp":
        return taped(q, x, rows)[0]
    with torch.no_grad():
        return q(x)


class MemberReplay:
    """The uniform one-step replays of ``E`` members in one storage: every field an array ``(E, capacity, ...)``.

    Member ``e``'s ring is row ``e``: its own :class:`~triad.agents.replay.ReplayBuffer` (``replays[e]``, built
    empty with the same capacity and fields) is made a view of it (``data`` and ``added``), so its length,
    its keys and what a probe reads of it are the member's — but its stream links are not kept, so only
    uniform transitions are drawn from it (no sequences, no priorities). :meth:`add` writes one vector step
    of every member at once: member ``e``'s valid rows, in row order, go into its next slots, exactly as
    ``ReplayBuffer.add`` places them (``capacity ≥ B`` rows per step). :meth:`gather` reads ``(E, N)`` slots
    in one fancy index per field.
    """

    def __init__(self, replays: Sequence[ReplayBuffer]):
        self.replays = list(replays)
        first = self.replays[0]
        self.E, self.capacity = len(self.replays), first.capacity
        self.data = {name: np.zeros((self.E, self.capacity, *shape), dtype) for name, (shape, dtype) in first.spec.items()}
        self.added = np.zeros(self.E, np.int64)
        for e, replay in enumerate(self.replays):
            replay.data = {name: arr[e] for name, arr in self.data.items()}
        self._rows = np.arange(self.E)[:, None]

    def add(self, row: Mapping[str, np.ndarray], valid: np.ndarray) -> None:
        """Store one vector step: ``row[field]`` ``(E, B, ...)``, ``valid`` bool ``(E, B)`` (invalid rows skipped)."""
        rank = np.cumsum(valid, axis=1) - 1
        e, b = np.nonzero(valid)
        slots = (self.added[e] + rank[e, b]) % self.capacity
        for name, arr in self.data.items():
            arr[e, slots] = row[name][e, b]
        self.added += valid.sum(1)
        for replay, added in zip(self.replays, self.added.tolist()):
            replay.added = added

    def gather(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        """Every field at member ``e``'s ``slots[e]``: ``(E, N, ...)`` from ``slots`` ``(E, N)``."""
        return {name: arr[self._rows, slots] for name, arr in self.data.items()}


class MemberDraws:
    """The random source of ``E`` members' envs stepped as one batch of ``E·B`` streams: the rows of member ``e``
    come from its own generator, ``generators[e].random((B, ...))``, in the order asked — the numbers member
    ``e``'s env would draw stepped alone (its :func:`triad.sampling.step_streams` asks for ``(B,)`` at a time)."""

    def __init__(self, generators: Sequence[np.random.Generator], B: int):
        self.generators, self.B = list(generators), int(B)

    def _draw(self, kind: str, size: int | tuple[int, ...]) -> np.ndarray:
        shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
        if not shape or shape[0] != self.B * len(self.generators):
            raise ValidationError(f"MemberDraws: shape {shape} must start with E·B = {self.B * len(self.generators)}")
        return np.concatenate([getattr(g, kind)((self.B, *shape[1:])) for g in self.generators])

    def random(self, size: int | tuple[int, ...]) -> np.ndarray:
        return self._draw("random", size)

    def standard_normal(self, size: int | tuple[int, ...]) -> np.ndarray:
        return self._draw("standard_normal", size)


class MemberEnvs:
    """The members' vector envs (``B`` streams each, member ``e`` built and reset as :func:`triad.agents.loop.train`
    builds its env) stepped together: observations, actions and steps carry a leading ``(E, B)``.

    On a tabular twin (a NEXT_STEP :class:`triad.envs.FiniteEnv`) the ``E·B`` streams advance in one numpy call
    (one FiniteEnv whose random source is :class:`MemberDraws` over the members' generators, so member ``e``'s
    streams are those of its env alone); any other env steps member by member (one
    :class:`~triad.agents.loop.VectorStepper` each) and the steps are stacked. Finished episodes
    ``(step, return, length)`` collect per member in :attr:`finished` (``step``: the member's env steps after
    the vector step that ended it). Stepped member by member, a subset of the members can step
    (:func:`train_members` lets members whose iteration is due wait for the others).
    """

    def __init__(self, env: str, configs: Sequence[Any], env_seeds: Sequence[int]):
        from triad.agents import loop
        from triad.envs import FiniteEnv

        self.envs = [loop.make_env(env, num_envs=c.envs, seed=s, autoreset=c.autoreset) for c, s in zip(configs, env_seeds)]
        self.steppers = [loop.VectorStepper(e, s) for e, s in zip(self.envs, env_seeds)]
        self.E, self.B = len(self.envs), self.steppers[0].B
        self.finished: list[list[tuple[int, float, int]]] = [[] for _ in self.envs]
        self.env_steps = np.zeros(self.E, np.int64)
        """Env steps of each member so far."""
        self._last: list[Any] = [None] * self.E
        self.joint = None
        if all(type(e) is FiniteEnv and not s.same_step for e, s in zip(self.envs, self.steppers)):
            joint = loop.make_env(env, num_envs=self.E * self.B)
            joint._s = np.concatenate([e._s for e in self.envs])
            joint._age = np.concatenate([e._age for e in self.envs])
            joint._pending = np.zeros(self.E * self.B, bool)
            joint.np_random = MemberDraws([e.np_random for e in self.envs], self.B)
            self.joint = loop.VectorStepper(joint, None, reset=False)
            self.joint.obs = np.concatenate([s.obs for s in self.steppers])
            masks = [s.mask for s in self.steppers]
            self.joint.mask = None if masks[0] is None else np.concatenate(masks)

    def _split(self, x: Any) -> Any:
        return None if x is None else np.asarray(x).reshape(self.E, self.B, *np.shape(x)[1:])

    @property
    def obs(self) -> np.ndarray:
        """``(E, B, ...)`` the observations the next actions are taken in."""
        if self.joint is not None:
            return self._split(self.joint.obs)
        return np.stack([s.obs for s in self.steppers])

    @property
    def mask(self) -> np.ndarray | None:
        """``(E, B, A)`` allowed actions, or ``None`` (an env without masks)."""
        if self.joint is not None:
            return self._split(self.joint.mask)
        masks = [s.mask for s in self.steppers]
        return None if masks[0] is None else np.stack(masks)

    def step(self, actions: np.ndarray, extras: Mapping[str, np.ndarray], rows: np.ndarray | None = None) -> Any:
        """One vector step of every member (or of the members ``rows``, bool ``(E,)``: not on the joint tabular twin,
        whose members step together): a :class:`triad.agents.loop.Step` whose arrays lead with ``(E, B)`` (the
        members not stepped repeat their last step, marked invalid)."""
        from triad.agents import loop

        fields = ("obs", "action", "reward", "terminated", "truncated", "next_obs", "valid", "episode_step")
        rows = np.ones(self.E, bool) if rows is None else np.asarray(rows, bool)
        self.env_steps[rows] += self.B
        if self.joint is not None:
            if not rows.all():
                raise ValidationError("MemberEnvs: the members of a joint tabular twin step together")
            s = self.joint.step(np.asarray(actions).reshape(-1))
            ended = np.flatnonzero(s.terminated | s.truncated) // self.B
            for e, (r, n) in zip(ended, self.joint.finished):
                self.finished[e].append((int(self.env_steps[e]), r, n))
            self.joint.finished.clear()
            return loop.Step(*(self._split(getattr(s, f)) for f in fields), dict(extras),
                             self._split(s.mask), self._split(s.next_mask))
        for e in np.flatnonzero(rows):
            st = self.steppers[e]
            self._last[e] = st.step(actions[e], {k: v[e] for k, v in extras.items()})
            self.finished[e].extend((int(self.env_steps[e]), r, n) for r, n in st.finished)
            st.finished.clear()
        steps = self._last
        if not rows.all():
            steps = [s if rows[e] else dataclasses.replace(s, valid=np.zeros_like(s.valid)) for e, s in enumerate(steps)]
        masks = [s.mask for s in steps], [s.next_mask for s in steps]
        return loop.Step(*(np.stack([getattr(s, f) for s in steps]) for f in fields), dict(extras),
                         *(None if m[0] is None else np.stack(m) for m in masks))

    def close(self) -> None:
        for e in self.envs:
            e.close()
        if self.joint is not None:
            self.joint.env.close()


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
        self.flat = member_flat(self.params)
        self.flat_grad = torch.zeros_like(self.flat)  # the gradients of a step, laid out as ``flat``
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.target_params = list(self.q_target.parameters())
        self.target_flat = member_flat(self.target_params)
        self.m, self.v = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self.t = torch.zeros(self.E, dtype=torch.float64)
        self.period = np.array([c.target_period for c in configs])
        self.tau = torch.tensor([c.tau for c in configs], dtype=torch.float32)
        self.double = torch.tensor([c.double for c in configs])
        self.no_target = torch.tensor([c.target_period == 0 for c in configs])
        # Uniform one-step members (no priorities, no sequences, every step stored) share one replay storage.
        self.stacked = np.array([agent.phased() and not c.collect_once and c.capacity >= c.envs
                                 for agent, c in zip(self.agents, configs)])
        self.shared = np.flatnonzero(self.stacked)
        self.storage = MemberReplay([self.agents[e].replay for e in self.shared]) if self.shared.size else None
        self._phase: list[np.ndarray | None] = [None] * self.E  # a stacked member's slots drawn for its phase
        self._at = [0] * self.E

    # -------------------------------------------------------------------------------- actor
    def act(self, obs: np.ndarray, explore: bool = True, mask: np.ndarray | None = None,
            rows: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Every member's actions ``(E, B)`` and ``mu`` ``(E, B)`` for its observations ``obs[e]`` ``(B, ...)``.

        What :meth:`OffPolicyAgent.act` and :meth:`ValueAgent.choose` do for each member, batched: during the
        random starts uniform actions (``rng.integers(0, A, B)`` of each member's generator, or the argmax of
        ``rng.random((B, A))`` over a ``mask``); then one forward of the stacked ``Q̂`` and, for ε-greedy
        members, ``μ = (1 − ε_e)·greedy(Q̂, split ties) + ε_e·uniform`` (:func:`triad.operators.epsilon_greedy`
        with each member's ε) and ``a ~ μ`` by inverse CDF on one ``rng.random(B)`` of each member's generator
        (:func:`triad.sampling.sample_actions`); Boltzmann members go through :meth:`ValueAgent.choose`.
        ``rows`` (bool ``(E,)``): only those members act (the others draw nothing; their actions are 0).
        """
        E, B = obs.shape[:2]
        agents = self.agents
        A = agents[0].n_actions
        acting = np.ones(E, bool) if rows is None else np.array(rows, bool)  # a copy: narrowed below
        actions, mu = np.zeros((E, B), np.int64), np.zeros((E, B), np.float32)
        starting = np.array([explore and a.config.random_starts and a.env_steps < a.config.learning_starts
                             for a in agents]) & acting
        for e in np.flatnonzero(starting):  # uniform random starts (OffPolicyAgent.act)
            if mask is None:
                actions[e], mu[e] = agents[e].rng.integers(0, A, B), 1.0 / A
            else:
                allowed = np.asarray(mask[e], bool)
                actions[e] = np.argmax(agents[e].rng.random((B, A)) * allowed, axis=1)
                mu[e] = 1.0 / allowed.sum(-1)
        acting &= ~starting
        if not acting.any():
            return actions, {"mu": mu}
        q = values(self.q, agents[0].encode(obs.reshape(E * B, *obs.shape[2:])).reshape(E, B, -1)).double().numpy()
        if not explore:
            return np.argmax(q if mask is None else np.where(mask, q, -np.inf), axis=-1), {}
        eps = np.array([agent.config.explore == "epsilon" for agent in agents])
        rows = np.flatnonzero(eps & acting)
        for e in np.flatnonzero(~eps & acting):
            actions[e], x = agents[e].choose(torch.from_numpy(q[e]), True, None if mask is None else mask[e])
            mu[e] = x["mu"]
        if rows.size:
            eps_e = np.array([agents[e].explore_value() for e in rows])[:, None, None]
            allowed = np.ones(q.shape[-2:]) if mask is None else np.asarray(mask[rows], np.float64)
            uniform = allowed / allowed.sum(axis=-1, keepdims=True)
            probs = (1.0 - eps_e) * greedy(q[rows], None if mask is None else mask[rows], "split") + eps_e * uniform
            cdf = np.cumsum(probs, axis=-1)
            u = np.stack([agents[e].rng.random(B) for e in rows])[..., None] * cdf[..., -1:]
            a = np.minimum((u >= cdf).sum(axis=-1), A - 1)
            actions[rows] = a
            mu[rows] = np.take_along_axis(probs, a[..., None], -1)[..., 0].astype(np.float32)
        return actions, {"mu": mu}

    def observe(self, step: Any, rows: np.ndarray | None = None) -> None:
        """Every member (or the members ``rows``, bool ``(E,)``) stores its rows of ``step`` (a
        :class:`triad.agents.loop.Step` with leading ``(E, B)``), as :meth:`ValueAgent.observe` would: the
        stacked members in one :meth:`MemberReplay.add`, the others through their own agent."""
        from triad.agents import loop

        E, B = np.shape(step.reward)
        rows = np.ones(E, bool) if rows is None else np.asarray(rows, bool)
        next_mask = step.next_mask
        if next_mask is None:
            next_mask = np.ones((E, B, self.agents[0].n_actions), bool)
        valid = np.asarray(step.valid, bool) & rows[:, None]
        stepped = valid.any(1)
        for e in self.shared[rows[self.shared]]:
            agent = self.agents[e]
            agent.has_masks |= step.next_mask is not None
            agent._stepped = bool(stepped[e])
            agent.env_steps += B
        if self.storage is not None:
            s = self.shared
            row = {"obs": step.obs[s], "action": step.action[s], "reward": step.reward[s],
                   "terminated": step.terminated[s], "truncated": step.truncated[s], "next_obs": step.next_obs[s],
                   "mu": step.extras["mu"][s], "next_mask": next_mask[s]}
            self.storage.add(row, valid[s])
        for e in np.flatnonzero(~self.stacked & rows):
            self.agents[e].observe(loop.Step(
                step.obs[e], step.action[e], step.reward[e], step.terminated[e], step.truncated[e], step.next_obs[e],
                step.valid[e], step.episode_step[e], {k: v[e] for k, v in step.extras.items()},
                None if step.mask is None else step.mask[e], None if step.next_mask is None else step.next_mask[e]))

    # ------------------------------------------------------------------------------ learner
    def update(self) -> dict[str, np.ndarray] | None:
        """One vector step of every member's clock; the members whose iteration is due regress ``grad_steps``
        times together. Returns per-member logs ``(E,)`` (NaN for members that did not regress), or ``None``."""
        due = self.tick()
        return self.learn(due) if due.any() else None

    def tick(self, rows: np.ndarray | None = None) -> np.ndarray:
        """One vector step of the clocks of the members ``rows`` (bool ``(E,)``, default all) as
        :meth:`ValueAgent.update` runs it: a new round drops the batches drawn ahead, then
        :meth:`~triad.agents.offpolicy.OffPolicyAgent.tick`. Returns which members' iterations are due: ``(E,)``."""
        grad_steps = self.configs[0].grad_steps
        due = np.zeros(self.E, bool)
        for e in range(self.E) if rows is None else np.flatnonzero(rows):
            agent = self.agents[e]
            if agent._stepped:  # a new round of the driver (ValueAgent.update): no batches drawn ahead survive it
                agent._phase, agent._left, self._phase[e] = [], grad_steps, None
            due[e] = agent.tick()
        return due

    def learn(self, due: np.ndarray) -> dict[str, np.ndarray]:
        """The iteration of the members ``due``: ``grad_steps`` regression steps together; per-member logs ``(E,)``."""
        with denormals_flushed():  # as each member's own driver (OffPolicyAgent.learning)
            logs = [self.regress(due) for _ in range(self.configs[0].grad_steps)]
        for e in np.flatnonzero(due):
            self.agents[e].iterations += 1
        return {k: np.stack([log[k] for log in logs]).mean(0) for k in logs[0]}

    def _slots(self, e: int) -> np.ndarray:
        """The next ``batch_size`` slots of stacked member ``e``: :meth:`ValueAgent.draw_phase`'s uniform draw of
        ``k·batch_size`` indices from its generator at the start of a phase of frozen targets (the same ``k``),
        handed out ``batch_size`` at a time (:meth:`ValueAgent.sample`)."""
        agent = self.agents[e]
        c, N = agent.config, agent.config.batch_size
        if self._phase[e] is None or self._at[e] >= self._phase[e].size:
            k = agent._left
            if c.target_period:
                k = min(k, c.target_period - agent.gradient_steps % c.target_period)
            k = max(1, min(k, PHASE_ROWS // N))
            self._phase[e], self._at[e] = agent.rng.integers(0, len(agent.replay), k * N), 0
        agent._left -= 1
        at = self._at[e]
        self._at[e] = at + N
        return self._phase[e][at:at + N]

    def _one_step(self, due: np.ndarray) -> tuple[dict[str, Any], list[Any]]:
        """Every member's one-step batch as stacked tensors ``(E, N, ...)`` (``obs``, ``next_obs`` encoded; ``action``;
        ``reward``, ``discount = γ(1 − terminated)`` float32; ``weight`` or ``None``; ``next_mask`` or ``None``) as
        :meth:`ValueAgent.batch` makes them, and the members' own batches (prioritised members; ``None`` elsewhere).
        Members not due get some batch whose loss is not counted."""
        c, agents = self.configs[0], self.agents
        N = c.batch_size
        own: list[Any] = [None] * self.E
        for e in np.flatnonzero(due & ~self.stacked):
            own[e] = agents[e].sample()
        arrays: dict[str, np.ndarray] = {}
        if self.storage is not None:
            slots = np.zeros((self.shared.size, N), np.int64)
            for i, e in enumerate(self.shared):
                if due[e]:
                    slots[i] = self._slots(e)
            arrays = self.storage.gather(slots)
        encode = agents[0].encode

        def stacked(field: str, convert: Callable[[np.ndarray], torch.Tensor], fill: torch.Tensor) -> torch.Tensor:
            out = fill.expand(self.E, *fill.shape).clone() if self.shared.size < self.E else None
            mine = convert(arrays[field]) if arrays else None
            if out is None:
                return mine
            if mine is not None:
                out[torch.from_numpy(self.shared)] = mine
            for e, b in enumerate(own):
                if b is not None:
                    out[e] = getattr(b, field)
            return out

        def obs(x: np.ndarray) -> torch.Tensor:
            return encode(x.reshape(-1, *x.shape[2:])).reshape(*x.shape[:2], -1)

        if arrays:
            arrays["discount"] = (c.gamma * (1.0 - arrays["terminated"].astype(bool))).astype(np.float32)
        zeros = torch.zeros(N, agents[0].obs_dim)
        batch = {"obs": stacked("obs", obs, zeros), "next_obs": stacked("next_obs", obs, zeros),
                 "action": stacked("action", lambda x: torch.from_numpy(x.astype(np.int64)),
                                   torch.zeros(N, dtype=torch.int64)),
                 "reward": stacked("reward", lambda x: torch.from_numpy(x.astype(np.float32)), torch.zeros(N)),
                 "discount": stacked("discount", torch.from_numpy, torch.zeros(N))}
        weights = [b.weight if b is not None else None for b in own]
        if any(w is not None for w in weights):
            batch["weight"] = torch.stack([torch.ones(N) if w is None else w for w in weights])
        else:
            batch["weight"] = None
        if any(agent.has_masks for agent in agents):
            mask = torch.ones(self.E, N, agents[0].n_actions, dtype=torch.bool)
            if arrays:
                mask[torch.from_numpy(self.shared)] = torch.from_numpy(arrays["next_mask"])
            for e, b in enumerate(own):
                if b is not None and b.next_mask is not None:
                    mask[e] = b.next_mask
            batch["next_mask"] = mask
        else:
            batch["next_mask"] = None
        return batch, own

    def _bootstrap(self, next_obs: torch.Tensor, next_mask: torch.Tensor | None,
                   rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(Q̂'(s', ·), Q̂(s', ·))``: each member's bootstrap values (its target network's, the online network's
        without one) and the online values (double Q's selector; ``None`` when no member needs them), forbidden
        actions at :data:`MASKED_Q`. Only the forwards some member uses are run; ``rows``: only those members."""
        double, no_target = (self.double, self.no_target) if rows is None else (self.double[rows],
                                                                               self.no_target[rows])
        online = bool(double.any() or no_target.any())
        online_next = values(self.q, next_obs, rows) if online else None
        if bool(no_target.all()):
            q_t = online_next
        else:
            target_next = values(self.q_target, next_obs, rows)
            q_t = target_next if online_next is None else torch.where(no_target[:, None, None], online_next,
                                                                      target_next)
        if next_mask is not None:
            mask = next_mask.reshape(q_t.shape)
            q_t = q_t.masked_fill(~mask, MASKED_Q)
            online_next = None if online_next is None else online_next.masked_fill(~mask, MASKED_Q)
        return q_t, online_next

    def _td_one_step(self, b: Mapping[str, Any], q_tm1: torch.Tensor | None = None,
                     rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(δ, Q̂(s, ·))`` of every member's one-step batch, ``(E, N)`` and ``(E, N, A)``, as :meth:`ValueAgent.td`:
        :func:`triad.multistep.q_learning_td`, or :func:`~triad.multistep.double_q_learning_td` for double members
        (``q_tm1``: ``Q̂(s, ·)`` computed already; default the online network's forward, with gradients;
        ``rows``: only those members, ``b`` holding their batches)."""
        q_t, online_next = self._bootstrap(b["next_obs"], b["next_mask"], rows)
        q_tm1 = self.q(b["obs"]) if q_tm1 is None else q_tm1
        args = (q_tm1, b["action"], b["reward"], b["discount"], q_t)
        use = self.double if rows is None else self.double[rows]
        if not bool(use.any()):
            return multistep.q_learning_td(*args), q_tm1
        double = multistep.double_q_learning_td(*args, online_next)
        if bool(use.all()):
            return double, q_tm1
        return torch.where(use[:, None], double, multistep.q_learning_td(*args)), q_tm1

    def _td_sequences(self, batches: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(δ, Q̂(s_0, ·))`` of every member's replayed sequences (``n_step > 1``), ``(E, N)`` and ``(E, N, A)``:
        ``G − Q̂(s_0, a_0)`` with ``G`` from :func:`triad.multistep.off_policy_targets`, as :meth:`ValueAgent.td`."""
        c = self.configs[0]
        stack = torch.stack
        obs, next_obs = stack([b.obs for b in batches]), stack([b.next_obs for b in batches])
        masks = [b.next_mask for b in batches]
        mask = None
        if any(mk is not None for mk in masks):
            shape = next_obs.shape[1:2] + (self.agents[0].n_actions,)
            mask = stack([torch.ones(shape, dtype=torch.bool) if mk is None else mk.reshape(shape) for mk in masks])
        q_t, online_next = self._bootstrap(next_obs, mask)
        action, reward, discount = (stack([getattr(b, k) for b in batches]) for k in ("action", "reward", "discount"))
        n = batches[0].steps
        E, N = self.E, action.shape[2]
        q_t = q_t.reshape(E, n, N, -1).transpose(0, 1)  # time first: (n, E, N, A)
        greedy_online = None if online_next is None else torch.nn.functional.one_hot(
            online_next.reshape(E, n, N, -1).transpose(0, 1).argmax(-1), q_t.shape[-1]).float()
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

    def _sequence_batches(self, due: np.ndarray) -> list[Any]:
        """Each due member's :meth:`ValueAgent.sample` (its own generator and replay); the others repeat a due one's
        batch as a placeholder whose loss is not counted."""
        batches: list[Any] = [None] * self.E
        for e in np.flatnonzero(due):
            batches[e] = self.agents[e].sample()
        fill = batches[int(np.flatnonzero(due)[0])]
        return [fill if b is None else b for b in batches]

    def _gradient_by_hand(self, b: Mapping[str, Any], on: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The one-step gradient of an MLP's members without autograd (:meth:`ValueAgent.regress_by_hand`, batched):
        ``∂ mean_i w_i ℓ(δ_i) / ∂Q̂_e(s_i, a_i) = −w_i ℓ'(δ_i)/N`` (``ℓ' = clip(δ, −1, 1)`` for Huber, ``δ`` for ``½δ²``),
        zero for the members not ``on``, carried to the parameters by the network's own backward pass
        (:meth:`~triad.agents.nets.StackedMLP.backward_from`) and written into :attr:`flat_grad`. When only some
        members are due (their clocks skip an env's reset steps, so they drift apart), only those run the passes.
        Returns ``(δ (E, N), Q̂(s, ·) (E, N, A), loss (E,))`` (zeros for the members not due)."""
        c = self.configs[0]
        rows = None if bool(on.all()) else on.nonzero().flatten()
        if rows is not None:
            b = {k: None if v is None else v[rows] for k, v in b.items()}
        q_tm1, tape = taped(self.q, b["obs"], rows)
        delta, _ = self._td_one_step(b, q_tm1, rows)
        N = delta.shape[1]
        slope = delta.clamp(-1.0, 1.0) if c.loss == "huber" else delta
        per = huber(delta) if c.loss == "huber" else 0.5 * delta * delta
        if b["weight"] is not None:
            slope, per = slope * b["weight"], per * b["weight"]
        g = torch.zeros_like(q_tm1).scatter_(-1, b["action"][..., None], (slope * (-1.0 / N))[..., None])
        with torch.no_grad():
            grads = _StackedForward.backward(tape, g)[2:]
        grads = [*grads[0::2], *grads[1::2]]  # the order of parameters(): the weights, then the biases
        if rows is None:
            torch.cat([x.reshape(self.E, -1) for x in grads], 1, out=self.flat_grad)
            return delta, q_tm1, per.mean(1)
        self.flat_grad.zero_()
        self.flat_grad[rows] = torch.cat([x.reshape(rows.numel(), -1) for x in grads], 1)
        full = [torch.zeros((self.E, *x.shape[1:])) for x in (delta, q_tm1)]
        for whole, part in zip(full, (delta, q_tm1)):
            whole[rows] = part
        loss = torch.zeros(self.E)
        loss[rows] = per.mean(1)
        return full[0], full[1], loss

    def regress(self, due: np.ndarray) -> dict[str, np.ndarray]:
        """One regression step of the due members (:meth:`ValueAgent.regress`, batched): the weighted Huber or
        squared loss of δ per member, summed; gradients clipped per member; the per-member optimiser step;
        priorities updated; each due member's targets moved on its own period."""
        c = self.configs[0]
        on = torch.from_numpy(due)
        if self.agents[0].sequence_length() is None:
            b, own = self._one_step(due)
            weight = b["weight"]
            if c.q_net == "mlp":
                delta, q_tm1, loss = self._gradient_by_hand(b, on)
            else:
                delta, q_tm1 = self._td_one_step(b)
        else:
            own = self._sequence_batches(due)
            delta, q_tm1 = self._td_sequences(own)
            weights = [x.weight for x in own]
            weight = None if all(w is None for w in weights) else torch.stack(
                [torch.ones(delta.shape[1]) if w is None else w for w in weights])
        if delta.requires_grad:
            per = huber(delta) if c.loss == "huber" else 0.5 * delta * delta
            loss = (per if weight is None else weight * per).mean(1)
            for p in self.params:
                p.grad = None  # autograd hands over each gradient (contiguous), gathered into flat_grad by one cat
            torch.where(on, loss, torch.zeros_like(loss)).sum().backward()
            torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).reshape(self.E, -1) for p in self.params],
                      1, out=self.flat_grad)
        if c.max_grad_norm > 0:
            clip_member_norms([self.flat_grad], c.max_grad_norm)
        self.t += on.double()
        with torch.no_grad():
            if c.optimizer == "adam":
                member_adam_step([self.flat], [self.flat_grad], [self.m], [self.v], self.t, on, c.lr)
            else:
                self.flat.sub_(torch.where(on[:, None], c.lr * self.flat_grad, torch.zeros_like(self.flat_grad)))
        td = delta.detach().double().numpy()
        moved = np.zeros(self.E, bool)
        for e in np.flatnonzero(due):
            agent = self.agents[e]
            if agent.config.prioritized:
                b = own[e]
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
            tau = self.tau[:, None]
            moved = torch.where(tau >= 1.0, self.flat, torch.lerp(self.target_flat, self.flat, tau))
            self.target_flat.copy_(torch.where(members[:, None], moved, self.target_flat))

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
    is ``loop.make_env(env, config.envs, env_seed)`` (with the config's ``autoreset``) reset with
    ``env_seed``, it stops where the loop does (``agent.run_end(steps)``: whole rollouts), and each vector step
    is act → env step → observe → update. The members step together; on an env stepped member by member
    (:class:`MemberEnvs`) a member whose iteration is due waits (does not step) until every other member is
    due too or finished, and then all of them regress together — each member's own sequence of act, step,
    observe and update is unchanged, but members whose clocks have drifted apart (each env's reset steps do
    not count) still share the batched regression. Every ``probe_every`` env steps of a member (and at its
    end) ``probe(agent, env)`` is called on the synced member after its update (e.g. a
    :class:`~triad.agents.probes.TruthProbe`); ``logs`` carry the largest env-step count of the members
    that regressed.
    """
    from triad.agents import loop

    derived = [loop._seeds(int(s)) for s in seeds]
    envs = MemberEnvs(env, configs, [d[0] for d in derived])
    try:
        members = ValueMembers(configs, loop.env_spaces(envs.envs[0]), [d[1] for d in derived], name)
        for agent in members.agents:
            agent.total_steps = int(steps)
        ends = np.array([agent.run_end(int(steps)) for agent in members.agents])  # whole_rollouts rounds up, as the loop
        E = members.E
        logs: dict[str, list[tuple[int, np.ndarray]]] = {}
        probes: list[tuple[int, int, dict[str, float]]] = []
        if progress is not None:
            progress.total(int(steps))
        start, done = time.perf_counter(), 0
        waiting = np.zeros(E, bool)  # members whose iteration is due, waiting for the others (not stepping)
        probe_due = np.zeros(E, bool)
        while True:
            stepping = ~waiting & (envs.env_steps < ends)
            if not stepping.any() and not waiting.any():
                break
            if stepping.any():
                before = envs.env_steps.copy()
                actions, extras = members.act(envs.obs, mask=envs.mask, rows=stepping)
                members.observe(envs.step(actions, extras, None if stepping.all() else stepping), stepping)
                waiting |= members.tick(stepping)
                if probe is not None and probe_every:
                    now = envs.env_steps
                    probe_due |= stepping & ((now // probe_every > before // probe_every) | (now >= ends))
            if waiting.any() and (envs.joint is not None or not (~waiting & (envs.env_steps < ends)).any()):
                out = members.learn(waiting)
                at = int(envs.env_steps[waiting].max())
                for k, values in out.items():
                    logs.setdefault(k, []).append((at, values))
                waiting[:] = False
            if probe_due.any() and not (probe_due & waiting).any():
                agents = members.sync()
                for e in np.flatnonzero(probe_due):
                    probes.append((int(envs.env_steps[e]), int(e), dict(probe(agents[e], envs.envs[e]))))
                probe_due[:] = False
            if progress is not None and int(envs.env_steps.min()) > done:
                progress.advance(int(envs.env_steps.min()) - done)
                done = int(envs.env_steps.min())
        members.sync()
        return MembersRun(members, envs.finished, logs, probes, time.perf_counter() - start)
    finally:
        envs.close()
