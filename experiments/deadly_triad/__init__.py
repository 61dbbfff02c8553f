"""The deadly triad, measured: when do bootstrapping, off-policy data and function approximation diverge together?

Sutton & Barto (2018, §11.3): instability arises when function approximation, bootstrapping and
off-policy training are combined; any two are safe. ``level=linear`` (the default) measures it on
random Garnet MDPs × feature sets (tabular, random linear of rank < S, state aggregation) ×
behaviour policies at growing distance from the target × bootstrap depth (n = 1, 3, 10, ∞ and
λ), with the same one-step cells for TDC, emphatic TD and a target network: for every cell the
exact certificate of the expected update (:mod:`triad.analysis.deadly_triad`) and the divergence
of sampled runs over independent seeds (:mod:`triad.linear_batch`, one compiled call per MDP).
``level=deep`` (DQN-family agents after van Hasselt et al. 2018) needs the value-based agents
(issue 14) and answers with an error until they exist.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="deadly-triad",
    description="the deadly triad on Garnet grids: exact certificates vs sampled divergence, ingredient by ingredient",
    figures=("deadly_triad_ingredients", "deadly_triad_confusion"),
)
