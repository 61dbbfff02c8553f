"""Baird's counterexample: ‖w‖ over time for every algorithm, with the divergence threshold.

Sampled runs show the median over streams and the 10–90% band; expected runs their trajectory.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.baird.analysis import COLUMNS
from triad.figures import save


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    rows, _ = load_results(results_dir)
    require_columns(rows, COLUMNS, "baird_divergence figure")
    rows = rows[rows["form"] != "closed"]
    if rows.empty:  # only closed-form LSTD: no trajectory to draw
        return []
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    threshold = None
    for run_id, run in rows.groupby("id", sort=False):
        weights = run[run["quantity"].str.startswith("w_")]
        norms = (weights.assign(sq=weights["value"] ** 2).groupby(["step", "stream"])["sq"].sum() ** 0.5).unstack("stream")
        label = f"{run['algorithm'].iloc[0]} ({run['form'].iloc[0]})"
        with np.errstate(invalid="ignore"):
            line, = ax.plot(norms.index, norms.median(axis=1), lw=1.5, label=label,
                            ls="-" if run["form"].iloc[0] == "sampled" else "--")
            if norms.shape[1] > 1:
                ax.fill_between(norms.index, norms.quantile(0.1, axis=1), norms.quantile(0.9, axis=1),
                                color=line.get_color(), alpha=0.15)
        threshold = run.loc[run["quantity"] == "threshold", "value"].iloc[0]
    if threshold is not None:
        ax.axhline(threshold, color="red", lw=0.8, ls=":", label="divergence threshold")
    ax.set_yscale("log")
    ax.set_xlabel("steps (sampled) / sweeps (expected)")
    ax.set_ylabel("‖w‖₂")
    ax.set_title("Baird's counterexample: weight norm (median, 10–90% over streams)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return save(fig, out_dir, "baird_divergence")


if __name__ == "__main__":
    main_figure(plot, "baird")
