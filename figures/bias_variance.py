"""λ and n as a bias–variance knob: exact bias², variance and MSE against n and λ, per critic error."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from triad.experiment import load_results, main_figure, require_columns
from triad.experiments.bias_variance.analysis import COLUMNS
from triad.figures import save

STYLE = {"mse": ("-", "MSE"), "bias2": ("--", "bias²"), "variance": (":", "variance")}


def _best_against_error(ax: plt.Axes, exact, spec: str) -> None:
    """The λ (left axis) and n (right axis) of smallest MSE (averaged over critic draws), per critic error."""
    mse = exact[exact["quantity"] == "mse"].groupby(["estimator", "error", "knob"])["value"].mean()
    lam = mse.loc["lambda"].groupby(level="error").idxmin().map(lambda key: key[1])
    n = mse.loc["nstep"].groupby(level="error").idxmin().map(lambda key: key[1])
    ax.plot(lam.index, lam.to_numpy(), "o-", color="tab:purple", label="best λ")
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("λ of smallest MSE", color="tab:purple")
    twin = ax.twinx()
    twin.plot(n.index, n.to_numpy(), "s--", color="tab:orange", label="best n")
    twin.set_yscale("log", base=2)
    twin.set_ylabel("n of smallest MSE", color="tab:orange")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlim(0.0, 1.5 * max(max(lam.index), 0.1))
    ax.set_xlabel("critic error e (units of σ_G)")
    ax.set_title(f"{spec}: best setting", fontsize=9)


def plot(results_dir: Path, out_dir: Path) -> list[Path]:
    """Rows: MDPs. Columns: n-step returns vs n, λ-returns vs λ, and the best λ and n against the
    critic error. Colour: critic error; line style: quantity (averaged over critic draws and
    non-terminal states); crosses: sampled MSE (averaged over critic draws); dots: the smallest MSE."""
    results, _ = load_results(results_dir)
    require_columns(results, COLUMNS, "bias_variance figure")
    exact = results[results["method"] == "exact"]
    sampled = results[(results["method"] == "sampled") & (results["quantity"] == "mse")]
    mdps = list(dict.fromkeys(exact["mdp"]))
    errors = sorted(exact["error"].unique())
    colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(errors)))
    fig, axes = plt.subplots(len(mdps), 3, figsize=(15, 3.8 * len(mdps)), squeeze=False,
                             gridspec_kw={"width_ratios": (1, 1, 0.7)})
    for i, spec in enumerate(mdps):
        for j, (est, xlabel) in enumerate((("nstep", "n (steps before bootstrapping)"), ("lambda", "λ"))):
            ax = axes[i, j]
            here = exact[(exact["mdp"] == spec) & (exact["estimator"] == est)]
            for colour, error in zip(colours, errors):
                at = here[here["error"] == error]
                for quantity, (style, _) in STYLE.items():
                    curve = at[at["quantity"] == quantity].groupby("knob")["value"].mean()
                    ax.plot(curve.index, curve.to_numpy(), style, color=colour)
                    if quantity == "mse":
                        ax.plot(curve.idxmin(), curve.min(), "o", color=colour, markersize=5)
                dots = sampled[(sampled["mdp"] == spec) & (sampled["estimator"] == est) & (sampled["error"] == error)]
                dots = dots.groupby("knob")["value"].mean()
                ax.plot(dots.index, dots.to_numpy(), "x", color=colour, markersize=6)
            if est == "nstep":
                ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            top = here["value"].max()
            ax.set_ylim(max(here.loc[here["value"] > 0, "value"].min(), top * 1e-5), top * 2)
            ax.set_xlabel(xlabel)
            ax.set_title(f"{spec}: {'n-step returns' if est == 'nstep' else 'λ-returns'}", fontsize=9)
        axes[i, 0].set_ylabel("mean over states")
        _best_against_error(axes[i, 2], exact[exact["mdp"] == spec], spec)
    handles = [plt.Line2D([], [], color=c, label=f"critic error e = {e:g} σ_G") for c, e in zip(colours, errors)]
    handles += [plt.Line2D([], [], color="grey", linestyle=s, label=label) for s, label in STYLE.values()]
    handles += [plt.Line2D([], [], color="grey", marker="o", linestyle="", label="smallest MSE"),
                plt.Line2D([], [], color="grey", marker="x", linestyle="", label="sampled MSE")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle("Exact bias–variance trade-off of bootstrapped returns (uniform policy)", fontsize=11)
    fig.tight_layout(rect=(0, 0.07 + 0.03 / len(mdps), 1, 0.97))
    return save(fig, out_dir, "bias_variance")


if __name__ == "__main__":
    main_figure(plot, "bias-variance")
