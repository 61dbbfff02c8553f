"""Summary of overestimation, derived from the rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from triad.experiment import require_columns

ESTIMATES = {"exact": "exact_max", "sampled": "sampled_max", "sampled_se": "sampled_max_se",
             "double_exact": "exact_double", "double_sampled": "sampled_double",
             "double_sampled_se": "sampled_double_se"}
"""Summary key -> row quantity, for each m."""

ESTIMATOR_COLUMNS = ("case", "family", "m", "quantity", "value")
LEARNING_COLUMNS = ("algorithm", "step", "quantity", "value")
"""The columns the summary reads from the estimator runs and from the learning runs."""


def _by_m(rows: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m, at_m in rows.groupby("m"):
        out[str(int(m))] = {key: {family: float(at["value"].iloc[0])
                                  for family, at in at_m[at_m["quantity"] == quantity].groupby("family")}
                            for key, quantity in ESTIMATES.items()}
    return out


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict:
    """``expected_max`` (i.i.d. case) and ``gap_case`` keyed by m, each with exact and sampled means of
    the single (max) and double estimators per family (the true max of the means is 0 in both); and
    per learner the share of left actions from A: first episode, peak (and when), the mean over
    episodes 2–20, and the mean over the last 50 episodes, against the ε/2 of the optimal policy."""
    summary: dict[str, Any] = {}
    if "case" in results:
        require_columns(results, ESTIMATOR_COLUMNS, "overestimation analysis")
        estimators = results[results["case"].notna()]
        summary["expected_max"] = _by_m(estimators[estimators["case"] == "iid"])
        summary["gap_case"] = {"gap": params["gap"], "by_m": _by_m(estimators[estimators["case"] == "gap"])}
    if "algorithm" in results:
        require_columns(results, LEARNING_COLUMNS, "overestimation analysis")
        learning = results[(results["algorithm"].notna()) & (results["quantity"] == "left_fraction")]
        shares: dict[str, Any] = {"optimal": params["epsilon"] / 2}
        for algorithm, rows in learning.groupby("algorithm", sort=False):
            left = rows.set_index("step")["value"]
            shares[algorithm] = {
                "first_episode": float(left.iloc[0]),
                "peak": float(left.max()),
                "peak_episode": int(left.idxmax()),
                "episodes_2_to_20": float(left.loc[2:20].mean()),
                "last_50_episodes": float(left.iloc[-50:].mean()),
            }
        summary["left_from_A"] = shares
    if not summary:
        require_columns(results, ESTIMATOR_COLUMNS, "overestimation analysis")
    return summary
