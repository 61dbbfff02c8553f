"""The contraction lab's summary, derived from the tidy rows only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from triad.experiment import require_columns

ON_POLICY = "on-policy"

COLUMNS = ("mdp", "features", "weighting", "epsilon", "distance", "quantity", "value")
"""The columns :func:`instances` (and so the summary and the figures) read."""


def instances(results: pd.DataFrame, where: str = "contraction analysis") -> pd.DataFrame:
    """One row per instance (MDP × feature set × weighting), one column per quantity.

    ``where`` names the reader in the error raised when ``results`` lack one of :data:`COLUMNS`.
    """
    require_columns(results, COLUMNS, where)
    keys = ["mdp", "features", "weighting"]
    wide = results.pivot_table(index=keys, columns="quantity", values="value", aggfunc="first")
    wide = wide.join(results.groupby(keys)[["epsilon", "distance"]].first()).reset_index()
    return wide[wide["PiB_D"].notna()].reset_index(drop=True)


def weighting_order(labels: Any) -> list[str]:
    """``on-policy``, ``behaviour:ε`` by increasing ε, then ``uniform``."""
    def key(label: str) -> tuple[int, float]:
        if label == ON_POLICY:
            return (0, 0.0)
        if label.startswith("behaviour:"):
            return (1, float(label.split(":", 1)[1]))
        return (2, 0.0)

    return sorted(set(labels), key=key)


def _fraction(mask: pd.Series) -> float:
    return float(mask.mean()) if len(mask) else float("nan")


def summarise(results: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """Headline numbers: Tsitsiklis–Van Roy on- vs off-policy, expansion fractions, bound ratios, Lipschitz maxima."""
    table = instances(results)
    gamma = float(params["gamma"])
    on = table[table["weighting"] == ON_POLICY]
    off = table[table["weighting"] != ON_POLICY]
    by_weighting: dict[str, dict[str, float]] = {}
    for label in weighting_order(table["weighting"]):
        part = table[table["weighting"] == label]
        by_weighting[label] = {
            "instances": len(part),
            "PiB_D_median": float(part["PiB_D"].median()),
            "PiB_D_max": float(part["PiB_D"].max()),
            "expansion_D": _fraction(part["PiB_D"] > 1.0),
            "expansion_inf": _fraction(part["PiB_inf"] > 1.0),
            "pvi_diverges": _fraction(part["spectral_radius"] >= 1.0),
            "not_hurwitz": _fraction(part["hurwitz"] < 0.5),
        }
    by_features = {
        kind: {"instances": len(part), "PiB_inf_max": float(part["PiB_inf"].max()),
               "expansion_inf": _fraction(part["PiB_inf"] > 1.0), "expansion_D_off_policy":
                   _fraction(part.loc[part["weighting"] != ON_POLICY, "PiB_D"] > 1.0)}
        for kind, part in table.groupby("features")}
    lipschitz = {name: float(table[column].max()) for name, column in (
        ("Bstar_inf", "lip_Bstar_inf_max"), ("Bstar_D", "lip_Bstar_D_max"),
        ("PiBstar_inf", "lip_PiBstar_inf_max"), ("PiBstar_D", "lip_PiBstar_D_max"))}
    neural = results[results["quantity"].isin(["lip_neural_inf_max", "lip_neural_D_max"])]
    for quantity, part in neural.groupby("quantity"):
        lipschitz[quantity.removeprefix("lip_").removesuffix("_max")] = float(part["value"].max())
    checked = on["td_ratio"].dropna()
    return {
        "instances": len(table),
        "mdps": int(table["mdp"].nunique()),
        "gamma": gamma,
        "on_policy_PiB_D_max_over_gamma": float((on["PiB_D"] / gamma).max()),
        "tsitsiklis_van_roy_holds": bool((on["PiB_D"] <= gamma * (1 + 1e-9)).all()),
        "off_policy_expansion_D": _fraction(off["PiB_D"] > 1.0),
        "on_policy_expansion_D": _fraction(on["PiB_D"] > 1.0),
        "td_bound_checked": len(checked),
        "td_bound_worst_ratio": float(checked.max()),
        "td_bound_holds": bool((checked <= 1 + 1e-9).all() and len(checked) == len(on)),
        "td_bound_worst_ratio_off_policy": float(np.nanmax(off["td_ratio"])) if off["td_ratio"].notna().any()
        else float("nan"),
        "by_weighting": by_weighting,
        "by_features": by_features,
        "lipschitz_max": lipschitz,
    }
