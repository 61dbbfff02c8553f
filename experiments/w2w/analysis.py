"""The w→2w summary: divergence at the requested (γ, ε) and the empirical boundary against the exact one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import sympy as sp

from triad.analysis import symbolic
from triad.experiment import require_columns

COLUMNS = ("method", "gamma", "epsilon", "point", "quantity", "value")
"""The columns the summary reads."""


def exact_threshold(method: str, epsilon: np.ndarray | float) -> np.ndarray:
    """The sympy threshold γ*(ε) of ``method`` (γ > γ* diverges), evaluated elementwise."""
    threshold = symbolic.td_fragment_threshold() if method == "td-fragment" else symbolic.projected_vi_threshold()
    return np.broadcast_to(sp.lambdify(symbolic.EPSILON, threshold.expr, "numpy")(np.asarray(epsilon, float)),
                           np.shape(epsilon)).astype(float)


def boundary_errors(cells: pd.DataFrame, method: str) -> pd.Series:
    """Per ε, how far the empirical boundary is from the exact one.

    The empirical boundary is the smallest grid γ whose iteration diverged; the exact one predicts
    the smallest grid γ above γ*(ε). Where both say "none in the grid" the error is 0; where only
    one does, it is infinite.
    """
    diverged = cells[(cells["quantity"] == "diverged") & ~cells["point"]]
    table = diverged.pivot_table(index="gamma", columns="epsilon", values="value", aggfunc="first")
    gammas = table.index.to_numpy(float)
    exact = exact_threshold(method, table.columns.to_numpy(float))
    errors = []
    for column, threshold in zip(table.columns, exact):
        hit = gammas[table[column].to_numpy() > 0]
        above = gammas[gammas > threshold]
        if len(hit) and len(above):
            errors.append(abs(hit.min() - threshold))
        else:
            errors.append(0.0 if len(hit) == len(above) == 0 else np.inf)
    return pd.Series(errors, index=table.columns)


def summarise_method(rows: pd.DataFrame, gamma_step: float) -> dict[str, Any]:
    """Divergence and growth at the requested point; worst distance of the empirical to the exact boundary."""
    method = str(rows["method"].iloc[0])
    point = rows[rows["point"]].set_index("quantity")["value"]
    epsilon = float(rows.loc[rows["point"], "epsilon"].iloc[0])
    return {
        "diverged": bool(point["diverged"] > 0),
        "growth_factor": float(point["growth_factor"]),
        "threshold_gamma": float(exact_threshold(method, epsilon)),
        # Rounded: grid γ values carry float noise (0.51 − 0.5 = 0.010000000000000009).
        "boundary_max_error": round(float(boundary_errors(rows, method).max()), 12),
        "grid_step": gamma_step,
    }


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """Top level: the chosen method at (gamma, epsilon); then both methods in full."""
    require_columns(results, COLUMNS, "w2w analysis")
    by_method = {method: summarise_method(rows, params["gamma_step"])
                 for method, rows in results.groupby("method", sort=False)}
    chosen = by_method[params["algorithm"]]
    return {"algorithm": params["algorithm"], "gamma": params["gamma"], "epsilon": params["epsilon"],
            "diverged": chosen["diverged"], "growth_factor": chosen["growth_factor"],
            "threshold_gamma": chosen["threshold_gamma"], **{m.replace("-", "_"): s for m, s in by_method.items()}}
