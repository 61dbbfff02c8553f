"""The truth-probes sweep: one training run per discount weighting (and seed) of one agent on one problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad.errors import SpecError

DEFAULTS: dict[str, Any] = {
    "algorithm": "reinforce",
    "settings": ("baseline=true", "batch_steps=500"),
    "problem": "gridworld:rows=4,cols=4,slip=0.2,gamma=0.8",
    "discount_weightings": (1, 2),
    "steps": 30000,
    "log_every": 500,
    "max_episode_steps": 50,
    "eval_episodes": 10,
    "seeds": (0,),
}

QUICK: dict[str, Any] = {"steps": 3000}

DOCS = {
    "algorithm": "an on-policy agent of `triad train --list` (one with policy-gradient estimates: not a3c)",
    "settings": "semicolon-separated key=value config fields of the agent (as `triad train --set`)",
    "problem": "a zoo spec or .npz path (a tabular twin; its discount is the agent's gamma)",
    "discount_weightings": "the agent's discount_weighting per run: 1 drops γ^t in front of ∇log π, 2 keeps it",
    "steps": "env steps per run",
    "log_every": "env steps between probe rows",
    "max_episode_steps": "time limit of an episode (truncations bootstrap)",
    "eval_episodes": "deterministic episodes of the final evaluation",
    "seeds": "one run per seed",
}


def overrides(params: Mapping[str, Any], weighting: int) -> dict[str, str]:
    """The ``--set`` fields of one run: the settings, its discount weighting and the log interval."""
    out = {}
    for item in params["settings"]:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"truth-probes: setting {item!r} is not key=value")
        out[key.strip()] = value.strip()
    return {**out, "discount_weighting": str(weighting), "log_every": str(params["log_every"])}


def sweep(params: Mapping[str, Any]) -> list:
    """One run per (discount weighting, seed); the agent, its settings and the problem are checked first."""
    from triad import agents, envs
    from triad.experiment import Run

    algo = agents.get(params["algorithm"])
    if not envs.is_finite(params["problem"]):
        raise SpecError(f"truth-probes: problem {params['problem']!r} is not a tabular twin (a zoo spec or .npz)")
    if params["steps"] < 1 or params["log_every"] < 1:
        raise SpecError("truth-probes: steps and log_every must be at least 1")
    runs = []
    for weighting in params["discount_weightings"]:
        algo.resolve(params["problem"], overrides(params, weighting))  # unknown keys, bad values: before any run
        for seed in params["seeds"]:
            runs.append(Run(f"truth-probes/algorithm={params['algorithm']}/discount_weighting={weighting}/seed={seed}",
                            {key: params[key] for key in ("algorithm", "settings", "problem", "steps", "log_every",
                                                          "max_episode_steps", "eval_episodes")}
                            | {"discount_weighting": int(weighting), "seed": int(seed)}))
    return runs
