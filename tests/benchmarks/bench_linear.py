"""Benchmark: 1,000 seeds × 1,000 sampled Baird steps in one batched call vs a per-seed Python loop.

Both sides run the same code path, :func:`triad.linear.sampled` — the baseline calls it once per
seed with ``seeds=1`` (a Python loop over seeds of the same per-step update), the batched side
once with ``seeds=1000``. Target: batched ≥ 50× faster. Run from the repository root::

    python tests/benchmarks/bench_linear.py [--seeds 1000] [--steps 1000] [--baseline-seeds 100]

``--baseline-seeds`` smaller than ``--seeds`` times the loop on that many seeds and scales the time
linearly (each seed costs the same); the default loops over 100 seeds, ``--baseline-seeds 1000``
runs the full loop (about 5 minutes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from triad import linear, zoo


def bench(rule: linear.Rule, seeds: int, steps: int, baseline_seeds: int) -> dict[str, float]:
    baird = zoo.baird()
    start = time.perf_counter()
    batched = linear.sampled(rule, baird, steps, np.random.default_rng(0), seeds=seeds, record_every=steps)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    finals = [linear.sampled(rule, baird, steps, np.random.default_rng(1 + i), seeds=1, record_every=steps).final[0]
              for i in range(baseline_seeds)]
    t_loop = (time.perf_counter() - start) * seeds / baseline_seeds
    # Same update, same statistics: the two ensembles' mean weights agree to sampling error.
    gap = np.abs(np.mean(finals, axis=0) - batched.final.mean(axis=0)).max()
    return {"batched_s": t_batched, "loop_s": t_loop, "ratio": t_loop / t_batched, "mean_gap": float(gap),
            "diverged": float(batched.diverged.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--baseline-seeds", type=int, default=100)
    args = parser.parse_args()
    baseline = min(args.baseline_seeds, args.seeds)
    print(f"Baird, {args.seeds} seeds × {args.steps} sampled steps; per-seed loop over {baseline} seeds"
          f"{' (scaled)' if baseline != args.seeds else ''}")
    for rule in (linear.Rule("semi-gradient-td", alpha=0.01), linear.Rule("tdc", alpha=0.005, beta=0.05)):
        r = bench(rule, args.seeds, args.steps, baseline)
        print(f"  {rule.algorithm:17s} batched {r['batched_s']:7.3f} s   per-seed loop {r['loop_s']:8.2f} s   "
              f"ratio {r['ratio']:6.1f}×   (target ≥ 50×)   max |mean w gap| {r['mean_gap']:.3f}")


if __name__ == "__main__":
    main()
