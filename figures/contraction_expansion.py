"""How often ΠB^π fails to contract, by weighting and feature set (the contraction lab).

Four criteria that need not agree: ‖γΠP^π‖_D > 1 and ‖γΠP^π‖∞ > 1 (the fraction of instances),
spectral radius ≥ 1 (projected value iteration diverges) and A = ΦᵀD(γP^π − I)Φ not Hurwitz
(semi-gradient TD diverges) — for these two the largest value over the instances, against the
threshold, since on Garnet MDPs they are rarely (often never) crossed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from triad.experiment import load_results, main_figure
from triad.experiments.contraction.analysis import instances, weighting_order
from triad.figures import save

NAME = "contraction_expansion"

FRACTIONS = (
    (r"$\|\gamma \Pi P^\pi\|_D > 1$", lambda t: t["PiB_D"] > 1.0),
    (r"$\|\gamma \Pi P^\pi\|_\infty > 1$", lambda t: t["PiB_inf"] > 1.0),
)
"""Top row: the fraction of instances whose projected operator expands in each norm."""

EXTREMES = (
    ("spectral_radius", 1.0, r"largest $\rho(\gamma \Pi P^\pi)$ (≥ 1: projected VI diverges)"),
    ("A_max_real", 0.0, r"largest Re $\lambda(A)$, $A = \Phi^\top D(\gamma P^\pi - I)\Phi$ (≥ 0: TD(0) diverges)"),
)
"""Bottom row: the largest value over the instances of each divergence criterion, against its threshold.
Divergence is rare on Garnet MDPs (often no instance at all): a fraction would be an empty panel,
the largest value shows how far from it the instances stayed."""


def _style(kind: str) -> dict:
    """Distinct markers and dashes per feature set, so curves that coincide (aggregation and neural
    features both hold the constant vector, hence often the same values) stay visible."""
    marker, dashes = {"aggregation": ("o", "-"), "neural": ("s", "--"), "random": ("^", ":")}.get(kind, ("d", "-."))
    return {"marker": marker, "linestyle": dashes, "markersize": 5, "markerfacecolor": "none"}


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Per weighting (on-policy → far off-policy, uniform) and feature set: how often ΠB^π expands
    (top) and how close the instances came to divergence (bottom)."""
    rows, _ = load_results(results_dir)
    table = instances(rows, f"{NAME} figure")
    labels = weighting_order(table["weighting"])
    x = np.arange(len(labels))
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    axes[1].sharey(axes[0])
    groups = list(table.groupby("features"))
    for ax, (title, criterion) in zip(axes[:2], FRACTIONS):
        for kind, part in groups:
            hit = criterion(part).groupby(part["weighting"]).mean().reindex(labels)
            ax.plot(x, hit.to_numpy(), label=kind, **_style(kind))
        ax.set_title(title)
        ax.set_ylim(-0.03, 1.03)
    for ax, (quantity, threshold, title) in zip(axes[2:], EXTREMES):
        for kind, part in groups:
            worst = part[quantity].groupby(part["weighting"]).max().reindex(labels)
            ax.plot(x, worst.to_numpy(), label=kind, **_style(kind))
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1)
        hits = int((table[quantity] >= threshold).sum())
        ax.set_title(f"{title}\n{hits} of the {len(table)} instances diverge", fontsize=10)
        ax.set_ylabel("largest over the instances")
    for ax in axes:
        ax.grid(alpha=0.3)
    for ax in axes[2:]:
        ax.set_xticks(x, labels, rotation=30, ha="right")
        ax.set_xlabel("state weighting D (behaviour:ε = stationary law of (1 − ε)π + εν)")
    axes[0].set_ylabel("fraction of instances")
    axes[0].legend(title="features")
    return save(fig, out_dir, NAME)


if __name__ == "__main__":
    main_figure(plot, "contraction")
