"""A-split: the values of A, B and C learned by TD(0) and by naive and double-sampled residual gradient.

Dotted lines mark the true values (½, 1, 0) and the TD-error minimiser the naive residual gradient
finds (B = ¾, C = ¼) in Sutton & Barto (2018) Example 11.2. Sampled runs show the mean over streams.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.residual_gradient.analysis import COLUMNS
from triad.figures import save

COLOURS = {"v_A": "tab:purple", "v_B": "tab:blue", "v_C": "tab:red"}


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    rows, _ = load_results(results_dir)
    require_columns(rows, COLUMNS, "residual_gradient_values figure")
    algorithms = list(rows["algorithm"].unique())
    forms = list(rows["form"].unique())
    fig, axes = plt.subplots(len(forms), len(algorithms), figsize=(4.4 * len(algorithms), 3.3 * len(forms)),
                             squeeze=False, sharey=True)
    for i, form in enumerate(forms):
        for j, algorithm in enumerate(algorithms):
            ax = axes[i, j]
            run = rows[(rows["algorithm"] == algorithm) & (rows["form"] == form)]
            means = run.groupby(["step", "quantity"])["value"].mean().unstack("quantity")
            for name, colour in COLOURS.items():
                if name in means:
                    ax.plot(means.index, means[name], color=colour, lw=1.6, label=name.replace("v_", "v(") + ")")
            for level, style in ((0.5, ":"), (1.0, ":"), (0.0, ":"), (0.75, "--"), (0.25, "--")):
                ax.axhline(level, color="grey", lw=0.7, ls=style)
            ax.set_title(f"{algorithm} ({form})", fontsize=9)
            ax.set_xlabel("sweeps" if form == "expected" else "steps")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("A-split (S&B Example 11.2): dotted = true values, dashed = ¾ and ¼")
    fig.tight_layout()
    return save(fig, out_dir, "residual_gradient_values")


if __name__ == "__main__":
    main_figure(plot, "residual-gradient")
