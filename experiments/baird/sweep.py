"""The Baird sweep: one run per (algorithm, form), each with the book's step sizes unless overridden."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from triad import zoo
from triad.errors import SpecError, ValidationError
from triad.experiment import STREAM_DOCS, Run
from triad.linear import ALGORITHMS, Rule
from triad.mdp import load_npy

FORMS = ("book", "expected", "sampled")

BOOK: dict[str, dict[str, Any]] = {
    # Sutton & Barto (2018): Figure 11.2 (α = 0.01), Figure 11.5 (α = 0.005, β = 0.05), Figure 11.6 (α = 0.03).
    "semi-gradient-td": {"alpha": 0.01, "forms": ("sampled",)},
    "semi-gradient-dp": {"alpha": 0.01, "forms": ("expected",)},
    "tdc": {"alpha": 0.005, "beta": 0.05, "forms": ("sampled", "expected")},
    "etd": {"alpha": 0.03, "forms": ("expected",)},
    # Not in the book's figures; triad's choices: GTD2 with TDC's step sizes, and the rest at α = 0.01.
    "gtd2": {"alpha": 0.005, "beta": 0.05, "forms": ("sampled", "expected")},
    "residual-gradient": {"alpha": 0.01, "forms": ("expected",)},
    "target-network": {"alpha": 0.01, "forms": ("sampled",)},
    "lstd": {"forms": ("closed",)},
}
"""Per algorithm: the step sizes and the forms (expected / sampled) of the published figures."""

DEFAULTS: dict[str, Any] = {
    "algorithm": ALGORITHMS,
    "form": "book",
    "sweeps": 1000,
    "steps": 1000,
    "streams": 20,
    "seed": 0,
    "alpha": 0.0,
    "beta": 0.0,
    "lam": 0.0,
    "n": 1,
    "interest": 1.0,
    "double_sample": False,
    "target_period": 100,
    "tau": 0.0,
    "gamma": 0.99,
    "threshold": 100.0,
    "record_every": 10,
    "w0": (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 10.0, 1.0),
    "features": "baird",
}

QUICK: dict[str, Any] = {"sweeps": 100, "steps": 100, "streams": 5, "record_every": 5}

DOCS = {
    "algorithm": f"comma-separated subset of {', '.join(ALGORITHMS)}",
    "form": "book (the forms of S&B Figures 11.2, 11.5, 11.6), expected (full sweeps) or sampled",
    "sweeps": "sweeps of the expected updates",
    "steps": "steps of the sampled updates",
    **STREAM_DOCS,
    "alpha": "step size; 0 means the book's for each algorithm",
    "beta": "step size of TDC/GTD2's second weights; 0 means the book's (0.05)",
    "lam": "trace decay λ of semi-gradient TD (other algorithms ignore it)",
    "n": "n-step semi-gradient TD, 1 is TD(0) (other algorithms ignore it)",
    "interest": "interest I(s) of emphatic TD (every state)",
    "double_sample": "residual gradient with an independent second next state",
    "target_period": "target-network: copy w into the frozen weights every this many steps",
    "tau": "target-network: Polyak rate (overrides target_period when > 0)",
    "gamma": "discount factor",
    "threshold": "‖w‖ beyond which a run counts as diverged",
    "record_every": "record the weights every this many steps/sweeps",
    "w0": "initial weights (8 numbers)",
    "features": "baird (the book's features) or a path to an (7, d) .npy array",
}


def problem(params: Mapping[str, Any]) -> zoo.Problem:
    """Baird's counterexample with the parameters' γ, features and initial weights."""
    base = zoo.baird(gamma=params["gamma"])
    features = base.features
    if params["features"] != "baird":
        features = load_npy(params["features"], "features")
    w0 = np.asarray(params["w0"], dtype=np.float64)  # zoo.Problem checks it against the features
    return zoo.Problem(base.mdp, features=features, target=base.target, behaviour=base.behaviour, w0=w0,
                       source=base.source)


def rule(algorithm: str, params: Mapping[str, Any]) -> Rule:
    """The :class:`Rule` of ``algorithm``: the book's step sizes where ``alpha``/``beta`` are 0."""
    if algorithm not in BOOK:
        raise SpecError(f"unknown algorithm {algorithm!r} (choose from {', '.join(ALGORITHMS)})")
    book = BOOK[algorithm]
    for name in ("alpha", "beta"):
        if params[name] < 0:
            raise ValidationError(f"{name} = {params[name]:g} is negative: step sizes must be positive")
    alpha = params["alpha"] or book.get("alpha", 0.0)
    beta = params["beta"] or book.get("beta", 0.0)
    td = algorithm == "semi-gradient-td"  # traces and n-step returns apply to semi-gradient TD only
    return Rule(algorithm, alpha=alpha, beta=beta, lam=params["lam"] if td else 0.0, n=params["n"] if td else 1,
                interest=params["interest"],
                double_sample=params["double_sample"], target_period=params["target_period"], tau=params["tau"])


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """One run per selected algorithm and form; every parameter is checked before anything runs."""
    if params["form"] not in FORMS:
        raise SpecError(f"unknown form {params['form']!r} (choose from {', '.join(FORMS)})")
    algorithms = params["algorithm"]
    if isinstance(algorithms, str):
        algorithms = (algorithms,)
    if not algorithms:
        raise SpecError(f"no algorithm given (choose from {', '.join(ALGORITHMS)})")
    for name in ("sweeps", "steps", "streams", "record_every"):
        if params[name] < 1:
            raise ValidationError(f"{name} = {params[name]} must be a positive integer")
    if not params["threshold"] > 0:
        raise ValidationError(f"threshold = {params['threshold']:g} must be positive")
    problem(params)
    runs = []
    for algorithm in algorithms:
        learning = rule(algorithm, params)
        forms = BOOK[algorithm]["forms"] if params["form"] == "book" or algorithm == "lstd" else (params["form"],)
        if forms == ("sampled",) and algorithm == "semi-gradient-dp":
            raise ValidationError("semi-gradient-dp is an expected (full-sweep) update and has no sampled form; "
                                  "its sampled counterpart is semi-gradient-td")
        for form in forms:
            run = {"algorithm": algorithm, "form": form, "alpha": learning.alpha, "beta": learning.beta,
                   "lam": learning.lam, "n": learning.n, "interest": params["interest"],
                   "double_sample": learning.double_sample,
                   "target_period": learning.target_period, "tau": learning.tau, "gamma": params["gamma"],
                   "threshold": params["threshold"], "record_every": params["record_every"],
                   "w0": tuple(params["w0"]), "features": params["features"]}
            if form == "expected":
                run["sweeps"] = params["sweeps"]
            elif form == "sampled":
                run.update(steps=params["steps"], streams=params["streams"], seed=params["seed"])
            runs.append(Run(f"baird/algorithm={algorithm}/form={form}", run))
    return runs
