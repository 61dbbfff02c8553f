"""Summary of bias-variance, derived from the rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from triad.experiment import require_columns

COLUMNS = ("method", "mdp", "error", "estimator", "knob", "quantity", "value")
"""The columns the summary reads."""


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict:
    """Per MDP and critic error (MSE averaged over critic draws and non-terminal states): the best n
    and λ (first in the grid on ties) with their MSE, and the MSE of TD (λ = 0) and Monte Carlo
    (λ = 1) where they are in the grid; ``max_bias2_exact_critic``: the largest bias² at error 0
    (zero up to round-off: bootstrapping from V^π is unbiased); ``sampled_max_abs_z``: the worst
    sampled mean, in exact standard errors, over ``sampled_checks`` simulated settings."""
    require_columns(results, COLUMNS, "bias-variance analysis")
    exact = results[results["method"] == "exact"]
    by_mdp: dict[str, Any] = {}
    for (spec, error), rows in exact.groupby(["mdp", "error"], sort=False):
        mse = rows[rows["quantity"] == "mse"]
        cell: dict[str, Any] = {}
        for est, name in (("nstep", "n"), ("lambda", "lambda")):
            curve = mse[mse["estimator"] == est].groupby("knob", sort=False)["value"].mean()
            if curve.empty:
                continue
            best = curve.idxmin()
            cell[f"best_{name}"] = int(best) if est == "nstep" else float(best)
            cell[f"mse_best_{name}"] = float(curve.loc[best])
            if est == "lambda":
                for lam, label in ((0.0, "mse_td"), (1.0, "mse_mc")):
                    if lam in curve.index:
                        cell[label] = float(curve.loc[lam])
        by_mdp.setdefault(spec, {})[f"error={error:g}"] = cell
    summary: dict[str, Any] = {"by_mdp": by_mdp}
    perfect = exact[(exact["error"] == 0) & (exact["quantity"] == "bias2")]
    if len(perfect):
        summary["max_bias2_exact_critic"] = float(perfect["value"].max())
    z = results[(results["method"] == "sampled") & (results["quantity"] == "max_abs_z")]
    if len(z):
        summary["sampled_max_abs_z"] = float(z["value"].max())
        summary["sampled_checks"] = len(z)
    return summary
