"""The deadly triad, ingredient by ingredient: where the certificate and the sampled runs find divergence.

Four panels from the cached cells: (a) semi-gradient TD by ingredient combination, (b) TD(0) by
feature set against the behaviour's distance ε, (c) off-policy cells with function approximation
by bootstrap depth, (d) the one-step rules on those cells. Bars: the fraction of cells whose
certificate says *diverges in expectation* (dark) or *can diverge* (light, stacked), and the
fraction of cells where most seeds diverged (hatched).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results
from triad.experiment import main_figure as _main
from triad.experiments.deadly_triad.analysis import DIVERGES, VERDICTS, cells, combination, depth_order
from triad.figures import save


def _bars(ax, groups: dict, title: str) -> None:
    names = list(groups)
    x = np.arange(len(names))
    div = [float((g["verdict"] == DIVERGES).mean()) for g in groups.values()]
    can = [float((g["verdict"] == VERDICTS[1]).mean()) for g in groups.values()]
    most = [float((g["outcome"] == "most").mean()) for g in groups.values()]
    ax.bar(x - 0.2, div, 0.4, color="tab:red", label="certificate: diverges in expectation")
    ax.bar(x - 0.2, can, 0.4, bottom=div, color="tab:orange", alpha=0.5, label="certificate: can diverge")
    ax.bar(x + 0.2, most, 0.4, color="none", edgecolor="black", hatch="//", label="sampled: most seeds diverged")
    for xi, g in zip(x, groups.values()):
        ax.text(xi, 1.02, f"{len(g)}", ha="center", fontsize=6, color="0.4")
    ax.set_xticks(x, names, rotation=25, ha="right", fontsize=7)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("fraction of cells")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    rows, _ = load_results(results_dir)
    table = cells(rows, "deadly_triad_ingredients figure")
    td = table[table["algorithm"] == "semi-gradient-td"].copy()
    td["combination"] = td.apply(combination, axis=1)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    order = sorted(td["combination"].unique(), key=lambda c: (-c.count("+"), c))
    _bars(axes[0, 0], {c: td[td["combination"] == c] for c in order}, "(a) semi-gradient TD by ingredients present")
    ax = axes[0, 1]
    one_step = td[td["depth"] == "n=1"]
    for kind, part in one_step.groupby("features"):
        by_eps = part.groupby("epsilon")
        line, = ax.plot(by_eps.size().index, by_eps.apply(lambda g: (g["verdict"] == DIVERGES).mean()), "o-",
                        label=f"{kind}: certificate")
        ax.plot(by_eps.size().index, by_eps.apply(lambda g: (g["outcome"] == "most").mean()), "s--",
                color=line.get_color(), alpha=0.7, label=f"{kind}: sampled (most seeds)")
    ax.set_xlabel("behaviour μ = (1 − ε)π + εν: ε (0 = on-policy)")
    ax.set_ylabel("fraction of cells diverging")
    ax.set_title("(b) TD(0) by feature set and distance from the target (tabular, aggregation: 0)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    off_fa = td[td["off_policy"] & td["function_approximation"]]
    _bars(axes[1, 0], {d: off_fa[off_fa["depth"] == d] for d in depth_order(off_fa["depth"])},
          "(c) off-policy + FA: semi-gradient TD by bootstrap depth")
    rule_cells = table[(table["depth"] == "n=1") & table["off_policy"] & table["function_approximation"]]
    _bars(axes[1, 1], {a: part for a, part in rule_cells.groupby("algorithm")}, "(d) off-policy + FA, one step: by rule")
    axes[1, 1].legend(fontsize=6, loc="upper right")
    fig.suptitle(f"The deadly triad on {table['mdp'].nunique()} Garnet MDPs: {len(table)} cells × "
                 f"{int(table['seeds'].max())} seeds, {int(table['steps'].max())} steps", fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir, "deadly_triad_ingredients")


if __name__ == "__main__":
    _main(plot, "deadly-triad")
