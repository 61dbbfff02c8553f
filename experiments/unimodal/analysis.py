"""Summary of unimodal, derived from the rows: success rates, regrets and where the first actions went."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from triad import envs_unimodal as task
from triad.experiment import require_columns

COLUMNS = ("method", "step", "quantity", "value")
"""The columns the summary reads."""

OBSTACLE = 0.5
"""A first action lands *in the obstacle* if φ(p_1) exceeds this (half the wall's height)."""


def true_modes(gamma: float, n: int = 401) -> list[dict[str, float]]:
    """The local maxima of the true ``Q*(s_0, ·)`` on an ``n × n`` grid (strictly above their 8 neighbours)."""
    _, grid = task.action_grid(n)
    q = task.q_value(np.zeros(3), grid, gamma)
    padded = np.pad(q, 1, constant_values=-np.inf)
    neighbours = [padded[1 + i:1 + i + n, 1 + j:1 + j + n] for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j]
    peak = np.all([q > other for other in neighbours], axis=0)
    return [{"x": float(grid[i, j, 0]), "y": float(grid[i, j, 1]), "q": float(q[i, j])} for i, j in np.argwhere(peak)]


def route(x: float, obstacle: float) -> str:
    """``obstacle`` if the first waypoint is in the wall, else ``left`` / ``right`` by the sign of ``a_x``."""
    if obstacle > OBSTACLE:
        return "obstacle"
    return "left" if x < 0 else "right"


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict:
    """``v_star`` and the true modes at ``s_0``; per method over seeds: ``success_rate`` (regret of the greedy first
    action below ``tolerance``), mean and median ``regret``, mean ``policy_regret`` (over the grid of starts),
    mean ``eval_return``, the routes taken (left / right / obstacle) and the mean first action."""
    require_columns(results, COLUMNS, "unimodal analysis")
    truth = results[results["method"] == "truth"]
    v_star = truth.loc[truth["quantity"] == "v_star", "value"]
    summary: dict[str, Any] = {"v_star": float(v_star.iloc[0]) if len(v_star) else None,
                               "true_modes": true_modes(params["gamma"]), "tolerance": params["tolerance"]}
    trained = results[(results["method"] != "truth") & results["quantity"].isin(
        ["regret", "policy_regret", "eval_return", "first_action_x", "first_action_y", "obstacle", "seconds"])]
    if len(trained):
        require_columns(trained, ("seed",), "unimodal analysis")
    methods: dict[str, Any] = {}
    for method, rows in trained.groupby("method", sort=False):
        table = rows.pivot_table(index="seed", columns="quantity", values="value")
        regret = table["regret"].to_numpy()
        routes = [route(x, o) for x, o in zip(table["first_action_x"], table["obstacle"])]
        methods[method] = {
            "seeds": len(table),
            "success_rate": float(np.mean(regret < params["tolerance"])),
            "regret_mean": float(regret.mean()),
            "regret_median": float(np.median(regret)),
            "policy_regret_mean": float(table["policy_regret"].mean()),
            "eval_return_mean": float(table["eval_return"].mean()),
            "routes": {r: routes.count(r) for r in ("left", "right", "obstacle")},
            "first_action_mean": [float(table["first_action_x"].mean()), float(table["first_action_y"].mean())],
            "seconds_mean": float(table["seconds"].mean()),
        }
    summary["methods"] = methods
    return summary
