"""Contraction lab benchmarks: vectorised Lipschitz ratios vs a loop per pair; the default sweep vs its budget.

Run from the repository root: ``python tests/benchmarks/bench_contraction.py [--skip-sweep]``.
Prints one line per measurement; the numbers are recorded in tests/benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from triad import experiment as exp
from triad import zoo
from triad.analysis import contraction as cert
from triad.projections import ProjectedBellman, random_features, weighted_least_squares

SWEEP_BUDGET_SECONDS = 120.0


def _best_of(fn, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def lipschitz(pairs: int = 2000) -> None:
    """ΠB* on a 30-state Garnet: one batched call per pair set vs one operator call per pair."""
    mdp = zoo.garnet(S=30, A=3, b=5, seed=0, gamma=0.9, sparse=False).mdp
    rng = np.random.default_rng(0)
    d = np.full(30, 1 / 30)
    op = ProjectedBellman(mdp, weighted_least_squares(random_features(rng, 30, 6), d))
    U, V = cert.random_pairs(rng, 30, pairs, 10.0)

    def vectorised() -> np.ndarray:
        return cert.lipschitz_ratios(op, U, V, ["inf", d])

    def loop() -> np.ndarray:
        out = np.empty((2, pairs))
        for k in range(pairs):
            diff_out, diff_in = op(U[k]) - op(V[k]), U[k] - V[k]
            out[0, k] = np.abs(diff_out).max() / np.abs(diff_in).max()
            out[1, k] = np.sqrt((diff_out**2) @ d / ((diff_in**2) @ d))
        return out

    np.testing.assert_allclose(vectorised(), loop(), rtol=1e-10)
    fast, slow = _best_of(vectorised), _best_of(loop, 1)
    print(f"lipschitz ratios, {pairs} pairs, S=30: vectorised {fast * 1e3:.1f} ms, loop per pair "
          f"{slow * 1e3:.0f} ms, speed-up ×{slow / fast:.0f}")


def sweep() -> None:
    """The default `triad run contraction` sweep (no figures), timed against the 2-minute budget."""
    experiment = exp.get("contraction")
    params = experiment.resolve({})
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        outcome = exp.execute(experiment, params, out=f"{tmp}/res", fresh=True, show_progress=False,
                              make_figures=False)
        seconds = time.perf_counter() - start
    print(f"default sweep: {outcome.summary['instances']} instances in {seconds:.1f} s "
          f"({seconds / SWEEP_BUDGET_SECONDS:.2f} of the {SWEEP_BUDGET_SECONDS:.0f} s budget)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-sweep", action="store_true", help="only the Lipschitz micro-benchmark")
    args = parser.parse_args()
    lipschitz()
    if not args.skip_sweep:
        sweep()
