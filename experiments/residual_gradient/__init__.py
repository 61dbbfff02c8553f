"""The A-split example (Sutton & Barto 2018, Example 11.2): naive residual gradient learns the wrong values.

TD(0) finds the true values A = ½, B = 1, C = 0; the naive residual-gradient algorithm, which
descends the mean squared TD error, converges to B = ¾, C = ¼ (A = ½); with double sampling the
residual gradient descends the Bellman error and finds the true values again.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="residual-gradient",
    description="A-split (S&B Ex. 11.2): naive residual gradient converges to B = 3/4, C = 1/4, TD to the truth",
    figures=("residual_gradient_values",),
)
