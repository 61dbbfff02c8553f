"""Truth probes of one agent on a tabular twin: J against J*, the critic's error, and the cosines of its
policy-gradient estimates with the exact ∇J and with the γ^t-dropped direction, one colour per run."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.truth_probes.analysis import COLUMNS
from triad.figures import formats, save

COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")
SMOOTH = 5
"""Cosines are per update (one batch each): drawn faintly, with a running mean over this many log steps."""


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    kernel = np.ones(min(window, len(values)))
    return np.convolve(values, kernel, "same") / np.convolve(np.ones(len(values)), kernel, "same")


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Three panels — J and J*, ‖V̂ − V^π‖_d, cos(estimate, ∇J) (solid) and cos(estimate, option 1) (dashed) —
    written as PDF and PNG."""
    results, params = load_results(results_dir)
    require_columns(results, COLUMNS, "truth_probes figure")
    fig, (ax_j, ax_v, ax_c) = plt.subplots(1, 3, figsize=(13.5, 3.8))
    for colour, (run_id, rows) in zip(COLOURS * 10, results.groupby("id", sort=False)):
        label = f"option {int(rows['discount_weighting'].iloc[0])}, seed {int(rows['seed'].iloc[0])}"

        def series(quantity: str, rows=rows) -> tuple[np.ndarray, np.ndarray]:
            frame = rows[rows["quantity"] == quantity].sort_values("step")
            return frame["step"].to_numpy(), frame["value"].to_numpy()

        ax_j.plot(*series("J"), color=colour, label=label)
        steps, error = series("critic_error")
        if len(steps):
            ax_v.plot(steps, error, color=colour, label=label)
        for quantity, style, name in (("cos_true", "-", "∇J"), ("cos_dropped", "--", "option 1")):
            steps, cos = series(quantity)
            ok = np.isfinite(cos)
            if ok.any():
                ax_c.plot(steps[ok], cos[ok], color=colour, linestyle=style, alpha=0.2, linewidth=0.8)
                ax_c.plot(steps[ok], _running_mean(cos[ok], SMOOTH), color=colour, linestyle=style,
                          label=f"{label}: cos(ĝ, {name})")
    J_star = results[results["quantity"] == "J_star"]["value"]
    if len(J_star):
        ax_j.axhline(float(J_star.iloc[0]), color="black", linestyle="--", linewidth=1, label="J*")
    ax_j.set_title(f"J(π) = μᵀV^π on {params.get('problem', '?')}", fontsize=9)
    ax_v.set_title("critic error ‖V̂ − V^π‖_d (on-policy weighting)", fontsize=9)
    ax_c.set_title(f"cosine of the update ĝ with the exact directions (mean of {SMOOTH})", fontsize=9)
    ax_c.axhline(0.0, color="grey", linewidth=0.6)
    ax_c.set_ylim(-1.05, 1.05)
    for ax in (ax_j, ax_v, ax_c):
        ax.set_xlabel(f"env steps ({params.get('algorithm', '?')})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with formats("pdf", "png"):
        return save(fig, out_dir, "truth_probes")


if __name__ == "__main__":
    main_figure(plot, "truth-probes")
