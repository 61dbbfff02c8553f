"""The Baird summary, derived from the tidy rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from triad.experiment import require_columns

COLUMNS = ("id", "algorithm", "form", "step", "stream", "quantity", "value")
"""The columns the summary reads."""


def summarise_run(rows: pd.DataFrame) -> dict[str, Any]:
    """Final weights (mean over streams), √VE, √PBE, the fraction of streams that diverged and the median step."""
    final = rows[rows["step"] == rows["step"].max()]
    table = final.pivot_table(index="stream", columns="quantity", values="value", aggfunc="first", dropna=False)
    weights = sorted((c for c in table.columns if c.startswith("w_")), key=lambda c: int(c[2:]))
    diverged_at = table["diverged_at"].to_numpy()
    hit = diverged_at[~np.isnan(diverged_at)]
    with np.errstate(over="ignore", invalid="ignore"):
        return {
            "diverged_fraction": float(len(hit) / len(diverged_at)),
            "first_divergence_step": float(np.median(hit)) if len(hit) else None,
            "sqrt_ve": float(table["sqrt_ve"].mean()),
            "sqrt_pbe": float(table["sqrt_pbe"].mean()),
            "steps": int(rows["step"].max()),
            "streams": len(table),
            "threshold": float(table["threshold"].iloc[0]),
            "w": table[weights].mean(axis=0).to_numpy(),
        }


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every run's summary in ``runs``, keyed ``algorithm/form``; the first run's also at the top
    level (``run`` names it), so ``w``, ``sqrt_ve``, … are there however many runs were asked for."""
    require_columns(results, COLUMNS, "baird analysis")
    runs = {f"{rows['algorithm'].iloc[0]}/{rows['form'].iloc[0]}": summarise_run(rows)
            for _, rows in results.groupby("id", sort=False)}
    first = next(iter(runs))
    return {"run": first, **runs[first], "runs": runs}
