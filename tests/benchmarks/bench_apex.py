"""Ape-X on this machine: env steps/s and wall time to eval ≥ 475 on CartPole-v1 with 1, 2, 4 actors vs DQN.

    python tests/benchmarks/bench_apex.py [--actors 1 2 4] [--steps 60000] [--dqn-steps 50000]
        [--eval-every 5000] [--max-seconds 420] [--seed 0] [--record]

In one process, one after the other (load average printed before each):

1. Ray: ``import ray`` and the start of a local instance (``triad.distributed.session(workers=2)``),
   then the start-up of an Ape-X deployment with 4 actors (parameter server, shard, actors each
   importing torch and building their env and network) until every actor answers, and the memory
   (Pss, ``/proc/PID/smaps_rollup``) of every process under this one, by kind.
2. The parts alone, in this process without Ray: one learner step (the value suite's regression on a
   batch of 64 3-step sequences, dueling 256×256), a shard's insert of 50 transitions / sample of 64
   sequences / priority update of 64, an actor's env step (act, step, store; priorities of its
   local buffer amortised), and a shard call's Ray round trip. Their inverses are the rates each part
   could sustain alone on one core.
3. ``triad train dqn`` (the CartPole zoo preset) and ``triad train apex --set actors=N`` for each N,
   evaluated every ``--eval-every`` env steps (10 greedy episodes); a run stops at the first
   eval ≥ 475 or after ``--max-seconds`` of wall time. Reported: wall time and env steps to 475,
   env steps/s, and for Ape-X the logged actor env steps/s, learner updates/s, wait fractions, samples
   per insert and weight lag of the last window, and the peak Pss of the process tree.

``--record`` also writes the measurements for the paper (``tests/benchmarks/records/apex``,
:func:`triad.paper.write_benchmark`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd


def say(*args: object) -> None:
    """Print to the real stdout (a Ray session sends ``sys.stdout`` to stderr while it lasts)."""
    print(*args, file=sys.__stdout__, flush=True)


class Reached(Exception):
    """Stops a run: its eval reached the target, or its time ran out."""


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


# ------------------------------------------------------------------------------------- memory
def pss_by_kind(root: int) -> dict[str, tuple[int, float]]:
    """``kind -> (processes, Pss MiB)`` over ``root`` and every process below it."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parent.items() if pp == pid and p not in tree]
        tree.update(kids)
        frontier.extend(kids)
    out: dict[str, tuple[int, float]] = {}
    for pid in tree:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                       if line.startswith("Pss:")) / 1024
        except (OSError, StopIteration):
            continue
        kind = "this process (driver / learner)" if pid == root else next(
            (label for key, label in (("ApexActor", "Ape-X actors"), ("ReplayShard", "replay shard"),
                                      ("ParameterServer", "parameter server"), ("ray::IDLE", "idle Ray workers"),
                                      ("ray::", "other Ray workers")) if key in cmd), "Ray's own processes")
        n, total = out.get(kind, (0, 0.0))
        out[kind] = (n + 1, total + pss)
    return out


class PeakMemory:
    """Samples :func:`pss_by_kind` every ``period`` seconds in a thread; keeps the sample of largest total."""

    def __init__(self, period: float = 3.0):
        self.period, self.peak, self.total = period, {}, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = pss_by_kind(os.getpid())
            total = sum(v for _, v in sample.values())
            if total > self.total:
                self.peak, self.total = sample, total
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def show_memory(sample: dict[str, tuple[int, float]]) -> None:
    say("| processes | count | Pss MiB |\n|---|---|---|")
    for kind, (n, mib) in sorted(sample.items(), key=lambda kv: -kv[1][1]):
        say(f"| {kind} | {n} | {mib:.0f} |")
    say(f"| **total** | {sum(n for n, _ in sample.values())} | **{sum(v for _, v in sample.values()):.0f}** |")


# ------------------------------------------------------------------------------------- parts
def timed(fn, number: int) -> float:
    """Median seconds per call over 5 runs of ``number`` calls."""
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return float(np.median(runs))


def parts(ray) -> None:
    from triad.agents import config as cfg
    from triad.agents import loop
    from triad.agents.value import ValueAgent
    from triad.distributed import actor, apex

    c = cfg.ApexConfig()
    env = loop.make_env("CartPole-v1", 1, seed=0)
    spaces = loop.env_spaces(env)
    learner = apex._learner_class()(c, spaces, 0, "apex")
    shard = apex.ReplayShard(c, apex.Layout((4,), "<f4", 2), 0, 0)
    shard.limiter = apex.SampleToInsert(1.0, 0, 1e18)  # the limiter out of the way: the shard's own cost
    eps = apex.actor_epsilons(4)[1]
    local = cfg.ValueConfig(**{f: getattr(c, f) for f in cfg.ValueConfig.__dataclass_fields__})
    import dataclasses

    local = dataclasses.replace(local, capacity=4 * (c.local_buffer + 4), prioritized=False, target_period=0,
                                explore_initial=eps, explore_final=eps, random_starts=False)
    agent = ValueAgent(local, spaces, 1, name="actor")
    stepper = loop.VectorStepper(env, 1)
    unsent: list[int] = []

    def env_step() -> None:
        before = agent.replay.added
        action, extras = loop.act(agent, stepper)
        agent.observe(stepper.step(action, extras))
        unsent.extend(range(before, agent.replay.added))
        if len(unsent) >= c.local_buffer:
            keys = np.asarray(unsent)
            ready = agent.replay.startable(keys, c.n_step)
            td, data = apex.initial_priorities(agent, keys[ready], c.n_step)
            rows = {f: data[f][0] for f in apex.STORED}
            shard.insert(rows, agent.replay.streams_of(keys[ready]), td)
            unsent[:] = keys[~ready].tolist()

    for _ in range(3000):
        env_step()
    t_env = timed(env_step, 500)
    rows = {f: v[0] for f, v in agent.replay.sequences_at(np.arange(agent.replay.added - 60,
                                                                    agent.replay.added - 10), 3).items()}
    streams = np.full(50, 7)
    td = np.random.default_rng(0).random(50)
    t_insert = timed(lambda: shard.insert(rows, streams, td), 200)
    shard.limiter.samples = 0
    t_sample = timed(lambda: shard.sample(64, 0.4), 200)
    batch = shard.sample(64, 0.4)
    t_update = timed(lambda: shard.update_priorities(batch["key"][0], td[:64] if td.size >= 64 else
                                                     np.resize(td, 64)), 200)
    learner.replay.update_priorities = lambda keys, d: None
    b = learner.batch(batch, steps=3)
    t_learn = timed(lambda: learner.regress(b), 50)
    free = dataclasses.replace(c, samples_per_insert=1e-9)  # the limiter never refuses these inserts
    remote = actor(apex.ReplayShard, restarts=0).remote(free, apex.Layout((4,), "<f4", 2), 0, 0)
    ray.get(remote.stats.remote())
    t_remote_stats = timed(lambda: ray.get(remote.stats.remote()), 100)
    t_remote_insert = timed(lambda: ray.get(remote.insert.remote(rows, streams, td)), 50)
    ray.kill(remote)
    env.close()
    say(f"\nparts alone, one process ({load()}):\n")
    say("| part | time per call | rate alone (one core) |\n|---|---|---|")
    say(f"| learner step (batch 64 × 3-step, dueling 256×256, double) | {t_learn * 1e3:.2f} ms | "
          f"{1 / t_learn:.0f} updates/s = {64 / t_learn:.0f} samples/s = {64 / t_learn / c.samples_per_insert:.0f} "
          f"env steps/s at {c.samples_per_insert:g} samples per insert |")
    say(f"| actor env step (act, CartPole step, store; priorities amortised) | {t_env * 1e6:.0f} µs | "
          f"{1 / t_env:.0f} env steps/s |")
    say(f"| shard insert of 50 transitions (4 fields + extras, priorities) | {t_insert * 1e6:.0f} µs | "
          f"{50 / t_insert:.0f} inserts/s |")
    say(f"| shard sample of 64 × 3-step sequences | {t_sample * 1e6:.0f} µs | {64 / t_sample:.0f} samples/s |")
    say(f"| shard priority update of 64 | {t_update * 1e6:.0f} µs | {64 / t_update:.0f} updates/s |")
    say(f"| Ray round trip, empty shard call (stats) | {t_remote_stats * 1e3:.2f} ms | — |")
    say(f"| Ray round trip, insert of 50 | {t_remote_insert * 1e3:.2f} ms | {50 / t_remote_insert:.0f} inserts/s |")


def deployment_startup(ray, actors: int = 4) -> None:
    """Seconds until a parameter server, a shard and ``actors`` actors all answer; memory then."""
    from triad.agents import config as cfg
    from triad.distributed import apex

    c = cfg.ApexConfig(actors=actors)
    agent = apex.build(c, _spaces(), 0)
    options = type("O", (), {"env": "CartPole-v1", "obs": None, "max_episode_steps": None})()
    start = time.perf_counter()
    agent._start(ray, options)
    ray.get([h.ping.remote() for h in agent.actor_handles])
    seconds = time.perf_counter() - start
    sample = pss_by_kind(os.getpid())
    say(f"\nApe-X deployment start-up with {actors} actors: {seconds:.1f} s ({load()}); memory then:\n")
    show_memory(sample)
    agent._stop(ray)


def _spaces():
    from triad.agents import loop

    env = loop.make_env("CartPole-v1", 1, seed=0)
    try:
        return loop.env_spaces(env)
    finally:
        env.close()


# ------------------------------------------------------------------------------------- runs
def run(algo: str, steps: int, eval_every: int, max_seconds: float, seed: int,
        overrides: dict | None = None) -> dict:
    """Train until the first eval ≥ 475 or ``max_seconds``; the measurements."""
    from triad.agents import loop
    from triad.progress import Progress

    with tempfile.TemporaryDirectory() as out:
        log = Path(out) / "log.csv"
        marks: list[tuple[int, float]] = []
        state = {"done": 0.0, "start": time.perf_counter()}

        def update(n: float, total: float | None, status: dict) -> None:
            state["done"] += n
            if n:
                now = time.perf_counter() - state["start"]
                marks.append((int(state["done"]), now))
                rows = pd.read_csv(log)
                evals = rows[rows.quantity == "eval_return"]
                if len(evals) and evals.value.iloc[-1] >= 475:
                    raise Reached("target")
                if now > max_seconds:
                    raise Reached("time")

        stopped = "budget"
        with PeakMemory() as memory:
            try:
                loop.train(algo, "CartPole-v1", steps, seed=seed, out=out, eval_every=eval_every, eval_episodes=10,
                           overrides={"log_every": eval_every, **(overrides or {})}, progress=Progress(update))
            except Reached as exc:
                stopped = str(exc)
        seconds = time.perf_counter() - state["start"]
        rows = pd.read_csv(log)
    q = {name: g.sort_values("step") for name, g in rows.groupby("quantity")}
    evals = q["eval_return"]
    hit = evals[evals.value >= 475]
    at = dict(marks)
    result = {"algo": algo, **(overrides or {}), "stopped": stopped, "seconds": seconds,
              "steps": int(marks[-1][0]) if marks else 0, "best_eval": float(evals.value.max()),
              "steps_to_475": int(hit.step.iloc[0]) if len(hit) else None,
              "seconds_to_475": at.get(int(hit.step.iloc[0])) if len(hit) else None, "memory": memory.peak,
              "memory_total": memory.total}
    result["steps_per_second"] = result["steps"] / seconds
    result["load_average"] = round(os.getloadavg()[0], 2)  # the last minute of the run: the neighbours' share
    for name in ("actor_steps_per_second", "learner_updates_per_second", "actor_wait_fraction",
                 "learner_wait_fraction", "samples_per_insert", "weight_lag", "weight_lag_max", "replay_size"):
        if name in q:
            values = q[name].value.to_numpy()
            result[name] = float(np.median(values[1:] if values.size > 1 else values))
    return result


def cell(r: dict, key: str, fmt: str = "{:.0f}") -> str:
    return "—" if r.get(key) is None else fmt.format(r[key])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=60_000)
    parser.add_argument("--dqn-steps", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=5000)
    parser.add_argument("--max-seconds", type=float, default=420.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", action="store_true", help="write tests/benchmarks/records/apex for the paper")
    args = parser.parse_args()
    from triad import paper

    params = paper.measured_on(actors=args.actors, steps=args.steps, dqn_steps=args.dqn_steps,
                               eval_every=args.eval_every, max_seconds=args.max_seconds, seed=args.seed)
    say(f"start: {load()}, {os.cpu_count()} CPUs")
    start = time.perf_counter()
    import ray

    imported = time.perf_counter()
    from triad import distributed

    with distributed.session(workers=2) as cluster:
        ready = time.perf_counter()
        say(f"import ray {imported - start:.2f} s; local instance (session(workers=2)) {ready - imported:.2f} s; "
              f"{cluster.cpus:g} CPUs; {load()}")
        deployment_startup(ray)
        parts(ray)
        results = []
        say(f"\nDQN ({load()})")
        results.append(run("dqn", args.dqn_steps, args.eval_every, args.max_seconds, args.seed))
        for n in args.actors:
            say(f"Ape-X, {n} actor(s) ({load()})")
            results.append(run("apex", args.steps, args.eval_every, args.max_seconds, args.seed, {"actors": n}))
        say(f"end: {load()}\n")
    say("| run | stopped | env steps/s (wall, incl. start-up) | actor env steps/s | learner updates/s | actor wait | "
          "learner wait | samples/insert | weight lag (max) | best eval | env steps to 475 | wall s to 475 | "
          "peak Pss MiB |")
    say("|" + "---|" * 13)
    for r in results:
        name = "dqn" if r["algo"] == "dqn" else f"apex, {r['actors']} actor(s)"
        say(f"| {name} | {r['stopped']} | {r['steps_per_second']:.0f} | {cell(r, 'actor_steps_per_second')} | "
              f"{cell(r, 'learner_updates_per_second')} | {cell(r, 'actor_wait_fraction', '{:.2f}')} | "
              f"{cell(r, 'learner_wait_fraction', '{:.2f}')} | {cell(r, 'samples_per_insert', '{:.2f}')} | "
              f"{cell(r, 'weight_lag')} ({cell(r, 'weight_lag_max')}) | {r['best_eval']:.0f} | {cell(r, 'steps_to_475')} | "
              f"{cell(r, 'seconds_to_475')} | {r['memory_total']:.0f} |")
    for r in results:
        say(f"\npeak memory of {r['algo']} {r.get('actors', '')}:")
        show_memory(r["memory"])
    if args.record:
        params["load_average_end"] = round(os.getloadavg()[0], 2)
        print(paper.write_benchmark("apex", summarise(results, imported - start, ready - imported), params))


def summarise(results: list[dict], import_seconds: float, start_seconds: float) -> dict:
    """The record: Ray's start-up, every run's numbers (no memory breakdown) and the scaling with actors."""
    runs = {("dqn" if r["algo"] == "dqn" else f"apex-{r['actors']}"): {k: v for k, v in r.items() if k != "memory"}
            for r in results}
    apex = sorted((r["actors"], r["actor_steps_per_second"]) for r in results if r["algo"] == "apex")
    scaling = {f"actors-{n}": rate / apex[0][1] for n, rate in apex}
    return {"ray": {"import_seconds": import_seconds, "start_seconds": start_seconds}, "runs": runs,
            "scaling": scaling}


if __name__ == "__main__":
    main()
