"""The A-split summary: the values each variant converged to, next to the true ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from triad import linear, zoo
from triad.experiment import require_columns

from .sweep import STATES

COLUMNS = ("id", "algorithm", "form", "step", "stream", "quantity", "value")
"""The columns the summary reads."""


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """Per ``algorithm/form``: final values of A, B, C (mean over streams), √VE and √TDE; plus the true values."""
    require_columns(results, COLUMNS, "residual-gradient analysis")
    true = linear.true_values(zoo.a_split(), gamma=params["gamma"])
    summary: dict[str, Any] = {"true": {name: float(true[s]) for s, name in enumerate(STATES)}}
    for _, rows in results.groupby("id", sort=False):
        final = rows[rows["step"] == rows["step"].max()].groupby("quantity")["value"].mean()
        key = f"{rows['algorithm'].iloc[0]}/{rows['form'].iloc[0]}"
        summary[key] = {**{name: float(final[f"v_{name}"]) for name in STATES},
                        "sqrt_ve": float(final["sqrt_ve"]), "sqrt_tde": float(final["sqrt_tde"]),
                        "sqrt_be": float(final["sqrt_be"]), "steps": int(rows["step"].max()),
                        "streams": int(rows["stream"].nunique())}
    return summary
