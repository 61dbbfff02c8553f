"""The w→2w sweep: the TD(0) fragment and projected value iteration, each over a (γ, ε) grid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from triad.errors import SpecError, ValidationError
from triad.experiment import Run

METHODS = ("projected-vi", "td-fragment")

DEFAULTS: dict[str, Any] = {
    "algorithm": "projected-vi",
    "gamma": 0.99,
    "epsilon": 0.1,
    "gamma_step": 0.01,
    "epsilon_step": 0.02,
    "iterations": 500,
    "alpha": 0.1,
}

QUICK: dict[str, Any] = {"gamma_step": 0.05, "epsilon_step": 0.25, "iterations": 100}

DOCS = {
    "algorithm": "which method the top-level diverged / growth_factor describe: projected-vi or td-fragment",
    "gamma": "discount of the point reported at the top of the summary",
    "epsilon": "termination probability of that point",
    "gamma_step": "grid spacing of γ over [0, 1)",
    "epsilon_step": "grid spacing of ε over [0, 1]",
    "iterations": "iterations (sweeps) per grid cell",
    "alpha": "step size of the TD(0) fragment",
}


def grid(params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(γ, ε)`` of the grid plus the requested point: two ``(n,)`` arrays."""
    g_step, e_step = params["gamma_step"], params["epsilon_step"]
    if not 0 < g_step < 1 or not 0 < e_step <= 1:
        raise ValidationError(f"grid steps must be in (0, 1): gamma_step = {g_step:g}, epsilon_step = {e_step:g}")
    gammas = np.round(np.arange(0.0, 1.0 - 1e-12, g_step), 12)
    epsilons = np.round(np.arange(0.0, 1.0 + 1e-12, e_step), 12)
    G, E = np.meshgrid(gammas, epsilons, indexing="ij")
    return np.append(G.ravel(), params["gamma"]), np.append(E.ravel(), params["epsilon"])


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """One run per method; each covers the whole grid in one vectorised call."""
    if params["algorithm"] not in METHODS:
        raise SpecError(f"unknown algorithm {params['algorithm']!r} for w2w (choose from {', '.join(METHODS)})")
    if not 0.0 <= params["gamma"] < 1.0:
        raise ValidationError(f"gamma = {params['gamma']:g} is outside [0, 1)")
    if not 0.0 <= params["epsilon"] <= 1.0:
        raise ValidationError(f"epsilon = {params['epsilon']:g} is outside [0, 1]")
    if params["alpha"] <= 0:
        raise ValidationError(f"alpha = {params['alpha']:g} must be positive")
    if params["iterations"] < 2:
        raise ValidationError(f"iterations = {params['iterations']} must be at least 2")
    grid(params)
    keys = ("gamma", "epsilon", "gamma_step", "epsilon_step", "iterations")
    return [Run(f"w2w/method={method}", {"method": method, **{k: params[k] for k in keys},
                                          **({"alpha": params["alpha"]} if method == "td-fragment" else {})})
            for method in METHODS]
