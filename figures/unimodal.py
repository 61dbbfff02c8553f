"""The learned Q over the action plane at the start state, next to the true one, for each method (unimodal)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad import envs_unimodal as task
from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.unimodal.analysis import summarise
from triad.figures import formats, save

TITLES = {"truth": "true Q*(s₀, a)", "naf": "NAF", "qtopt": "QT-Opt (CEM)", "cem-q": "CEM-Q",
          "shooting-q": "shooting-Q", "ddpg": "DDPG (learned actor)"}


def _plane(rows, quantity: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ax, ay, Q)`` as ``(n, n)`` arrays from the tidy grid rows of one quantity."""
    pick = rows[rows["quantity"] == quantity].sort_values("cell")
    n = math.isqrt(len(pick))
    return (pick["ax"].to_numpy().reshape(n, n), pick["ay"].to_numpy().reshape(n, n),
            pick["value"].to_numpy().reshape(n, n))


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """One panel per method (the first seed's learned Q), the truth first; filled contours on the truth's colour scale,
    the wall's half-height contour in white, the true maxima as stars, every seed's greedy first action as a cross."""
    results, params = load_results(results_dir)
    require_columns(results, ("method", "quantity", "value", "ax", "ay", "cell"), "unimodal figure")
    summary = summarise(results, params)
    methods = ["truth", *[m for m in dict.fromkeys(results["method"]) if m != "truth"]]
    truth = results[results["method"] == "truth"]
    X, Y, Q = _plane(truth, "true_q")
    levels = np.linspace(np.floor(Q.min() * 2) / 2, 0.0, 21)
    fig, axes = plt.subplots(1, len(methods), figsize=(3.3 * len(methods), 3.5), squeeze=False, sharey=True)
    fine = np.linspace(-1, 1, 201)
    FX, FY = np.meshgrid(fine, fine, indexing="ij")
    wall = task.obstacle(np.stack([FX, FY], -1))
    for ax, method in zip(axes[0], methods):
        if method == "truth":
            values, note = Q, f"V* = {summary['v_star']:.3f}"
        else:
            rows = results[results["method"] == method]
            first = rows.loc[rows["quantity"] == "learned_q", "seed"].min()
            _, _, values = _plane(rows[rows["seed"] == first], "learned_q")
            s = summary["methods"][method]
            note = f"success {s['success_rate']:.0%} of {s['seeds']}, regret {s['regret_median']:.2f}"
            acts = rows.pivot_table(index="seed", columns="quantity", values="value")
            ax.plot(acts["first_action_x"], acts["first_action_y"], "x", color="black", markersize=7, mew=2,
                    label="greedy a₀ (each seed)")
        filled = ax.contourf(X, Y, np.clip(values, levels[0], levels[-1]), levels=levels, cmap="viridis",
                             extend="both")
        ax.contour(FX, FY, wall, levels=[0.5], colors="white", linewidths=1.2, linestyles="--")
        for mode in summary["true_modes"]:
            ax.plot(mode["x"], mode["y"], "*", color="red", markersize=11, markeredgecolor="white")
        ax.set_title(f"{TITLES.get(method, method)}\n{note}", fontsize=9)
        ax.set_xlabel("a_x (sideways)")
        ax.set_aspect("equal")
    axes[0, 0].set_ylabel("a_y (towards the goal)")
    if len(methods) > 1:
        axes[0, 1].legend(fontsize=7, loc="lower left")
    fig.colorbar(filled, ax=list(axes[0]), shrink=0.8, label="Q(s₀, a), clipped to the truth's range")
    with formats("pdf", "png"):
        return save(fig, out_dir, "unimodal")


if __name__ == "__main__":
    main_figure(plot, "unimodal")
