"""w→2w phase diagram: where each method diverged over (ε, γ), with the exact sympy threshold curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import sympy as sp

from triad.analysis import symbolic
from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.w2w.analysis import COLUMNS
from triad.figures import save

TITLES = {"td-fragment": "TD(0) on the w → 2w transition", "projected-vi": "least-squares projected VI"}


def _exact_curve(method: str, epsilons: np.ndarray) -> tuple[np.ndarray, str]:
    if method == "td-fragment":
        t = symbolic.td_fragment_threshold()
        return np.full_like(epsilons, t.value), f"$\\gamma = {sp.latex(t.expr)}$ (sympy)"
    t = symbolic.projected_vi_threshold()
    return sp.lambdify(symbolic.EPSILON, t.expr, "numpy")(epsilons), f"$\\gamma = {sp.latex(t.expr)}$ (sympy)"


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    rows, _ = load_results(results_dir)
    require_columns(rows, COLUMNS, "w2w_phase figure")
    methods = list(rows["method"].unique())
    fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 4.3), squeeze=False)
    for ax, method in zip(axes.flat, methods):
        cells = rows[(rows["method"] == method) & ~rows["point"] & (rows["quantity"] == "diverged")]
        table = cells.pivot_table(index="gamma", columns="epsilon", values="value", aggfunc="first")
        eps, gam = table.columns.to_numpy(float), table.index.to_numpy(float)
        ax.pcolormesh(eps, gam, table.to_numpy(), cmap="RdBu_r", vmin=-0.5, vmax=1.5, shading="nearest")
        fine = np.linspace(eps.min(), eps.max(), 400)
        curve, label = _exact_curve(method, fine)
        ax.plot(fine, np.where(curve < 1, curve, np.nan), color="black", lw=2, label=label)
        first = table.apply(lambda col: col.index[col.to_numpy() > 0].min() if (col > 0).any() else np.nan)
        ax.step(eps, first.to_numpy(float), where="mid", color="gold", lw=1.5, ls="--", label="empirical boundary")
        point = rows[(rows["method"] == method) & rows["point"]].iloc[0]
        ax.plot([point["epsilon"]], [point["gamma"]], marker="*", color="lime", ms=12, mec="black", ls="none",
                label=f"(ε, γ) = ({point['epsilon']:g}, {point['gamma']:g})")
        ax.set_xlabel("ε (termination probability)")
        ax.set_ylabel("γ")
        ax.set_ylim(gam.min(), gam.max())
        title = f"{TITLES.get(method, method)}: red diverges"
        if method == "projected-vi":
            # The boundary lives in a corner of the grid (γ* ≥ 5/6, and γ* ≥ 1 once ε ≥ 1/4): zoom in.
            ax.set_xlim(eps.min() - 0.01, min(eps.max(), 0.4))
            ax.set_ylim(max(gam.min(), 0.75), gam.max())
            title += " (zoomed)"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("w → 2w (Sutton & Barto 2018 §11.2): empirical divergence vs the exact threshold")
    fig.tight_layout()
    return save(fig, out_dir, "w2w_phase")


if __name__ == "__main__":
    main_figure(plot, "w2w")
