"""A3C: asynchronous advantage actor-critic with worker processes and shared parameters.

Mnih, Badia, Mirza, Graves, Lillicrap, Harley, Silver & Kavukcuoglu (2016), "Asynchronous Methods
for Deep Reinforcement Learning", Algorithm S3 (asynchronous advantage actor-critic). Each of
``workers`` processes (``torch.multiprocessing``, CPU only) repeats:

1. reserve ``envs · n_steps`` env steps of the global counter ``T`` (stop once ``T ≥ T_max``);
2. copy the shared parameters into its own network, ``θ' ← θ``;
3. run ``n_steps`` (the paper's ``t_max``) steps of its own vector env with π_θ';
4. take the gradient of the n-step advantage actor-critic loss at θ' with the shared on-policy
   learner (:meth:`~triad.agents.onpolicy.OnPolicyAgent.estimate` →
   :meth:`~triad.agents.onpolicy.OnPolicyAgent.minibatch_loss` →
   :meth:`~triad.agents.onpolicy.OnPolicyAgent.gradients`): advantages ``Â_t = G^{(k)}_t − V̂(s_t)``
   from :func:`triad.multistep.gae` with λ = 1, i.e. the forward-view k-step return bootstrapped
   from V̂ after the rollout's last step (and at truncations);
5. apply it to the shared parameters with :func:`rmsprop_step_` — lock-free (Hogwild; Recht, Ré,
   Wright & Niu 2011), as the paper does, or under a lock with ``lock=true``.

Design decisions
----------------
* **Shared optimiser statistics.** The paper compares momentum SGD, RMSProp with per-thread
  statistics and RMSProp whose mean square ``g`` is shared by all threads ("shared RMSProp"), and
  finds shared RMSProp the most robust (§4; supplementary "optimization details"). ``g`` lives in
  shared memory here (``shared_statistics=true``, default); ``false`` gives every worker its own.
  The update is the paper's non-centred RMSProp, ε inside the root (not torch's ``RMSprop``,
  which adds ε outside it): hence a function of its own rather than
  :meth:`~triad.agents.onpolicy.OnPolicyAgent.apply_gradients`.
* **Processes, not threads**, so the workers' Python runs in parallel; parameters and ``g`` sit in
  shared memory (``Module.share_memory()``); gradients stay in each worker. ``start_method=auto``
  forks where the platform can (fast: nothing is imported again); ``spawn`` and ``forkserver``
  start fresh interpreters (every worker imports torch, seconds each) and, as Python requires
  for them, a script that trains must guard its entry point with ``if __name__ == "__main__":``.
* **The main process** runs the training loop as for every agent (:mod:`triad.agents.loop`):
  :meth:`A3CAgent.drive` starts the workers and turns what they send through one queue —
  per rollout the env steps, the losses, the finished episodes and (on a tabular twin, at log
  steps) the policy-gradient estimate for the truth probes — into the loop's events; logging,
  progress, periodic evaluation, probes and checkpoints read the shared parameters from there.
* **Shutdown.** Workers ignore SIGINT and stop at the next rollout once the main process sets the
  stop event; closing :meth:`A3CAgent.drive` (the end of the run, Ctrl-C, an error anywhere, a
  NaN) sets it, waits for the workers (without reading the queue), and terminates any still alive after
  :data:`JOIN_SECONDS`. Workers are daemonic and also stop when their parent is gone (a killed
  main process: they notice at their next rollout), so none is left behind. A worker that fails
  sends its traceback (:class:`WorkerError` in the main process); one that dies without a word is
  noticed within :data:`POLL_SECONDS`.
* **NaN guard across processes.** A worker whose loss is NaN/inf does not apply it and reports
  ``step T: <quantity> is NaN``; the main process raises the loop's ``Diverged`` with it. The
  loop's own parameter check (log steps, checkpoints) reads the shared parameters, so a
  checkpoint never holds a NaN.

Determinism
-----------
With several workers the order in which gradients reach the shared parameters depends on the
operating system's scheduling, and Hogwild updates may interleave: two runs with the same seed
differ, which is inherent to asynchronous training. ``lock=true`` serialises the optimiser steps
(no interleaved writes) but not their order, so it does not make runs reproducible either; a fixed
schedule of turns would, at the price of the parallelism, and is not offered. What the seed does
fix with several workers: the initial parameters and every worker's env and sampling seeds
(:func:`worker_seeds`). With ``workers=1`` the single worker's
sequence of rollouts and updates depends only on the seed, so the final parameters, the training
episodes and the losses are bit-identical between runs. The periodic probes and evaluations read
the shared parameters when the main process gets to them, a little behind the worker, so those
rows may differ in the last digits; the final evaluation (after the workers stopped) does not.
A resumed run restores the shared parameters, ``g`` and the counters, and its workers start new
envs seeded from the run's seed, their index and the step resumed at: a valid continuation, not
the uninterrupted run's bit for bit.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import multiprocessing
import os
import queue as queue_module
import signal
import time
import traceback
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from triad.agents.config import A3CConfig
from triad.agents.onpolicy import EnvSpaces, OnPolicyAgent

POLL_SECONDS = 0.2
"""The main process checks its workers are alive whenever no message came for this long."""

REPORT_SECONDS = 0.05
"""A worker sends its rollouts' events at most this often (one message may hold several rollouts)."""

JOIN_SECONDS = 10.0
"""Shutdown waits this long for the workers to finish their rollout before terminating them."""


class WorkerError(RuntimeError):
    """A worker process failed (its traceback is in the message) or died without a word."""


class _WorkerDiverged(Exception):
    """Inside a worker: a loss is NaN/inf (sent to the main process, which raises the loop's Diverged)."""


# ------------------------------------------------------------------------------------ optimiser
def rmsprop_step_(params: list[torch.Tensor], grads: list[torch.Tensor], square_avg: list[torch.Tensor],
                  lr: float, alpha: float, eps: float) -> None:
    """Non-centred RMSProp in place: ``g ← α g + (1 − α) Δθ²``, ``θ ← θ − η Δθ / √(g + ε)``.

    ``params`` and ``square_avg`` (``g``) may live in shared memory; every worker then updates them
    without a lock (Hogwild). Shapes: one tensor per parameter, ``grads[i]`` and ``square_avg[i]``
    of the shape of ``params[i]``. Source: Mnih et al. (2016), supplementary "optimization details"
    (ε inside the square root; shared RMSProp when ``g`` is shared by the threads).
    """
    with torch.no_grad():
        torch._foreach_mul_(square_avg, alpha)
        torch._foreach_addcmul_(square_avg, grads, grads, value=1.0 - alpha)
        denom = torch._foreach_sqrt(torch._foreach_add(square_avg, eps))
        torch._foreach_addcdiv_(params, grads, denom, value=-lr)


def clip_by_global_norm_(grads: list[torch.Tensor], max_norm: float) -> float:
    """Scale ``grads`` in place so their global L2 norm is at most ``max_norm``; return the norm before."""
    norm = float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
    if max_norm > 0 and norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (norm + 1e-6))
    return norm


# ------------------------------------------------------------------------------------- workers
@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What every worker needs to know (picklable, for the ``spawn`` start method)."""

    config: A3CConfig
    name: str
    env: str
    obs: str | None
    max_episode_steps: int | None
    total: int
    """``T_max``: the run's env steps."""
    seed: int
    """The agent's seed; worker i's env and torch seeds are drawn from ``SeedSequence(seed, (i, start))``."""
    start: int
    """The global step the workers start at (0, or the step a resumed run continues from)."""
    track: bool
    """Send policy-gradient estimates for the truth probes (tabular twins)."""


def worker_seeds(seed: int, worker: int, start: int) -> tuple[int, int]:
    """``(env seed, torch seed)`` of ``worker``: independent streams from the run's agent seed, the
    worker's index and the step the workers started at (so a resumed run draws new ones)."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(worker), int(start)))
    env_seed, torch_seed = ss.generate_state(2)
    return int(env_seed), int(torch_seed)


def _worker(index: int, spec: WorkerSpec, model: torch.nn.Module, square_avg: list[torch.Tensor] | None,
            messages: Any, stop: Any, counter: Any, updates: Any, lock: Any) -> None:
    """A worker process: rollouts and shared updates until the counter is spent or ``stop`` is set."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    parent = os.getppid()  # the main process (or the forkserver); a change means it is gone
    pending: list[tuple] = []
    try:
        _work(index, spec, model, square_avg, messages, stop, counter, updates, lock, parent, pending)
        if os.getppid() != parent:  # nobody reads the queue: do not wait at exit to flush into it
            messages.cancel_join_thread()
            return
        messages.put(("events", index, pending))
        messages.put(("done", index, None))
    except _WorkerDiverged as exc:
        messages.put(("events", index, pending))
        messages.put(("diverged", index, str(exc)))
    except BaseException as exc:  # noqa: BLE001 — everything goes back to the main process
        messages.put(("error", index, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _work(index: int, spec: WorkerSpec, model: torch.nn.Module, square_avg: list[torch.Tensor] | None,
          messages: Any, stop: Any, counter: Any, updates: Any, lock: Any, parent: int, pending: list) -> None:
    from triad.agents import loop

    c = spec.config
    torch.set_num_threads(c.threads)
    env_seed, torch_seed = worker_seeds(spec.seed, index, spec.start)
    env = loop.make_env(spec.env, num_envs=c.envs, seed=env_seed, obs=spec.obs,
                        max_episode_steps=spec.max_episode_steps)
    try:
        local = OnPolicyAgent(c, loop.env_spaces(env), torch_seed, spec.name)
        local.total_steps = spec.total
        stepper = loop.VectorStepper(env, env_seed)
        shared = list(model.parameters())
        mine = list(local.model.parameters())
        stats = square_avg if square_avg is not None else [torch.zeros_like(p) for p in shared]
        per = stepper.B * c.n_steps
        sent = time.monotonic()
        while not stop.is_set() and os.getppid() == parent:  # a new parent: the main process is gone
            with counter.get_lock():
                before = counter.value
                if before >= spec.total:
                    break
                counter.value = now = before + per
            with torch.no_grad():
                torch._foreach_copy_(mine, shared)  # θ' ← θ
            seen = updates.value
            for _ in range(c.n_steps):
                action, extras = loop.act(local, stepper)
                local.observe(stepper.step(action, extras))
            data = local.buffer.data()
            local.buffer.clear()
            batch = local.estimate(data)
            loss, parts = local.minibatch_loss(batch, slice(None), 0.0)
            logs = {k: float(v) for k, v in parts.items()}
            for quantity, value in (*logs.items(), ("loss", loss.item())):
                if not math.isfinite(value):
                    raise _WorkerDiverged(f"step {now}: {quantity} is {'NaN' if math.isnan(value) else 'inf'}")
            grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(local.gradients(loss), mine)]
            logs["grad_norm"] = clip_by_global_norm_(grads, c.max_grad_norm)
            lr = c.lr * max(0.0, 1.0 - now / spec.total) if c.lr_schedule == "linear" else c.lr
            if lock is not None:
                with lock:
                    rmsprop_step_(shared, grads, stats, lr, c.rmsprop_alpha, c.optimizer_eps)
            else:
                rmsprop_step_(shared, grads, stats, lr, c.rmsprop_alpha, c.optimizer_eps)
            with updates.get_lock():
                updates.value += 1
                logs["staleness"] = float(updates.value - 1 - seen)  # shared updates since θ' was copied
            direction = None
            if spec.track and (now // c.log_every > before // c.log_every or now >= spec.total):
                # numpy, not tensors: a tensor in a message is shared memory its sender must outlive
                direction = (local.policy_gradient(batch),
                             {k: v.detach().numpy().copy() for k, v in local.model.state_dict().items()})
            finished = list(stepper.finished)
            stepper.finished.clear()
            pending.append((per, logs, finished, direction))
            if time.monotonic() - sent >= REPORT_SECONDS:
                messages.put(("events", index, pending[:]))
                pending.clear()
                sent = time.monotonic()
    finally:
        env.close()


def _start_method(config: A3CConfig) -> str:
    if config.start_method != "auto":
        return config.start_method
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _shutdown(procs: list[Any], messages: Any) -> None:
    """Stop the workers: give them :data:`JOIN_SECONDS` to finish their rollout, then terminate, then kill
    whatever is left. The queue is not read here: a worker that died mid-message, or a Ctrl-C inside the
    main process's last read, can leave half a message in the pipe, and the next read would block
    forever; a worker stuck on a full pipe is terminated instead."""
    started = [p for p in procs if p.pid is not None]
    deadline = time.monotonic() + JOIN_SECONDS
    while any(p.is_alive() for p in started) and time.monotonic() < deadline:
        time.sleep(0.05)
    for p in started:
        if p.is_alive():
            p.terminate()
    for p in started:
        p.join(1.0)
        if p.is_alive():
            p.kill()
            p.join()
    messages.close()
    messages.cancel_join_thread()


# --------------------------------------------------------------------------------------- agent
class A3CAgent:
    """The shared side of A3C (module docstring): the shared network and ``g``, the workers' driver.

    The network is an :class:`~triad.agents.onpolicy.OnPolicyAgent`'s (``learner``), moved to shared
    memory; acting (evaluation) and the probe tables read it. ``env_spaces.num_envs`` is the
    envs per worker.
    """

    def __init__(self, config: A3CConfig, spaces: EnvSpaces, seed: int, name: str = "a3c"):
        config.validate()
        self.config, self.name, self.seed = config, name, int(seed)
        self.spaces = EnvSpaces(spaces.observation_space, spaces.action_space, config.envs)
        self.learner = OnPolicyAgent(config, self.spaces, seed, name)
        self.model = self.learner.model
        self.model.share_memory()
        self.discrete = self.learner.discrete
        self.square_avg = [torch.zeros_like(p).share_memory_() for p in self.model.parameters()]
        self.env_steps = 0
        self.updates = 0
        self.total_steps: int | None = None
        self.track_direction = False
        """Ask the workers for policy-gradient estimates (the loop sets it on a tabular twin)."""
        self._direction: np.ndarray | None = None
        self._direction_model: torch.nn.Module | None = None

    # ------------------------------------------------------------------------------ driving
    def drive(self, options: Any, start_step: int) -> Iterator[tuple[int, dict[str, float], list[tuple[float, int]]]]:
        """Run the workers until ``options.steps`` env steps are spent; yield one event per rollout:
        ``(env steps, losses, finished episodes)``. Closing the generator stops the workers.

        Raises:
            loop.Diverged: a worker's loss was NaN/inf. WorkerError: a worker failed or died.
        """
        from triad.agents.loop import Diverged

        c = self.config
        ctx = torch.multiprocessing.get_context(_start_method(c))
        messages = ctx.Queue()
        stop = ctx.Event()
        counter = ctx.Value("q", int(start_step))
        updates = ctx.Value("q", int(self.updates))
        lock = ctx.Lock() if c.lock else None
        spec = WorkerSpec(c, self.name, options.env, options.obs, options.max_episode_steps, int(options.steps),
                          self.seed, int(start_step), bool(self.track_direction))
        stats = self.square_avg if c.shared_statistics else None
        procs = [ctx.Process(target=_worker, name=f"triad-a3c-worker-{i}", daemon=True,
                             args=(i, spec, self.model, stats, messages, stop, counter, updates, lock))
                 for i in range(c.workers)]
        try:
            for p in procs:
                p.start()
            running = set(range(c.workers))
            while running:
                try:
                    kind, index, payload = messages.get(timeout=POLL_SECONDS)
                except queue_module.Empty:
                    dead = sorted(i for i in running if not procs[i].is_alive())
                    if dead:
                        raise WorkerError(f"a3c worker {dead[0]} died (exit code {procs[dead[0]].exitcode}) "
                                          f"before finishing") from None
                    continue
                if kind == "events":
                    for added, logs, finished, direction in payload:
                        if direction is not None:
                            self._set_direction(*direction)
                        self.env_steps += added
                        yield added, logs, finished
                elif kind == "done":
                    running.discard(index)
                elif kind == "diverged":
                    raise Diverged(payload)
                else:
                    raise WorkerError(f"a3c worker {index} failed: {payload}")
        finally:
            stop.set()
            _shutdown(procs, messages)
            self.updates = int(updates.value)

    def _set_direction(self, direction: np.ndarray, state: Mapping[str, Any]) -> None:
        if self._direction_model is None:
            self._direction_model = copy.deepcopy(self.model)  # a private copy, not in shared memory
        self._direction_model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
        self._direction = direction

    # -------------------------------------------------------------------------------- actor
    def act(self, obs: np.ndarray, explore: bool = True,
            mask: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Actions of the shared policy (the loop's evaluation); the workers act with their own copies."""
        return self.learner.act(obs, explore=explore, mask=mask)

    def observe(self, step: Any) -> None:
        raise TypeError("a3c steps its environments in worker processes: the loop drives it with drive()")

    def update(self) -> None:
        raise TypeError("a3c updates from its worker processes: the loop drives it with drive()")

    # ------------------------------------------------------------------------------ weights
    def get_weights(self) -> dict[str, torch.Tensor]:
        return self.learner.get_weights()

    def set_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        self.learner.set_weights(weights)  # in place: the parameters stay in shared memory

    def state_dict(self) -> dict:
        """The shared parameters and ``g``, the counters and the last probe direction."""
        return {"model": self.learner.get_weights(), "square_avg": [g.detach().clone() for g in self.square_avg],
                "env_steps": self.env_steps, "updates": self.updates, "total_steps": self.total_steps,
                "direction": self._direction,
                "direction_model": None if self._direction_model is None else self._direction_model.state_dict()}

    def load_state_dict(self, d: Mapping) -> None:
        self.learner.set_weights(d["model"])
        with torch.no_grad():
            for g, saved in zip(self.square_avg, d["square_avg"]):
                g.copy_(saved)
        self.env_steps, self.updates, self.total_steps = d["env_steps"], d["updates"], d["total_steps"]
        self._direction, self._direction_model = None, None
        if d["direction_model"] is not None:
            self._set_direction(d["direction"], d["direction_model"])

    def parameters_finite(self) -> str | None:
        return self.learner.parameters_finite()

    # ------------------------------------------------------------------------------- probes
    def policy_probs(self, obs_table: np.ndarray) -> torch.Tensor:
        return self.learner.policy_probs(obs_table)

    def policy_table(self, obs_table: np.ndarray) -> np.ndarray:
        return self.learner.policy_table(obs_table)

    def value_table(self, obs_table: np.ndarray) -> np.ndarray | None:
        return self.learner.value_table(obs_table)

    def policy_parameters(self) -> list[torch.nn.Parameter]:
        return self.learner.policy_parameters()

    def policy_direction(self) -> np.ndarray | None:
        """The policy-gradient estimate a worker sent last (at the parameters it had copied), flat."""
        return self._direction

    def direction_policy(self) -> tuple[Any, list[torch.nn.Parameter]]:
        """``(probs, params)`` at the parameters of :meth:`policy_direction` (see the on-policy learner)."""
        model, learner = self._direction_model, self.learner

        def probs(obs_table: np.ndarray) -> torch.Tensor:
            return learner.head.probs(model.policy_output(learner.encode(obs_table)))

        return probs, model.policy_parameters()


def build(config: A3CConfig, spaces: EnvSpaces, seed: int, name: str = "a3c") -> A3CAgent:
    """The builder the registry calls."""
    return A3CAgent(config, spaces, seed, name)
