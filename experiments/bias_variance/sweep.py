"""The bias-variance sweep: one run per MDP, covering every critic error and critic draw."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad.errors import SpecError
from triad.experiment import Run

DEFAULTS: dict[str, Any] = {
    "mdps": ("chain:n=10,slip=0.1", "garnet:S=30,A=3,b=4,seed=0"),
    "gamma": 0.9,
    "errors": (0.0, 0.3, 1.0, 3.0, 10.0),
    "critics": 5,
    "ns": (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64),
    "lams": (0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0),
    "streams": 400,
}

QUICK: dict[str, Any] = {
    "mdps": ("chain:n=6,slip=0.1", "garnet:S=10,A=2,b=3,seed=0"),
    "errors": (0.0, 1.0),
    "critics": 2,
    "ns": (1, 2, 4, 8),
    "lams": (0.0, 0.5, 0.9, 1.0),
    "streams": 100,
}

DOCS = {
    "mdps": "MDP specs (separate several with ';'); evaluated under the uniform policy",
    "gamma": "discount applied to every MDP",
    "errors": "critic errors e: V̂ = V^π + e·σ_G·z, σ_G the RMS standard deviation of the MC return, z ~ N(0, I)",
    "critics": "critic draws z per error level (draw k uses seed k, the same z at every error level)",
    "ns": "n of the n-step returns",
    "lams": "λ of the λ-returns",
    "streams": "simulated episodes per state for the sampled check of n ∈ {1, 4, 16} and λ ∈ {0, .5, .9, 1} (0: none)",
}


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """``bias-variance/mdp=SPEC`` for every MDP (its errors and critics share one set of simulated episodes)."""
    if not params["mdps"]:
        raise SpecError("bias-variance: mdps is empty")
    if any(e < 0 for e in params["errors"]):
        raise SpecError(f"bias-variance: critic errors must be ≥ 0, got {params['errors']}")
    if any(n < 1 for n in params["ns"]):
        raise SpecError(f"bias-variance: every n must be ≥ 1, got {params['ns']}")
    if any(not 0.0 <= lam <= 1.0 for lam in params["lams"]):
        raise SpecError(f"bias-variance: every λ must lie in [0, 1], got {params['lams']}")
    if params["critics"] < 1 or params["streams"] < 0:
        raise SpecError(f"bias-variance: need critics ≥ 1 and streams ≥ 0, got {params['critics']}, "
                        f"{params['streams']}")
    shared = {k: params[k] for k in ("gamma", "errors", "critics", "ns", "lams", "streams")}
    return [Run(f"bias-variance/mdp={spec}", {"mdp": spec, "position": i, **shared})
            for i, spec in enumerate(params["mdps"])]
