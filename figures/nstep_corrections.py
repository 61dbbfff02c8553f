"""Bias and variance of each off-policy correction's n-step target, against n and against the behaviour's distance."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.nstep_corrections.analysis import TARGET_COLUMNS
from triad.figures import save

COLOURS = {"ignore": "tab:red", "importance-sampling": "tab:purple", "retrace": "tab:blue", "cut": "tab:orange",
           "tree-backup": "tab:green"}
"""Drawing order: for a greedy π cut, tree backup and Retrace coincide, so the dashed and dotted lines go on top."""
STYLES = {"cut": (0, (4, 2)), "tree-backup": (0, (1, 2))}


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """One row per (target policy, bootstrap error): RMS bias and mean variance against n (at the
    reference ε) and against ε (at the reference n)."""
    results, params = load_results(results_dir)
    require_columns(results, TARGET_COLUMNS, "nstep_corrections figure")
    rows = results[results["temperature"].notna() & (results["method"] != "")]
    cells = list(rows.groupby(["temperature", "bootstrap_error"]).groups)
    ref_n, ref_eps = params.get("reference_n"), params.get("reference_epsilon")
    fig, axes = plt.subplots(len(cells), 4, figsize=(16, 3.3 * len(cells)), squeeze=False)
    for i, (tau, sigma) in enumerate(cells):
        here = rows[(rows["temperature"] == tau) & (rows["bootstrap_error"] == sigma)]
        target = "π greedy in Q*" if tau == 0 else f"π = softmax(Q*/{tau:g})"
        for j, (quantity, key, fixed, value) in enumerate((("bias", "n", "epsilon", ref_eps),
                                                           ("variance", "n", "epsilon", ref_eps),
                                                           ("bias", "epsilon", "n", ref_n),
                                                           ("variance", "epsilon", "n", ref_n))):
            ax = axes[i, j]
            for method, colour in COLOURS.items():
                pick = here[(here["method"] == method) & (here["quantity"] == quantity) & (here[fixed] == value)]
                if len(pick):
                    pick = pick.sort_values(key)
                    ax.plot(pick[key], pick["value"], color=colour, linestyle=STYLES.get(method, "-"),
                            marker="o", markersize=3, label=method)
            if quantity == "variance":
                ax.set_yscale("log")
            ax.set_xlabel("window n" if key == "n" else "behaviour ε (μ = (1 − ε)π + ε·uniform)")
            ax.set_ylabel("RMS bias of E[G] vs Q^π" if quantity == "bias" else "mean variance of G")
            at = f"ε = {value:g}" if fixed == "epsilon" else f"n = {value:g}"
            ax.set_title(f"{target}, σ(Q̂ − Q^π) = {sigma:g}, {at}", fontsize=9)
            if key == "n":
                ax.set_xscale("log", base=2)
                ns = np.unique(pick[key]) if len(pick) else []
                ax.set_xticks(ns, [f"{n:g}" for n in ns])
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out_dir, "nstep_corrections")


if __name__ == "__main__":
    main_figure(plot, "nstep-corrections")
