"""Truth probes: one agent's training on a tabular twin, drawn against the exact solver's answers.

An on-policy agent (default REINFORCE with a learned baseline) trains on a small finite MDP through
``triad train``'s loop; at every log step the loop's truth probes record the exact J(π) of its
current policy against J*, its critic's error ‖V̂ − V^π‖_d in the on-policy weighting, and the
cosine between its policy-gradient estimate and the exact ∇J (γ^t kept, option 2) and the
γ^t-dropped direction (option 1) at the parameters the estimate was taken at. One run per
discount weighting of the agent's own update (the seed notes' options 1 and 2), so the figure also
shows which exact direction each estimate follows.
"""

from triad.experiment import Experiment

EXPERIMENT = Experiment.from_folder(
    __name__,
    name="truth-probes",
    description="An agent's J, critic error and gradient cosines against the exact truth of its tabular twin",
    figures=("truth_probes",),
)
