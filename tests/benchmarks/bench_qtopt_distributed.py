"""Decoupled QT-Opt on this machine: the rate of each process with 1 and 2 collectors (1 updater) vs single-process qtopt.

    python tests/benchmarks/bench_qtopt_distributed.py [--collectors 1 2] [--updaters 1] [--steps 4000] [--seed 0]
        [--first distributed|single] [--record]

In one process, on one local Ray instance (``triad.distributed.session(workers=2)``, started first and
timed): ``triad train qtopt`` (single process, the Pendulum-v1 preset: batch 256, CEM 2 × 64, one
gradient step per env step after 1,000 random ones) and ``triad train qtopt --distributed --set
collectors=N --set updaters=M`` for each N and M (same config; collectors, Bellman updaters and the trainer at their own
rates), all for ``--steps`` env steps, in the order ``--first`` says (alternate it between runs). The
load average is printed before each run. Reported per run: wall time, env steps/s over the whole run
and, for the distributed runs, the medians over the log windows after ``learning_starts`` of the
collectors' env steps/s, the updater's labels/s, the trainer's updates/s, the wait fractions, the
train-buffer size, the label age and the collectors' weight lag. The single-process run's gradient
steps/s is its env steps/s after ``learning_starts`` (one per env step). ``--record`` also writes the
rows for the paper (``tests/benchmarks/records/qtopt-distributed``, :func:`triad.paper.write_benchmark`;
runs named ``single`` and ``collectors-N-updaters-M``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def say(*args: object) -> None:
    """Print to the real stdout (a Ray session sends ``sys.stdout`` to stderr while it lasts)."""
    print(*args, file=sys.__stdout__, flush=True)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


QUANTITIES = ("collector_steps_per_second", "updater_labels_per_second", "trainer_updates_per_second",
              "collector_wait_fraction", "updater_wait_fraction", "trainer_wait_fraction", "train_buffer_size",
              "label_age", "weight_lag", "steps_per_second")


def medians(out: Path, after: int) -> dict[str, float]:
    """Median of each quantity over the log windows that end after env step ``after``."""
    log = pd.read_csv(out / "log.csv")
    log = log[log["step"] > after]
    return {q: float(np.median(log.loc[log["quantity"] == q, "value"])) for q in QUANTITIES
            if (log["quantity"] == q).any()}


def run(algorithm: str, steps: int, seed: int, overrides: dict[str, str], folder: Path) -> dict[str, float]:
    from triad.agents import loop

    out = folder / f"{algorithm}-{overrides.get('collectors', '0')}-{overrides.get('updaters', '0')}"
    say(f"{algorithm} {overrides}: {load()}")
    start = time.perf_counter()
    summary = loop.train(algorithm, "Pendulum-v1", steps, seed=seed, overrides=overrides, out=out, eval_episodes=1)
    row = {"wall_s": time.perf_counter() - start, "env_steps_per_s": summary["steps_per_second"],
           "eval_return": summary["eval_return"], **medians(out, 1000 + 1000)}
    say("  " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collectors", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--updaters", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", choices=("distributed", "single"), default="distributed")
    parser.add_argument("--record", action="store_true",
                        help="write tests/benchmarks/records/qtopt-distributed for the paper")
    args = parser.parse_args()
    from triad import paper
    from triad.distributed import session

    params = paper.measured_on(collectors=args.collectors, updaters=args.updaters, steps=args.steps, seed=args.seed,
                               first=args.first, env="Pendulum-v1")
    say(f"start Ray: {load()}")
    start = time.perf_counter()
    with session(workers=2) as cluster, tempfile.TemporaryDirectory() as tmp:
        ray_seconds = time.perf_counter() - start
        say(f"  local instance of {cluster.cpus:g} CPUs in {ray_seconds:.1f} s")
        jobs = [("qtopt-distributed", {"collectors": str(n), "updaters": str(m)}) for m in args.updaters
                for n in args.collectors]
        jobs = [*jobs, ("qtopt", {})] if args.first == "distributed" else [("qtopt", {}), *jobs]
        rows = {f"{a} {o}": run(a, args.steps, args.seed, {**o, "log_every": "500"}, Path(tmp)) for a, o in jobs}
    single = rows["qtopt {}"]["env_steps_per_s"]
    for name, row in rows.items():
        say(f"{name}: env steps/s {row['env_steps_per_s']:.1f} = {row['env_steps_per_s'] / single:.2f} × single")
    say(f"end: {load()}")
    if args.record:
        named = {("single" if a == "qtopt" else f"collectors-{o['collectors']}-updaters-{o['updaters']}"): rows[f"{a} {o}"]
                 for a, o in jobs}
        params["load_average_end"] = round(os.getloadavg()[0], 2)
        say(paper.write_benchmark("qtopt-distributed", {"ray": {"start_seconds": ray_seconds}, "runs": named}, params))


if __name__ == "__main__":
    main()
