"""Summary of nstep-corrections, derived from the rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from triad.experiment import require_columns

TARGET_COLUMNS = ("temperature", "bootstrap_error", "epsilon", "method", "n", "quantity", "value")
"""The columns the summary reads from the target runs."""

LEARNING_COLUMNS = ("method", "seed", "step", "quantity", "value")
"""The columns the summary reads from the learning runs."""

REPORTED = ("bias", "variance", "rmse")
"""Quantities the summary reports along n and along ε."""


def _series(rows: pd.DataFrame, key: str) -> dict[str, dict[str, float]]:
    """``{quantity: {key value: value}}`` for the reported quantities of ``rows`` (one method)."""
    return {q: {f"{k:g}": float(v) for k, v in rows[rows["quantity"] == q].set_index(key)["value"].items()}
            for q in REPORTED}


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict:
    """Per target policy (``temperature``) and bootstrap error: for each method, bias / variance / RMSE
    against n at ``reference_epsilon`` and against ε at ``reference_n``, and the TV distance of each ε;
    ``bias_z_max`` is the largest standardised gap between sampled and exact means over every cell; and per
    method of the learning runs the final ‖Q̂ − Q*‖∞ and J/J* (mean over seeds) and the mean error over the run."""
    require_columns(results, TARGET_COLUMNS, "nstep-corrections analysis")
    if params.get("learning_steps"):
        require_columns(results, LEARNING_COLUMNS, "nstep-corrections analysis")
    out: dict[str, Any] = {"mdp": params["mdp"], "reference_n": params["reference_n"],
                           "reference_epsilon": params["reference_epsilon"], "samples": params["samples"]}
    targets = results[results["temperature"].notna()]
    if len(targets):
        cells: dict[str, Any] = {}
        tv = targets[targets["quantity"] == "tv_distance"]
        out["tv_distance"] = {f"{e:g}": float(v) for e, v in tv.groupby("epsilon")["value"].first().items()}
        for (tau, sigma), rows in targets[targets["method"] != ""].groupby(["temperature", "bootstrap_error"]):
            entry: dict[str, Any] = {}
            for method, mrows in rows.groupby("method", sort=False):
                entry[method] = {
                    "by_n": _series(mrows[mrows["epsilon"] == params["reference_epsilon"]], "n"),
                    "by_epsilon": _series(mrows[mrows["n"] == params["reference_n"]], "epsilon"),
                }
            cells[f"temperature={tau:g}/bootstrap_error={sigma:g}"] = entry
        out["targets"] = cells
        z = targets[targets["quantity"] == "bias_z_max"]["value"]
        out["bias_z_max"] = float(z.max())
    learning = results[results["seed"].notna()] if "seed" in results else results.iloc[:0]
    if len(learning):
        out["learning"] = {"mdp": params["learning_mdp"], "n": params["learning_n"],
                           "epsilon": params["learning_epsilon"], "steps": params["learning_steps"]}
        for method, rows in learning.groupby("method", sort=False):
            q = rows[rows["quantity"] == "q_error"]
            last = q[q["step"] == q["step"].max()]["value"]
            J = rows[rows["quantity"] == "J"]
            J_last = J[J["step"] == J["step"].max()]["value"]
            J_star = float(rows[rows["quantity"] == "J_star"]["value"].iloc[0])
            curve = q.groupby("step")["value"].mean()
            out["learning"][method] = {"final_q_error": float(last.mean()), "final_J_over_J_star":
                                       float(J_last.mean() / J_star), "mean_q_error_over_run": float(curve.mean())}
    return out
