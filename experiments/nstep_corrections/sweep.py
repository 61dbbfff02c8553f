"""The nstep-corrections sweep: one target run per (target policy, bootstrap error, behaviour ε) cell."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad import zoo
from triad.errors import SpecError
from triad.experiment import Run
from triad.experiments.nstep_corrections.model import METHODS

DEFAULTS: dict[str, Any] = {
    "mdp": "garnet:S=6,A=3,b=3,seed=0,gamma=0.9",
    "methods": METHODS,
    "ns": (1, 2, 3, 4, 6, 8, 12, 16),
    "epsilons": (0.0, 0.1, 0.25, 0.5, 0.75, 1.0),
    "temperatures": (0.0, 0.3),
    "bootstrap_errors": (0.0, 1.0),
    "samples": 4000,
    "reference_n": 8,
    "reference_epsilon": 0.5,
    "learning_mdp": "chain:n=6,slip=0.1,gamma=0.9",
    "learning_n": 4,
    "learning_epsilon": 0.5,
    "learning_steps": 20_000,
    "learning_seeds": 3,
    "seed": 0,
}

QUICK: dict[str, Any] = {"ns": (1, 2, 4, 8), "epsilons": (0.0, 0.5, 1.0), "temperatures": (0.0,),
                         "bootstrap_errors": (1.0,), "samples": 400, "learning_steps": 600, "learning_seeds": 1}

DOCS = {
    "mdp": "the tabular MDP (zoo spec) whose Q^π and Q* the solvers compute",
    "methods": f"corrections, subset of {', '.join(METHODS)}",
    "ns": "windows n of the n-step targets",
    "epsilons": "behaviour μ = (1 − ε)·π + ε·uniform: the distance from the target policy (TV = ε·TV(π, uniform))",
    "temperatures": "target policies π: 0 is greedy in Q* (so Q^π = Q*), τ > 0 is softmax(Q*/τ)",
    "bootstrap_errors": "σ of the fixed error of the bootstrap table, Q̂ = Q^π + σ·z with z ~ N(0, 1) per (s, a)",
    "samples": "sampled targets per state-action pair and cell (variance, and a check of the exact bias)",
    "reference_n": "the window at which the summary compares behaviours (must be one of ns)",
    "reference_epsilon": "the behaviour at which the summary compares windows (must be one of epsilons)",
    "learning_mdp": "learning curves: the small MDP (zoo spec) on which nstep-q learns with each correction",
    "learning_n": "learning curves: the window n of nstep-q",
    "learning_epsilon": "learning curves: the constant ε of the ε-greedy behaviour (the distance from the greedy target)",
    "learning_steps": "learning curves: env steps per run (0: no learning curves)",
    "learning_seeds": "learning curves: independent runs per correction",
    "seed": "base seed; the bootstrap error z is drawn from Generator([seed]), run k samples from Generator([seed, k])",
}


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """``nstep-corrections/temperature=τ/bootstrap_error=σ/epsilon=ε`` (ε fastest), then the learning runs
    ``nstep-corrections/learning/method=M/seed=k``."""
    unknown = [m for m in params["methods"] if m not in METHODS]
    if unknown:
        raise SpecError(f"nstep-corrections: unknown methods {unknown} (choose from {', '.join(METHODS)})")
    if not params["methods"]:
        raise SpecError("nstep-corrections: methods is empty")
    for key in ("ns", "epsilons", "temperatures", "bootstrap_errors"):
        if not params[key]:
            raise SpecError(f"nstep-corrections: {key} is empty")
    if any(n < 1 for n in params["ns"]):
        raise SpecError(f"nstep-corrections: every n must be at least 1, got {params['ns']}")
    if any(not 0.0 <= e <= 1.0 for e in params["epsilons"]):
        raise SpecError(f"nstep-corrections: every epsilon must lie in [0, 1], got {params['epsilons']}")
    if any(t < 0 for t in params["temperatures"]) or any(s < 0 for s in params["bootstrap_errors"]):
        raise SpecError("nstep-corrections: temperatures and bootstrap_errors must be ≥ 0")
    if params["samples"] < 2:
        raise SpecError(f"nstep-corrections: samples = {params['samples']} must be at least 2")
    for key, grid in (("reference_n", "ns"), ("reference_epsilon", "epsilons")):
        if params[key] not in params[grid]:
            raise SpecError(f"nstep-corrections: {key} = {params[key]} is not one of {grid} {params[grid]}")
    zoo.make(params["mdp"])
    zoo.make(params["learning_mdp"])
    if params["learning_n"] < 1 or params["learning_seeds"] < 1 or params["learning_steps"] < 0:
        raise SpecError("nstep-corrections: learning_n and learning_seeds must be ≥ 1, learning_steps ≥ 0")
    if not 0.0 <= params["learning_epsilon"] <= 1.0:
        raise SpecError(f"nstep-corrections: learning_epsilon = {params['learning_epsilon']} must lie in [0, 1]")
    shared = {k: params[k] for k in ("mdp", "methods", "ns", "samples", "seed")}
    runs = []
    for tau in params["temperatures"]:
        for sigma in params["bootstrap_errors"]:
            for eps in params["epsilons"]:
                runs.append(Run(f"nstep-corrections/temperature={tau:g}/bootstrap_error={sigma:g}/epsilon={eps:g}",
                                {"kind": "targets", "temperature": tau, "bootstrap_error": sigma, "epsilon": eps,
                                 "position": len(runs), **shared}))
    if params["learning_steps"]:
        for method in params["methods"]:
            for k in range(params["learning_seeds"]):
                runs.append(Run(f"nstep-corrections/learning/method={method}/seed={params['seed'] + k}",
                                {"kind": "learning", "method": method, "seed": params["seed"] + k,
                                 **{key: params[f"learning_{key}"] for key in ("mdp", "n", "epsilon", "steps")}}))
    return runs
