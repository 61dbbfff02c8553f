"""Sutton & Barto (2018) Figure 6.5: % of left actions from A, Q-learning vs double Q-learning."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.overestimation.analysis import LEARNING_COLUMNS
from triad.figures import save

LABELS = {"q": ("tab:red", "Q-learning"), "double": ("tab:blue", "Double Q-learning")}


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Share of runs taking left from A per episode, with a 95% band, and the optimal ε/2."""
    results, params = load_results(results_dir)
    if "algorithm" not in results:
        return []
    require_columns(results, LEARNING_COLUMNS, "overestimation_qlearning figure")
    rows = results[results["algorithm"].notna()]
    fig, ax = plt.subplots(figsize=(6, 4))
    for algorithm, (colour, label) in LABELS.items():
        here = rows[rows["algorithm"] == algorithm]
        if here.empty:
            continue
        left = here[here["quantity"] == "left_fraction"].sort_values("step")
        se = here[here["quantity"] == "left_fraction_se"].sort_values("step")["value"].to_numpy()
        ax.plot(left["step"], 100 * left["value"], color=colour, label=label)
        ax.fill_between(left["step"], 100 * (left["value"] - 1.96 * se), 100 * (left["value"] + 1.96 * se),
                        color=colour, alpha=0.2, linewidth=0)
    ax.axhline(100 * params.get("epsilon", 0.1) / 2, color="black", linestyle="--", linewidth=1, label="optimal")
    ax.set_xlabel("episodes")
    ax.set_ylabel("% left actions from A")
    ax.set_ylim(0, 100)
    ax.set_title(f"maximisation bias ({params.get('streams', '?')} runs, γ = {params.get('gamma', '?')})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out_dir, "overestimation_qlearning")


if __name__ == "__main__":
    main_figure(plot, "overestimation")
