"""Summary of truth-probes: per run, J reached against J*, the critic's error, the gradient cosines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from triad.experiment import require_columns

COLUMNS = ("id", "discount_weighting", "seed", "step", "quantity", "value")
"""The columns the summary and the figure read."""


def _series(rows: pd.DataFrame, quantity: str) -> pd.DataFrame:
    return rows[rows["quantity"] == quantity].sort_values("step")


def _mean(frame: pd.DataFrame, after: float = -np.inf) -> float | None:
    """The mean of the finite values recorded after step ``after`` (None if there are none)."""
    values = frame[frame["step"] > after]["value"]
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict:
    """Per run (keyed ``option_W/seed=S``): ``J_start``, ``J_final``, ``J_star``, ``gap`` (J* − J_final),
    the first and last ``critic_error``, the mean ``cos_true`` and ``cos_dropped`` over the run and
    over its second half, the fraction of updates whose estimate has a positive cosine with ∇J, and
    the final ``eval_return``."""
    require_columns(results, COLUMNS, "truth-probes analysis")
    out: dict[str, Any] = {"algorithm": params.get("algorithm"), "problem": params.get("problem"),
                           "steps": params.get("steps"), "runs": {}}
    for _, rows in results.groupby("id", sort=False):
        J, cos_true, cos_dropped, critic = (_series(rows, q) for q in ("J", "cos_true", "cos_dropped", "critic_error"))
        J_star = float(_series(rows, "J_star")["value"].iloc[0])
        half = J["step"].max() / 2
        key = f"option_{int(rows['discount_weighting'].iloc[0])}/seed={int(rows['seed'].iloc[0])}"
        out["runs"][key] = {
            "J_start": float(J["value"].iloc[0]), "J_final": float(J["value"].iloc[-1]), "J_star": J_star,
            "gap": J_star - float(J["value"].iloc[-1]),
            "critic_error_first": float(critic["value"].iloc[0]) if len(critic) else None,
            "critic_error_final": float(critic["value"].iloc[-1]) if len(critic) else None,
            "cos_true_mean": _mean(cos_true), "cos_dropped_mean": _mean(cos_dropped),
            "cos_true_mean_late": _mean(cos_true, half), "cos_dropped_mean_late": _mean(cos_dropped, half),
            "positive_cos_true": float((cos_true["value"] > 0).mean()) if len(cos_true) else None,
            "eval_return": float(_series(rows, "eval_return")["value"].iloc[-1]),
        }
    return out
