"""Baird's counterexample: semi-gradient TD and DP diverge, TDC, GTD2, emphatic TD and friends do not.

Defaults reproduce Sutton & Barto (2018) Figures 11.2 (semi-gradient off-policy TD, sampled, and
semi-gradient DP, α = 0.01), 11.5 (TDC sampled and expected, α = 0.005, β = 0.05) and 11.6
(expected emphatic TD, α = 0.03): w₀ = (1, 1, 1, 1, 1, 1, 10, 1), γ = 0.99, 1,000 steps or sweeps.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="baird",
    description="Baird's counterexample: which linear off-policy rules diverge (S&B Figs 11.2, 11.5, 11.6)",
    figures=("baird_weights", "baird_divergence"),
)
