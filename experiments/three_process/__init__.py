"""Three processes: online Q-learning, DQN and FQI as points of one grid of rates.

The value-based loop (:mod:`triad.agents.value`) runs data collection, the target update and the
regression at configurable rates (the seed notes' view of Q-learning). This experiment sweeps the
target period (process 2), the gradient steps per env step (process 3 against process 1) and the
replay size, on a tabular twin seen through random linear features (exact Q*, ``J`` and ``max|Q̂|``
against the largest possible return) and on CartPole-v1, and marks online Q (replay 1, no target, one
step per env step), DQN (large replay, slow hard copies, a step every 4 env steps) and FQI (data
collected once, then freeze / regress / copy) in it.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="three-process",
    description="Q-learning's three processes: return and max|Q̂| over target period × grad steps/env step × replay",
    figures=("three_process",),
)
