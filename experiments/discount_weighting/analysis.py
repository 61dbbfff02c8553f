"""Summary of discount-weighting: per problem, the angle, the J reached by each field, curl and circulation."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pandas as pd

from triad.experiment import require_columns

COLUMNS = ("id", "field", "step", "quantity", "value")
"""The columns the summary reads."""


def _value(rows: pd.DataFrame, quantity: str, field: str = "", step: int | None = None) -> float | None:
    """The value of ``quantity`` for ``field`` at ``step`` (default: the last step), or None."""
    pick = rows[(rows["quantity"] == quantity) & (rows["field"].fillna("") == field)]
    pick = pick[pick["step"] == (pick["step"].max() if step is None else step)]
    return float(pick["value"].iloc[0]) if len(pick) else None


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict:
    """Per problem: angle at θ0 and its largest value along the true-gradient path, J* and the J
    reached by each field after ``steps`` (with its gap to J*), and for each field the curl norm
    and loop integral at θ0 (with the Stokes prediction for the dropped field; ``None`` for a
    one-parameter policy, whose fields are always gradients)."""
    require_columns(results, COLUMNS, "discount-weighting analysis")
    out: dict[str, Any] = {"gamma": params["gamma"], "steps": params["steps"], "problems": {}}
    for problem, rows in results.groupby("id", sort=False):
        value = functools.partial(_value, rows)
        J_star = value("J_star")
        angle_path = rows[(rows["quantity"] == "angle") & (rows["field"] == "true")]["value"]
        entry: dict[str, Any] = {
            "parameters": int(value("parameters")),
            "angle_at_start_deg": value("angle", "true", 0),
            "max_angle_on_true_path_deg": float(angle_path.max()),
            "J_start": value("J", "true", 0),
            "J_star": J_star,
            "J_final": {f: value("J", f) for f in ("true", "dropped")},
            "gap_to_J_star": {f: J_star - value("J", f) for f in ("true", "dropped")},
            "curl_norm": {f: value("curl_norm", f, 0) for f in ("true", "dropped")},
            "loop_integral": {f: value("loop_integral", f, 0) for f in ("true", "dropped")},
            "stokes_prediction": value("stokes_prediction", "dropped", 0),
        }
        out["problems"][problem.removeprefix("discount-weighting/problem=")] = entry
    return out
