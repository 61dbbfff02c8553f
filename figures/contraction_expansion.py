"""How often ΠB^π fails to contract, by weighting and feature set (the contraction lab).

Four criteria that need not agree: ‖γΠP^π‖_D > 1, ‖γΠP^π‖∞ > 1, spectral radius ≥ 1 (projected
value iteration diverges) and A = ΦᵀD(γP^π − I)Φ not Hurwitz (semi-gradient TD diverges).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from triad.experiment import load_results, main_figure
from triad.experiments.contraction.analysis import instances, weighting_order
from triad.figures import save

NAME = "contraction_expansion"

CRITERIA = (
    (r"$\|\gamma \Pi P^\pi\|_D > 1$", lambda t: t["PiB_D"] > 1.0),
    (r"$\|\gamma \Pi P^\pi\|_\infty > 1$", lambda t: t["PiB_inf"] > 1.0),
    (r"$\rho(\gamma \Pi P^\pi) \geq 1$: projected VI diverges", lambda t: t["spectral_radius"] >= 1.0),
    (r"$A = \Phi^\top D(\gamma P^\pi - I)\Phi$ not Hurwitz: TD(0) diverges", lambda t: t["hurwitz"] < 0.5),
)


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Fraction of instances meeting each criterion, x = weighting (on-policy → far off-policy, uniform)."""
    rows, _ = load_results(results_dir)
    table = instances(rows, f"{NAME} figure")
    labels = weighting_order(table["weighting"])
    x = np.arange(len(labels))
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    for ax, (title, criterion) in zip(axes, CRITERIA):
        for kind, part in table.groupby("features"):
            hit = criterion(part).groupby(part["weighting"]).mean().reindex(labels)
            ax.plot(x, hit.to_numpy(), marker="o", label=kind)
        if not criterion(table).any():
            ax.text(0.5, 0.5, f"none of the {len(table)} instances", transform=ax.transAxes, ha="center",
                    color="0.35")
        ax.set_title(title)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    for ax in axes[2:]:
        ax.set_xticks(x, labels, rotation=30, ha="right")
        ax.set_xlabel("state weighting D (behaviour:ε = stationary law of (1 − ε)π + εν)")
    for ax in axes[::2]:
        ax.set_ylabel("fraction of instances")
    axes[0].legend(title="features")
    return save(fig, out_dir, NAME)


if __name__ == "__main__":
    main_figure(plot, "contraction")
