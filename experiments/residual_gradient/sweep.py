"""The A-split sweep: TD(0), naive and double-sampled residual gradient, expected and sampled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad import zoo
from triad.errors import SpecError, ValidationError
from triad.experiment import STREAM_DOCS, Run
from triad.linear import Rule

STATES = zoo.a_split().mdp.state_names[:-1]
"""The non-terminal states of the zoo's ``a-split`` (all but the last), in feature order: A, B, C."""

VARIANTS = {
    "semi-gradient-td": {"algorithm": "semi-gradient-td"},
    "residual-gradient": {"algorithm": "residual-gradient"},
    "double-sampled-residual-gradient": {"algorithm": "residual-gradient", "double_sample": True},
}
"""Learning rules compared on the A-split, by name."""

FORMS = ("both", "expected", "sampled")

DEFAULTS: dict[str, Any] = {
    "algorithm": tuple(VARIANTS),
    "form": "both",
    "sweeps": 3000,
    "steps": 5000,
    "streams": 50,
    "seed": 0,
    "alpha": 0.05,
    "gamma": 1.0,
    "record_every": 50,
}

QUICK: dict[str, Any] = {"sweeps": 300, "steps": 500, "streams": 10, "record_every": 10}

DOCS = {
    "algorithm": f"comma-separated subset of {', '.join(VARIANTS)}",
    "form": "both, expected (full sweeps) or sampled",
    "sweeps": "sweeps of the expected updates",
    "steps": "steps of the sampled updates",
    **STREAM_DOCS,
    "alpha": "step size",
    "gamma": "discount (the book's 1: every episode terminates)",
    "record_every": "record the weights every this many steps/sweeps",
}


def rule(variant: str, alpha: float) -> Rule:
    """The :class:`Rule` of a variant name."""
    if variant not in VARIANTS:
        raise SpecError(f"unknown algorithm {variant!r} for residual-gradient (choose from {', '.join(VARIANTS)})")
    return Rule(alpha=alpha, **VARIANTS[variant])


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """One run per variant and form."""
    if params["form"] not in FORMS:
        raise SpecError(f"unknown form {params['form']!r} (choose from {', '.join(FORMS)})")
    if not 0.0 <= params["gamma"] <= 1.0:
        raise ValidationError(f"gamma = {params['gamma']:g} is outside [0, 1]")
    for name in ("sweeps", "steps", "streams", "record_every"):
        if params[name] < 1:
            raise ValidationError(f"{name} = {params[name]} must be a positive integer")
    variants = (params["algorithm"],) if isinstance(params["algorithm"], str) else params["algorithm"]
    forms = ("expected", "sampled") if params["form"] == "both" else (params["form"],)
    runs = []
    for variant in variants:
        rule(variant, params["alpha"])
        for form in forms:
            run = {"variant": variant, "form": form, "alpha": params["alpha"], "gamma": params["gamma"],
                   "record_every": params["record_every"]}
            run.update({"sweeps": params["sweeps"]} if form == "expected" else
                       {"steps": params["steps"], "streams": params["streams"], "seed": params["seed"]})
            runs.append(Run(f"residual-gradient/algorithm={variant}/form={form}", run))
    return runs
