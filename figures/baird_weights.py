"""Baird's counterexample: each weight, √VE and √PBE over time, one panel per algorithm and form.

The layout of Sutton & Barto (2018) Figures 11.2, 11.5 and 11.6: sampled runs show one typical
stream (stream 0), expected runs the deterministic trajectory.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.baird.analysis import COLUMNS
from triad.figures import save


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    rows, _ = load_results(results_dir)
    require_columns(rows, COLUMNS, "baird_weights figure")
    rows = rows[(rows["form"] != "closed") & (rows["stream"] == 0)]
    runs = list(rows["id"].unique())
    if not runs:  # only closed-form LSTD: no trajectory to draw
        return []
    cols = min(3, max(1, len(runs)))
    fig, axes = plt.subplots(math.ceil(len(runs) / cols), cols, figsize=(4.6 * cols, 3.4 * math.ceil(len(runs) / cols)),
                             squeeze=False)
    for ax, run_id in zip(axes.flat, runs):
        run = rows[rows["id"] == run_id]
        table = run.pivot_table(index="step", columns="quantity", values="value", aggfunc="first")
        weights = sorted((c for c in table.columns if c.startswith("w_")), key=lambda c: int(c[2:]))
        for i, name in enumerate(weights):
            upper = i < len(weights) - 2
            colour = "tab:blue" if upper else ("tab:orange", "tab:green")[i - len(weights) + 2]
            ax.plot(table.index, table[name], color=colour, lw=0.8 if upper else 1.5,
                    label=("w1–w6" if i == 0 else None) if upper else f"w{i + 1}")
        ax.plot(table.index, table["sqrt_ve"], color="black", lw=1.5, label="√VE")
        ax.plot(table.index, table["sqrt_pbe"], color="grey", ls="--", lw=1.5, label="√PBE")
        algorithm, form = run["algorithm"].iloc[0], run["form"].iloc[0]
        ax.set_title(f"{algorithm} ({form})", fontsize=10)
        ax.set_xlabel("sweeps" if form == "expected" else "steps")
        ax.set_ylabel("weight value; √VE, √PBE", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    if runs:
        axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Baird's counterexample" + ("\n" if cols == 1 else " ") + "(Sutton & Barto 2018, Figs 11.2, 11.5, 11.6)",
                 fontsize=11)
    fig.tight_layout()
    return save(fig, out_dir, "baird_weights")


if __name__ == "__main__":
    main_figure(plot, "baird")
