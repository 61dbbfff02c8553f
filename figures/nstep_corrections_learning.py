"""Learning curves of nstep-q with each off-policy correction: ‖Q̂ − Q*‖∞ and J/J* against env steps."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.nstep_corrections.analysis import LEARNING_COLUMNS
from triad.figures import save
from triad.figures.nstep_corrections import COLOURS, STYLES


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Left: ‖Q̂ − Q*‖∞ (mean over seeds, log scale); right: J/J* of the greedy policy."""
    results, params = load_results(results_dir)
    if not params.get("learning_steps"):
        return []  # the sweep ran no learning curves
    require_columns(results, LEARNING_COLUMNS, "nstep_corrections_learning figure")
    rows = results[results["seed"].notna()]
    J_star = float(rows[rows["quantity"] == "J_star"]["value"].iloc[0])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for method, colour in COLOURS.items():
        here = rows[rows["method"] == method]
        if not len(here):
            continue
        style = {"color": colour, "linestyle": STYLES.get(method, "-"), "label": method}
        q = here[here["quantity"] == "q_error"].groupby("step")["value"].mean()
        left.plot(q.index, q.to_numpy(), **style)
        J = here[here["quantity"] == "J"].groupby("step")["value"].mean()
        right.plot(J.index, J.to_numpy() / J_star, **style)
    left.set_yscale("log")
    left.set_ylabel("‖Q̂ − Q*‖∞ (mean over seeds)")
    right.set_ylabel("J / J* of the greedy policy")
    for ax in (left, right):
        ax.set_xlabel("env steps")
    title = (f"nstep-q on {params.get('learning_mdp', '?')}, n = {params.get('learning_n', '?')}, "
             f"ε-greedy behaviour ε = {params.get('learning_epsilon', '?')}")
    fig.suptitle(title, fontsize=9)
    left.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, out_dir, "nstep_corrections_learning")


if __name__ == "__main__":
    main_figure(plot, "nstep-corrections")
