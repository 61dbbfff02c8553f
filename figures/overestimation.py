"""E[max] of m noisy estimates: exact curves and sampled means, single (max) vs double estimator."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.overestimation.analysis import ESTIMATOR_COLUMNS
from triad.figures import save

STYLE = {"max": ("tab:red", "single estimator  max_i X_i"), "double": ("tab:blue", "double estimator  X^B[argmax X^A]")}


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Rows: i.i.d. means / one mean ahead by ``gap``. Columns: noise family. The true max of the means is 0."""
    results, params = load_results(results_dir)
    if "case" not in results:
        return []
    require_columns(results, ESTIMATOR_COLUMNS, "overestimation figure")
    rows = results[results["case"].notna()]
    families = list(dict.fromkeys(rows["family"]))
    cases = [c for c in ("iid", "gap") if (rows["case"] == c).any()]
    titles = {"iid": "all means 0", "gap": f"one mean 0, the rest −{params.get('gap', '?')}"}
    fig, axes = plt.subplots(len(cases), len(families), figsize=(5 * len(families), 3.6 * len(cases)),
                             squeeze=False, sharex=True)
    for i, case in enumerate(cases):
        for j, family in enumerate(families):
            ax = axes[i, j]
            here = rows[(rows["case"] == case) & (rows["family"] == family)]

            def series(quantity: str, here=here):
                pick = here[here["quantity"] == quantity].sort_values("m")
                return pick["m"].to_numpy(), pick["value"].to_numpy()

            for kind, (colour, label) in STYLE.items():
                m, exact = series(f"exact_{kind}")
                _, sampled = series(f"sampled_{kind}")
                _, se = series(f"sampled_{kind}_se")
                ax.plot(m, exact, color=colour, label=f"{label} (exact)")
                ax.errorbar(m, sampled, yerr=1.96 * se, fmt="o", color=colour, markersize=3, capsize=2)
            # One legend entry for the sampled means of both estimators (their colours match the lines).
            ax.errorbar([], [], yerr=[], fmt="o", color="0.4", markersize=3, capsize=2, label="sampled ± 1.96 s.e.")
            ax.axhline(0.0, color="black", linewidth=0.8, linestyle="--", label="max of the means")
            ax.set_xscale("log", base=2)
            ax.set_title(f"{'N(0, 1)' if family == 'normal' else 'U(−1, 1)'} noise, {titles[case]}", fontsize=9)
            ax.set_ylabel("expected estimate")
    for ax in axes[-1]:
        ax.set_xlabel("number of estimates m")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, out_dir, "overestimation")


if __name__ == "__main__":
    main_figure(plot, "overestimation")
