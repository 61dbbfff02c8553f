"""The w→2w example (Sutton & Barto 2018 §11.2): where the TD(0) fragment and projected VI diverge.

Over a grid of (γ, ε) the TD(0) update on the transition w → 2w and least-squares projected value
iteration are iterated numerically; the empirical divergence boundary is compared with the exact
thresholds γ > 1/2 and γ > 5/(6 − 4ε) that :mod:`triad.analysis.symbolic` derives with sympy.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="w2w",
    description="w→2w: TD(0) fragment and projected VI diverge beyond the exact sympy thresholds in (γ, ε)",
    figures=("w2w_phase",),
)
