"""How often the certificate predicts the sampled outcome: verdict × outcome counts over every cell.

Left: all cells; right: cells where a divergence in expectation is fast enough to pass the
threshold within the run (``steps · ln(radius) > ln(threshold)``) plus every other cell.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results
from triad.experiment import main_figure as _main
from triad.experiments.deadly_triad.analysis import DIVERGES, OUTCOMES, VERDICTS, cells
from triad.figures import save


def _heatmap(ax, table, title: str) -> None:
    counts = np.array([[int(((table["verdict"] == v) & (table["outcome"] == o)).sum()) for o in OUTCOMES]
                       for v in VERDICTS])
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(VERDICTS)):
        for j in range(len(OUTCOMES)):
            ax.text(j, i, f"{counts[i, j]}", ha="center", va="center", fontsize=9,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(OUTCOMES)), ["none", "some (< ½)", "most (≥ ½)"], fontsize=7)
    ax.set_xlabel("seeds of the cell that diverged", fontsize=8)
    ax.set_yticks(range(len(VERDICTS)), VERDICTS, fontsize=7)
    ax.set_title(title, fontsize=9)


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    rows, params = load_results(results_dir)
    table = cells(rows, "deadly_triad_confusion figure")
    threshold = float(params.get("threshold", 1e4))
    with np.errstate(divide="ignore", invalid="ignore"):
        fast = table["steps"] * np.log(table["radius"]) > math.log(threshold)
    observable = table[(table["verdict"] != DIVERGES) | fast]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    _heatmap(axes[0], table, f"all {len(table)} cells")
    _heatmap(axes[1], observable, f"{len(observable)} cells: divergences fast enough to show in the run")
    fig.suptitle("certificate verdict (rows) against sampled runs (columns); shading: share of the row", fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir, "deadly_triad_confusion")


if __name__ == "__main__":
    _main(plot, "deadly-triad")
