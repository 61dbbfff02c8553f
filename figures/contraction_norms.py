"""Distribution of ‖γΠP^π‖_D and ‖γΠP^π‖∞ over the contraction lab's instances, by state weighting.

Tsitsiklis & Van Roy (1997): with the on-policy weighting the D-norm never exceeds γ; off-policy
weightings can push it past 1, and the sup-norm of a least-squares ΠB can exceed 1 on- or off-policy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from triad.experiment import load_results, main_figure
from triad.experiments.contraction.analysis import instances, weighting_order
from triad.figures import save

NAME = "contraction_norms"


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Empirical CDFs of both norms, one curve per weighting, with γ and 1 marked.

    Feature sets that represent constants (aggregation, the networks' bias) sit exactly at γ under
    the on-policy weighting, since ΠP^π1 = 1; random features lie below it.
    """
    rows, params = load_results(results_dir)
    table = instances(rows, f"{NAME} figure")
    gamma = float(params.get("gamma", table["B_inf"].max()))
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    labels = weighting_order(table["weighting"])
    colours = {label: c for label, c in zip(labels, _palette(len(labels)))}
    panels = ((axes[0], "PiB_D", r"$\|\gamma \Pi P^\pi\|_D$", "log"),
              (axes[1], "PiB_inf", r"$\|\gamma \Pi P^\pi\|_\infty$", "linear"))
    for ax, column, title, scale in panels:
        for label in labels:
            values = np.sort(table.loc[table["weighting"] == label, column].to_numpy())
            ax.step(values, np.arange(1, values.size + 1) / values.size, where="post", color=colours[label],
                    label=label, lw=2.2 if label == "on-policy" else 1.3)
        ax.axvline(gamma, color="0.3", ls="--", lw=1)
        ax.axvline(1.0, color="crimson", ls=":", lw=1.2)
        ax.set_xscale(scale)
        ax.set_xlabel(f"{title}   (dashed: γ = {gamma:g}, dotted: 1)")
        ax.set_title(f"{title}: {table['mdp'].nunique()} Garnet MDPs × {table['features'].nunique()} feature sets")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of instances ≤ x")
    axes[0].legend(title="weighting D", fontsize=8)
    return save(fig, out_dir, NAME)


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.9, n)]


if __name__ == "__main__":
    main_figure(plot, "contraction")
