"""Tsitsiklis & Van Roy's (1997) nonlinear spiral: TD(0) diverges, nonlinear TDC (Bhatnagar et al. 2009) does not.

The value function moves along V(θ) = e^{εθ}(a cos λ̂θ + b sin λ̂θ) on a three-state chain with
zero rewards; the constructed b = (P − Pᵀ)a/λ̂ makes the family solve dV/dθ = (P − Pᵀ + εI)V, and
the summary reports that check for the constructed and for the printed constants.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="spiral",
    description="Tsitsiklis–Van Roy spiral: nonlinear TD(0) diverges, nonlinear TDC (Bhatnagar et al. 2009) does not",
    figures=("spiral_divergence",),
)
