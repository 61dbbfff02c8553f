"""A3C benchmark: env steps per second with 1 and with N workers, and wall time to a target (not collected by pytest).

    python tests/benchmarks/bench_a3c.py speed [--workers 1 2] [--steps 60000] [--repeat 3]
    python tests/benchmarks/bench_a3c.py learn [--workers 2] [--seeds 0 1 2] [--steps 1000000] [--eval-every 10000]
                                               [--set key=value ...]

``speed`` trains A3C on CartPole-v1 with each worker count in turn (alternating which goes first),
one torch thread per worker, and prints the whole run's env steps per second (process start,
stepping, gradients, the main process's logging), the ratio to one worker, the CPU cores the run
obtained (CPU seconds of the main process and its workers per wall second) and env steps per
CPU-second. ``learn`` trains with
periodic deterministic evaluations (10 episodes, a separately seeded env) and stops, per seed, at the
first evaluation at or above the target (475), printing its env step and the wall time since the
start of training (the run is stopped from the progress callback, which also exercises A3C's
shutdown). Both print the load average: the machines are shared, and A3C's speed is that of the
cores it gets.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import numpy as np

from triad.agents import loop
from triad.progress import Progress

TARGET = 475.0


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have been joined."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def speed(args: argparse.Namespace) -> None:
    print(f"load average at start: {os.getloadavg()}")
    print("| rep | workers | steps | steps/s | ratio to 1 worker | CPU cores used | steps per CPU-second | "
          "mean staleness |")
    print("|---|---|---|---|---|---|---|---|")
    ratios: dict[int, list[float]] = {w: [] for w in args.workers}
    for rep in range(args.repeat):
        order = args.workers if rep % 2 == 0 else args.workers[::-1]
        got = {}
        for workers in order:
            with tempfile.TemporaryDirectory() as out:
                cpu, wall = _cpu_seconds(), time.perf_counter()
                summary = loop.train("a3c", "CartPole-v1", args.steps, seed=rep, out=out, eval_episodes=1,
                                     overrides={"workers": str(workers), "log_every": "10000", **dict(args.set)})
                cpu, wall = _cpu_seconds() - cpu, time.perf_counter() - wall
                rows = loop.read_log(os.path.join(out, "log.csv"))
            got[workers] = (summary["steps_per_second"], cpu / wall, summary["steps"] / cpu,
                            rows[rows["quantity"] == "staleness"]["value"].mean())
        for workers in args.workers:
            sps, cores, per_cpu, stale = got[workers]
            ratio = sps / got[min(args.workers)][0]
            ratios[workers].append(ratio)
            print(f"| {rep} | {workers} | {args.steps:,} | {sps:,.0f} | {ratio:.2f}× | {cores:.2f} | {per_cpu:,.0f} | "
                  f"{stale:.2f} |", flush=True)
    for workers, rs in ratios.items():
        print(f"{workers} workers: median ratio {np.median(rs):.2f}× over {len(rs)} repetitions")
    print(f"load average at end: {os.getloadavg()}")


class Reached(Exception):
    """Raised from the progress callback once an evaluation reached the target (stops the run early)."""


def learn(args: argparse.Namespace) -> None:
    print(f"load average at start: {os.getloadavg()}")
    print("| workers | seed | first eval ≥ 475 at step | wall time to it | eval there |")
    print("|---|---|---|---|---|")
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as out:
            log = os.path.join(out, "log.csv")
            state = {"start": 0.0, "step": 0, "hit": None}

            def update(n: float, total: float | None, status: dict, state=state, log=log) -> None:
                if total is not None:
                    state["start"] = time.perf_counter()
                    return
                state["step"] += n
                if n == 0:
                    return
                rows = loop.read_log(log)  # flushed before the progress report of a log step
                ev = rows[(rows["quantity"] == "eval_return") & (rows["value"] >= TARGET)]
                if len(ev):
                    state["hit"] = (int(ev["step"].iloc[0]), time.perf_counter() - state["start"],
                                    float(ev["value"].iloc[0]))
                    raise Reached

            try:
                loop.train("a3c", "CartPole-v1", args.steps, seed=seed, out=out, eval_every=args.eval_every,
                           overrides={"workers": str(args.workers), "log_every": str(args.eval_every),
                                      **dict(args.set)}, progress=Progress(update))
            except Reached:
                pass
        if state["hit"] is None:
            print(f"| {args.workers} | {seed} | not within {args.steps:,} | — | — |", flush=True)
        else:
            step, wall, value = state["hit"]
            print(f"| {args.workers} | {seed} | {step:,} | {wall:.0f} s | {value:.1f} |", flush=True)
    print(f"load average at end: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    p.add_argument("--steps", type=int, default=60_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--set", nargs="*", default=[], type=lambda kv: tuple(kv.split("=", 1)))
    p = sub.add_parser("learn")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--set", nargs="*", default=[], type=lambda kv: tuple(kv.split("=", 1)))
    args = parser.parse_args()
    speed(args) if args.command == "speed" else learn(args)


if __name__ == "__main__":  # the guard the spawn start method needs
    main()
