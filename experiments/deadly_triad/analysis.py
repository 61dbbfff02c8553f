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
    """Headline numbers: removals, ingredient combinations, feature sets × ε, depths, rules, confusion
    (``level=deep``: :func:`summarise_deep`)."""
    if params.get("level") == "deep":
        return summarise_deep(results, params)
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


# ------------------------------------------------------------------------------------ level=deep
DEEP_COLUMNS = ("env", "n_step", "size", "target", "double", "prioritised", "stream", "member", "step", "quantity",
                "value")
"""The columns :func:`agents` (and so the deep summary and figure) read."""

DEEP_FINALS = ("q_abs_max", "return_bound", "soft_diverged", "final_return", "diverged", "q_error", "J", "J_star",
               "seconds")


def agents(results: pd.DataFrame, where: str = "deadly-triad deep analysis") -> pd.DataFrame:
    """One row per trained agent: its labels, the final quantities and ``q_ratio`` = max|Q̂| / bound."""
    require_columns(results, DEEP_COLUMNS, where)
    keys = ["id", "env", "n_step", "size", "target", "double", "prioritised", "stream", "member"]
    rows = results[results["quantity"].isin(DEEP_FINALS)]
    table = rows.pivot_table(index=keys, columns="quantity", values="value", aggfunc="last", dropna=False)
    table = table.dropna(how="all").reset_index()
    table["q_ratio"] = table["q_abs_max"] / table["return_bound"]
    table["width"] = [sum(int(w) for w in str(s).split("x")) for s in table["size"]]  # hidden units: the size order
    for flag in ("double", "prioritised"):
        table[flag] = table[flag].astype(str).str.lower().isin(("true", "1", "1.0"))
    return table


def _group(part: pd.DataFrame) -> dict[str, Any]:
    """Agents, soft-divergence rate, median max|Q̂|/bound, mean final return and (where known) median ‖Q̂ − Q*‖∞."""
    out = {"agents": len(part), "soft_divergence": float(part["soft_diverged"].mean()) if len(part) else math.nan,
           "median_q_ratio": float(part["q_ratio"].median()) if len(part) else math.nan,
           "final_return": float(part["final_return"].mean()) if len(part) else math.nan}
    if "q_error" in part and part["q_error"].notna().any():
        out["median_q_error"] = float(part["q_error"].median())
    return out


def _less(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    """``a`` diverges less than ``b``: a lower soft-divergence rate, or an equal rate and a lower median max|Q̂|/bound."""
    if a["soft_divergence"] != b["soft_divergence"]:
        return a["soft_divergence"] < b["soft_divergence"]
    return a["median_q_ratio"] < b["median_q_ratio"]


FINDINGS = (
    ("target networks reduce soft divergence", "target", ("periodic", "polyak"), "none"),
    ("double Q reduces soft divergence", "double", (True,), False),
    ("longer multi-step returns reduce soft divergence", "n_step", "largest", "smallest"),
    ("prioritisation increases soft divergence", "prioritised", (False,), True),
    ("larger networks diverge less", "width", "largest", "smallest"),
)
"""The paper's qualitative findings (van Hasselt et al. 2018, §4, hypotheses 2–5): (name, the column varied,
the values that should diverge less, the value that should diverge more). ``largest``/``smallest``: of the grid.
The double-Q comparison leaves out agents without a target network: there the online network both selects
and evaluates, so double Q is plain Q-learning (the paper's four targets separate these cases too)."""


def findings(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Each finding per env and over all envs pooled: the groups' numbers and ``held``.

    A finding holds when every "less" group diverges less than the "more" group (:func:`_less`: lower
    soft-divergence rate; an equal rate is decided by the median max|Q̂|/bound). ``None`` where the grid
    lacks the values compared.
    """
    out = []
    scopes = [("all", table)] + [(str(env), part) for env, part in table.groupby("env", sort=False)]
    for name, column, less, more in FINDINGS:
        values = sorted(table[column].unique())
        lo = values[-1:] if less == "largest" else list(less)
        hi = values[0] if more == "smallest" else more
        for scope, part in scopes:
            if column == "double":
                part = part[part["target"] != "none"]
            row: dict[str, Any] = {"finding": name, "env": scope, "varied": column}
            groups = {str(v): _group(part[part[column] == v]) for v in values}
            row["groups"] = groups
            present = [str(v) for v in lo if str(v) in groups and groups[str(v)]["agents"]]
            if not present or str(hi) not in groups or not groups[str(hi)]["agents"] or str(hi) in present:
                row["held"] = None
            else:
                row["held"] = bool(all(_less(groups[v], groups[str(hi)]) for v in present))
                tied = any(groups[v]["soft_divergence"] == groups[str(hi)]["soft_divergence"] for v in present)
                row["decided_by"] = "median max|Q̂|/bound (equal rates)" if tied else "soft-divergence rate"
            row["compared"] = f"{', '.join(present)} vs {hi}"
            out.append(row)
    return out


def findings_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The findings as a tidy table: one row per finding × env × group (its numbers and the verdict)."""
    flat = [{"finding": r["finding"], "env": r["env"], "compared": r["compared"], "held": r["held"],
             "decided_by": r.get("decided_by"), "group": g, **numbers}
            for r in rows for g, numbers in r["groups"].items()]
    return pd.DataFrame(flat)


def summarise_deep(results: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """The deep level: per env the agents' soft-divergence rate, median max|Q̂|/bound, final return and Q-error
    by each varied setting, and the paper's findings held / not held with their numbers — as a list
    (``findings``) and by the column varied and the env (``by_finding|target|all|held``, for the paper)."""
    table = agents(results)
    by: dict[str, Any] = {}
    for env, part in table.groupby("env", sort=False):
        by[str(env)] = {"all": _group(part), "nan_agents": int((part["diverged"] > 0).sum()),
                        **{column: {str(v): _group(g) for v, g in part.groupby(column)}
                           for column in ("target", "double", "n_step", "prioritised", "size")}}
    rows = findings(table)
    return {
        "level": "deep",
        "agents": len(table),
        "runs": int(table["id"].nunique()),
        "variants": int(table.groupby(["env", "n_step", "size", "target", "double", "prioritised"]).ngroups),
        "streams": int(table["stream"].max()) + 1,
        "seconds": float(table.groupby("id")["seconds"].first().sum()),
        "headline": {r["finding"]: r["held"] for r in rows if r["env"] == "all"},
        "table": findings_table(rows).to_dict("records"),
        "findings": rows,
        "by_finding": {column: {r["env"]: r for r in rows if r["varied"] == column} for _, column, _, _ in FINDINGS},
        "by_env": by,
    }
