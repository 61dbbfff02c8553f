"""n-step corrections: how far each off-policy correction's target is from Q^π, and how much it varies.

On a tabular MDP with exact Q^π and Q* (the solvers), the targets of ``ignore``, ``cut``,
``importance-sampling``, ``tree-backup`` and ``retrace`` (:func:`triad.multistep.off_policy_targets`)
for every state-action pair: their exact mean (the correction's operator, cut after n terms) and
their sampled variance, against the window n and against the distance between the behaviour μ and
the target π, bootstrapping from the true Q^π or from a perturbed table (the seed notes' "ignore /
cut / importance sampling" trade-off; Munos et al. 2016). Then learning curves: ``nstep-q`` with
each correction on one small MDP (a table, ε-greedy behaviour), ‖Q̂ − Q*‖∞ and J from the loop's
truth probes.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="nstep-corrections",
    description="n-step Q targets off-policy: exact bias and sampled variance of ignore/cut/IS/TB/Retrace vs n and ε",
    figures=("nstep_corrections", "nstep_corrections_learning"),
)
