"""Unimodal: NAF's quadratic advantage against a bimodal Q, and CEM-based QT-Opt on the same task.

``triad/Unimodal-v0`` is a two-step point mass whose straight path to the goal is blocked by a
soft wall: the true ``Q*(s_0, ·)`` over the action plane has two separated maxima (detour left,
detour right) and their mean runs into the wall (:mod:`triad.envs_unimodal`, closed form). Each
method trains on it from several seeds; the runs record the greedy first action at the start
state, its regret ``V*(s_0) − Q*(s_0, a_0)``, the regret of the whole greedy policy over a grid of
start states, and the learned Q over the action plane next to the true one (the seed notes:
NAF "loses representational power"; QT-Opt takes the max by CEM over an unconstrained critic).
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="unimodal",
    description="NAF's one-mode quadratic vs CEM-based QT-Opt on a task whose true Q over actions is bimodal",
    figures=("unimodal",),
)
