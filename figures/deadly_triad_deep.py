"""The deep deadly triad (van Hasselt et al. 2018 at small scale): soft divergence by each varied setting.

One row per env, one column per finding (target network, double Q, n-step, prioritisation, network
size): bars are the fraction of agents whose max|Q̂| exceeded the largest possible return (soft
divergence), dots (right axis) the median log10(max|Q̂| / bound); the column title says whether the
paper's finding held on that env. A last column plots each agent's final return against its
log10(max|Q̂| / bound). Drawn from the cached rows only (``level=deep``; the linear level draws nothing here).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results
from triad.experiment import main_figure as _main
from triad.experiments.deadly_triad.analysis import FINDINGS, agents, findings
from triad.figures import save

SHORT = {"target": "target network", "double": "double Q", "n_step": "n-step", "prioritised": "prioritised replay",
         "width": "network size"}


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    rows, params = load_results(results_dir)
    if params.get("level") != "deep" and "mdp" in rows.columns:  # the linear level's rows: drawn by the others
        return []
    table = agents(rows, "deadly_triad_deep figure")
    table["log_ratio"] = np.log10(np.clip(table["q_ratio"].to_numpy(float), 1e-4, 1e6))
    verdicts = {(r["finding"], r["env"]): r["held"] for r in findings(table)}
    envs = list(dict.fromkeys(table["env"]))
    fig, axes = plt.subplots(len(envs), len(FINDINGS) + 1, figsize=(3.1 * (len(FINDINGS) + 1), 3.2 * len(envs)),
                             squeeze=False)
    for i, env in enumerate(envs):
        part = table[table["env"] == env]
        for j, (name, column, _, _) in enumerate(FINDINGS):
            ax = axes[i, j]
            groups = sorted(part[column].unique())
            labels = [str(part.loc[part[column] == g, "size"].iloc[0]) if column == "width" else str(g)
                      for g in groups]
            rate = [part.loc[part[column] == g, "soft_diverged"].mean() for g in groups]
            med = [part.loc[part[column] == g, "log_ratio"].median() for g in groups]
            x = np.arange(len(groups))
            ax.bar(x, rate, 0.6, color="tab:red", alpha=0.7)
            ax.set_ylim(0, 1.05)
            ax.set_xticks(x, labels, fontsize=7)
            ax.set_xlabel(SHORT[column], fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{env}\nsoft-divergence rate", fontsize=8)
            twin = ax.twinx()
            twin.plot(x, med, "ko-", markersize=4)
            twin.axhline(0.0, color="0.5", linestyle=":", linewidth=1)
            twin.tick_params(labelsize=6)
            if j == len(FINDINGS) - 1:
                twin.set_ylabel(r"median $\log_{10}(\max|\hat{Q}|$ / bound)", fontsize=7)
            held = verdicts.get((name, str(env)))
            tag = "n/a" if held is None else ("held" if held else "not held")
            ax.set_title(f"{name}\n({tag})", fontsize=7)
        ax = axes[i, -1]
        ax.scatter(part["log_ratio"], part["final_return"], s=8, c=part["soft_diverged"], cmap="coolwarm", vmin=0,
                   vmax=1)
        ax.axvline(0.0, color="0.5", linestyle=":", linewidth=1)
        ax.set_xlabel(r"$\log_{10}(\max|\hat{Q}|$ / bound)", fontsize=8)
        ax.set_ylabel("final return", fontsize=8)
        ax.set_title("every agent", fontsize=8)
    fig.suptitle(f"Deep deadly triad: {len(table)} DQN-variant agents "
                 f"({int(table['stream'].max()) + 1} seeds per variant), soft divergence: " r"$\max|\hat{Q}|$ > largest "
                 f"possible return", fontsize=10)
    fig.tight_layout()
    return save(fig, out_dir, "deadly_triad_deep")


if __name__ == "__main__":
    _main(plot, "deadly-triad")
