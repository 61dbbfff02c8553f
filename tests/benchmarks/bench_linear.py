"""Benchmark: 1,000 streams × 1,000 sampled Baird steps in one batched call vs a per-stream Python loop.

Both sides run the same code path, :func:`triad.linear.sampled` — the baseline calls it once per
stream with ``streams=1`` (a Python loop over streams of the same per-step update), the batched side
once with ``streams=1000``. Target: batched ≥ 50× faster. Run from the repository root::

    python tests/benchmarks/bench_linear.py [--streams 1000] [--steps 1000] [--baseline-streams 100]

``--baseline-streams`` smaller than ``--streams`` times the loop on that many streams and scales the
time linearly (each stream costs the same); the default loops over 100 streams, ``--baseline-streams 1000``
runs the full loop (about 5 minutes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from triad import linear, zoo


def bench(rule: linear.Rule, streams: int, steps: int, baseline_streams: int) -> dict[str, float]:
    baird = zoo.baird()
    start = time.perf_counter()
    batched = linear.sampled(np.random.default_rng(0), rule, baird, steps, streams=streams, record_every=steps)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    finals = [linear.sampled(np.random.default_rng(1 + i), rule, baird, steps, streams=1, record_every=steps).final[0]
              for i in range(baseline_streams)]
    t_loop = (time.perf_counter() - start) * streams / baseline_streams
    # Same update, same statistics: the two ensembles' mean weights agree to sampling error.
    gap = np.abs(np.mean(finals, axis=0) - batched.final.mean(axis=0)).max()
    return {"batched_s": t_batched, "loop_s": t_loop, "ratio": t_loop / t_batched, "mean_gap": float(gap),
            "diverged": float(batched.diverged.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--baseline-streams", type=int, default=100)
    args = parser.parse_args()
    baseline = min(args.baseline_streams, args.streams)
    print(f"Baird, {args.streams} streams × {args.steps} sampled steps; per-stream loop over {baseline} streams"
          f"{' (scaled)' if baseline != args.streams else ''}")
    for rule in (linear.Rule("semi-gradient-td", alpha=0.01), linear.Rule("tdc", alpha=0.005, beta=0.05)):
        r = bench(rule, args.streams, args.steps, baseline)
        print(f"  {rule.algorithm:17s} batched {r['batched_s']:7.3f} s   per-stream loop {r['loop_s']:8.2f} s   "
              f"ratio {r['ratio']:6.1f}×   (target ≥ 50×)   max |mean w gap| {r['mean_gap']:.3f}")


if __name__ == "__main__":
    main()
