"""The value-based suite: named configurations of one loop, their rates, targets, learning on tabular twins."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from triad import agents, zoo
from triad.agents import config as cfg
from triad.agents import loop, value
from triad.agents.onpolicy import EnvSpaces
from triad.agents.recurrent import R2D2Agent
from triad.envs import FiniteEnv
from triad.errors import ValidationError
from triad.projections import ProjectedBellman, projected_value_iteration, weighted_least_squares
from triad.solvers import policy_iteration

VALUE = ("online-q", "dqn", "double-dqn", "dueling-dqn", "fqi", "nstep-q", "rainbow-lite", "r2d2-lite")

FAST = {  # small settings: every algorithm regresses within a few hundred steps
    "online-q": {"hidden": "16"},
    "dqn": {"hidden": "16", "learning_starts": "100", "target_period": "50"},
    "double-dqn": {"hidden": "16", "learning_starts": "100", "target_period": "50"},
    "dueling-dqn": {"hidden": "16", "learning_starts": "100", "target_period": "50"},
    "fqi": {"hidden": "16", "learning_starts": "200", "capacity": "200", "train_every": "50", "grad_steps": "20",
            "target_period": "20", "batch_size": "32"},
    "nstep-q": {"hidden": "16", "learning_starts": "100", "target_period": "50"},
    "rainbow-lite": {"hidden": "16", "learning_starts": "100", "target_period": "50"},
    "r2d2-lite": {"hidden": "8", "memory": "8", "learning_starts": "100", "burn_in": "2", "sequence": "4",
                  "batch_size": "8", "target_period": "50"},
}


def _rows(out):
    return loop.read_log(out / "log.csv")


def _agent(algorithm, env, **fields):
    algo = agents.get(algorithm)
    config = algo.resolve("", {k: str(v) for k, v in fields.items()})
    return algo.build(config, loop.env_spaces(env), 0)


def _drive(agent, env, vector_steps, seed=0):
    stepper = loop.VectorStepper(env, seed=seed)
    for _ in range(vector_steps):
        action, extras = loop.act(agent, stepper)
        agent.observe(stepper.step(action, extras))
        agent.update()
    return stepper


# ------------------------------------------------------------------------------------- smoke runs
@pytest.mark.parametrize("algorithm", VALUE)
@pytest.mark.parametrize("env", ["CartPole-v1", "chain:n=4"])
def test_every_value_algorithm_trains_and_writes_its_files(tmp_path, algorithm, env):
    finite = env.startswith("chain")
    summary = loop.train(algorithm, env, 400, seed=1, overrides={**FAST[algorithm], "log_every": "200"}, out=tmp_path,
                         eval_episodes=2, max_episode_steps=30 if finite else None)
    assert summary["steps"] >= 400 and json.loads((tmp_path / "summary.json").read_text()) == summary
    quantities = set(_rows(tmp_path)["quantity"])
    assert {"episode_return", "loss", "q_mean", "q_batch_max", "eval_return"} <= quantities
    if finite:  # the value-based truth probes
        assert {"J", "J_star", "q_error", "overestimation", "q_abs_max", "return_bound", "critic_error"} <= quantities


@pytest.mark.parametrize("algorithm", ["dqn", "rainbow-lite", "r2d2-lite"])
def test_same_seed_same_parameters(tmp_path, algorithm):
    def params(out, seed):
        loop.train(algorithm, "CartPole-v1", 300, seed=seed, overrides=FAST[algorithm], out=out, eval_episodes=1)
        return torch.load(out / "checkpoint.pt", weights_only=False)["agent"]["model"]

    a, b, c = params(tmp_path / "a", 3), params(tmp_path / "b", 3), params(tmp_path / "c", 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("algorithm", ["nstep-q", "r2d2-lite"])
def test_resume_after_a_kill_equals_the_uninterrupted_run(tmp_path, algorithm):
    from test_agents_loop import Killed, _killer

    kw = {"overrides": {**FAST[algorithm], "log_every": "100"}, "eval_episodes": 2, "seed": 5, "max_episode_steps": 30}
    whole = loop.train(algorithm, "chain:n=4", 900, out=tmp_path / "whole", **kw)
    with pytest.raises(Killed):
        loop.train(algorithm, "chain:n=4", 900, out=tmp_path / "killed", checkpoint_every=300, progress=_killer(700),
                   **kw)
    resumed = loop.resume(tmp_path / "killed")
    pa = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["agent"]["model"]
    pb = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)["agent"]["model"]
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert resumed["eval_return"] == whole["eval_return"] and resumed["final_return"] == whole["final_return"]


# ------------------------------------------------------------------------------- process rates
DOCUMENTED = {  # the table in triad.agents.value: capacity, batch, train_every, grad_steps, target_period, starts
    "online-q": (1, 1, 1, 1, 0, 0),
    "dqn": (1_000_000, 32, 4, 1, 2500, 100),
    "double-dqn": (1_000_000, 32, 4, 1, 2500, 100),
    "dueling-dqn": (1_000_000, 32, 4, 1, 2500, 100),
    "fqi": (10_000, 256, 500, 500, 500, 10_000),
    "nstep-q": (1_000_000, 32, 4, 1, 2500, 100),
    "rainbow-lite": (1_000_000, 32, 4, 1, 2500, 100),
    "r2d2-lite": (100_000, 32, 4, 1, 500, 2000),
}


@pytest.mark.parametrize("algorithm", VALUE)
def test_named_configurations_have_their_documented_rates(algorithm):
    capacity, batch, train_every, grad_steps, target_period, starts = DOCUMENTED[algorithm]
    config = agents.get(algorithm).config()
    envs = config.envs
    rates = config.rates()
    assert (rates["capacity"], rates["batch_size"], rates["learning_starts"]) == (capacity, batch, starts)
    assert rates["env_steps_per_iteration"] == train_every * envs
    assert rates["grad_steps_per_iteration"] == grad_steps
    assert rates["grad_steps_per_env_step"] == grad_steps / (train_every * envs)
    assert rates["target_update"] == ("none" if target_period == 0 else "copy")
    if target_period:
        assert rates["target_period_env_steps"] == target_period * train_every * envs / grad_steps
    assert rates["online"] == (algorithm == "online-q")
    assert rates["collect_once"] == (algorithm == "fqi")
    words = config.explain(algorithm)
    assert f"{train_every * envs:,} env steps per iteration" in words and f"{grad_steps:,} gradient step(s)" in words


def test_online_q_runs_every_process_at_one_rate():
    """Replay of one, a gradient step per env step on exactly the newest transition, no target network."""
    env = FiniteEnv("chain:n=4", 1, max_episode_steps=10)
    agent = _agent("online-q", env, hidden=8)
    assert agent.q_target is agent.q
    stepper = loop.VectorStepper(env, seed=0)
    valid = 0
    for _ in range(50):
        action, extras = loop.act(agent, stepper)
        step = stepper.step(action, extras)
        agent.observe(step)
        before = [p.detach().clone() for p in agent.q.parameters()]
        agent.update()
        changed = any(not torch.equal(p, q) for p, q in zip(agent.q.parameters(), before))
        assert changed == bool(step.valid[0])  # one step per transition; the reset step after an end is no step
        valid += int(step.valid[0])
        if step.valid[0]:
            assert len(agent.replay) == 1 and np.array_equal(agent.replay.data["obs"][0], step.obs[0])
    assert agent.gradient_steps == agent.vector_steps == valid > 40


def test_dqn_clock_counts_gradient_steps_and_target_copies():
    env = FiniteEnv("chain:n=4", 2, max_episode_steps=10)
    agent = _agent("dqn", env, hidden=8, envs=2, learning_starts=20, train_every=3, grad_steps=2, target_period=5,
                   capacity=50)
    copies = []
    original = agent.update_targets

    def counted():
        copies.append(agent.gradient_steps)
        original()
        assert all(torch.equal(p, q) for p, q in zip(agent.q.parameters(), agent.q_target.parameters()))

    agent.update_targets = counted
    _drive(agent, env, 60)
    # iterations at vector steps 12, 15, …, 60 (every 3rd, once more than 20 env steps are stored): 17 × 2 steps
    assert agent.gradient_steps == 34 and copies == [5, 10, 15, 20, 25, 30]
    assert len(agent.replay) == 50  # FIFO at capacity



def test_zoo_cartpole_dqn_runs_on_sb3s_clock(tmp_path):
    """With the CartPole-v1 preset every step of the budget is a transition (SB3's DummyVecEnv resets inside the
    ending step; triad's preset asks for a same-step env) and the iterations fall where SB3's ``train`` calls do:
    after each rollout of train_freq = 64 env steps once more than learning_starts = 100 are collected, the
    last rollout completed past the budget (SB3's learn(700) takes 11 rollouts: 704 steps)."""
    assert agents.get("dqn").resolve("CartPole-v1").autoreset == "same-step"
    fields = {"hidden": "8", "batch_size": "8", "learning_starts": "100", "train_every": "64", "grad_steps": "2",
              "target_period": "2", "log_every": "1000"}
    summary = loop.train("dqn", "CartPole-v1", 700, seed=2, overrides=fields, out=tmp_path, eval_episodes=1)
    rows = _rows(tmp_path)
    lengths = rows[rows["quantity"] == "episode_length"]["value"]
    agent = loop.load_agent(tmp_path)
    # rollouts end at 64, 128, …, 704 env steps; the first past 100 is 128: 10 iterations of 2 steps
    assert summary["steps"] == 704 and agent.env_steps == 704 and len(agent.replay) == 704
    assert agent.gradient_steps == 2 * len(range(128, 705, 64)) == 20
    assert len(lengths) > 10  # episodes ended: each would have cost a next-step env one reset step


def test_exploration_follows_sb3s_linear_schedule():
    """ε at env step t of T: SB3's get_linear_fn(1, ε_final, fraction) at progress_remaining 1 − t/T, i.e.
    1 + (t/T)(ε_final − 1)/fraction up to t = fraction·T, ε_final after (zoo CartPole: 0.16, 0.04, T = 50,000)."""
    expected = {0: 1.0, 1000: 1 - 0.96 * 1000 / 8000, 4000: 0.52, 8000: 0.04, 30000: 0.04}
    for t, eps in expected.items():
        assert value.exploration_value(t, 50_000, 1.0, 0.04, 0.16) == pytest.approx(eps, abs=1e-12)


@pytest.mark.parametrize("algorithm", ["dqn", "double-dqn"])
def test_a_phase_drawn_ahead_bootstraps_from_the_target_of_each_step(algorithm):
    """Batches are drawn ahead up to the next target copy within one iteration: at every gradient step the
    batch's precomputed Q̂'(s', ·) is what the target network gives at that step (checked by a fresh forward),
    and no phase outlives a copy or an iteration (the copies land after steps 5, 10, …; 4 steps per iteration)."""
    env = FiniteEnv("chain:n=4", 2, max_episode_steps=10)
    agent = _agent(algorithm, env, hidden=8, envs=2, learning_starts=20, train_every=3, grad_steps=4,
                   target_period=5, capacity=50, batch_size=6)
    seen = []
    regress = agent.regress

    def checked(b):
        assert b.q_t is not None and b.obs.shape[0] == 6
        with torch.no_grad():
            assert torch.allclose(b.q_t, agent.q_target(b.next_obs)[0], atol=1e-6)
        seen.append((agent.gradient_steps, len(agent._phase)))
        return regress(b)

    agent.regress = checked
    _drive(agent, env, 30)
    # left in the phase after each step: 5 − (step mod 5) − 1 capped by the iteration's remaining steps
    expected = [(g, min(4 - g % 4, 5 - g % 5) - 1) for g in range(agent.gradient_steps)]
    assert agent.gradient_steps == 4 * 7 and seen == expected  # iterations at vector steps 12, 15, …, 30



@pytest.mark.parametrize(("algorithm", "fields"), [("dqn", {}), ("double-dqn", {"loss": "l2"}),
                                                   ("dqn", {"prioritized": "true", "max_grad_norm": "0.01"})])
def test_the_gradient_by_hand_is_autograds(algorithm, fields):
    """A one-member MLP takes its gradient step without autograd (ValueAgent.regress_by_hand): after three
    steps on the same batches its parameters and priorities equal those of the autograd path."""
    env = FiniteEnv("chain:n=4", 2, max_episode_steps=10)
    twins = [_agent(algorithm, env, hidden="16,16", envs=2, learning_starts=1000, batch_size=8, **fields)
             for _ in range(2)]
    twins[1].by_hand = False
    assert twins[0].by_hand
    for agent in twins:
        _drive(agent, env, 40)
    for _ in range(3):
        batch = twins[0].sample()
        logs = [agent.regress(dataclasses.replace(batch)) for agent in twins]
        assert logs[0]["loss"].item() == pytest.approx(logs[1]["loss"].item(), rel=1e-6)
    for p, q in zip(twins[0].q.parameters(), twins[1].q.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    if fields.get("prioritized"):
        np.testing.assert_allclose(twins[0].replay.tree.tree, twins[1].replay.tree.tree, rtol=1e-6)


# ----------------------------------------------------------------------------- targets by hand
def _linear_agent(algorithm, env, W, **fields):
    agent = _agent(algorithm, env, q_net="linear", **fields)
    with torch.no_grad():
        agent.q.weight[0] = torch.as_tensor(W, dtype=torch.float32)
        agent.q_target.weight[0] = torch.as_tensor(W, dtype=torch.float32)
    return agent


def _sequence(rows):
    """A replay-shaped sequence (T, 1) of chain:n=4 one-hot steps (s, a, r, s', terminated, truncated, mu)."""
    eye = np.eye(4, dtype=np.float32)
    col = {k: np.array([[row[i]] for row in rows]) for i, k in enumerate(
        ("s", "action", "reward", "n", "terminated", "truncated", "mu"))}
    return {"obs": eye[col["s"]], "action": col["action"].astype(np.int64), "reward": col["reward"].astype(float),
            "next_obs": eye[col["n"]], "terminated": col["terminated"].astype(bool),
            "truncated": col["truncated"].astype(bool), "mu": col["mu"].astype(np.float32),
            "key": np.arange(len(rows))[:, None]}


W = np.array([[0.1, 0.5], [0.2, 0.7], [0.3, 0.9], [0.0, 0.0]])  # Q̂(s, a) = W[s, a]; greedy: right everywhere
GAMMA = 0.9


@pytest.mark.parametrize(("rows", "expected"), [
    # s0 →right→ s1 →left→ s0 →right→ s1: no end. ignore: r0 + γr1 + γ²r2 + γ³ max Q̂(s1) = 0 + 0 + 0 + γ³·0.7
    ([(0, 1, 0.0, 1, 0, 0, 0.5), (1, 0, 0.0, 0, 0, 0, 0.5), (0, 1, 0.0, 1, 0, 0, 0.5)], {"ignore": GAMMA**3 * 0.7}),
    # the second step terminates: the return stops there (nothing after is read), r0 + γ·(max Q̂(s2) + c·(r1 − Q̂(s2,
    # right))) with r1 = 1, Q̂(s2, right) = max Q̂(s2) = 0.9 and c = 1 (ignore, cut, Retrace), π/μ = 2 (IS)
    ([(1, 1, 0.0, 2, 0, 0, 0.5), (2, 1, 1.0, 3, 1, 0, 0.5), (0, 1, 5.0, 1, 0, 0, 0.5)],
     {"ignore": GAMMA * 1.0, "cut": GAMMA * 1.0, "retrace": GAMMA * 1.0,
      "importance-sampling": GAMMA * (0.9 + 2 * (1.0 - 0.9))}),
    # the first step is truncated: it bootstraps from the true s' = s2, r0 + γ max Q̂(s2) = 0.9·0.9
    ([(1, 1, 0.0, 2, 0, 1, 0.5), (0, 0, 3.0, 0, 0, 0, 0.5), (0, 1, 3.0, 1, 0, 0, 0.5)],
     {"ignore": GAMMA * 0.9, "retrace": GAMMA * 0.9}),
    # a non-greedy next action (left in s1, μ = 0.5): cut and tree backup stop and bootstrap from max Q̂(s1);
    # importance sampling continues with c = π/μ = 0 as well; Retrace min(1, 0/0.5) = 0
    ([(0, 1, 0.0, 1, 0, 0, 0.5), (1, 0, 2.0, 0, 0, 0, 0.5), (0, 1, 0.0, 1, 0, 0, 0.5)],
     {"cut": GAMMA * 0.7, "tree-backup": GAMMA * 0.7, "retrace": GAMMA * 0.7, "importance-sampling": GAMMA * 0.7,
      "ignore": GAMMA * 2.0 + GAMMA**3 * 0.7}),
    # a greedy next action with μ = 0.25: IS continues with c = 1/0.25 = 4 (the q term cancels in expectation):
    # G = r0 + γ(max Q̂(s1) + 4·(G1 − Q̂(s1, right))), G1 = r1 + γ max Q̂(s2) = 1 + 0.81
    ([(0, 1, 0.0, 1, 0, 0, 0.5), (1, 1, 1.0, 2, 0, 0, 0.25)],
     {"importance-sampling": GAMMA * (0.7 + 4 * (1 + GAMMA * 0.9 - 0.7)),
      "retrace": GAMMA * (0.7 + 1 * (1 + GAMMA * 0.9 - 0.7))}),
])
def test_nstep_targets_at_episode_ends_by_hand(rows, expected):
    env = FiniteEnv("chain:n=4", 1)
    for correction, G in expected.items():
        agent = _linear_agent("nstep-q", env, W, n_step=len(rows), correction=correction, gamma=GAMMA, double="false")
        data = _sequence(rows)
        delta, q = agent.td(agent.batch(data, steps=len(rows)))
        assert float((delta[0] + q[0, rows[0][1]]).detach()) == pytest.approx(G, abs=1e-6), correction


def test_one_step_targets_terminated_cut_truncated_bootstrap():
    env = FiniteEnv("chain:n=4", 1)
    agent = _linear_agent("dqn", env, W, gamma=GAMMA)
    data = {k: v[:, 0] for k, v in _sequence([(2, 1, 1.0, 3, 1, 0, 0.5), (1, 1, 0.0, 2, 0, 1, 0.5),
                                              (1, 0, 0.5, 0, 0, 0, 0.5)]).items()}
    delta, q = agent.td(agent.batch(data))
    y = delta + q[torch.arange(3), torch.as_tensor(data["action"])]
    assert np.allclose(y.detach().numpy(), [1.0, GAMMA * 0.9, 0.5 + GAMMA * 0.5])


def test_double_dqn_selects_with_the_online_network_and_evaluates_with_the_target():
    env = FiniteEnv("chain:n=4", 1)
    agent = _linear_agent("double-dqn", env, W, gamma=GAMMA)
    with torch.no_grad():
        agent.q.weight[0, 1] = torch.tensor([0.8, 0.1])  # online: left in s1; target: right in s1 (0.7)
    data = {k: v[:, 0] for k, v in _sequence([(0, 1, 0.0, 1, 0, 0, 0.5)]).items()}
    delta, q = agent.td(agent.batch(data))
    assert float((delta[0] + q[0, 1]).detach()) == pytest.approx(GAMMA * 0.2)  # Q̂'(s1, left) = W[1, 0]


def test_online_q_is_a_semi_gradient_not_a_residual_gradient():
    """One SGD step of online-q on ½δ² moves θ by lr·δ·∇Q̂(s, a) only (∇Q̂(s', ·) does not enter)."""
    env = FiniteEnv("chain:n=4", 1, obs="onehot")
    agent = _agent("online-q", env, hidden=6, optimizer="sgd", loss="l2", lr=0.1, max_grad_norm=0, gamma=GAMMA)
    data = {k: v[:, 0] for k, v in _sequence([(1, 0, 0.3, 2, 0, 0, 0.5)]).items()}
    b = agent.batch(data)
    params = list(agent.q.parameters())
    q_sa = agent.q(b.obs)[0][0, 0]
    grad = torch.autograd.grad(q_sa, params)
    with torch.no_grad():
        delta = 0.3 + GAMMA * agent.q(b.next_obs)[0].max() - q_sa
    before = [p.detach().clone() for p in params]
    agent.regress(b)
    for p, p0, g in zip(params, before, grad):
        assert torch.allclose(p.detach() - p0, 0.1 * delta * g, atol=1e-6)


def test_tabular_online_q_is_watkins_q_learning():
    """The tabular setting: Q(s, a) += α·δ on each transition, as a plain loop computes (and maximization.q_learning)."""
    env = FiniteEnv("chain:n=4,slip=0.2", 1, obs="state", max_episode_steps=8)
    agent = _agent("online-q", env, q_net="linear", optimizer="sgd", loss="l2", lr=0.5, max_grad_norm=0,
                   explore_initial=0.3, explore_final=0.3, gamma=0.9)
    Q = np.zeros((4, 2))
    stepper = loop.VectorStepper(env, seed=0)
    for _ in range(300):
        action, extras = loop.act(agent, stepper)
        step = stepper.step(action, extras)
        agent.observe(step)
        agent.update()
        if step.valid[0]:
            s, a, s2 = int(step.obs[0]), int(step.action[0]), int(step.next_obs[0])
            target = step.reward[0] + (0.0 if step.terminated[0] else 0.9 * Q[s2].max())
            Q[s, a] += 0.5 * (target - Q[s, a])
    assert np.allclose(agent.q_table(env.obs_table), Q, atol=1e-5)


def test_exploration_stores_the_behaviour_probability():
    env = FiniteEnv("chain:n=4", 3)
    for explore, value_ in (("epsilon", 0.3), ("boltzmann", 0.5)):
        agent = _agent("nstep-q", env, explore=explore, explore_initial=value_, explore_final=value_,
                       learning_starts=0)
        obs = env.obs_table[[0, 1, 2]]
        actions, extras = agent.act(obs)
        with torch.no_grad():
            q = agent.q_values(agent.encode(obs)).double().numpy()
        probs = value.behaviour_probabilities(q, explore, value_)
        assert np.allclose(extras["mu"], probs[np.arange(3), actions])


def test_one_env_epsilon_greedy_draw_is_the_array_paths_bit_for_bit():
    """ValueAgent.choose_one (one env, plain floats) takes the same action with the same stored mu as
    behaviour_probabilities + sampling.sample_actions on the same generator state, ties included."""
    from triad.sampling import sample_actions

    agent = _agent("dqn", FiniteEnv("chain:n=4", 1), learning_starts=0)
    rows = [[0.0, 0.0], [0.25, -1.0], [-3.0, 2.5], [1.0, 1.0, 0.0], [0.1, 0.7, 0.7, -0.2]]
    draws = 0
    for seed in range(40):
        for q in rows:
            for eps in (0.0, 0.04, 0.3, 0.9, 1.0):
                probs = value.behaviour_probabilities(np.array([q]), "epsilon", eps)
                want = sample_actions(np.random.default_rng(seed), probs, np.arange(1))
                agent.rng = np.random.default_rng(seed)
                got, extras = agent.choose_one(q, eps)
                assert got.tolist() == want.tolist() and got.dtype == want.dtype
                assert extras["mu"].tobytes() == probs[np.arange(1), want].astype(np.float32).tobytes()
                draws += int(want[0] != np.argmax(q))
    assert draws > 100  # exploring draws happened (not only greedy ones)


def test_prioritised_replay_updates_the_sampled_priorities():
    env = FiniteEnv("chain:n=4", 1, max_episode_steps=10)
    agent = _agent("rainbow-lite", env, hidden=8, learning_starts=50, n_step=1, priority_alpha=0.5)
    _drive(agent, env, 60)
    b = agent.sample()
    assert b.weight is not None and float(b.weight.max()) == pytest.approx(1.0)
    delta, _ = agent.td(b)
    agent.regress(b)
    slots = b.data["key"] % agent.replay.capacity
    expected = (np.abs(delta.detach().double().numpy()) + agent.config.priority_eps) ** 0.5
    last = {int(s): e for s, e in zip(slots, expected)}  # of repeated keys the last wins
    assert np.allclose(agent.replay.tree[np.array(list(last))], np.array(list(last.values())), rtol=1e-4)


# ------------------------------------------------------------------------------------------- FQI
def test_agent_fqi_on_the_expected_data_set_is_projected_value_iteration():
    """The fqi agent's own regression (fit=exact, linear Q on features) iterated on every (s, a, s') = Π_D B* iterates."""
    problem = zoo.make("garnet:S=5,A=2,b=3,seed=4,gamma=0.9")
    mdp = problem.mdp
    rng = np.random.default_rng(1)
    Phi = rng.standard_normal((5, 3)).astype(np.float32)
    env = FiniteEnv(problem, 1)
    spaces_ = EnvSpaces(spaces.Box(-np.inf, np.inf, (3,), np.float32), env.single_action_space, 1)
    algo = agents.get("fqi")
    agent = algo.build(algo.resolve("", {"q_net": "linear", "fit": "exact", "gamma": "0.9", "grad_steps": "1",
                                         "target_period": "1"}), spaces_, 0)
    d = rng.random((5, 2))
    d /= d.sum()
    batch = agent.batch(value.expected_transitions(mdp, Phi, d))
    iterates = []
    for _ in range(8):
        agent.regress(batch)
        agent.update_targets()
        iterates.append(agent.q_table(Phi))
    Phi_sa = np.zeros((10, 6))
    for s in range(5):
        for a in range(2):
            Phi_sa[2 * s + a, 3 * a:3 * a + 3] = Phi[s]
    pvi = projected_value_iteration(ProjectedBellman(mdp, weighted_least_squares(Phi_sa, d.ravel()), None, "q"),
                                    np.zeros(10), 8)
    for k in range(8):
        assert np.allclose(iterates[k].ravel(), pvi.w[k + 1], atol=1e-5)


def test_tabular_fqi_converges_to_q_star(tmp_path):
    """Exact tabular FQI on random-action data of a deterministic chain: every (s, a) is covered, the empirical
    Bellman operator is the true one, so the iterates are Q-value iteration and reach Q* (the exact solver's)."""
    steps = 400 + 12 * 20
    loop.train("fqi", "chain:n=4", steps, seed=0, out=tmp_path, eval_episodes=1, max_episode_steps=20,
               overrides={"q_net": "linear", "fit": "exact", "learning_starts": "400", "capacity": "400",
                          "train_every": "20", "grad_steps": "1", "target_period": "1", "log_every": str(steps)})
    env = FiniteEnv("chain:n=4")
    Q = loop.load_agent(tmp_path).q_table(env.obs_table)
    Q_star = policy_iteration(env.mdp).Q
    live = ~env.mdp.terminal
    assert np.abs(Q - Q_star)[live].max() < 1e-6
    rows = _rows(tmp_path)
    assert rows[rows["quantity"] == "q_error"]["value"].iloc[-1] < 1e-6


# -------------------------------------------------------------------------------- learning tests
LEARN = {  # (algorithm, overrides, env steps) on chain:n=4: the greedy policy must be optimal
    "online-q": ("online-q", {"hidden": "16", "lr": "3e-3"}, 1500),
    "online-q-tabular": ("online-q", {"q_net": "linear", "optimizer": "sgd", "loss": "l2", "lr": "0.5",
                                      "explore_initial": "0.5", "explore_final": "0.1"}, 800),
    "double-q-tabular": ("online-q", {"q_net": "linear", "optimizer": "sgd", "loss": "l2", "lr": "0.5", "twin_q": "true",
                                      "explore_initial": "0.5", "explore_final": "0.1"}, 1200),
    "dqn": ("dqn", {"hidden": "16", "lr": "1e-3", "learning_starts": "200", "target_period": "100"}, 1500),
    "double-dqn": ("double-dqn", {"hidden": "16", "lr": "1e-3", "learning_starts": "200", "target_period": "100"},
                   1500),
    "dueling-dqn": ("dueling-dqn", {"hidden": "16", "lr": "1e-3", "learning_starts": "200", "target_period": "100"},
                    1500),
    "fqi": ("fqi", {"hidden": "16", "learning_starts": "400", "capacity": "400", "train_every": "100",
                    "grad_steps": "100", "target_period": "100", "batch_size": "64"}, 1400),
    "nstep-q": ("nstep-q", {"hidden": "16", "lr": "1e-3", "learning_starts": "200", "target_period": "100"}, 1500),
    "rainbow-lite": ("rainbow-lite", {"hidden": "16", "lr": "1e-3", "learning_starts": "200",
                                      "target_period": "100"}, 1500),
    "r2d2-lite": ("r2d2-lite", {"hidden": "16", "memory": "16", "learning_starts": "200", "burn_in": "2",
                                "sequence": "6", "batch_size": "16", "target_period": "100", "lr": "3e-3"}, 2000),
}


@pytest.mark.parametrize("setting", list(LEARN))
def test_learns_the_optimal_policy_of_a_chain(tmp_path, setting):
    algorithm, overrides, steps = LEARN[setting]
    loop.train(algorithm, "chain:n=4", steps, seed=0, overrides={**overrides, "log_every": str(steps)}, out=tmp_path,
               eval_episodes=2, max_episode_steps=20)
    env = FiniteEnv("chain:n=4")
    agent = loop.load_agent(tmp_path)
    optimal = policy_iteration(env.mdp)
    live = ~env.mdp.terminal
    assert np.array_equal(agent.policy_table(env.obs_table).argmax(1)[live], optimal.actions[live])


def test_masked_actions_are_never_taken_and_never_bootstrapped(tmp_path):
    """maximization-bias allows only left/right in A; the tabular Q never acts or bootstraps elsewhere there."""
    loop.train("online-q", "maximization-bias", 600, seed=0, out=tmp_path, eval_episodes=2,
               overrides={"q_net": "linear", "optimizer": "sgd", "loss": "l2", "lr": "0.1", "log_every": "600"})
    agent = loop.load_agent(tmp_path)
    env = FiniteEnv("maximization-bias", 4)
    mask = env.mdp.allowed[[0, 0, 0, 0]]
    for _ in range(20):
        actions, _ = agent.act(env.obs_table[[0, 0, 0, 0]], mask=mask)
        assert set(actions.tolist()) <= {0, 1}
    Q = agent.q_table(env.obs_table)
    assert np.all(Q[0, 2:] == 0.0)  # never updated: never taken, and A is no next state
    rows = _rows(tmp_path)
    assert np.isfinite(rows[rows["quantity"] == "J"]["value"]).all()


# ------------------------------------------------------------------------------------------ R2D2
def test_r2d2_stores_the_state_before_each_step_and_forgets_at_episode_ends():
    env = FiniteEnv("chain:n=4", 2, max_episode_steps=5)
    algo = agents.get("r2d2-lite")
    agent = algo.build(algo.resolve("", {"envs": "2", "hidden": "8", "memory": "4", "learning_starts": "1000"}),
                       loop.env_spaces(env), 0)
    assert isinstance(agent, R2D2Agent)
    stepper = loop.VectorStepper(env, seed=0)
    state = agent.q.initial_state(2)
    for _ in range(30):
        before = tuple(x.clone() for x in agent.state)
        assert all(torch.equal(a, b) for a, b in zip(before, state))
        action, extras = loop.act(agent, stepper)
        assert np.array_equal(extras["h"], before[0].numpy()) and np.array_equal(extras["c"], before[1].numpy())
        step = stepper.step(action, extras)
        with torch.no_grad():
            _, state = agent.q.step(agent.encode(step.obs), before)
        agent.observe(step)
        ended = step.terminated | step.truncated | ~step.valid
        state = tuple(x * torch.from_numpy(~ended).float()[:, None] for x in state)
    stored = agent.replay.data
    first = np.flatnonzero(agent.replay._seq[:len(agent.replay)] == 0)
    assert np.all(stored["h"][first] == 0.0)  # every stream's first step starts from zero memory


def test_r2d2_sequence_td_equals_stepping_the_networks_by_hand():
    env = FiniteEnv("chain:n=4", 1)
    algo = agents.get("r2d2-lite")
    agent = algo.build(algo.resolve("", {"envs": "1", "hidden": "8", "memory": "4", "burn_in": "1", "sequence": "2",
                                         "n_step": "1", "double": "false", "gamma": "0.9"}), loop.env_spaces(env), 0)
    data = _sequence([(0, 1, 0.0, 1, 0, 0, 0.5), (1, 1, 0.0, 2, 0, 0, 0.5), (2, 1, 1.0, 3, 1, 0, 0.5)])
    g = torch.Generator().manual_seed(3)
    data["h"], data["c"] = (torch.randn(3, 1, 4, generator=g).numpy() for _ in range(2))
    data["next_mask"] = np.ones((3, 1, 2), bool)
    delta, q = agent.td(agent.batch(data, steps=3))
    eye = torch.eye(4)
    with torch.no_grad():
        stored = (torch.as_tensor(data["h"][0]), torch.as_tensor(data["c"][0]))
        _, s1 = agent.q.step(eye[[0]], stored)  # burn-in row 0
        q1, s2 = agent.q.step(eye[[1]], s1)
        q2, _ = agent.q.step(eye[[2]], s2)
        _, t0 = agent.q_target.step(eye[[0]], stored)  # the target's own burn-in
        _, t1 = agent.q_target.step(eye[[1]], t0)
        qt2, _ = agent.q_target.step(eye[[2]], t1)  # Q̂'(s2) from the target's memory after s1 (s3 is terminal)
    assert torch.allclose(q[:, 0], torch.cat([q1, q2]), atol=1e-6)
    expected = torch.stack([0.9 * qt2.max() - q1[0, 1], 1.0 - q2[0, 1]])
    assert torch.allclose(delta[:, 0], expected, atol=1e-6)


# -------------------------------------------------------------------------------------------- CLI
def test_explain_prints_the_rates(triad_cli):
    code, out, _ = triad_cli("train", "dqn", "--explain", "--env", "CartPole-v1")
    assert code == 0 and "256 env steps per iteration" in out and "hard copy φ' ← φ every 128 gradient step(s)" in out
    code, out, _ = triad_cli("train", "online-q", "--explain", "--json")
    rates = json.loads(out)["rates"]
    assert rates["online"] and rates["target_update"] == "none" and rates["grad_steps_per_env_step"] == 1.0
    code, out, _ = triad_cli("train", "fqi", "--explain", "--set", "grad_steps=50", "--set", "target_period=50")
    assert "collected ONCE" in out and "every 50 gradient step(s)" in out
    code, out, err = triad_cli("train", "ppo", "--explain")
    assert code == 2 and "ppo is on-policy" in err and err.count("\n") == 1


def test_cli_correction_and_explore_options(triad_cli, tmp_path):
    code, out, _ = triad_cli("train", "nstep-q", "--env", "chain:n=4", "--steps", "300", "--correction", "tree-backup",
                             "--explore", "boltzmann", "--set", "explore_final=0.1", "--set", "hidden=8",
                             "--set", "learning_starts=100", "--max-episode-steps", "20", "--eval-episodes", "1",
                             "--out", str(tmp_path / "n"), "--json")
    assert code == 0 and json.loads(out)["algorithm"] == "nstep-q"
    stored = json.loads((tmp_path / "n" / "config.json").read_text())["config"]
    assert stored["correction"] == "tree-backup" and stored["explore"] == "boltzmann"
    code, _, err = triad_cli("train", "nstep-q", "--env", "chain:n=4", "--correction", "vtrace",
                             "--out", str(tmp_path / "x"))
    assert code == 2 and err.count("\n") == 1 and "correction = 'vtrace' must be one of" in err


def test_config_errors_are_one_line():
    with pytest.raises(ValidationError, match="fit=exact solves the least squares of a linear Q"):
        agents.get("fqi").resolve("", {"fit": "exact"})
    with pytest.raises(ValidationError, match="explore_final = 0 is a temperature"):
        agents.get("dqn").resolve("", {"explore": "boltzmann", "explore_final": "0"})
    with pytest.raises(ValidationError, match="random_starts must be false"):
        agents.get("r2d2-lite").resolve("", {"random_starts": "true"})
    with pytest.raises(ValidationError, match="dqn cannot handle the action space"):
        loop.train("dqn", "Pendulum-v1", 10)
    assert isinstance(agents.get("dqn").resolve("CartPole-v1"), cfg.DQNConfig)


@pytest.mark.parametrize(("twin", "algorithm"), [(False, "q"), (True, "double")])
def test_tabular_setting_has_the_law_of_maximization_q_learning(twin, algorithm):
    """The bridge to triad.analysis.maximization: tabular online-q (twin_q: double Q-learning) on S&B's
    maximisation-bias MDP takes `left` from A as often, episode by episode, as mx.q_learning's streams."""
    from triad.analysis import maximization as mx

    mdp = zoo.make("maximization-bias").mdp
    episodes, runs = 10, 100
    lefts = np.zeros((runs, episodes))
    for i in range(runs):
        env = FiniteEnv("maximization-bias", 1, obs="state")
        agent = agents.get("online-q").build(agents.get("online-q").resolve("", {
            "q_net": "linear", "optimizer": "sgd", "loss": "l2", "lr": "0.1", "max_grad_norm": "0",
            "explore_initial": "0.1", "explore_final": "0.1", "twin_q": str(twin).lower()}), loop.env_spaces(env), i)
        stepper = loop.VectorStepper(env, seed=1000 + i)
        done = 0
        while done < episodes:
            action, extras = loop.act(agent, stepper)
            step = stepper.step(action, extras)
            if step.valid[0] and step.episode_step[0] == 0:
                lefts[i, done] = step.action[0] == 0
            done += int(step.terminated[0] | step.truncated[0])
            agent.observe(step)
            agent.update()
    reference = mx.q_learning(np.random.default_rng(0), mdp, algorithm, episodes=episodes, streams=4000,
                              epsilon=0.1, alpha=0.1)
    theirs = (reference.first_action[1:] == 0).mean()
    per_run = lefts[:, 1:].mean(axis=1)
    assert abs(per_run.mean() - theirs) < 4 * per_run.std(ddof=1) / np.sqrt(runs) + 0.01
