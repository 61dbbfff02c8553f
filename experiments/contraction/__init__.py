"""The contraction lab: when is the projected Bellman operator ΠB^π a contraction?

Random Garnet MDPs × feature sets (random Gaussian, state aggregation, the learned features of a
small network) × state weightings (on-policy stationary d^π, uniform, and the stationary law of
behaviour policies μ = (1 − ε)π + εν at growing distance from π). For every instance the exact
‖γΠP^π‖_D, ‖γΠP^π‖∞, spectral radius and TD-matrix eigenvalues, the Tsitsiklis–Van Roy (1997)
fixed-point bound, and empirical Lipschitz ratios of B*, ΠB* and the neural projection.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="contraction",
    description="ΠB on Garnet MDPs: D- and ∞-norms, spectral radius, TD eigenvalues, on- vs off-policy",
    figures=("contraction_norms", "contraction_expansion", "contraction_td_bound"),
)
