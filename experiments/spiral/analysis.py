"""The spiral summary: which runs diverged, and whether each value-function family is consistent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from triad.experiment import require_columns

from .model import Spiral

COLUMNS = ("id", "algorithm", "family", "form", "step", "stream", "quantity", "value")
"""The columns the summary reads."""


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """Per ``algorithm/family/form``: divergence and final ‖V‖, √MSPBE (medians over streams); the family check."""
    require_columns(results, COLUMNS, "spiral analysis")
    summary: dict[str, Any] = {}
    for _, rows in results.groupby("id", sort=False):
        final = rows[rows["step"] == rows["step"].max()]
        by = {q: g["value"].to_numpy() for q, g in final.groupby("quantity")}
        hit = by["diverged_at"][~np.isnan(by["diverged_at"])]
        key = "/".join(str(rows[c].iloc[0]) for c in ("algorithm", "family", "form"))
        # A diverged stream counts as infinitely large, whatever its θ did next: it may overflow to
        # NaN, or a step taken at a huge ‖V‖ may throw θ far negative, where V(θ) ≈ 0.
        gone = ~np.isnan(by["diverged_at"])
        blown = {q: np.where(gone | np.isnan(by[q]), np.inf, by[q]) for q in ("norm_v", "sqrt_mspbe")}
        summary[key] = {"diverged_fraction": float(len(hit) / len(by["diverged_at"])),
                        "first_divergence_step": float(np.median(hit)) if len(hit) else None,
                        "norm_v": float(np.median(blown["norm_v"])),
                        "sqrt_mspbe": float(np.median(blown["sqrt_mspbe"])),
                        "steps": int(rows["step"].max()),
                        "streams": int(rows.loc[rows["quantity"] == "theta", "stream"].nunique())}
    consistency = results[results["quantity"] == "consistency_error"].groupby("family")["value"].first()
    built, printed = Spiral.construct(epsilon=params["epsilon"]), Spiral.published()
    summary["family"] = {"lambda_hat": built.lam, "b_constructed": built.b, "b_published": printed.b,
                         "a_dot_b_constructed": float(built.a @ built.b),
                         "a_dot_b_published": float(printed.a @ printed.b),
                         **{f"consistency_error_{family}": float(v) for family, v in consistency.items()}}
    return summary
