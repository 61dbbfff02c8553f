"""J along gradient ascent following the exact gradient and the γ^t-dropped direction, per problem."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.discount_weighting.analysis import COLUMNS
from triad.figures import log1p_steps, save

COLOURS = {"true": "tab:blue", "dropped": "tab:red"}
LABELS = {"true": "exact ∇J (γ^t kept, option 2)", "dropped": "γ^t dropped (option 1)"}


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """One panel per problem: J(θ_k) for both fields from θ0 = 0, and J* dashed."""
    results, params = load_results(results_dir)
    require_columns(results, COLUMNS, "discount_weighting figure")
    problems = list(dict.fromkeys(results["id"]))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.2 * len(problems), 3.6), squeeze=False)
    for ax, problem in zip(axes[0], problems):
        rows = results[results["id"] == problem]
        for field, colour in COLOURS.items():
            path = rows[(rows["quantity"] == "J") & (rows["field"] == field)]
            ax.plot(path["step"], path["value"], color=colour, label=LABELS[field])
        J_star = rows[rows["quantity"] == "J_star"]["value"].iloc[0]
        ax.axhline(J_star, color="black", linestyle="--", linewidth=1, label="J*")
        ax.set_title(problem.removeprefix("discount-weighting/problem="), fontsize=9)
        ax.set_xlabel("ascent step (log scale of 1 + step)")
        log1p_steps(ax, rows["step"].max())
    axes[0, 0].set_ylabel(f"J(θ) = Σ μ V^π (γ = {params.get('gamma', '?')})")
    axes[0, 0].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save(fig, out_dir, "discount_weighting")


if __name__ == "__main__":
    main_figure(plot, "discount-weighting")
