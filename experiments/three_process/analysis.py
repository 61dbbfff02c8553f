"""Summary of three-process, derived from the rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from triad.experiment import require_columns

COLUMNS = ("env", "capacity", "target_period", "ratio", "named", "step", "quantity", "value")
"""The columns the summary and the figure read."""

FINALS = ("final_return", "eval_return", "q_abs_max", "return_bound", "diverged", "J", "J_star", "q_error")
"""Per-run quantities at the last step."""


def finals(results: pd.DataFrame) -> pd.DataFrame:
    """One row per run (env, capacity, target period, ratio, named) with the final quantities as columns."""
    rows = results[results["quantity"].isin(FINALS)]
    keys = ["env", "capacity", "target_period", "ratio", "named"]
    table = rows.pivot_table(index=keys, columns="quantity", values="value", aggfunc="last", dropna=False)
    table = table.dropna(how="all").reset_index()
    table["q_ratio"] = table["q_abs_max"] / table["return_bound"]
    return table


def _cell(row: pd.Series) -> dict[str, Any]:
    out = {k: (None if pd.isna(row.get(k)) else float(row[k])) for k in FINALS + ("q_ratio",) if k in row}
    return {k: v for k, v in out.items() if v is not None}


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict:
    """Per env: every cell's final return, evaluation return, max|Q̂| and its ratio to the largest possible
    |Q| (``q_ratio`` > 1: soft divergence), keyed ``capacity/target_period/ratio``; the named points
    online-q, dqn (grid cells) and fqi (its own run); the best cell by evaluation return; and how many
    cells diverged softly (``q_ratio`` > 1) or hard (a NaN)."""
    require_columns(results, COLUMNS, "three-process analysis")
    table = finals(results)
    out: dict[str, Any] = {}
    for env, rows in table.groupby("env", sort=False):
        grid = rows[rows["named"] != "fqi"]
        cells = {f"capacity={int(r.capacity)}/target_period={int(r.target_period)}/ratio={r.ratio:g}": _cell(r)
                 for r in grid.itertuples(index=False) for r in [pd.Series(r._asdict())]}
        named = {str(r["named"]): _cell(r) for _, r in rows[rows["named"] != ""].iterrows()}
        best = grid.loc[grid["eval_return"].idxmax()] if grid["eval_return"].notna().any() else None
        out[env] = {
            "cells": cells,
            "named": named,
            "best": None if best is None else {"capacity": int(best["capacity"]),
                                                "target_period": int(best["target_period"]),
                                                "ratio": float(best["ratio"]), **_cell(best)},
            "soft_divergent_cells": int((grid["q_ratio"] > 1).sum()),
            "nan_cells": int((grid["diverged"] > 0).sum()),
            "cells_run": len(grid),
            "mean_eval_by_target_period": {f"{int(k)}": float(v) for k, v in
                                           grid.groupby("target_period")["eval_return"].mean().items()},
            "max_q_ratio_by_target_period": {f"{int(k)}": float(np.nanmax(v)) for k, v in
                                             grid.groupby("target_period")["q_ratio"]},
        }
    return {"steps": params["steps"], "finite_steps": params["finite_steps"], "envs": out}
