"""The deadly-triad summary, derived from the tidy rows only.

* ``cells(results)``: one row per cell — the certificate and, over its seeds, the fraction that
  diverged (``rate``), the median divergence step and the median final ‖w‖.
* the summary: divergence by ingredient combination (semi-gradient TD), the three single removals
  against "all three", divergence by feature set × ε, by depth and by rule, and the confusion table
  of the certificate's verdict against the sampled outcome (``none`` / ``some`` / ``most`` of the
  seeds diverged; ``most`` = at least half).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from triad.analysis.deadly_triad import VERDICTS
from triad.experiment import require_columns

COLUMNS = ("id", "mdp", "cell", "features", "epsilon", "depth", "algorithm", "function_approximation",
           "bootstrapping", "off_policy", "step", "quantity", "value")
"""The columns :func:`cells` (and so the summary and the figures) read."""

CERTIFICATE = ("abscissa", "hurwitz", "radius", "alpha_max", "PiM_D", "kappa", "is_moment", "ms_radius", "verdict")

OUTCOMES = ("none", "some", "most")
"""Sampled outcome of a cell: no seed diverged, fewer than half, at least half."""

DIVERGES = VERDICTS[2]


def cells(results: pd.DataFrame, where: str = "deadly-triad analysis") -> pd.DataFrame:
    """One row per cell: parameters, certificate numbers, ``verdict`` (name), ``rate``, ``outcome``, ``steps``."""
    require_columns(results, COLUMNS, where)
    keys = ["id", "cell"]
    params = ["mdp", "features", "epsilon", "depth", "algorithm", "function_approximation", "bootstrapping",
              "off_policy"]
    certificate = results[results["quantity"].isin(CERTIFICATE)]
    wide = certificate.pivot_table(index=keys, columns="quantity", values="value", aggfunc="first", dropna=False)
    wide = wide.join(certificate.groupby(keys)[params].first())
    streams = results[results["quantity"] == "diverged_at"]
    grouped = streams.groupby(keys)["value"]
    wide["rate"] = grouped.apply(lambda v: float(v.notna().mean()))
    wide["median_divergence_step"] = grouped.median()
    wide["seeds"] = grouped.size()
    wide["steps"] = streams.groupby(keys)["step"].max()
    wide["median_final_norm"] = results[results["quantity"] == "final_norm"].groupby(keys)["value"].median()
    wide = wide.reset_index()
    wide["verdict"] = [VERDICTS[int(v)] for v in wide["verdict"]]
    wide["outcome"] = np.where(wide["rate"] >= 0.5, "most", np.where(wide["rate"] > 0, "some", "none"))
    for flag in ("function_approximation", "bootstrapping", "off_policy"):
        wide[flag] = wide[flag].astype(bool)
    return wide


def _fraction(mask: pd.Series) -> float:
    return float(mask.mean()) if len(mask) else math.nan


def _stats(part: pd.DataFrame) -> dict[str, Any]:
    """Cells, the certificate's verdict fractions and the sampled divergence of a group of cells."""
    return {"cells": len(part),
            "diverges_in_expectation": _fraction(part["verdict"] == DIVERGES),
            "can_diverge": _fraction(part["verdict"] == VERDICTS[1]),
            "sampled_rate": float(part["rate"].mean()) if len(part) else math.nan,
            "sampled_most": _fraction(part["outcome"] == "most"),
            "sampled_any": _fraction(part["outcome"] != "none")}


def combination(row: pd.Series) -> str:
    """``FA + bootstrapping + off-policy``, or the ingredients present, or ``none``."""
    names = [name for flag, name in (("function_approximation", "FA"), ("bootstrapping", "bootstrapping"),
                                     ("off_policy", "off-policy")) if row[flag]]
    return " + ".join(names) if names else "none"


def depth_order(labels: Any) -> list[str]:
    """``n=1, n=3, n=10, …``, then ``lam=…`` by λ, then ``n=inf``."""
    def key(label: str) -> tuple[int, float]:
        name, _, value = label.partition("=")
        if value == "inf":
            return (2, 0.0)
        return (0, float(value)) if name == "n" else (1, float(value))

    return sorted(set(labels), key=key)


def confusion(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{verdict: {outcome: cells}}`` over every verdict and outcome."""
    counts = table.groupby(["verdict", "outcome"]).size()
    return {v: {o: int(counts.get((v, o), 0)) for o in OUTCOMES} for v in VERDICTS}


def agreement(table: pd.DataFrame) -> dict[str, Any]:
    """How often the certificate predicts the sampled outcome.

    Over cells whose verdict is ``stable`` or ``diverges in expectation``: a hit is ``stable`` with no
    seed diverged, or ``diverges`` with at least half of them diverged. ``observable`` restricts to
    diverging cells whose expected growth over the run, ``steps · ln(radius)``, exceeds
    ``ln(threshold)`` (the weights start at 0 and must pass the threshold) and to all stable cells.
    """
    decided = table[table["verdict"].isin([VERDICTS[0], DIVERGES])]
    hit = np.where(decided["verdict"] == DIVERGES, decided["outcome"] == "most", decided["outcome"] == "none")
    out: dict[str, Any] = {"decided_cells": len(decided), "agreement": _fraction(pd.Series(hit))}
    stable = decided[decided["verdict"] == VERDICTS[0]]
    out["stable_cells_that_diverged"] = int((stable["outcome"] != "none").sum())
    out["stable_cells"] = len(stable)
    diverging = decided[decided["verdict"] == DIVERGES]
    out["diverging_cells"] = len(diverging)
    out["diverging_cells_mostly_diverged"] = int((diverging["outcome"] == "most").sum())
    return out


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """Headline numbers: removals, ingredient combinations, feature sets × ε, depths, rules, confusion."""
    table = cells(results)
    threshold = float(params.get("threshold", 1e4))
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = table["steps"] * np.log(table["radius"])
    table["observable"] = (table["verdict"] != DIVERGES) | (growth > math.log(threshold))
    td = table[table["algorithm"] == "semi-gradient-td"].copy()
    td["combination"] = td.apply(combination, axis=1)
    all_three = td[td["function_approximation"] & td["bootstrapping"] & td["off_policy"]]
    removals = {
        "all three": _stats(all_three),
        "tabular features (no FA)": _stats(td[~td["function_approximation"] & td["bootstrapping"] & td["off_policy"]]),
        "on-policy (ε = 0)": _stats(td[td["function_approximation"] & td["bootstrapping"] & ~td["off_policy"]]),
        "n = ∞ (no bootstrapping)": _stats(td[td["function_approximation"] & ~td["bootstrapping"] & td["off_policy"]]),
    }
    combinations = {name: _stats(part) for name, part in td.groupby("combination")}
    one_step = td[td["depth"] == "n=1"]
    by_features = {kind: {f"{eps:g}": _stats(part) for eps, part in rows.groupby("epsilon")}
                   for kind, rows in one_step.groupby("features")}
    off_fa = td[td["off_policy"] & td["function_approximation"]]
    by_depth = {depth: _stats(off_fa[off_fa["depth"] == depth]) for depth in depth_order(off_fa["depth"])}
    rule_cells = table[(table["depth"] == "n=1") & table["off_policy"] & table["function_approximation"]]
    by_rule = {name: _stats(part) for name, part in rule_cells.groupby("algorithm")}
    observable = table[table["observable"]]
    stable = table[table["verdict"] == VERDICTS[0]]
    exact = stable[stable["ms_radius"].notna()]  # rules whose mean-square certificate is exact (no trace)
    return {
        "headline": {
            "all_three_diverging_in_expectation": removals["all three"]["diverges_in_expectation"],
            "without_fa_diverging_in_expectation": removals["tabular features (no FA)"]["diverges_in_expectation"],
            "on_policy_diverging_in_expectation": removals["on-policy (ε = 0)"]["diverges_in_expectation"],
            "without_bootstrapping_diverging_in_expectation":
                removals["n = ∞ (no bootstrapping)"]["diverges_in_expectation"],
            "agreement": agreement(table)["agreement"],
            "agreement_observable": agreement(observable)["agreement"],
            "stable_cells_with_a_diverged_seed": int((stable["outcome"] != "none").sum()),
            "stable_cells_with_a_diverged_seed_exact_mean_square": int((exact["outcome"] != "none").sum()),
        },
        "cells": len(table),
        "mdps": int(table["mdp"].nunique()),
        "seeds": int(table["seeds"].max()),
        "steps": int(table["steps"].max()),
        "removals": removals,
        "combinations": combinations,
        "by_features": by_features,
        "by_depth": by_depth,
        "by_rule": by_rule,
        "confusion": confusion(table),
        "agreement": agreement(table),
        "confusion_observable": confusion(observable),
        "agreement_observable": agreement(observable),
        "divergence_needs_all_three": bool(
            all(s["diverges_in_expectation"] == 0.0 or s["cells"] == 0
                for name, s in removals.items() if name != "all three")),
    }
