"""On a tabular twin the mean of many REINFORCE estimates is the exact direction of its option.

Option 2 (γ^t kept) estimates the true ∇J; option 1 (γ^t dropped) estimates the undiscounted-
visitation direction (triad.analysis.policy_gradient, exact linear solves). Each estimate is one
whole episode, Σ_t w_t ∇log π(a_t|s_t) G_t with w_t = γ^t or 1, from the learner's own loss gradient
on updates of whole episodes of 64 parallel streams.
"""

import numpy as np
import pytest

from triad import agents
from triad.agents import loop
from triad.agents.probes import exact_directions
from triad.envs import FiniteEnv

SPEC = "chain:n=5,slip=0.4,gamma=0.7"  # the two exact directions are ~25° apart here
STREAMS, BATCHES = 64, 150


def _batch_estimates(option: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Per update: the sum over its whole episodes of Σ_t w_t ∇log π G_t, and how many episodes that is."""
    env = FiniteEnv(SPEC, STREAMS)
    algo = agents.get("reinforce")
    config = algo.resolve(SPEC, {"envs": str(STREAMS), "batch_steps": str(STREAMS * 20), "hidden": "8",
                                 "gamma": str(env.mdp.gamma),
                                 "normalize_advantage": "false", "discount_weighting": str(option)})
    agent = algo.build(config, loop.env_spaces(env), 11)
    exact = exact_directions(env.mdp, agent.policy_probs, agent.policy_parameters(), env.obs_table)
    stepper = loop.VectorStepper(env, seed=3)
    sums, counts = [], []
    while len(sums) < BATCHES:
        action, extras = agent.act(stepper.obs)
        agent.observe(stepper.step(action, extras))
        if agent.buffer.ready():  # whole episodes of one policy: estimate, but no update (θ stays fixed)
            data = agent.buffer.data()
            batch = agent.estimate(data)
            agent.buffer.clear()
            sums.append(len(batch.rows) * agent.policy_gradient(batch))  # the loss is a mean over steps
            counts.append(int(((data["weight"] > 0) & (data["terminated"] | data["truncated"])).sum()))
    return np.array(sums), np.array(counts), exact


@pytest.mark.parametrize(("option", "name", "other"), [(2, "true", "dropped"), (1, "dropped", "true")])
def test_mean_reinforce_estimate_is_the_exact_direction_of_its_option(option, name, other):
    sums, counts, exact = _batch_estimates(option)
    target, wrong = exact[name], exact[other]

    def z(u, value):
        """(per-episode mean along u − value) / its standard error (ratio estimator over updates, delta method)."""
        p = sums @ u
        r = p.sum() / counts.sum()
        se = np.std(p - r * counts, ddof=1) / (np.sqrt(len(p)) * counts.mean())
        return (r - value) / se

    for u in (target / np.linalg.norm(target), (target - wrong) / np.linalg.norm(target - wrong)):
        assert abs(z(u, target @ u)) < 4.5
    u = (target - wrong) / np.linalg.norm(target - wrong)  # ... and the estimate tells the two apart
    assert abs(z(u, wrong @ u)) > 4.5
