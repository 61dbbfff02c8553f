"""Ape-X DQN on Ray: actors, replay shards and one learner as separate processes (Horgan et al. 2018).

The seed notes' three processes of Q-learning, physically apart::

    actor i (Ray actor) ──transitions + initial priorities──▶ replay shard (Ray actor, PrioritisedReplay)
       ▲  ε_i fixed, own env(s), local n-step buffer                 │  ▲
       │                                                             │  │ new priorities |δ|
       └── weights (object store) ◀── parameter server ◀── learner ◀─┘──┘ (this process: samples, regresses)

* **Actors** (:class:`ApexActor`): each steps its own vector env with ε_i-greedy actions of its copy
  of the network, ``ε_i = ε^(1 + α·i/(N − 1))`` (:func:`actor_epsilons`), and stores the steps in a
  local FIFO (the value suite's own replay). Once ``local_buffer`` transitions are waiting, those
  whose ``n − 1`` successors are written get their initial priority ``|δ|`` — the value suite's
  n-step TD error (:meth:`triad.agents.value.ValueAgent.td`, targets from
  :func:`triad.multistep.off_policy_targets`) under the actor's network — and go to the actor's shard
  in one call; the last ``n − 1`` of each env wait for their successors. Every ``weight_pull`` env
  steps an actor fetches the newest published weights.
* **Replay shards** (:class:`ReplayShard`): a :class:`~triad.agents.replay.PrioritisedReplay` of
  n-step sequences. Each actor env is a stream; an inserted transition's priority is set from the
  actor's ``|δ|`` as soon as its sequence is complete in the shard (the next insert of that stream).
  A :class:`SampleToInsert` limiter enforces the ratio: an insert that would put the actors too far
  ahead is refused (the actor waits and retries), a sample that would put the learner too far
  ahead returns nothing (the learner waits).
* **Learner** (:class:`ApexAgent`, in the driver process, where the training loop runs): the value
  suite's regression (:class:`ApexLearner`, a :class:`~triad.agents.value.ValueAgent` whose priority
  updates go to the shard the batch came from), importance weights with a constant β, a target copy
  every ``target_period`` learner steps, and its weights put in the object store every
  ``weight_period`` steps (:class:`ParameterServer` hands out the newest reference).

Metrics in the run's ``log.csv`` (every ``log_every`` env steps, rates over that window):
``actor_steps_per_second`` (all actors' env steps per second of wall time), ``actor_wait_fraction``
(share of the actors' time spent waiting for the limiter), ``learner_updates_per_second``,
``learner_wait_fraction`` (share of wall time the learner's samples were refused), ``replay_size``,
``samples_per_insert`` (sampled batch entries per inserted transition so far) with its counts
``replay_samples`` and ``replay_inserts``, ``weight_lag`` (learner steps between the learner's
weights and those an actor acted with, at its latest report; mean over the actors) and
``weight_lag_max``, ``learner_updates``, ``actor_priorities`` / ``learner_priorities`` (initial
priorities set from the actors, priority updates from the learner) and ``actor_restarts``.

Faults: actors are Ray actors with restarts (:data:`triad.distributed.ACTOR_RESTARTS`). A restarted
actor registers again with the parameter server, gets a new incarnation number (so new env seeds
and new stream ids: its old streams are never continued by unrelated steps), pulls the newest
weights, and its unfinished ``collect`` call is run again; the run completes and logs
``actor_restarts``, and stderr says which actor was restarted. Data the dead actor had not sent is lost.

Not bit-reproducible: actors, shards and learner run at their own speeds, so which data a batch
holds depends on timing. A checkpoint keeps the learner (networks, optimiser, counters), not the
replay shards; a resumed run starts with empty shards.

Adding workers: the pieces are separate so that a decoupled QT-Opt can add a *Bellman updater* —
a Ray actor that samples a shard (:meth:`ReplayShard.sample`), pulls weights from the parameter
server like an actor, labels the batch with its targets and hands it to a train buffer from which
the learner's regression reads (targets then come with the batch instead of from
:meth:`ApexLearner.td`); the limiter then sits between the updaters and the shard. That is
:mod:`triad.distributed.qtopt` (``triad train qtopt --distributed``), which reuses the parameter
server, the shards (:class:`Layout` with Box actions, priority exponent 0) and the actor loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from triad.distributed.cluster import ACTOR_RESTARTS, actor, gather, require_ray, session
from triad.errors import ValidationError

WHAT = "triad train apex"
"""What needs Ray (the :class:`~triad.distributed.RayMissing` message)."""

STORED = ("obs", "action", "reward", "terminated", "truncated", "next_obs", "mu", "next_mask")
"""Fields of a transition an actor sends (the value suite's replay fields and extras)."""


# --------------------------------------------------------------------------------- pure pieces
def actor_epsilons(actors: int, epsilon: float = 0.4, alpha: float = 7.0) -> np.ndarray:
    """ε of each actor: ``ε_i = ε^(1 + α·i/(N − 1))`` for ``i = 0 … N − 1``; a single actor uses ``ε``.

    Source: Horgan et al. (2018), §4.1 (ε = 0.4, α = 7). Shape ``(actors,)``.
    """
    if actors < 1:
        raise ValidationError(f"actor_epsilons: actors = {actors!r} must be at least 1")
    i = np.arange(actors, dtype=np.float64)
    exponent = 1.0 + alpha * i / (actors - 1) if actors > 1 else np.ones(1)
    return float(epsilon) ** exponent


def stream_chunks(streams: np.ndarray) -> list[np.ndarray]:
    """Row indices of a message split into groups of distinct streams, each stream's rows in order.

    Group ``j`` holds the ``j``-th row of every stream that has one, so adding the groups in turn
    keeps every stream's order (a replay's ``add`` takes one row per stream at a time).
    """
    streams = np.asarray(streams, np.int64)
    rank = np.zeros(streams.size, np.int64)
    seen: dict[int, int] = {}
    for row, s in enumerate(streams.tolist()):
        rank[row] = seen.get(s, 0)
        seen[s] = rank[row] + 1
    return [np.flatnonzero(rank == j) for j in range(int(rank.max()) + 1 if rank.size else 0)]


class SampleToInsert:
    """A rate limiter holding ``samples − r·(inserts − min_size)`` within ``±tolerance`` once sampling began.

    With ``diff = r·inserts − samples``: an insert of ``n`` is allowed while ``diff + r·n ≤ r·min_size +
    tolerance``; a sample of ``k`` once ``inserts ≥ min_size`` and while ``diff − k ≥ r·min_size −
    tolerance``. Inserts only raise ``diff`` and samples only lower it, so after the first sample
    ``|samples − r·(inserts − min_size)| ≤ tolerance`` always (the rule of Reverb's
    ``SampleToInsertRatio`` limiter, Cassirer et al. 2021). If ``2·tolerance ≥ r·n + k`` one of the
    two is always allowed, so actors and learner never wait for each other at once.
    """

    def __init__(self, samples_per_insert: float, min_size: int, tolerance: float):
        self.ratio, self.min_size, self.tolerance = float(samples_per_insert), int(min_size), float(tolerance)
        self.inserts = 0
        self.samples = 0

    @property
    def diff(self) -> float:
        return self.ratio * self.inserts - self.samples

    def can_insert(self, n: int) -> bool:
        return self.diff + self.ratio * n <= self.ratio * self.min_size + self.tolerance

    def can_sample(self, k: int) -> bool:
        return self.inserts >= self.min_size and self.diff - k >= self.ratio * self.min_size - self.tolerance

    def state(self) -> dict[str, float]:
        return {"inserts": self.inserts, "samples": self.samples, "ratio": self.ratio, "min_size": self.min_size,
                "tolerance": self.tolerance}


# --------------------------------------------------------------------------------- Ray actors
class Waiting:
    """Wall time a driver loop spends refused: from its first refused request to the next served one."""

    def __init__(self) -> None:
        self.since: float | None = None

    def refused(self) -> None:
        """A request came back empty (the other side is behind); the wait starts now unless it already had."""
        if self.since is None:
            self.since = time.perf_counter()

    def served(self) -> float:
        """A request was served: the seconds waited since the first refusal (0 if none), and the wait ends."""
        if self.since is None:
            return 0.0
        waited, self.since = time.perf_counter() - self.since, None
        return waited


class ParameterServer:
    """The newest published weights (an object-store reference) and the actors' registrations."""

    def __init__(self) -> None:
        self.version = -1
        self.ref: list[Any] = []
        self.incarnations: dict[int, int] = {}
        self.pids: dict[int, int] = {}

    def publish(self, version: int, ref: list[Any]) -> None:
        """``ref``: ``[ObjectRef]`` (in a list, so Ray passes the reference, not the weights)."""
        if version > self.version:
            self.version, self.ref = int(version), ref

    def latest(self) -> tuple[int, list[Any]]:
        return self.version, self.ref

    def register(self, index: int, pid: int) -> int:
        """An actor (re)started: its incarnation (0 at first, then 1, 2, … after restarts)."""
        self.incarnations[index] = self.incarnations.get(index, -1) + 1
        self.pids[index] = int(pid)
        return self.incarnations[index]

    def status(self) -> dict[str, dict[int, int]]:
        return {"incarnations": dict(self.incarnations), "pids": dict(self.pids)}


@dataclasses.dataclass(frozen=True)
class Layout:
    """What a shard stores per transition: the observation's shape and dtype, and the action.

    ``n_actions > 0``: discrete actions with Ape-X's extras ``mu`` and ``next_mask`` (:data:`STORED`);
    ``n_actions = 0``: Box actions of ``action_shape`` (normalised, float32) and no extras (QT-Opt's
    collectors, :mod:`triad.distributed.qtopt`).
    """

    obs_shape: tuple[int, ...]
    obs_dtype: str
    n_actions: int = 0
    action_shape: tuple[int, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields an insert carries."""
        return STORED if self.n_actions else STORED[:6]

    def replay_args(self) -> tuple[tuple[int, ...], Any, dict[str, tuple[tuple[int, ...], Any]]]:
        """``(action_shape, action_dtype, extras)`` of the shard's replay."""
        if self.n_actions:
            return (), np.int64, {"mu": ((), np.float32), "next_mask": ((self.n_actions,), bool)}
        return tuple(self.action_shape), np.float32, {}


class ReplayShard:
    """One shard: a prioritised replay of n-step sequences behind a :class:`SampleToInsert` limiter."""

    def __init__(self, config: Any, layout: Layout, index: int, seed: int):
        from triad.agents.replay import PrioritisedReplay

        c = config
        self.n = c.n_step
        self.fields = layout.fields
        action_shape, action_dtype, extras = layout.replay_args()
        self.replay = PrioritisedReplay(
            -(-c.capacity // c.shards), layout.obs_shape, layout.obs_dtype, action_shape, action_dtype,
            extras=extras, alpha=c.priority_alpha, epsilon=c.priority_eps, sequence_length=c.n_step)
        self.limiter = SampleToInsert(c.samples_per_insert, -(-c.learning_starts // c.shards), c.tolerance())
        self.rng = np.random.default_rng(seed)
        self.index = index
        self.pending: dict[int, list[tuple[int, float]]] = {}  # stream -> (key, |δ|) of incomplete sequences
        self.actor_priorities = 0
        self.learner_priorities = 0
        self.refused_inserts = 0
        self.refused_samples = 0

    def insert(self, rows: Mapping[str, np.ndarray], streams: np.ndarray, td: np.ndarray) -> bool:
        """Store the transitions ``rows`` (leading axis m, each stream's rows in order) of ``streams`` with
        their actor-computed ``|δ|``; ``False`` (nothing stored) when the limiter says the actors are ahead."""
        m = int(np.shape(streams)[0])
        if not self.limiter.can_insert(m):
            self.refused_inserts += 1
            return False
        keys = np.empty(m, np.int64)
        for chunk in stream_chunks(streams):
            keys[chunk] = self.replay.added + np.arange(chunk.size)
            self.replay.add({f: rows[f][chunk] for f in self.fields}, stream=np.asarray(streams)[chunk])
        self.limiter.inserts += m
        done_keys, done_td = [], []
        for s in np.unique(streams).tolist():
            mine = np.flatnonzero(streams == s)
            queue = self.pending.setdefault(s, [])
            queue.extend(zip(keys[mine].tolist(), np.asarray(td)[mine].tolist()))
            ready, self.pending[s] = queue[:max(len(queue) - (self.n - 1), 0)], queue[max(len(queue) - (self.n - 1), 0):]
            done_keys.extend(k for k, _ in ready)
            done_td.extend(d for _, d in ready)
        if done_keys:
            k, d = np.asarray(done_keys, np.int64), np.asarray(done_td)
            live = self.replay.live(k)
            self.replay.update_priorities(k[live], d[live])
            self.actor_priorities += int(live.sum())
        return True

    def sample(self, batch_size: int, beta: float) -> dict[str, np.ndarray] | None:
        """``batch_size`` prioritised sequences (``PrioritisedReplay.sample_sequences``), or ``None``
        when the limiter says the learner is ahead (or no sequence is complete yet)."""
        if not self.limiter.can_sample(batch_size) or not self.replay.entries():
            self.refused_samples += 1
            return None
        self.limiter.samples += batch_size
        return self.replay.sample_sequences(self.rng, batch_size, beta=beta)

    def update_priorities(self, keys: np.ndarray, td: np.ndarray) -> None:
        """The learner's new ``|δ|`` of sampled sequences (overwritten ones are skipped)."""
        self.replay.update_priorities(keys, td)
        self.learner_priorities += int(np.size(keys))

    def stats(self) -> dict[str, Any]:
        return {"size": len(self.replay), "entries": self.replay.entries(), **self.limiter.state(),
                "actor_priorities": self.actor_priorities, "learner_priorities": self.learner_priorities,
                "refused_inserts": self.refused_inserts, "refused_samples": self.refused_samples,
                "max_priority": self.replay.max_priority}


def initial_priorities(agent: Any, keys: np.ndarray, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Ape-X's initial priorities: ``|δ|`` of the n-step sequences starting at ``keys`` of ``agent``'s replay.

    ``δ = G − Q̂(s_t, a_t)`` with ``G`` the value suite's n-step target under the agent's own network
    (:meth:`triad.agents.value.ValueAgent.td`, i.e. :func:`triad.multistep.off_policy_targets`; an
    actor bootstraps from its current network). Returns ``|δ|`` ``(len(keys),)`` and the sequences
    ``(n, len(keys))`` as the replay stores them. Source: Horgan et al. (2018), §3 and Algorithm 1.
    """
    import torch

    data = agent.replay.sequences_at(keys, n)
    with torch.no_grad():
        delta, _ = agent.td(agent.batch(data, steps=n))
    return np.abs(delta.double().numpy()), data


def actor_seeds(seed: int, actors: int, incarnation: int) -> list[int]:
    """Independent seeds of actor ``i``'s env and exploration in its ``incarnation`` (SeedSequence spawn)."""
    children = np.random.SeedSequence([int(seed), int(incarnation)]).spawn(actors)
    return [int(s.generate_state(1)[0]) for s in children]


class ApexActor:
    """One actor: its env(s), ε_i-greedy actions of its network copy, a local n-step buffer, its shard."""

    def __init__(self, config: Any, env: str, obs: str | None, max_episode_steps: int | None, index: int,
                 seed: int, server: str, shard: str):
        from triad.agents import config as cfg
        from triad.agents import loop
        from triad.agents.value import ValueAgent

        c = config
        self.n = c.n_step
        seed_i = self._connect(env, obs, max_episode_steps, index, seed, server, shard, c.actors, c.envs)
        eps = float(actor_epsilons(c.actors, c.actor_epsilon, c.epsilon_alpha)[index])
        local = dataclasses.replace(
            cfg.ValueConfig(**{f.name: getattr(c, f.name) for f in dataclasses.fields(cfg.ValueConfig)}),
            capacity=4 * (c.local_buffer + c.envs * (c.n_step + 1)), prioritized=False, target_period=0,
            explore_initial=eps, explore_final=eps, random_starts=False)
        self.agent = ValueAgent(local, loop.env_spaces(self.env), seed_i, name="apex actor")
        self.epsilon = eps
        self._ready(c.actors, c.envs, c.local_buffer)

    def _connect(self, env: str, obs: str | None, max_episode_steps: int | None, index: int, seed: int, server: str,
                 shard: str, actors: int, envs: int) -> int:
        """Find the named parameter server and shard, register with the server (the incarnation), build the
        vector env of ``envs``; the seed of this incarnation's env and exploration."""
        from triad.agents import loop

        ray = require_ray(WHAT)
        # Named actors, looked up here: handles passed as constructor arguments would live in the object
        # store, and Ray could not restart this actor once they went out of scope.
        self.server, self.shard = ray.get_actor(server), ray.get_actor(shard)
        self.index = index
        self.incarnation = int(ray.get(self.server.register.remote(index, os.getpid())))
        seed_i = actor_seeds(seed, actors, self.incarnation)[index]
        self.env = loop.make_env(env, num_envs=envs, seed=seed_i, obs=obs, max_episode_steps=max_episode_steps)
        self.stepper = loop.VectorStepper(self.env, seed_i)
        self.act = loop.act
        return seed_i

    def _ready(self, actors: int, envs: int, local_buffer: int) -> None:
        """The streams of this incarnation, an empty send queue and the newest weights."""
        # Streams of this incarnation: ids no earlier incarnation of any actor used.
        self.stream_base = (self.incarnation * actors + self.index) * envs
        self.unsent = np.zeros(0, np.int64)
        self.version = -1
        self.local_buffer = local_buffer
        self.pull()

    def pull(self) -> None:
        """Load the newest published weights if they are newer than the actor's."""
        ray = require_ray(WHAT)
        version, ref = ray.get(self.server.latest.remote())
        if version > self.version and ref:
            import torch

            self.agent.set_weights({k: torch.from_numpy(np.array(v)) for k, v in ray.get(ref[0]).items()})
            self.version = version

    fields = STORED
    """What :meth:`send` sends of each transition."""

    def priorities(self, keys: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``|δ|`` of the waiting transitions ``keys`` and their sequences (:func:`initial_priorities`)."""
        return initial_priorities(self.agent, keys, self.n)

    def send(self) -> float:
        """Send every waiting transition whose sequence is complete; the seconds spent waiting for the limiter."""
        ray = require_ray(WHAT)
        replay = self.agent.replay
        ready = replay.startable(self.unsent, self.n)
        keys = self.unsent[ready]
        if not keys.size:
            return 0.0
        td, data = self.priorities(keys)
        rows = {f: data[f][0] for f in self.fields}
        streams = self.stream_base + replay.streams_of(keys)
        self.unsent = self.unsent[~ready]
        if ray.get(self.shard.insert.remote(rows, streams, td)):
            return 0.0
        start, pause = time.perf_counter(), 0.001
        while True:  # the actors are ahead of the learner: wait
            time.sleep(pause)
            pause = min(2 * pause, 0.02)
            if ray.get(self.shard.insert.remote(rows, streams, td)):
                return time.perf_counter() - start

    def collect(self, vector_steps: int) -> dict[str, Any]:
        """Pull weights, step the env ``vector_steps`` times, send full local buffers; what happened."""
        self.pull()
        start = time.perf_counter()
        waited = 0.0
        replay = self.agent.replay
        for _ in range(vector_steps):
            before = replay.added
            action, extras = self.act(self.agent, self.stepper)
            self.agent.observe(self.stepper.step(action, extras))
            if replay.added > before:
                self.unsent = np.concatenate([self.unsent, np.arange(before, replay.added)])
            if self.unsent.size >= self.local_buffer:
                waited += self.send()
        finished = list(self.stepper.finished)
        self.stepper.finished.clear()
        return {"actor": self.index, "incarnation": self.incarnation, "env_steps": vector_steps * self.stepper.B,
                "episodes": finished, "version": self.version, "seconds": time.perf_counter() - start,
                "waited": waited, "epsilon": self.epsilon}

    def ping(self) -> int:
        return os.getpid()


# --------------------------------------------------------------------------------- the learner
class _ShardPriorities:
    """Stands where the value agent keeps its replay: priority updates go to the shard the batch came from."""

    def __init__(self) -> None:
        self.shard: Any = None

    def update_priorities(self, keys: np.ndarray, td: np.ndarray) -> None:
        self.shard.update_priorities.remote(np.asarray(keys), np.asarray(td))

    def __len__(self) -> int:
        return 0

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, d: Mapping) -> None:
        pass

    def seam(self) -> None:
        pass


def _learner_class() -> type:
    from triad.agents.value import ValueAgent

    class ApexLearner(ValueAgent):
        """The value suite's regression with the replay in the shards and a constant β (Horgan et al. 2018)."""

        def make_replay(self, *args: Any) -> _ShardPriorities:
            return _ShardPriorities()

        def beta(self) -> float:
            return self.config.priority_beta

    return ApexLearner


class ApexAgent:
    """The training loop's agent: the learner, and (in :meth:`drive`) the actors and shards on Ray.

    Acting (evaluation, probes) uses the learner's network greedily.
    """

    what = WHAT
    """What needs Ray (the messages of :func:`~triad.distributed.session`)."""
    family = "apex"
    """How stderr names this deployment's processes (``triad: apex actor 0 died and was restarted``)."""

    def __init__(self, config: Any, spaces: Any, seed: int, name: str = "apex"):
        require_ray(WHAT, config.address or None)
        import gymnasium

        if not isinstance(spaces.action_space, gymnasium.spaces.Discrete):
            raise ValidationError(f"{name} cannot handle the action space {spaces.action_space} (it takes Discrete "
                                  "(from 0) actions)")
        self.config, self.name, self.seed = config, name, int(seed)
        self.learner = _learner_class()(config, spaces, seed, name)
        space = spaces.observation_space
        self.layout = Layout(tuple(space.shape), np.dtype(space.dtype).str, int(spaces.action_space.n))
        self.total_steps: int | None = None
        self.track_direction = False
        self.actor_handles: list[Any] = []
        self.shard_handles: list[Any] = []
        self.server: Any = None
        self.restarts = 0
        self.stats: dict[str, Any] = {}

    # ------------------------------------------------------------------------ the agent interface
    def act(self, obs: np.ndarray, explore: bool = True, mask: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        return self.learner.act(obs, explore=explore, mask=mask)

    def observe(self, step: Any) -> None:
        """Nothing: the actors' steps go to the shards."""

    def update(self) -> None:
        """Nothing: the learner steps in :meth:`drive`."""

    def get_weights(self) -> dict:
        return self.learner.get_weights()

    def set_weights(self, weights: Mapping) -> None:
        self.learner.set_weights(weights)

    def state_dict(self) -> dict:
        return {"learner": self.learner.state_dict(), "restarts": self.restarts}

    def load_state_dict(self, d: Mapping) -> None:
        self.learner.load_state_dict(d["learner"])
        self.restarts = int(d.get("restarts", 0))

    def parameters_finite(self) -> str | None:
        return self.learner.parameters_finite()

    def q_table(self, obs_table: np.ndarray) -> np.ndarray:
        return self.learner.q_table(obs_table)

    def policy_table(self, obs_table: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return self.learner.policy_table(obs_table, mask)

    def truth_rows(self, probe: Any, pi: np.ndarray, first: bool = False) -> dict[str, float]:
        return self.learner.truth_rows(probe, pi, first)

    def explain(self) -> str:
        return self.config.explain(self.name)

    def rates(self) -> dict[str, Any]:
        return self.config.rates()

    # ------------------------------------------------------------------------------- the run
    def published(self) -> Mapping[str, Any]:
        """What the parameter server hands out: the learner's online weights (the actors act with them)."""
        return self.learner.get_weights()

    def _publish(self, ray: Any) -> None:
        weights = {k: v.numpy() for k, v in self.published().items()}
        self.server.publish.remote(self.learner.gradient_steps, [ray.put(weights)])

    def _start(self, ray: Any, options: Any) -> None:
        c = self.config
        prefix = f"triad-apex-{uuid.uuid4().hex[:12]}"
        self.server = actor(ParameterServer, restarts=0).options(name=f"{prefix}-server").remote()
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(self.seed).spawn(c.shards + 1)]
        self.shard_handles = [actor(ReplayShard, restarts=0).options(name=f"{prefix}-shard-{j}").remote(
            c, self.layout, j, seeds[j]) for j in range(c.shards)]
        self._publish(ray)
        make = actor(ApexActor, restarts=ACTOR_RESTARTS)
        self.actor_handles = [make.options(name=f"{prefix}-actor-{i}").remote(
            c, options.env, options.obs, options.max_episode_steps, i, seeds[-1], f"{prefix}-server",
            f"{prefix}-shard-{i % c.shards}") for i in range(c.actors)]

    def _stop(self, ray: Any) -> None:
        for handle in (*self.actor_handles, *self.shard_handles, self.server):
            if handle is not None:
                with contextlib.suppress(Exception):
                    ray.kill(handle, no_restart=True)
        self.actor_handles, self.shard_handles, self.server = [], [], None

    def drive(self, options: Any, start_step: int) -> Iterator[tuple[int, dict[str, float], list[tuple[float, int]]]]:
        """Run the actors until ``options.steps`` env steps are collected while the learner regresses; one
        event ``(env steps, logs, finished episodes)`` per finished ``collect`` call of an actor.

        Raises:
            DistributedError: an actor, shard or the parameter server was lost for good.
        """
        c = self.config
        with session(c.cpus or None, c.address or None, what=self.what):
            ray = require_ray(self.what)
            try:
                self._start(ray, options)
                yield from self._run(ray, options, start_step)
            finally:
                self._stop(ray)

    def _run(self, ray: Any, options: Any, start_step: int) -> Iterator[tuple[int, dict, list]]:
        c, learner = self.config, self.learner
        chunk, issued, pending = self._begin(options, start_step)
        collected = int(start_step)
        sample: tuple[Any, int] | None = None
        turn, retry_at = 0, 0.0
        refused = Waiting()  # the learner's samples refused by the limiter
        logs: list[dict[str, float]] = []
        lags: dict[int, int] = {}
        known: dict[tuple[str, int], int] = {}
        window = {"t": time.perf_counter(), "steps": collected, "updates": learner.gradient_steps,
                  "actor_seconds": 0.0, "actor_waited": 0.0, "learner_waited": 0.0}
        learner.total_steps = options.steps
        while pending:
            now = time.perf_counter()
            if sample is None and now >= retry_at:
                sample = (self.shard_handles[turn].sample.remote(c.batch_size, c.priority_beta), turn)
                turn = (turn + 1) % c.shards
            refs = [*pending, *([sample[0]] if sample else [])]
            timeout = None if sample is not None else max(retry_at - now, 0.0)
            ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
            if not ready:
                continue
            ref = ready[0]
            if sample is not None and ref == sample[0]:
                data, shard = gather(ref, f"apex replay shard {sample[1]}"), sample[1]
                sample = None
                if data is None:  # the learner is ahead: wait for the actors
                    refused.refused()
                    retry_at = time.perf_counter() + 0.002
                    continue
                window["learner_waited"] += refused.served()
                sample = (self.shard_handles[turn].sample.remote(c.batch_size, c.priority_beta), turn)
                turn = (turn + 1) % c.shards
                logs.append(self._learn(data, shard, ray))
                continue
            i = pending.pop(ref)
            stats = gather(ref, f"apex actor {i}")
            self.restarts += self._restarted("actor", i, stats, known)
            collected = self._account(i, stats, collected, window, lags)
            issued = self._collect(i, pending, issued, options.steps, chunk)
            out = _means(logs)
            logs = []
            if collected // c.log_every > (collected - stats["env_steps"]) // c.log_every or not pending:
                out.update(self._metrics(ray, window, collected, lags))
            yield stats["env_steps"], out, stats["episodes"]

    def _begin(self, options: Any, start_step: int) -> tuple[int, int, dict[Any, int]]:
        """Every actor's first ``collect`` call: the vector steps per call, the env steps asked for, the pending calls."""
        chunk = max(1, self.config.weight_pull // self.config.envs)
        pending: dict[Any, int] = {}
        issued = int(start_step)
        for i in range(len(self.actor_handles)):
            issued = self._collect(i, pending, issued, options.steps, chunk)
        return chunk, issued, pending

    def _restarted(self, kind: str, i: int, stats: Mapping[str, Any], known: dict[tuple[str, int], int]) -> int:
        """Restarts of process ``kind`` ``i`` its report reveals (a newer incarnation than ``known``); stderr says so."""
        new = stats["incarnation"] - known.get((kind, i), 0)
        if new > 0:
            known[(kind, i)] = stats["incarnation"]
            sys.stderr.write(f"triad: {self.family} {kind} {i} died and was restarted (incarnation "
                             f"{stats['incarnation']}; at most {ACTOR_RESTARTS} per process)\n")
        return max(new, 0)

    def _collect(self, i: int, pending: dict[Any, int], issued: int, steps: int, chunk: int) -> int:
        """Ask actor ``i`` for ``chunk`` more vector steps if the run needs them; the env steps asked for so far."""
        if issued < steps:
            pending[self.actor_handles[i].collect.remote(chunk)] = i
            issued += chunk * self.config.envs
        return issued

    def _account(self, i: int, stats: Mapping[str, Any], collected: int, window: dict[str, float],
                 lags: dict[int, int]) -> int:
        """Book actor ``i``'s finished ``collect`` call: its weight lag and times in the window; the new env-step total."""
        collected += stats["env_steps"]
        self.learner.env_steps = collected
        lags[i] = self.learner.gradient_steps - max(stats["version"], 0)
        window["actor_seconds"] += stats["seconds"]
        window["actor_waited"] += stats["waited"]
        return collected

    def _learn(self, data: dict[str, np.ndarray], shard: int, ray: Any) -> dict[str, float]:
        """One learner step on a sampled batch; publish the weights every ``weight_period`` steps."""
        learner, c = self.learner, self.config
        learner.replay.shard = self.shard_handles[shard]
        data = {k: np.array(v) for k, v in data.items()}  # Ray hands out read-only views; torch wants writable arrays
        out = learner.regress(learner.batch(data, steps=c.n_step))
        learner.gradient_steps += 1
        if c.target_period and learner.gradient_steps % c.target_period == 0:
            learner.update_targets()
        if learner.gradient_steps % c.weight_period == 0:
            self._publish(ray)
        return {k: float(v) for k, v in out.items()}

    def _metrics(self, ray: Any, window: dict[str, float], collected: int, lags: Mapping[int, int]) -> dict[str, float]:
        """The Ape-X rows of a log window (module docstring); resets the window."""
        learner = self.learner
        now = time.perf_counter()
        seconds = max(now - window["t"], 1e-9)
        shards = [gather(s.stats.remote(), "apex replay shard") for s in self.shard_handles]
        inserts = sum(s["inserts"] for s in shards)
        samples = sum(s["samples"] for s in shards)
        self.stats = {"shards": shards, "lags": dict(lags), "restarts": self.restarts}
        out = {"actor_steps_per_second": (collected - window["steps"]) / seconds,
               "actor_wait_fraction": window["actor_waited"] / max(window["actor_seconds"], 1e-9),
               "learner_updates_per_second": (learner.gradient_steps - window["updates"]) / seconds,
               "learner_wait_fraction": min(window["learner_waited"] / seconds, 1.0),
               "replay_size": float(sum(s["size"] for s in shards)),
               "samples_per_insert": samples / inserts if inserts else 0.0,
               "weight_lag": float(np.mean(list(lags.values()))) if lags else 0.0,
               "weight_lag_max": float(max(lags.values())) if lags else 0.0,
               "actor_restarts": float(self.restarts), "learner_updates": float(learner.gradient_steps),
               "replay_inserts": float(inserts), "replay_samples": float(samples),
               "actor_priorities": float(sum(s["actor_priorities"] for s in shards)),
               "learner_priorities": float(sum(s["learner_priorities"] for s in shards))}
        window.update(t=now, steps=collected, updates=learner.gradient_steps, actor_seconds=0.0, actor_waited=0.0,
                      learner_waited=0.0)
        return out


def _means(logs: list[dict[str, float]]) -> dict[str, float]:
    if not logs:
        return {}
    return {k: float(np.mean([d[k] for d in logs if k in d])) for k in logs[0]}


def build(config: Any, spaces: Any, seed: int, name: str = "apex") -> ApexAgent:
    """The builder the registry calls: ``build(config, env_spaces, seed) -> Agent`` (needs Ray)."""
    return ApexAgent(config, spaces, seed, name)
