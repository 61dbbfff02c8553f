"""One w→2w method over the whole (γ, ε) grid: final weight, growth factor and divergence per cell.

Rows: ``step`` is the last iteration; column ``cell`` indexes the grid, with its ``gamma``,
``epsilon`` and ``point`` (the requested point, the last cell).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import linear, zoo
from triad.experiment import Progress, Run, tidy

from .sweep import grid

FRAGMENT_WEIGHTING = np.array([1.0, 0.0, 0.0])
"""All weight on the first state: the expected update is the single transition w → 2w."""


def growth_factor(curve: linear.Curve) -> np.ndarray:
    """Per-iteration growth ``(|w_K| / |w_{K/2}|)^{1/(K − K/2)}`` of each stream: ``(B,)``."""
    half = len(curve.steps) // 2
    span = curve.steps[-1] - curve.steps[half]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.linalg.norm(curve.w[-1], axis=-1) / np.linalg.norm(curve.w[half], axis=-1)
        return ratio ** (1.0 / span)


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Iterate the method on every grid cell at once."""
    p = run.params
    gammas, epsilons = grid(p)
    # One problem per ε, shared by every γ of that column; the discount comes per cell.
    by_epsilon = {e: zoo.two_state(epsilon=e) for e in np.unique(epsilons)}
    problems = [by_epsilon[e] for e in epsilons]
    progress.total(p["iterations"])
    if p["method"] == "td-fragment":
        rule = linear.Rule("semi-gradient-td", alpha=p["alpha"])
        curve = linear.expected(rule, problems, p["iterations"], weighting=FRAGMENT_WEIGHTING, gamma=gammas,
                                progress=progress)
    else:
        curve = linear.projected_value_iteration(problems, p["iterations"], gamma=gammas, progress=progress)
    growth = growth_factor(curve)
    quantities = {"w": curve.final[:, 0], "growth_factor": growth, "diverged": (growth > 1.0 + 1e-9).astype(float),
                  "diverged_at": curve.diverged_at}
    point = np.zeros(len(gammas), bool)
    point[-1] = True
    return tidy([p["iterations"]], {name: values[None, :] for name, values in quantities.items()}, axis="cell",
                method=p["method"], gamma=gammas, epsilon=epsilons, point=point)
