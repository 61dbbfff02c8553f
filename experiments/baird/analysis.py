"""The Baird summary, derived from the tidy rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def summarise_run(rows: pd.DataFrame) -> dict[str, Any]:
    """Final weights (mean over seeds), √VE, √PBE, the fraction of seeds that diverged and the median step."""
    final = rows[rows["step"] == rows["step"].max()]
    table = final.pivot_table(index="seed", columns="quantity", values="value", aggfunc="first", dropna=False)
    weights = sorted((c for c in table.columns if c.startswith("w_")), key=lambda c: int(c[2:]))
    diverged_at = table["diverged_at"].to_numpy()
    hit = diverged_at[~np.isnan(diverged_at)]
    with np.errstate(over="ignore", invalid="ignore"):
        return {
            "algorithm": str(final["algorithm"].iloc[0]),
            "form": str(final["form"].iloc[0]),
            "diverged_fraction": float(len(hit) / len(diverged_at)),
            "first_divergence_step": float(np.median(hit)) if len(hit) else None,
            "sqrt_ve": float(table["sqrt_ve"].mean()),
            "sqrt_pbe": float(table["sqrt_pbe"].mean()),
            "steps": int(rows["step"].max()),
            "seeds": len(table),
            "threshold": float(table["threshold"].iloc[0]),
            "w": table[weights].mean(axis=0).to_numpy(),
        }


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """One run: its summary at the top level. Several: one entry per ``algorithm/form`` (which names it)."""
    runs = [summarise_run(rows) for _, rows in results.groupby("id", sort=False)]
    if len(runs) == 1:
        return runs[0]
    return {f"{run.pop('algorithm')}/{run.pop('form')}": run for run in runs}
