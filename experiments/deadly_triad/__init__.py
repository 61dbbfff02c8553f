"""The deadly triad, measured: when do bootstrapping, off-policy data and function approximation diverge together?

Sutton & Barto (2018, §11.3): instability arises when function approximation, bootstrapping and
off-policy training are combined; any two are safe. ``level=linear`` (the default) measures it on
random Garnet MDPs × feature sets (tabular, random linear of rank < S, state aggregation) ×
behaviour policies at growing distance from the target × bootstrap depth (n = 1, 3, 10, ∞ and
λ), with the same one-step cells for TDC, emphatic TD and a target network: for every cell the
exact certificate of the expected update (:mod:`triad.analysis.deadly_triad`) and the divergence
of sampled runs over independent seeds (:mod:`triad.linear_batch`, one compiled call per MDP).
``level=deep`` (:mod:`.deep`): DQN-family variants after van Hasselt et al. (2018) on a tabular twin
with random features and on CartPole-v1 — soft divergence, final return and ‖Q̂ − Q*‖∞, and the
paper's findings held / not held; the agents of a run train vectorised
(:class:`triad.agents.members.ValueMembers`).
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="deadly-triad",
    description="the deadly triad: Garnet grids (exact certificates vs sampled divergence) and DQN variants (level=deep)",
    figures=("deadly_triad_ingredients", "deadly_triad_confusion", "deadly_triad_deep"),
)
