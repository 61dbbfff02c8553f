"""Is it a gradient? The angle between the two fields along the ascent, and their curl and circulation at θ0."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.discount_weighting.analysis import COLUMNS
from triad.figures import log1p_steps, save

COLOURS = {"true": "tab:blue", "dropped": "tab:red"}


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Left: angle(∇J, dropped) along the exact-gradient path. Right: ‖curl‖ and |∮ F·dθ| at θ0 (log scale)."""
    results, _ = load_results(results_dir)
    require_columns(results, COLUMNS, "discount_weighting_curl figure")
    problems = list(dict.fromkeys(results["id"]))
    names = [p.removeprefix("discount-weighting/problem=") for p in problems]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.5, 4))
    for problem, name in zip(problems, names):
        rows = results[(results["id"] == problem) & (results["quantity"] == "angle") & (results["field"] == "true")]
        left.plot(rows["step"], rows["value"], label=name)
    log1p_steps(left, results.loc[results["quantity"] == "angle", "step"].max())
    left.set_xlabel("step along the exact-gradient path (log scale of 1 + step)")
    left.set_ylabel("angle(∇J, γ^t-dropped direction) (°)")
    left.legend(fontsize=7)
    x = np.arange(len(problems))
    floor = 1e-20  # exact zeros drawn at the axis floor
    for k, (quantity, hatch) in enumerate((("curl_norm", ""), ("loop_integral", "//"))):
        for j, field in enumerate(COLOURS):
            heights = []
            for problem in problems:
                pick = results[(results["id"] == problem) & (results["quantity"] == quantity)
                               & (results["field"] == field)]["value"]
                heights.append(max(abs(float(pick.iloc[0])), floor) if len(pick) else np.nan)
            right.bar(x + (2 * k + j - 1.5) * 0.2, heights, width=0.2, color=COLOURS[field], hatch=hatch,
                      edgecolor="black", linewidth=0.5,
                      label=f"{'‖curl‖_F' if quantity == 'curl_norm' else '|loop integral|'} ({field})")
    for i, problem in enumerate(problems):
        count = results[(results["id"] == problem) & (results["quantity"] == "parameters")]["value"]
        if len(count) and int(count.iloc[0]) == 1:
            right.text(i, 1e-16, "1 parameter:\nevery 1-D field\nis a gradient", ha="center", fontsize=7)
    right.set_yscale("log")
    right.set_ylim(bottom=floor)
    right.set_xticks(x, names, rotation=20, fontsize=7, ha="right")
    right.set_title("a gradient field has zero curl and zero circulation", fontsize=9)
    # Outside the axes: the tallest bars reach the top, where a legend inside would sit on them.
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return save(fig, out_dir, "discount_weighting_curl")


if __name__ == "__main__":
    main_figure(plot, "discount-weighting")
