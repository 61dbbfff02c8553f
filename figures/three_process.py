"""Heat maps of the three-process grid: return and max|Q̂| over target period × replay size, per gradient-step ratio."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.three_process.analysis import COLUMNS, finals
from triad.figures import save

LABELS = {"online-q": "online Q", "dqn": "DQN"}


def _panel(ax, grid, value: str, cmap: str, vmin: float, vmax: float, fmt: str):
    periods = sorted(grid["target_period"].unique())
    capacities = sorted(grid["capacity"].unique())
    image = np.full((len(capacities), len(periods)), np.nan)
    for r in grid.itertuples(index=False):
        image[capacities.index(r.capacity), periods.index(r.target_period)] = getattr(r, value)
    shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, origin="lower", aspect="auto")
    for r in grid.itertuples(index=False):
        i, j = capacities.index(r.capacity), periods.index(r.target_period)
        v = getattr(r, value)
        text = "NaN" if r.diverged > 0 else (fmt.format(v) if np.isfinite(v) else "–")
        if r.named:
            text += f"\n{LABELS.get(r.named, r.named)}"
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
        ax.text(j, i, text, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(periods)), ["none" if p == 0 else f"{int(p)}" for p in periods])
    ax.set_yticks(range(len(capacities)), [f"{int(c):,}" for c in capacities])
    ax.set_xlabel("target period (gradient steps; none = current network)")
    ax.set_ylabel("replay capacity")
    return shown


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Per env two rows — the return (J/J* on the feature grid, evaluation return on CartPole) and
    log10(max|Q̂| / largest possible |Q|), > 0 being soft divergence — and one column per gradient-step
    ratio; online Q and DQN boxed, FQI (collect once) in the row's title."""
    results, _ = load_results(results_dir)
    require_columns(results, COLUMNS, "three_process figure")
    table = finals(results)
    table["named"] = table["named"].fillna("")
    table["score"] = np.where(table["env"] == "feature-grid", table.get("J", np.nan) / table.get("J_star", np.nan),
                              table["eval_return"])
    table["log_q"] = np.log10(np.maximum(table["q_ratio"], 1e-6))
    envs = list(dict.fromkeys(table["env"]))
    ratios = sorted(table.loc[table["named"] != "fqi", "ratio"].dropna().unique())
    fig, axes = plt.subplots(2 * len(envs), len(ratios), figsize=(max(6.0, 4.6 * len(ratios)), 3.8 * 2 * len(envs)),
                             squeeze=False)
    for e, env in enumerate(envs):
        rows = table[table["env"] == env]
        grid, fqi = rows[rows["named"] != "fqi"], rows[rows["named"] == "fqi"]
        finite = env == "feature-grid"
        what = "J / J* of the greedy policy" if finite else "evaluation return"
        top = 1.0 if finite else 500.0
        note = ""
        if len(fqi):
            f = fqi.iloc[0]
            note = f"\nFQI (collect once): {f['score']:.3g}, log10 q-ratio {f['log_q']:.2f}"
        for k, ratio in enumerate(ratios):
            cells = grid[grid["ratio"] == ratio]
            a = _panel(axes[2 * e, k], cells, "score", "viridis", 0.0, top, "{:.2f}" if finite else "{:.0f}")
            axes[2 * e, k].set_title(f"{env}: {what}\n{ratio:g} grad steps / env step" + (note if k == 0 else ""),
                                     fontsize=8)
            b = _panel(axes[2 * e + 1, k], cells, "log_q", "coolwarm", -2.0, 2.0, "{:.2f}")
            axes[2 * e + 1, k].set_title(f"{env}: log10(max|Q̂| / largest |Q|)\n{ratio:g} grad steps / env step",
                                         fontsize=8)
        fig.colorbar(a, ax=axes[2 * e, -1])
        fig.colorbar(b, ax=axes[2 * e + 1, -1])
    fig.tight_layout()
    return save(fig, out_dir, "three_process")


if __name__ == "__main__":
    main_figure(plot, "three-process")
