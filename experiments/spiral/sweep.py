"""The spiral sweep: TD(0) and nonlinear TDC, expected and sampled, on the constructed spiral (and the printed one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad.errors import SpecError, ValidationError
from triad.experiment import STREAM_DOCS, Run

from .model import ALGORITHMS, EPSILON_PUBLISHED, GAMMA_PUBLISHED

FORMS = ("both", "expected", "sampled")

DEFAULTS: dict[str, Any] = {
    "algorithm": ALGORITHMS,
    "form": "both",
    "steps": 5000,
    "streams": 50,
    "seed": 0,
    "alpha": 2e-5,
    "beta": 5e-5,
    "gamma": GAMMA_PUBLISHED,
    "epsilon": EPSILON_PUBLISHED,
    "theta0": 0.0,
    "threshold": 1e4,
    "record_every": 50,
    "published": True,
}

QUICK: dict[str, Any] = {"steps": 600, "streams": 10, "record_every": 20}

DOCS = {
    "algorithm": "comma-separated subset of td, tdc",
    "form": "both, expected (sum over transitions) or sampled",
    "steps": "updates per run",
    **STREAM_DOCS,
    "alpha": "step size of θ (the same for TD and TDC)",
    "beta": "step size of TDC's second weight",
    "gamma": "discount factor (0.9 in Bhatnagar et al. 2009)",
    "epsilon": "growth rate ε of the spiral (0.05 in Bhatnagar et al. 2009)",
    "theta0": "initial θ (V(0) = a)",
    "threshold": "‖V(θ)‖ beyond which a run counts as diverged",
    "record_every": "record θ every this many steps",
    "published": "also run the expected updates on the spiral with the printed b (not a solution of its ODE)",
}


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """Runs on the constructed spiral for each algorithm and form, then the printed constants (expected)."""
    if params["form"] not in FORMS:
        raise SpecError(f"unknown form {params['form']!r} (choose from {', '.join(FORMS)})")
    algorithms = (params["algorithm"],) if isinstance(params["algorithm"], str) else params["algorithm"]
    for algorithm in algorithms:
        if algorithm not in ALGORITHMS:
            raise SpecError(f"unknown algorithm {algorithm!r} for spiral (choose from {', '.join(ALGORITHMS)})")
    if params["alpha"] <= 0 or params["beta"] < 0:
        raise ValidationError(f"step sizes must be positive: alpha = {params['alpha']:g}, beta = {params['beta']:g}")
    if not 0.0 <= params["gamma"] < 1.0:
        raise ValidationError(f"gamma = {params['gamma']:g} is outside [0, 1)")
    for name in ("steps", "streams", "record_every"):
        if params[name] < 1:
            raise ValidationError(f"{name} = {params[name]} must be a positive integer")
    forms = ("expected", "sampled") if params["form"] == "both" else (params["form"],)
    shared = {k: params[k] for k in ("steps", "alpha", "beta", "gamma", "epsilon", "theta0", "threshold",
                                     "record_every")}
    cells = [(a, "constructed", f) for a in algorithms for f in forms]
    if params["published"]:
        cells += [(a, "published", "expected") for a in algorithms]
    runs = []
    for algorithm, family, form in cells:
        run = {"algorithm": algorithm, "family": family, "form": form, **shared}
        if form == "sampled":
            run.update(streams=params["streams"], seed=params["seed"])
        runs.append(Run(f"spiral/algorithm={algorithm}/family={family}/form={form}", run))
    return runs
