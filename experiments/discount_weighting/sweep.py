"""The discount-weighting sweep: one run per problem, all at one γ and one ascent budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad import zoo
from triad.errors import SpecError
from triad.experiment import Run

ALIASED = "aliased-decision"
"""The zoo's :func:`triad.zoo.aliased_decision` (``aliased-decision:delay=5``): one shared policy parameter."""

DEFAULTS: dict[str, Any] = {
    # On the command line specs contain commas, so problems are separated by semicolons.
    "problems": ("chain:n=6,slip=0.1", "gridworld:rows=3,cols=3,slip=0.1", "garnet:S=6,A=3,b=3,seed=0", ALIASED),
    "gamma": 0.9,
    "steps": 1000,
    "step_size": 1.0,
    "radius": 0.05,
    "loop_points": 64,
}

QUICK: dict[str, Any] = {"problems": ("chain:n=4,slip=0.1", ALIASED), "steps": 100}

DOCS = {
    "problems": f"semicolon-separated zoo specs: a log-linear softmax policy on the problem's policy features "
                f"(as {ALIASED}[:delay=..,late_reward=..] has: one shared parameter), tabular logits otherwise",
    "gamma": "discount factor applied to every problem",
    "steps": "gradient-ascent steps from θ0 = 0 following each field",
    "step_size": "ascent step size α in θ ← θ + α F(θ)",
    "radius": "radius of the loop for the circulation test, in the plane of largest curl",
    "loop_points": "trapezoid points on that loop",
}


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """One run per problem spec."""
    problems = [spec.strip() for spec in params["problems"] if spec.strip()]
    if not problems:
        raise SpecError("discount-weighting: problems is empty")
    if params["steps"] < 1:
        raise SpecError(f"discount-weighting: steps = {params['steps']} must be at least 1")
    if not params["radius"] > 0:
        raise SpecError(f"discount-weighting: radius = {params['radius']} must be positive")
    for spec in problems:
        zoo.make(spec)  # unknown names and parameters fail before anything runs
    keys = ("gamma", "steps", "step_size", "radius", "loop_points")
    return [Run(f"discount-weighting/problem={spec}", {"problem": spec, **{k: params[k] for k in keys}})
            for spec in problems]
