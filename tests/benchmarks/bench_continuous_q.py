"""Continuous-action Q-learning benchmarks (issue 15; not collected by pytest).

    python tests/benchmarks/bench_continuous_q.py learn [--algos naf qtopt] [--seeds 0 1 2] [--steps 30000]
                                                        [--eval-every 5000] [--out DIR]
    python tests/benchmarks/bench_continuous_q.py cem [--states 256] [--repeat 5]

``learn`` trains each algorithm on Pendulum-v1 with its ``CONTINUOUS_Q_PRESETS`` settings (one env,
one torch thread) and prints, per seed, the deterministic evaluation return (10 episodes on a
separately seeded env), the mean of the last 10 training episodes and the wall time, then the
median evaluation return per algorithm against the issue's target (≥ −250 within 30k env steps);
with ``--eval-every N`` (default 5000) also the evaluation return every N env steps and the first
step at which it reached −250.

``cem`` times one argmax over a batch of ``--states`` Pendulum-sized states (obs 3, action 1) with
the default CEM (2 iterations × 64 samples, 6 elites) on a 256-256 and a 64-64 ReLU critic, and in
the same process the two baselines it should be read against: random shooting over 128 actions
(the same number of critic evaluations) and one bare critic forward on the 128 · states rows
(the evaluation cost alone). The order of the three alternates between repetitions; the load
average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

from triad.agents import loop
from triad.agents import maximise as mx
from triad.agents.continuous_q import MLPQ

TARGET = -250.0
"""Issue 15: eval return ≥ −250 on Pendulum-v1 within 30k env steps, median of 3 seeds."""


def learn(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    print(f"| algorithm | seed | eval return every {args.eval_every} steps | first step ≥ {TARGET:g} | "
          "final return (last 10 episodes) | seconds |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for algo in args.algos:
        evals = []
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as tmp:
                out = os.path.join(args.out, f"{algo}-seed{seed}") if args.out else tmp
                s = loop.train(algo, "Pendulum-v1", args.steps, seed=seed, out=out, eval_episodes=10,
                               eval_every=args.eval_every, overrides={"log_every": 1000})
                log = loop.read_log(os.path.join(out, "log.csv"))
            curve = log[log["quantity"] == "eval_return"].drop_duplicates("step", keep="last")
            hit = curve.loc[curve["value"] >= TARGET, "step"]
            evals.append(s["eval_return"])
            print(f"| {algo} | {seed} | {', '.join(f'{v:.0f}' for v in curve['value'])} | "
                  f"{int(hit.iloc[0]) if len(hit) else 'never'} | {s['final_return']:.1f} | {s['seconds']:.0f} |",
                  flush=True)
        medians[algo] = statistics.median(evals)
    for algo, m in medians.items():
        verdict = "met" if m >= TARGET else "NOT met"
        print(f"{algo}: median eval return {m:.1f} over seeds {args.seeds} (target ≥ {TARGET:g}: {verdict})")
    print(f"load average at end: {os.getloadavg()}")


def _time(fn, repeat: int = 20) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _jobs(hidden: tuple[int, int], B: int, obs_dim: int, d: int, default: mx.CrossEntropy,
          shooting: mx.RandomShooting) -> dict:
    """The three timed calls on one fixed random critic: CEM, shooting, a bare forward on shooting's rows."""
    g = torch.Generator().manual_seed(0)
    critic = MLPQ(obs_dim, d, hidden, g)
    states = torch.randn(B, obs_dim, generator=g)
    rows_s = states.repeat_interleave(shooting.samples, 0)
    rows_a = torch.rand(B * shooting.samples, d, generator=g) * 2 - 1
    sample_g = torch.Generator().manual_seed(1)
    return {
        "cem": lambda: mx.maximise(critic, states, default, sample_g, dim=d),
        "shooting": lambda: mx.maximise(critic, states, shooting, sample_g, dim=d),
        "forward": lambda: critic(rows_s, rows_a).detach(),
    }


def cem(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    B, obs_dim, d = args.states, 3, 1
    default = mx.CrossEntropy()
    shooting = mx.RandomShooting(default.samples * default.iterations)
    print(f"CEM: {default.iterations} iterations × {default.samples} samples, {default.elites} elites; "
          f"shooting: {shooting.samples} samples; {B} states")
    print("| critic | rep | first | CEM ms | shooting ms | bare forward ms | CEM / forward |")
    print("|---|---|---|---|---|---|---|")
    for hidden in ((256, 256), (64, 64)):
        jobs = _jobs(hidden, B, obs_dim, d, default, shooting)
        for rep in range(args.repeat):
            order = list(jobs) if rep % 2 == 0 else list(reversed(jobs))
            with torch.no_grad():
                ms = {name: 1e3 * _time(jobs[name]) for name in order}
            print(f"| {hidden[0]}-{hidden[1]} | {rep} | {order[0]} | {ms['cem']:.2f} | {ms['shooting']:.2f} | "
                  f"{ms['forward']:.2f} | {ms['cem'] / ms['forward']:.2f} |", flush=True)
    print(f"load average at end: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("learn")
    p.add_argument("--algos", nargs="+", default=["naf", "qtopt"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--eval-every", type=int, default=5000)
    p.add_argument("--out", default="", help="keep each run's files under this folder (default: a temporary one)")
    p.set_defaults(func=learn)
    p = sub.add_parser("cem")
    p.add_argument("--states", type=int, default=256)
    p.add_argument("--repeat", type=int, default=5)
    p.set_defaults(func=cem)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
