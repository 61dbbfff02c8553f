"""The overestimation sweep: one run per noise family (all m), one per tabular learner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad.analysis.maximization import ALGORITHMS, FAMILIES
from triad.errors import SpecError
from triad.experiment import Run

DEFAULTS: dict[str, Any] = {
    "ms": tuple(2**k for k in range(1, 11)),
    "families": FAMILIES,
    "streams": 10_000,
    "gap": 1.0,
    "algorithms": ALGORITHMS,
    "episodes": 300,
    "epsilon": 0.1,
    "alpha": 0.1,
    "gamma": 0.99,
    "n_actions": 10,
    "seed": 0,
}

QUICK: dict[str, Any] = {"ms": (2, 4, 8, 16, 32, 64), "streams": 500}

DOCS = {
    "ms": "numbers of estimates m",
    "families": f"noise families, subset of {', '.join(FAMILIES)} (N(0, 1) or U(−1, 1))",
    "streams": "independent streams: draws of each estimator per m, and runs of each learner (S&B: 10,000 runs)",
    "gap": "second case: one estimate has mean 0, the other m − 1 have mean −gap",
    "algorithms": f"tabular learners, subset of {', '.join(ALGORITHMS)} (Q-learning, double Q-learning)",
    "episodes": "episodes per run (S&B Figure 6.5: 300)",
    "epsilon": "ε of the ε-greedy behaviour (S&B: 0.1)",
    "alpha": "step size (S&B: 0.1)",
    "gamma": "discount (the book uses 1, also accepted: every episode ends within two steps)",
    "n_actions": "actions in state B of the maximisation-bias MDP (S&B: 'many'; 10 here)",
    "seed": "base seed; every run draws from its own generator, Generator([seed, position of the run])",
}


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """``overestimation/family=F`` for each family, then ``overestimation/algorithm=A`` for each learner."""
    for key, allowed in (("families", FAMILIES), ("algorithms", ALGORITHMS)):
        unknown = [x for x in params[key] if x not in allowed]
        if unknown:
            raise SpecError(f"overestimation: unknown {key} {unknown} (choose from {', '.join(allowed)})")
    if any(m < 1 for m in params["ms"]):
        raise SpecError(f"overestimation: every m must be at least 1, got {params['ms']}")
    for key in ("streams", "episodes"):
        if params[key] < 1:
            raise SpecError(f"overestimation: {key} = {params[key]} must be at least 1")
    runs = [Run(f"overestimation/family={family}",
                {"kind": "estimators", "family": family, "position": FAMILIES.index(family),
                 **{k: params[k] for k in ("ms", "streams", "gap", "seed")}})
            for family in params["families"]]
    runs += [Run(f"overestimation/algorithm={algorithm}",
                 {"kind": "learning", "algorithm": algorithm, "position": len(FAMILIES) + ALGORITHMS.index(algorithm),
                  **{k: params[k] for k in ("episodes", "streams", "epsilon", "alpha", "gamma", "n_actions",
                                            "seed")}})
             for algorithm in params["algorithms"]]
    return runs
