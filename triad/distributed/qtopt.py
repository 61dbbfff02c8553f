"""Decoupled QT-Opt on Ray: collectors, Bellman updaters and a trainer, each at its own rate (Kalashnikov et al. 2018).

QT-Opt's distributed design (§4 and Fig. 3 of the paper) splits Q-learning into processes that
never wait for each other's steps; here each is a Ray actor, the trainer the ``triad`` process::

    collector i (Ray actor) ──transitions──▶ replay shard (Ray actor) ──batch──▶ Bellman updater j (Ray actor)
       ▲  CEM argmax of its Q̂ + noise            (ReplayShard, uniform)          y = r + γ(1 − term)·min_k Q̄_k(s', a*)
       │                                                                          a* = CEM argmax Q̄_1(s', ·)  │
       │                                         ┌──── target critics Q̄_1, Q̄_2 ──────────────────┘  ▲          │
       │                                         ▼                                                    │          ▼
       └── weights (object store) ◀── parameter server ◀── trainer (this process) ◀── train buffer (Ray actor, FIFO)
                                                   regress Q̂(s, a) on y, Polyak Q̄_1, lagged Q̄_2

* **Collectors** (:class:`QTOptCollector`, Ape-X's :class:`~triad.distributed.apex.ApexActor`
  with a QT-Opt agent): each steps its own vector env with the single-process ``qtopt``'s
  behaviour — uniform actions for its share of ``learning_starts``, then the CEM argmax of its copy
  of the critic plus Gaussian noise (:meth:`triad.agents.continuous_q.ContinuousQAgent.select`) —
  sends its transitions to its shard every ``local_buffer`` of them and pulls the newest weights
  every ``weight_pull`` env steps.
* **Replay shards** (:class:`~triad.distributed.apex.ReplayShard`) of one-step transitions with
  priority exponent 0 (uniform, as QT-Opt); with ``samples_per_insert > 0`` their
  :class:`~triad.distributed.apex.SampleToInsert` limiter ties the updaters to the collectors.
* **Bellman updaters** (:class:`QTOptUpdater`): each samples the shards in turn, pulls the newest
  target critics, labels the batch with :class:`~triad.agents.continuous_q.BellmanUpdater` — the
  object and code path the single-process ``qtopt`` labels with
  (:meth:`~triad.agents.continuous_q.ContinuousQAgent.labelled` on
  :meth:`~triad.agents.offpolicy.OffPolicyAgent.transitions`) — and pushes ``(obs, action, target,
  version)`` to the train buffer, waiting while it is full.
* **Train buffer** (:class:`TrainBuffer`): a bounded FIFO of labelled batches.
* **Trainer** (:class:`QTOptDistributedAgent`, in the driver): one regression step of ``qtopt``
  (:meth:`~triad.agents.continuous_q.ContinuousQAgent.regress`: ½ mean (y − Q̂)², Adam) per batch
  it pulls, its target update every ``target_period`` steps (Polyak Q̄_1; Q̄_2 a copy every
  ``lag_period``), and its weights (online and target critics) published every ``weight_period``.

Metrics in the run's ``log.csv`` (every ``log_every`` env steps, rates over that window):
``collector_steps_per_second`` (all collectors' env steps per second of wall time),
``collector_wait_fraction``, ``updater_labels_per_second`` (labelled transitions per second, all
updaters), ``updater_wait_fraction`` (share of the updaters' time spent waiting after a refused
sample or a full train buffer; Ray's round trips are not waiting), ``trainer_updates_per_second``,
``trainer_wait_fraction`` (share of wall time the train buffer was empty), ``train_buffer_size`` (batches), ``labels_produced`` /
``labels_consumed`` (transitions pushed into / taken from the train buffer so far), ``label_age``
and ``label_age_max`` (trainer steps between the weights a consumed label was computed with and the
trainer's, over the window), ``weight_lag`` / ``weight_lag_max`` (the same for the collectors'
weights at their latest report), ``replay_size``, ``replay_inserts``, ``replay_samples``,
``trainer_updates``, ``collector_restarts`` and ``updater_restarts``. At the end stderr has one
line with the run's mean rates (over the whole run, the deployment's start-up included).

Faults: collectors and updaters are Ray actors with restarts (:data:`triad.distributed.ACTOR_RESTARTS`).
A restarted one registers again with the parameter server, gets a new incarnation (new seeds; a
collector new stream ids and no second random start, nor one after a resume), pulls the newest weights, and its unfinished
call runs again; the run completes, logs the restart counts and says so on stderr. Data and labels
the dead process had not sent are lost.

Not bit-reproducible (the processes race), as Ape-X. A checkpoint keeps the trainer, not the shards
or the train buffer.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from triad.distributed.apex import (
    ApexActor,
    ApexAgent,
    Layout,
    ParameterServer,
    ReplayShard,
    Waiting,
    _means,
    actor_seeds,
)
from triad.distributed.cluster import ACTOR_RESTARTS, actor, gather, require_ray, session

WHAT = "triad train qtopt --distributed"
"""What needs Ray (the :class:`~triad.distributed.RayMissing` message)."""

FINISH_SECONDS = 10.0
"""How long the end of a run waits for the updaters' last calls to return."""


def single_process(config: Any, **changes: Any) -> Any:
    """The :class:`~triad.agents.config.QTOptConfig` of a distributed config's fields (what each process's agent is
    built with), with ``changes``."""
    from triad.agents import config as cfg

    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(cfg.QTOptConfig)}
    return dataclasses.replace(cfg.QTOptConfig(**fields), **changes)


def target_weights(model: Mapping[str, Any], critics: int) -> list[dict[str, Any]]:
    """The target critics' parameters ``[Q̄_1, Q̄_2][:critics]`` in a published model (as torch tensors).

    ``target.critic.*`` is Q̄_1 (or, without target networks, the online ``critic.*``),
    ``target.lagged.critic.*`` the lagged Q̄_2 (:meth:`ContinuousQAgent._model`).
    """
    import torch

    def part(prefix: str) -> dict[str, Any]:
        return {k[len(prefix):]: torch.from_numpy(np.array(v)) for k, v in model.items() if k.startswith(prefix)}

    first = part("target.critic.") or part("critic.")
    return [first, part("target.lagged.critic.")][:critics]


# --------------------------------------------------------------------------------- Ray actors
class QTOptCollector(ApexActor):
    """One collector: its env(s), the single-process qtopt's behaviour on its critic copy, its shard."""

    fields = Layout((), "<f4").fields
    """Transitions only: no Ape-X extras."""

    def __init__(self, config: Any, env: str, obs: str | None, max_episode_steps: int | None, index: int,
                 seed: int, server: str, shard: str, fresh: bool = True):
        from triad.agents import loop
        from triad.agents.continuous_q import ContinuousQAgent

        c = config
        self.n = 1
        seed_i = self._connect(env, obs, max_episode_steps, index, seed, server, shard, c.collectors, c.envs)
        # Uniform actions for this collector's share of learning_starts: in a fresh run's first incarnation only.
        starts = -(-c.learning_starts // c.collectors) if fresh and self.incarnation == 0 else 0
        local = single_process(c, capacity=4 * (c.local_buffer + 2 * c.envs), learning_starts=starts)
        self.agent = ContinuousQAgent(local, loop.env_spaces(self.env), seed_i, name="qtopt collector")
        self.epsilon = c.epsilon
        self._ready(c.collectors, c.envs, c.local_buffer)

    def priorities(self, keys: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """No priorities (uniform replay: the shard's α is 0) and the one-step sequences at ``keys``."""
        return np.zeros(keys.size), self.agent.replay.sequences_at(keys, 1)


class TrainBuffer:
    """A bounded FIFO of labelled batches between the Bellman updaters and the trainer."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.queue: collections.deque[dict[str, Any]] = collections.deque()
        self.puts = self.gets = self.refused_puts = self.labels_in = self.labels_out = 0
        self.closed = False

    def put(self, batch: dict[str, Any]) -> str:
        """Append ``batch``: ``"stored"``; ``"full"`` (nothing stored: the updater waits and tries again); or
        ``"closed"`` (the run is over: the updater stops)."""
        if self.closed:
            return "closed"
        if len(self.queue) >= self.capacity:
            self.refused_puts += 1
            return "full"
        self.queue.append(batch)
        self.puts += 1
        self.labels_in += len(batch["target"])
        return "stored"

    def close(self) -> None:
        """The run is over: refuse every further batch, so the updaters' calls end."""
        self.closed = True

    def is_closed(self) -> bool:
        return self.closed

    def get(self) -> dict[str, Any] | None:
        """The oldest batch, or ``None`` when empty."""
        if not self.queue:
            return None
        batch = self.queue.popleft()
        self.gets += 1
        self.labels_out += len(batch["target"])
        return batch

    def stats(self) -> dict[str, int]:
        return {"size": len(self.queue), "puts": self.puts, "gets": self.gets, "refused_puts": self.refused_puts,
                "labels_in": self.labels_in, "labels_out": self.labels_out}


class QTOptUpdater:
    """One Bellman updater: samples the shards, labels with the newest target critics, feeds the train buffer."""

    def __init__(self, config: Any, spaces: Any, index: int, seed: int, server: str, shards: list[str], buffer: str):
        from triad.agents.continuous_q import ContinuousQAgent

        ray = require_ray(WHAT)
        c = config
        self.server, self.buffer = ray.get_actor(server), ray.get_actor(buffer)
        self.shards = [ray.get_actor(s) for s in shards]
        self.index, self.batch_size = index, c.batch_size
        self.incarnation = int(ray.get(self.server.register.remote(c.collectors + index, os.getpid())))
        seed_j = actor_seeds(seed, c.updaters, self.incarnation)[index]
        self.agent = ContinuousQAgent(single_process(c, capacity=1), spaces, seed_j, name="qtopt updater")
        self.turn = index % len(self.shards)
        self.version = -1
        self.pull()

    def pull(self) -> None:
        """Load the newest published target critics into the labeller if they are newer than its own."""
        ray = require_ray(WHAT)
        version, ref = ray.get(self.server.latest.remote())
        if version > self.version and ref:
            labeller = self.agent.labeller
            labeller.set_weights(target_weights(ray.get(ref[0]), len(labeller.critics)))
            self.version = version

    def label(self, data: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The labelled batch of transitions ``data`` (replay fields, leading axis ``N``), as the single-process
        qtopt labels a replayed batch: ``obs (N, obs_dim)``, ``action (N, d)``, ``target (N,)``, and the
        ``version`` (trainer step) of the target critics used."""
        batch = self.agent.labelled(self.agent.transitions(dict(data)))
        return {"obs": np.asarray(data["obs"]), "action": np.asarray(data["action"]),
                "target": batch.target.numpy(), "version": self.version, "updater": self.index}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Set the labeller's generator (the CEM draws) to ``state`` (:meth:`BellmanUpdater.state_dict`)."""
        self.agent.labeller.load_state_dict(state)

    def _sample(self) -> tuple[dict[str, np.ndarray] | None, float]:
        """A batch from the shards in turn (waiting while they refuse; ``None`` once the train buffer is closed) and
        the seconds waited."""
        ray = require_ray(WHAT)
        start, pause = None, 0.001
        while True:
            data = ray.get(self.shards[self.turn].sample.remote(self.batch_size, 0.0))
            self.turn = (self.turn + 1) % len(self.shards)
            waited = 0.0 if start is None else time.perf_counter() - start
            if data is not None:
                # One-step sequences (1, N): their first row; the importance weights are 1 (uniform).
                return {k: np.array(v[0]) for k, v in data.items() if k != "weight"}, waited
            if ray.get(self.buffer.is_closed.remote()):
                return None, waited
            start = time.perf_counter() if start is None else start
            time.sleep(pause)
            pause = min(2 * pause, 0.02)

    def _push(self, batch: dict[str, Any]) -> tuple[bool, float]:
        """Put ``batch`` into the train buffer, waiting while it is full: whether it was stored, and the seconds waited."""
        ray = require_ray(WHAT)
        status = ray.get(self.buffer.put.remote(batch))
        if status != "full":
            return status == "stored", 0.0
        start, pause = time.perf_counter(), 0.001
        while (status := ray.get(self.buffer.put.remote(batch))) == "full":
            time.sleep(pause)
            pause = min(2 * pause, 0.02)
        return status == "stored", time.perf_counter() - start

    def work(self, batches: int) -> dict[str, Any]:
        """Label ``batches`` batches (pulling the newest weights before each), fewer once the train buffer is
        closed; what happened."""
        start, waited, labelled = time.perf_counter(), 0.0, 0
        for _ in range(batches):
            self.pull()
            data, w = self._sample()
            waited += w
            if data is None:
                break
            stored, w = self._push(self.label(data))
            waited += w
            if not stored:
                break
            labelled += 1
        return {"updater": self.index, "incarnation": self.incarnation, "labels": labelled * self.batch_size,
                "seconds": time.perf_counter() - start, "waited": waited, "version": self.version}

    def ping(self) -> int:
        return os.getpid()


# --------------------------------------------------------------------------------- the trainer
class QTOptDistributedAgent(ApexAgent):
    """The training loop's agent: the trainer (a single-process qtopt agent), and in :meth:`drive` the rest on Ray.

    Acting (evaluation) is the trainer's CEM argmax, as ``qtopt``'s.
    """

    what = WHAT
    family = "qtopt"

    def __init__(self, config: Any, spaces: Any, seed: int, name: str = "qtopt-distributed"):
        require_ray(WHAT, config.address or None)
        from triad.agents.continuous_q import ContinuousQAgent

        config.validate()
        self.config, self.name, self.seed, self.spaces = config, name, int(seed), spaces
        self.learner = ContinuousQAgent(single_process(config, capacity=1), spaces, seed, name)
        space = spaces.observation_space
        self.layout = Layout(tuple(space.shape), np.dtype(space.dtype).str, 0, (self.learner.action_dim,))
        self.total_steps: int | None = None
        self.track_direction = False
        self.actor_handles: list[Any] = []
        self.shard_handles: list[Any] = []
        self.updater_handles: list[Any] = []
        self.server: Any = None
        self.buffer: Any = None
        self.restarts = 0
        self.updater_restarts = 0
        self.stats: dict[str, Any] = {}
        self.fresh = True

    def state_dict(self) -> dict:
        return {**super().state_dict(), "updater_restarts": self.updater_restarts}

    def load_state_dict(self, d: Mapping) -> None:
        super().load_state_dict(d)
        self.updater_restarts = int(d.get("updater_restarts", 0))

    def published(self) -> Mapping[str, Any]:
        """The trainer's online critic and its target critics (the updaters label with the targets)."""
        return {k: v.detach().clone() for k, v in self.learner._model().items()}

    # ------------------------------------------------------------------------------- the run
    def _start(self, ray: Any, options: Any) -> None:
        c = self.config
        prefix = f"triad-qtopt-{uuid.uuid4().hex[:12]}"
        server, buffer, shards = f"{prefix}-server", f"{prefix}-buffer", [f"{prefix}-shard-{j}" for j in range(c.shards)]
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(self.seed).spawn(c.shards + 2)]
        self.server = actor(ParameterServer, restarts=0).options(name=server).remote()
        self.shard_handles = [actor(ReplayShard, restarts=0).options(name=shards[j]).remote(c, self.layout, j, seeds[j])
                              for j in range(c.shards)]
        self.buffer = actor(TrainBuffer, restarts=0).options(name=buffer).remote(c.train_buffer)
        self._publish(ray)
        collector = actor(QTOptCollector, restarts=ACTOR_RESTARTS)
        self.actor_handles = [collector.options(name=f"{prefix}-collector-{i}").remote(
            c, options.env, options.obs, options.max_episode_steps, i, seeds[-2], server, shards[i % c.shards],
            self.fresh) for i in range(c.collectors)]
        updater = actor(QTOptUpdater, restarts=ACTOR_RESTARTS)
        self.updater_handles = [updater.options(name=f"{prefix}-updater-{j}").remote(
            c, self.spaces, j, seeds[-1], server, shards, buffer) for j in range(c.updaters)]

    def _stop(self, ray: Any) -> None:
        for handle in (*self.updater_handles, self.buffer):
            if handle is not None:
                with contextlib.suppress(Exception):
                    ray.kill(handle, no_restart=True)
        self.updater_handles, self.buffer = [], None
        super()._stop(ray)

    def drive(self, options: Any, start_step: int) -> Iterator[tuple[int, dict[str, float], list[tuple[float, int]]]]:
        """Run collectors and updaters until ``options.steps`` env steps are collected while the trainer regresses;
        one event ``(env steps, logs, finished episodes)`` per finished ``collect`` call of a collector. At the end,
        one line on stderr with the run's mean rates.

        Raises:
            DistributedError: a collector, updater, shard, the train buffer or the parameter server was lost for good.
        """
        c = self.config
        with session(c.cpus or None, c.address or None, what=WHAT):
            ray = require_ray(WHAT)
            try:
                self.fresh = start_step == 0  # a resumed run's collectors act with the policy from the start
                self._start(ray, options)
                start, steps, updates = time.perf_counter(), int(start_step), self.learner.gradient_steps
                for event in self._run(ray, options, start_step):
                    steps += event[0]
                    yield event
                seconds = max(time.perf_counter() - start, 1e-9)
                buffer = gather(self.buffer.stats.remote(), "qtopt train buffer")
                sys.stderr.write(
                    f"triad: qtopt --distributed: collectors {(steps - start_step) / seconds:.0f} env steps/s, "
                    f"updaters {buffer['labels_in'] / seconds:.0f} labels/s, trainer "
                    f"{(self.learner.gradient_steps - updates) / seconds:.1f} updates/s; restarts: "
                    f"{self.restarts} collector(s), {self.updater_restarts} updater(s)\n")
            finally:
                self._stop(ray)

    def _run(self, ray: Any, options: Any, start_step: int) -> Iterator[tuple[int, dict, list]]:
        c, learner = self.config, self.learner
        chunk, issued, collecting = self._begin(options, start_step)
        collected = int(start_step)
        labelling = {h.work.remote(c.updater_batches): j for j, h in enumerate(self.updater_handles)}
        get: Any = self.buffer.get.remote()
        retry_at, empty = 0.0, Waiting()  # the train buffer empty: the trainer waits for the updaters
        logs: list[dict[str, float]] = []
        lags: dict[int, int] = {}
        ages: list[int] = []
        known: dict[tuple[str, int], int] = {}
        window = {"t": time.perf_counter(), "steps": collected, "updates": learner.gradient_steps, "labels": 0,
                  "actor_seconds": 0.0, "actor_waited": 0.0, "updater_seconds": 0.0, "updater_waited": 0.0,
                  "trainer_waited": 0.0}
        learner.total_steps = options.steps
        while collecting:
            now = time.perf_counter()
            if get is None and now >= retry_at:
                get = self.buffer.get.remote()
            refs = [*collecting, *labelling, *([get] if get is not None else [])]
            ready, _ = ray.wait(refs, num_returns=1, timeout=None if get is not None else max(retry_at - now, 0.0))
            if not ready:
                continue
            ref = ready[0]
            if get is not None and ref == get:
                batch, get = gather(ref, "qtopt train buffer"), None
                if batch is None:  # the trainer is ahead of the updaters: wait
                    empty.refused()
                    retry_at = time.perf_counter() + 0.002
                    continue
                window["trainer_waited"] += empty.served()
                get = self.buffer.get.remote()  # the next batch is fetched while this one is regressed on
                ages.append(learner.gradient_steps - max(int(batch["version"]), 0))
                logs.append(self._train(batch, ray))
                continue
            if ref in labelling:
                j = labelling.pop(ref)
                stats = gather(ref, f"qtopt Bellman updater {j}")
                self.updater_restarts += self._restarted("Bellman updater", j, stats, known)
                window["labels"] += stats["labels"]
                window["updater_seconds"] += stats["seconds"]
                window["updater_waited"] += stats["waited"]
                labelling[self.updater_handles[j].work.remote(c.updater_batches)] = j
                continue
            i = collecting.pop(ref)
            stats = gather(ref, f"qtopt collector {i}")
            self.restarts += self._restarted("collector", i, stats, known)
            collected = self._account(i, stats, collected, window, lags)
            issued = self._collect(i, collecting, issued, options.steps, chunk)
            out = _means(logs)
            logs = []
            if collected // c.log_every > (collected - stats["env_steps"]) // c.log_every or not collecting:
                out.update(self._metrics(window, collected, lags, ages))
                ages = []
            yield stats["env_steps"], out, stats["episodes"]
        self._finish(ray, labelling)

    def _finish(self, ray: Any, labelling: Mapping[Any, int]) -> None:
        """Close the train buffer and let the updaters' calls end (so none is cut off when they are stopped)."""
        self.buffer.close.remote()
        with contextlib.suppress(Exception):
            ray.wait(list(labelling), num_returns=len(labelling), timeout=FINISH_SECONDS)

    def _train(self, batch: Mapping[str, Any], ray: Any) -> dict[str, float]:
        """One qtopt regression step on a labelled batch, the target update, the weights published every K steps."""
        import torch

        from triad.agents.continuous_q import Labelled

        learner, c = self.learner, self.config
        labelled = Labelled(learner.encode(np.array(batch["obs"])), torch.from_numpy(np.array(batch["action"])),
                            torch.from_numpy(np.array(batch["target"])), {})
        out = learner.regress(labelled)
        learner.gradient_steps += 1
        if c.target_period and learner.gradient_steps % c.target_period == 0:
            learner.update_targets()
        if learner.gradient_steps % c.weight_period == 0:
            self._publish(ray)
        return {k: float(v) for k, v in out.items()}

    def _metrics(self, window: dict[str, float], collected: int, lags: Mapping[int, int],
                 ages: list[int]) -> dict[str, float]:
        """The decoupled QT-Opt rows of a log window (module docstring); resets the window."""
        learner = self.learner
        now = time.perf_counter()
        seconds = max(now - window["t"], 1e-9)
        shards = [gather(s.stats.remote(), "qtopt replay shard") for s in self.shard_handles]
        buffer = gather(self.buffer.stats.remote(), "qtopt train buffer")
        self.stats = {"shards": shards, "buffer": buffer, "lags": dict(lags), "restarts": self.restarts,
                      "updater_restarts": self.updater_restarts}
        out = {"collector_steps_per_second": (collected - window["steps"]) / seconds,
               "collector_wait_fraction": window["actor_waited"] / max(window["actor_seconds"], 1e-9),
               "updater_labels_per_second": window["labels"] / seconds,
               "updater_wait_fraction": window["updater_waited"] / max(window["updater_seconds"], 1e-9),
               "trainer_updates_per_second": (learner.gradient_steps - window["updates"]) / seconds,
               "trainer_wait_fraction": min(window["trainer_waited"] / seconds, 1.0),
               "train_buffer_size": float(buffer["size"]), "labels_produced": float(buffer["labels_in"]),
               "labels_consumed": float(buffer["labels_out"]),
               "label_age": float(np.mean(ages)) if ages else 0.0, "label_age_max": float(max(ages, default=0)),
               "weight_lag": float(np.mean(list(lags.values()))) if lags else 0.0,
               "weight_lag_max": float(max(lags.values())) if lags else 0.0,
               "replay_size": float(sum(s["size"] for s in shards)),
               "replay_inserts": float(sum(s["inserts"] for s in shards)),
               "replay_samples": float(sum(s["samples"] for s in shards)),
               "trainer_updates": float(learner.gradient_steps), "collector_restarts": float(self.restarts),
               "updater_restarts": float(self.updater_restarts)}
        window.update(t=now, steps=collected, updates=learner.gradient_steps, labels=0, actor_seconds=0.0,
                      actor_waited=0.0, updater_seconds=0.0, updater_waited=0.0, trainer_waited=0.0)
        return out


def build(config: Any, spaces: Any, seed: int, name: str = "qtopt-distributed") -> QTOptDistributedAgent:
    """The builder the registry calls: ``build(config, env_spaces, seed) -> Agent`` (needs Ray)."""
    return QTOptDistributedAgent(config, spaces, seed, name)
