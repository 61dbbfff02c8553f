"""The grid of the contraction lab: one run per feature set, each over every MDP and weighting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad.errors import SpecError
from triad.experiment import Run

FEATURE_SETS = ("random", "aggregation", "neural")
"""Feature sets the runner knows (see :mod:`triad.experiments.contraction.run`)."""

DEFAULTS: dict[str, Any] = {
    "mdps": 100,
    "states": 30,
    "actions": 3,
    "branching": 5,
    "gamma": 0.9,
    "features": FEATURE_SETS,
    "k": 6,
    "epsilons": (0.1, 0.3, 0.5, 0.7, 0.9),
    "pairs": 200,
    "neural_pairs": 16,
    "fit_steps": 150,
    "seed": 0,
}

DOCS = {
    "mdps": "number of random Garnet MDPs",
    "states": "states per Garnet MDP",
    "actions": "actions per Garnet MDP",
    "branching": "successors per state-action pair",
    "gamma": "discount factor",
    "features": "feature sets: random (Gaussian), aggregation (random partition), neural (learned features)",
    "k": "feature dimension (neural: k − 1 hidden tanh units plus a constant)",
    "epsilons": "behaviour mixing weights ε of μ = (1 − ε)π + εν, ν a random deterministic policy",
    "pairs": "random pairs per instance for the Lipschitz ratios of B* and ΠB*",
    "neural_pairs": "random pairs per MDP for the Lipschitz ratio of the neural projection",
    "fit_steps": "Adam steps of every network fit",
    "seed": "base seed (MDP i uses seeds derived from (seed, i))",
}

QUICK: dict[str, Any] = {"mdps": 3, "pairs": 32, "neural_pairs": 4, "fit_steps": 30, "epsilons": (0.5, 0.9)}

RUN_KEYS = ("mdps", "states", "actions", "branching", "gamma", "k", "epsilons", "pairs", "neural_pairs",
            "fit_steps", "seed")


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """One run per feature set; every run covers all MDPs and weightings (same MDPs in each run)."""
    unknown = [f for f in params["features"] if f not in FEATURE_SETS]
    if unknown:
        raise SpecError(f"contraction: unknown feature set {unknown[0]!r} (choose from {', '.join(FEATURE_SETS)})")
    for key in ("mdps", "states", "actions", "branching", "k", "pairs"):
        if params[key] < 1:
            raise SpecError(f"contraction: {key} = {params[key]} must be at least 1")
    if params["neural_pairs"] < 0 or params["fit_steps"] < 0:
        raise SpecError("contraction: neural_pairs and fit_steps must be non-negative")
    if params["k"] > params["states"]:
        raise SpecError(f"contraction: k = {params['k']} exceeds states = {params['states']}")
    # ε = 1 would make μ = ν deterministic, whose stationary law misses states: no D-norm.
    if any(not 0.0 < e < 1.0 for e in params["epsilons"]):
        raise SpecError(f"contraction: epsilons {params['epsilons']} must lie in (0, 1)")
    common = {key: params[key] for key in RUN_KEYS}
    return [Run(f"contraction/features={f}", {**common, "features": f}) for f in params["features"]]
