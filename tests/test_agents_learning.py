"""Every on-policy setting learns the optimal policy of a tabular twin, judged by the exact solver."""

import numpy as np
import pytest

from triad.agents import loop
from triad.envs import FiniteEnv
from triad.solvers import evaluate_policy, policy_iteration

CHAIN = "chain:n=4"  # right is optimal in states 0–2; V*(0) = γ² = 0.81 (γ = 0.9)

LEARN = {  # (overrides, env steps): small batches so a few thousand steps hold many updates
    "reinforce": ({"batch_steps": 100}, 3000),
    "reinforce-baseline": ({"batch_steps": 100, "baseline": "true"}, 4000),
    "reinforce-option-2": ({"batch_steps": 100, "discount_weighting": "2"}, 3000),
    "ac-batch": ({"n_steps": 25, "critic_steps": 20, "critic_target_every": 5}, 4000),
    "ac-online": ({}, 3000),
    "a2c": ({}, 3000),
    "ppo-shared": ({"n_steps": 64, "critic": "shared"}, 3000),
    "ppo": ({"n_steps": 64}, 3000),
    "a3c": ({"workers": "2"}, 3000),  # asynchronous: not reproducible, but it learns whatever the interleaving
    "qprop": ({"n_steps": 25, "q_warmup": 100, "q_updates_per_step": 0.25}, 3000),
}


@pytest.mark.parametrize("setting", list(LEARN))
def test_learns_the_optimal_policy_of_a_chain(tmp_path, setting):
    overrides, steps = LEARN[setting]
    algorithm = next(a for a in ("reinforce", "ac-batch", "ac-online", "a2c", "ppo", "a3c", "qprop")
                     if setting.startswith(a))
    loop.train(algorithm, CHAIN, steps, seed=0, overrides={**overrides, "log_every": steps}, out=tmp_path,
               eval_episodes=2, max_episode_steps=20)
    env = FiniteEnv(CHAIN)
    pi = loop.load_agent(tmp_path).policy_table(env.obs_table)
    mdp = env.mdp
    optimal = policy_iteration(mdp)
    live = ~mdp.terminal
    assert np.array_equal(pi.argmax(axis=1)[live], optimal.actions[live])  # the greedy policy is optimal
    J, J_star = mdp.initial @ evaluate_policy(mdp, pi / pi.sum(1, keepdims=True)), mdp.initial @ optimal.V
    assert J_star == pytest.approx(0.81)
    assert J >= J_star - 0.03


def test_action_masks_are_respected_and_the_masked_optimum_is_learned(tmp_path):
    """maximization-bias allows only left/right in A: right (return 0) beats left (mean −0.1)."""
    loop.train("ppo", "maximization-bias", 3000, seed=0, overrides={"n_steps": 32, "log_every": 3000}, out=tmp_path,
               eval_episodes=2)
    env = FiniteEnv("maximization-bias")
    agent = loop.load_agent(tmp_path)
    mask = env.mdp.allowed[[0, 0, 0]]
    actions = np.concatenate([agent.act(env.obs_table[[0, 0, 0]], mask=mask)[0] for _ in range(50)])
    assert set(actions.tolist()) <= {0, 1}  # never a forbidden action
    pi = agent.policy_table(env.obs_table)
    assert pi[0, 1] > pi[0, 0]
