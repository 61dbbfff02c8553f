"""The contraction lab: when is the projected Bellman operator ΠB^π a contraction?

Random Garnet MDPs × feature sets (random Gaussian, state aggregation, the learned features of a
small network) × state weightings (on-policy stationary d^π, uniform, and the stationary law of
behaviour policies μ = (1 − ε)π + εν at growing distance from π). For every instance the exact
‖γΠP^π‖_D, ‖γΠP^π‖∞, spectral radius and TD-matrix eigenvalues, the Tsitsiklis–Van Roy (1997)
fixed-point bound, and empirical Lipschitz ratios of B*, ΠB* and the neural projection.
"""

from triad.experiment import Experiment
from triad.experiments.contraction.analysis import summarise
from triad.experiments.contraction.run import run
from triad.experiments.contraction.sweep import DEFAULTS, DOCS, QUICK, sweep

EXPERIMENT = Experiment(
    name="contraction",
    description="ΠB on Garnet MDPs: D- and ∞-norms, spectral radius, TD eigenvalues, on- vs off-policy",
    defaults=DEFAULTS,
    sweep=sweep,
    run=run,
    summarise=summarise,
    figures=("contraction_norms", "contraction_expansion", "contraction_td_bound"),
    quick=QUICK,
    docs=DOCS,
)
