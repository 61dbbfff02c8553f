"""Deadly-triad benchmarks: the compiled batch kernel vs a plain per-seed numpy loop; the default grid's wall time.

Run from the repository root: ``python tests/benchmarks/bench_triad.py [--seeds 1000] [--steps 1000]
[--baseline-seeds 100] [--skip-grid]``. Prints one line per measurement (and the load average, since the
machine is shared); the numbers are recorded in tests/benchmarks/README.md. Exit status 1 if the kernel
is below 50× the loop or the grid above 10 minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from triad import experiment as exp
from triad import linear, zoo
from triad.linear_batch import sampled_batch
from triad.sampling import StreamRNG

TARGET_RATIO = 50.0
GRID_BUDGET_SECONDS = 600.0


def plain_loop(seed: int, steps: int, alpha: float = 0.01, gamma: float = 0.99) -> tuple[np.ndarray, float]:
    """Off-policy semi-gradient TD(0) on Baird for one seed: a Python loop over steps with small numpy ops.

    What one writes without triad (Sutton & Barto 2018 §11.2): behaviour dashed 6/7 (to a random upper
    state) / solid 1/7 (to the lower state), target always solid, ρ = 7 on solid and 0 on dashed,
    rewards 0; returns the final weights and the first step with ‖w‖ > 100 (NaN if none).
    """
    baird = zoo.baird()
    Phi = baird.features
    rng = np.random.default_rng(seed)
    w = baird.w0.astype(float).copy()
    s = int(rng.integers(7))
    diverged = np.nan
    for t in range(1, steps + 1):
        solid = rng.random() < 1.0 / 7.0
        s_next = 6 if solid else int(rng.integers(6))
        rho = 7.0 if solid else 0.0
        delta = gamma * Phi[s_next] @ w - Phi[s] @ w
        w = w + alpha * rho * delta * Phi[s]
        if np.isnan(diverged) and not np.linalg.norm(w) <= 100.0:
            diverged = t
        s = s_next
    return w, diverged


def kernel(seeds: int, steps: int) -> tuple[float, object]:
    """1,000 seeds × 1,000 steps in one ``sampled_batch`` call (draws included) vs the plain loop."""
    rule = linear.Rule("semi-gradient-td", alpha=0.01)
    baird = zoo.baird()
    sampled_batch(StreamRNG(2), rule, baird, 10, streams=2)  # load the compiled kernel (cached on disk)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        batch = sampled_batch(StreamRNG(seeds, key=0), rule, baird, steps, streams=seeds, threshold=100.0)
        best = min(best, time.perf_counter() - start)
    return best, batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--baseline-seeds", type=int, default=100, help="seeds the plain loop times (scaled up)")
    parser.add_argument("--skip-grid", action="store_true", help="only the kernel benchmark")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
    fast, batch = kernel(args.seeds, args.steps)
    start = time.perf_counter()
    loop = [plain_loop(seed, args.steps) for seed in range(args.baseline_seeds)]
    per_seed = (time.perf_counter() - start) / args.baseline_seeds
    slow = per_seed * args.seeds
    ratio = slow / fast
    print(f"Baird TD(0), {args.seeds} seeds × {args.steps} steps: compiled batch {fast * 1e3:.0f} ms (best of 3, "
          f"draws included); plain numpy loop {per_seed * 1e3:.2f} ms per seed → {slow:.2f} s for {args.seeds}; "
          f"×{ratio:.0f} (target ≥ {TARGET_RATIO:.0f}×)")
    print(f"  diverged (‖w‖ > 100): batch {batch.diverged.mean():.2f} of seeds, loop "
          f"{np.mean([not np.isnan(d) for _, d in loop]):.2f} (same law, different random numbers)")
    ok = ratio >= TARGET_RATIO
    if not args.skip_grid:
        experiment = exp.get("deadly-triad")
        params = experiment.resolve({})
        with tempfile.TemporaryDirectory() as tmp:
            load = os.getloadavg()[0]
            start = time.perf_counter()
            cpu = time.process_time()
            outcome = exp.execute(experiment, params, out=f"{tmp}/res", figures_dir=f"{tmp}/fig", fresh=True,
                                  show_progress=False)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        s = outcome.summary
        print(f"default grid: {s['cells']} cells × {s['seeds']} seeds × {s['steps']} steps in {seconds:.0f} s wall "
              f"({cpu:.0f} s CPU, figures included; load average {load:.2f} → {os.getloadavg()[0]:.2f}); "
              f"{seconds / GRID_BUDGET_SECONDS:.2f} of the {GRID_BUDGET_SECONDS:.0f} s budget")
        ok = ok and seconds <= GRID_BUDGET_SECONDS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
