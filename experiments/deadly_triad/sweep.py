"""The deadly-triad grid: one run per random MDP, each covering every feature set, behaviour and rule.

A *cell* is (MDP, feature set, behaviour ε, rule at a bootstrap depth). With the defaults: 80 MDPs ×
3 feature sets × 5 behaviours × 9 rule/depths = 10,800 cells, each run over 10 seeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad.errors import SpecError, ValidationError
from triad.experiment import Run

LEVELS = ("linear", "deep")
"""``linear``: linear TD on Garnet MDPs (this folder); ``deep``: DQN-family agents (not yet available)."""

DEEP_UNAVAILABLE = ("deadly-triad level=deep is not available yet: it needs the value-based agents (issue 14); "
                    "run level=linear")

FEATURE_SETS = ("tabular", "random", "aggregation", "gaussian")
"""Feature sets the runner knows (:func:`triad.experiments.deadly_triad.run.features`)."""

DEPTHS = ("n=1", "n=3", "n=10", "lam=0.5", "lam=0.9", "n=inf")
"""Bootstrap depths of semi-gradient TD: n-step returns, TD(λ), and n = ∞ (λ = 1, no bootstrapping)."""

RULES = ("tdc", "etd", "target-network")
"""One-step rules run on the same cells as TD(0)."""

DEFAULTS: dict[str, Any] = {
    "level": "linear",
    "mdps": 80,
    "states": 6,
    "actions": 2,
    "branching": 2,
    "gamma": 0.99,
    "features": ("tabular", "random", "aggregation"),
    "k": 4,
    "groups": 3,
    "epsilons": (0.0, 0.25, 0.5, 0.75, 1.0),
    "far": 0.5,
    "depths": DEPTHS,
    "rules": RULES,
    "alpha": 0.1,
    "beta": 0.1,
    "target_period": 100,
    "normalise": True,
    "steps": 20_000,
    "streams": 10,
    "threshold": 1e4,
    "seed": 0,
}

DOCS = {
    "level": "linear (Garnet grid, linear TD) or deep (DQN-family agents; needs issue 14, not available yet)",
    "mdps": "number of random Garnet MDPs (one run each)",
    "states": "states per Garnet MDP",
    "actions": "actions per Garnet MDP",
    "branching": "successors per state-action pair (few successors: more divergence, Baird-like)",
    "gamma": "discount factor",
    "features": "feature sets: tabular, random (i.i.d. U(0, 1), rank k < S), aggregation (random partition into "
                "`groups`), gaussian (i.i.d. N(0, 1)); every set scaled to max row norm 1",
    "k": "dimension of the random (and gaussian) features, < states",
    "groups": "number of groups of the state aggregation, < states",
    "epsilons": "behaviour μ = (1 − ε)π + εν at growing distance from the deterministic target π (ε = 0: on-policy)",
    "far": "ν = (1 − far)·(a different action) + far·uniform: the far end of the behaviours (far > 0: ratios ≤ A/far)",
    "depths": f"bootstrap depths of semi-gradient TD, from {', '.join(DEPTHS)} (n=K and lam=L for any K ≥ 1, L ∈ (0, 1))",
    "rules": f"one-step rules on the same cells, from {', '.join(RULES)}",
    "alpha": "base step size (features have max row norm 1)",
    "beta": "TDC's step size of its second weights",
    "target_period": "target-network period (copies of w into the frozen weights)",
    "normalise": "scale α by the target's horizon: α/n for n-step, α(1 − γλ) for TD(λ) and n = ∞, α(1 − γ) for "
                 "emphatic TD (whose follow-on trace is ~1/(1 − γ))",
    "steps": "steps of every sampled run",
    "streams": "independent seeds per cell (stream i of cell c draws from Generator([key_c, i]); key_c is a column)",
    "threshold": "‖w‖ beyond which a sampled run counts as diverged (the step is recorded)",
    "seed": "base seed of the MDPs, policies, features and streams",
}

QUICK: dict[str, Any] = {"mdps": 2, "steps": 400, "streams": 3, "epsilons": (0.0, 1.0), "depths": ("n=1", "n=inf")}

RUN_KEYS = tuple(k for k in DEFAULTS if k != "mdps")


def parse_depth(label: str) -> tuple[int, float]:
    """``n=K`` → ``(K, 0)``; ``lam=L`` → ``(1, L)``; ``n=inf`` → ``(1, 1)`` (λ = 1: Monte-Carlo)."""
    key, _, value = label.partition("=")
    try:
        if key == "n" and value in ("inf", "∞"):
            return 1, 1.0
        if key == "n" and int(value) >= 1:
            return int(value), 0.0
        if key == "lam" and 0.0 < float(value) < 1.0:
            return 1, float(value)
    except ValueError:
        pass
    raise SpecError(f"deadly-triad: depth {label!r} is not n=K (K ≥ 1), lam=L (0 < L < 1) or n=inf")


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """One run per MDP (``deadly-triad/level=linear/mdp=i``); every parameter is checked first."""
    level = params["level"]
    if level == "deep":
        raise ValidationError(DEEP_UNAVAILABLE)
    if level not in LEVELS:
        raise SpecError(f"deadly-triad: unknown level {level!r} (choose from {', '.join(LEVELS)})")
    unknown = [f for f in params["features"] if f not in FEATURE_SETS]
    if unknown or not params["features"]:
        raise SpecError(f"deadly-triad: unknown feature set {unknown[0] if unknown else ''!r} (choose from "
                        f"{', '.join(FEATURE_SETS)})")
    bad_rules = [r for r in params["rules"] if r not in RULES]
    if bad_rules:
        raise SpecError(f"deadly-triad: unknown rule {bad_rules[0]!r} (choose from {', '.join(RULES)})")
    for depth in params["depths"]:
        parse_depth(depth)
    if not params["depths"] and not params["rules"]:
        raise SpecError("deadly-triad: no depths and no rules: the grid is empty")
    for key in ("mdps", "states", "actions", "branching", "k", "groups", "steps", "streams", "target_period"):
        if params[key] < 1:
            raise ValidationError(f"deadly-triad: {key} = {params[key]} must be at least 1")
    if params["actions"] < 2:
        raise ValidationError("deadly-triad: actions must be at least 2 (off-policy data needs a second action)")
    if params["branching"] > params["states"]:
        raise ValidationError(f"deadly-triad: branching = {params['branching']} exceeds states = {params['states']}")
    for key in ("k", "groups"):
        if params[key] >= params["states"]:
            raise ValidationError(f"deadly-triad: {key} = {params[key]} must be below states = {params['states']} "
                                  f"(function approximation of rank < S)")
    if not 0.0 < params["gamma"] < 1.0:
        raise ValidationError(f"deadly-triad: gamma = {params['gamma']:g} must lie in (0, 1)")
    if any(not 0.0 <= e <= 1.0 for e in params["epsilons"]) or not params["epsilons"]:
        raise ValidationError(f"deadly-triad: epsilons {params['epsilons']} must lie in [0, 1]")
    if not 0.0 < params["far"] <= 1.0:
        raise ValidationError(f"deadly-triad: far = {params['far']:g} must lie in (0, 1] (the behaviour must "
                              f"take every action the target takes)")
    for key in ("alpha", "beta", "threshold"):
        if not params[key] > 0:
            raise ValidationError(f"deadly-triad: {key} = {params[key]:g} must be positive")
    common = {key: params[key] for key in RUN_KEYS}
    return [Run(f"deadly-triad/level={level}/mdp={i}", {**common, "mdp": i}) for i in range(params["mdps"])]
