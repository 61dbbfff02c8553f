"""Overestimation: the maximisation bias of max over noisy estimates, and what it does to Q-learning.

Part one computes E[max_i X_i] for m = 2 … 1024 estimates exactly (quadrature) and by sampling,
for the single estimator (max) and van Hasselt's (2010) double estimator, with N(0, 1) and
U(−1, 1) noise: all means equal (the i.i.d. case) and one mean ahead of the rest by ``gap``.
Part two is Sutton & Barto (2018) Example 6.7 / Figure 6.5: the share of episodes in which
Q-learning and double Q-learning go left from A on the maximisation-bias MDP.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="overestimation",
    description="Maximisation bias: exact vs sampled E[max], double estimator, Q vs double Q (S&B Fig 6.5)",
    figures=("overestimation", "overestimation_qlearning"),
)
