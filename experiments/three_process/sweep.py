"""The three-process sweep: a grid over the target period, gradient steps per env step and replay size, per env,
plus the named points online Q, DQN and FQI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad.errors import SpecError
from triad.experiment import Run

ENVS = ("feature-grid", "CartPole-v1")
"""The environments: the tabular twin with random features (:mod:`.env`) and CartPole-v1."""

DEFAULTS: dict[str, Any] = {
    "envs": ENVS,
    "target_periods": (0, 8, 64, 512),
    "ratios": (0.25, 1.0, 4.0),
    "capacities": (1, 256, 10_000),
    "steps": 20_000,
    "finite_steps": 10_000,
    "learning_starts": 500,
    "fqi_iterations": 20,
    "seed": 0,
}

QUICK: dict[str, Any] = {"target_periods": (0, 64), "ratios": (1.0,), "capacities": (1,), "steps": 600,
                         "finite_steps": 600, "learning_starts": 150, "fqi_iterations": 2}

DOCS = {
    "envs": f"environments, subset of {', '.join(ENVS)}",
    "target_periods": "process 2: gradient steps between hard target copies (0: no target network, the current one)",
    "ratios": "process 3 against process 1: gradient steps per env step (< 1: one step every 1/ratio env steps)",
    "capacities": "replay sizes in transitions (1: online, batch 1); batches are min(32, capacity)",
    "steps": "env steps of each CartPole-v1 run",
    "finite_steps": "env steps of each feature-grid run",
    "learning_starts": "env steps of uniformly random actions before the first gradient step, in every cell",
    "fqi_iterations": "FQI: iterations (freeze, regress, copy) after its data set of learning_starts·4 env steps",
    "seed": "seed of every run",
}

NAMED = {"online-q": (1, 0, 1.0), "dqn": (10_000, 512, 0.25)}
"""Named points of the grid: (capacity, target period, ratio). FQI (collect once) is a run of its own."""


def cell_id(env: str, capacity: int, period: int, ratio: float) -> str:
    return f"three-process/env={env}/capacity={capacity}/target_period={period}/ratio={ratio:g}"


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """One run per env × capacity × target period × ratio, then one FQI run per env."""
    unknown = [e for e in params["envs"] if e not in ENVS]
    if unknown or not params["envs"]:
        raise SpecError(f"three-process: unknown envs {unknown} (choose from {', '.join(ENVS)})")
    for key in ("target_periods", "ratios", "capacities"):
        if not params[key]:
            raise SpecError(f"three-process: {key} is empty")
    if any(p < 0 for p in params["target_periods"]) or any(c < 1 for c in params["capacities"]):
        raise SpecError("three-process: target periods must be ≥ 0 and capacities ≥ 1")
    bad = [r for r in params["ratios"] if not r > 0 or (r < 1 and abs(1 / r - round(1 / r)) > 1e-9)
           or (r >= 1 and r != int(r))]
    if bad:
        raise SpecError(f"three-process: ratios {bad} must be whole numbers or 1/k (0.25 = one step per 4 env steps)")
    for key in ("steps", "finite_steps", "fqi_iterations"):
        if params[key] < 1:
            raise SpecError(f"three-process: {key} = {params[key]} must be at least 1")
    shared = {k: params[k] for k in ("learning_starts", "seed")}
    runs = []
    for env in params["envs"]:
        steps = params["finite_steps"] if env == "feature-grid" else params["steps"]
        for capacity in params["capacities"]:
            for period in params["target_periods"]:
                for ratio in params["ratios"]:
                    runs.append(Run(cell_id(env, capacity, period, ratio),
                                    {"kind": "cell", "env": env, "capacity": capacity, "target_period": period,
                                     "ratio": ratio, "steps": steps, **shared}))
        runs.append(Run(f"three-process/env={env}/fqi", {"kind": "fqi", "env": env, "steps": steps,
                                                         "iterations": params["fqi_iterations"], **shared}))
    return runs
