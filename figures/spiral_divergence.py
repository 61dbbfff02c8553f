"""The spiral: the value-function family, and ‖V(θ)‖ and √MSPBE over time for TD(0) and nonlinear TDC.

Left: V(θ) in the plane orthogonal to (1, 1, 1) (coordinates along a and b), with the θ reached by
each expected run marked. Middle and right: medians over streams (sampled) or the trajectory (expected).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.spiral.analysis import COLUMNS
from triad.experiments.spiral.model import Spiral
from triad.figures import save


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    rows, params = load_results(results_dir)
    require_columns(rows, COLUMNS, "spiral_divergence figure")
    fig, (ax_spiral, ax_norm, ax_pbe) = plt.subplots(1, 3, figsize=(15, 4.4))
    spiral = Spiral.construct(epsilon=params.get("epsilon", 0.05))
    basis = np.stack([spiral.a / np.linalg.norm(spiral.a), spiral.b / np.linalg.norm(spiral.b)])
    path = spiral.value(np.linspace(-40, 40, 2000)) @ basis.T
    ax_spiral.plot(path[:, 0], path[:, 1], color="grey", lw=0.8)
    ax_spiral.plot(*(spiral.value(0.0) @ basis.T), "ko", label="V(0) = a")
    for run_id, run in rows.groupby("id", sort=False):
        label = "/".join(str(run[c].iloc[0]) for c in ("algorithm", "family", "form"))
        style = "-" if run["form"].iloc[0] == "sampled" else "--"
        series = {}
        for quantity, ax in (("norm_v", ax_norm), ("sqrt_mspbe", ax_pbe)):
            table = run[run["quantity"] == quantity].pivot_table(index="step", columns="stream", values="value",
                                                                 aggfunc="first", dropna=False)
            with np.errstate(invalid="ignore"):
                median = table.median(axis=1, skipna=False)
            series[quantity] = ax.plot(table.index, median, ls=style, lw=1.5, label=label)[0]
        diverged_at = run.loc[run["quantity"] == "diverged_at", "value"].dropna()
        if len(diverged_at):
            ax_norm.plot([diverged_at.median()], [params.get("threshold", 1e4)], "x", ms=9, mew=2,
                         color=series["norm_v"].get_color())
        theta = run[(run["quantity"] == "theta") & (run["family"] == "constructed") & (run["form"] == "expected")]
        if len(theta):
            finite = theta[np.isfinite(theta["value"])]
            pts = spiral.value(finite["value"].to_numpy()) @ basis.T
            ax_spiral.plot(pts[:, 0], pts[:, 1], ".", ms=3, color=series["norm_v"].get_color(), label=label)
    lim = 3 * np.linalg.norm(spiral.a)
    ax_spiral.set_xlim(-lim, lim)
    ax_spiral.set_ylim(-lim, lim)
    ax_spiral.set_aspect("equal")
    ax_spiral.set_title("V(θ) in the plane ⊥ (1,1,1); dots: expected runs", fontsize=9)
    ax_spiral.legend(fontsize=7)
    for ax, title in ((ax_norm, "‖V(θ)‖ (true value 0)"), (ax_pbe, "√MSPBE")):
        ax.set_yscale("log")
        ax.set_xlabel("steps")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
    ax_norm.axhline(params.get("threshold", 1e4), color="red", lw=0.8, ls=":",
                    label="divergence threshold (× median step)")
    ax_norm.legend(fontsize=7)
    fig.suptitle("Spiral counterexample (Tsitsiklis & Van Roy 1997): TD(0) vs nonlinear TDC (Bhatnagar et al. 2009)")
    fig.tight_layout()
    return save(fig, out_dir, "spiral_divergence")


if __name__ == "__main__":
    main_figure(plot, "spiral")
