"""The TD fixed point against Tsitsiklis & Van Roy's (1997) bound on every instance.

On-policy: ‖Φθ* − V^π‖_D ≤ ‖ΠV^π − V^π‖_D / √(1 − γ²), so every on-policy point lies below the
diagonal; off-policy weightings carry no such guarantee.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from triad.experiment import load_results, main_figure
from triad.experiments.contraction.analysis import ON_POLICY, instances
from triad.figures import save

NAME = "contraction_td_bound"


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Scatter of the TD error against the bound (log-log), on- and off-policy, with y = x."""
    rows, _ = load_results(results_dir)
    table = instances(rows, f"{NAME} figure").dropna(subset=["td_error", "td_bound"])
    table = table[(table["td_error"] > 0) & (table["td_bound"] > 0)]
    on = table["weighting"] == ON_POLICY
    fig = Figure(figsize=(6.5, 6), layout="constrained")
    ax = fig.subplots()
    ax.scatter(table.loc[~on, "td_bound"], table.loc[~on, "td_error"], s=8, alpha=0.35, color="tab:orange",
               label="off-policy D (no guarantee)")
    ax.scatter(table.loc[on, "td_bound"], table.loc[on, "td_error"], s=10, alpha=0.7, color="tab:blue",
               label="on-policy D")
    lo = float(min(table["td_bound"].min(), table["td_error"].min()))
    hi = float(max(table["td_bound"].max(), table["td_error"].max()))
    ax.plot([lo, hi], [lo, hi], color="k", lw=1, label="bound: y = x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    worst_on = float(table.loc[on, "td_error"].div(table.loc[on, "td_bound"]).max()) if on.any() else np.nan
    worst_off = float(table.loc[~on, "td_error"].div(table.loc[~on, "td_bound"]).max()) if (~on).any() else np.nan
    ax.set_title(f"worst error/bound: on-policy {worst_on:.3f}, off-policy {worst_off:.3f}")
    ax.set_xlabel(r"bound $\|\Pi V^\pi - V^\pi\|_D \,/\, \sqrt{1 - \gamma^2}$")
    ax.set_ylabel(r"$\|\Phi\theta^* - V^\pi\|_D$  (TD fixed point)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save(fig, out_dir, NAME)


if __name__ == "__main__":
    main_figure(plot, "contraction")
