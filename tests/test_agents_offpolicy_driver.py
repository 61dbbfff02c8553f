"""The shared off-policy driver: the three processes run at exactly the configured rates."""

import dataclasses

import numpy as np
import pytest
import torch

from triad.agents import config as cfg
from triad.agents import loop, nets
from triad.agents.offpolicy import OffPolicyAgent
from triad.agents.replay import ReplayBuffer
from triad.envs import FiniteEnv
from triad.errors import ValidationError


class Recorder(OffPolicyAgent):
    """A driver subclass whose regression step records its batch and adds 1 to its one weight."""

    def __init__(self, config, spaces, seed=0):
        super().__init__(config, spaces, seed, "recorder")
        self.nets = {"q": nets.mlp([1, 1], self.generator)}
        self.target = self.add_target("q")
        self.calls = []

    def weight(self, module=None):
        return float((module or self.nets["q"])[0].weight.item())

    def select(self, obs, explore, mask):
        return np.ones(obs.shape[0], np.int64), {}

    def regress(self, batch):
        self.calls.append({"env_steps": self.env_steps, "gradient_steps": self.gradient_steps,
                           "batch": batch, "target": self.weight(self.target)})
        with torch.no_grad():
            self.nets["q"][0].weight += 1.0
        return {"x": torch.tensor(float(len(self.calls)))}


def _drive(agent, env, vector_steps, seed=0):
    stepper = loop.VectorStepper(env, seed=seed)
    steps, logs = [], []
    for _ in range(vector_steps):
        action, extras = loop.act(agent, stepper)
        step = stepper.step(action, extras)
        agent.observe(step)
        steps.append(step)
        logs.append(agent.update())
    return steps, logs


def _recorder(envs=2, **fields):
    config = cfg.OffPolicyConfig(envs=envs, **fields)
    env = FiniteEnv("chain:n=4", envs, max_episode_steps=5)
    return Recorder(config, loop.env_spaces(env)), env


@pytest.mark.parametrize(("train_every", "grad_steps", "learning_starts", "target_period"),
                         [(1, 1, 0, 1), (3, 2, 10, 3), (4, 1, 7, 5), (2, 3, 0, 0)])
def test_iterations_gradient_steps_and_hard_target_copies_follow_the_rates(train_every, grad_steps,
                                                                           learning_starts, target_period):
    agent, env = _recorder(train_every=train_every, grad_steps=grad_steps, learning_starts=learning_starts,
                           target_period=target_period, tau=1.0, batch_size=4)
    _, logs = _drive(agent, env, 40)
    # The plain count: vector step k (env steps 2k) is an iteration if k % train_every == 0 and 2k > learning_starts.
    expected, weight, target = [], 0.0, 0.0
    for k in range(1, 41):
        if k % train_every == 0 and 2 * k > learning_starts:
            for _ in range(grad_steps):
                expected.append((2 * k, len(expected), target if target_period else weight))
                weight += 1.0
                if target_period and len(expected) % target_period == 0:
                    target = weight
    init = agent.weight() - len(expected)  # the initial weight (every step added 1)
    got = [(c["env_steps"], c["gradient_steps"], c["target"] - init) for c in agent.calls]
    assert got == expected
    assert agent.gradient_steps == len(expected) and agent.iterations == sum(log is not None for log in logs)
    assert (agent.target is agent.nets["q"]) == (target_period == 0)


def test_polyak_targets_move_by_tau_every_period():
    agent, env = _recorder(train_every=1, grad_steps=1, learning_starts=0, target_period=2, tau=0.3, batch_size=2)
    w0 = agent.weight()
    _drive(agent, env, 9)
    online, target = w0, w0
    for k in range(1, 10):  # φ' ← (1 − τ)φ' + τφ after gradient steps 2, 4, 6, 8
        online += 1.0
        if k % 2 == 0:
            target = 0.7 * target + 0.3 * online
    assert agent.weight() == pytest.approx(online) and agent.weight(agent.target) == pytest.approx(target, abs=1e-6)


def test_polyak_update_is_a_lerp_of_every_tensor():
    target = [torch.zeros(3), torch.ones(2, 2)]
    online = [torch.arange(3.0), torch.full((2, 2), 5.0)]
    nets.polyak_update(target, online, 0.25)
    assert torch.allclose(target[0], torch.tensor([0.0, 0.25, 0.5])) and torch.allclose(target[1], torch.full((2, 2), 2.0))
    nets.polyak_update(target, online, 1.0)
    assert all(torch.equal(t, o) for t, o in zip(target, online))


def test_polyak_over_flat_runs_moves_every_pair_and_nothing_else():
    online = [torch.arange(6.0).reshape(2, 3), torch.full((4,), 8.0)]
    flat = nets.flat_parameters([torch.nn.Parameter(t.clone()) for t in online])
    pieces = [flat[:6].view(2, 3), flat[6:]]
    target = [torch.nn.Parameter(torch.zeros(2, 3)), torch.nn.Parameter(torch.ones(4))]
    nets.flat_parameters(target, grad=False)
    outside = torch.full((3,), 7.0)  # not adjacent to the others: a run of its own
    runs, counts = nets.flat_spans([*target, outside])
    assert counts == [2, 1] and runs[0].numel() == 10
    t_runs, o_runs = nets.paired_spans(target, pieces)
    assert len(t_runs) == len(o_runs) == 1
    nets.polyak_update(t_runs, o_runs, 0.5)
    assert torch.allclose(target[0], torch.arange(6.0).reshape(2, 3) / 2) and torch.allclose(target[1], torch.full((4,), 4.5))
    assert torch.equal(flat.detach(), torch.cat([t.reshape(-1) for t in online]))  # the online side is only read
    apart = [t.clone() for t in online]  # runs that do not line up (one run vs two): tensor by tensor
    assert nets.paired_spans(target, apart) == (target, apart)


def test_adam_step_is_the_fused_adam_step_bit_for_bit():
    from triad.agents.offpolicy import adam_step

    g = torch.Generator().manual_seed(3)
    start = [torch.randn(4, 3, generator=g), torch.randn(5, generator=g)]
    grads = [[torch.randn(4, 3, generator=g), torch.randn(5, generator=g)] for _ in range(4)]
    result = []
    for fast in (False, True):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        flat = nets.flat_parameters(params)
        opt = torch.optim.Adam([flat], lr=0.01, fused=True)
        for step in grads:
            for p, gr in zip(params, step):
                p.grad.copy_(gr)
            adam_step(opt) if fast else opt.step()
        result.append((flat.detach().clone(), {k: v.clone() for k, v in opt.state[flat].items()}))
    (a, sa), (b, sb) = result
    assert torch.equal(a, b) and all(torch.equal(sa[k], sb[k]) for k in sa) and float(sb["step"]) == 4.0
    assert not torch.equal(a, torch.cat([t.reshape(-1) for t in start]))


def test_collect_once_stores_the_first_learning_starts_steps_only():
    agent, env = _recorder(train_every=1, grad_steps=2, learning_starts=10, collect_once=True, capacity=20,
                           batch_size=3)
    steps, _ = _drive(agent, env, 30)
    data_set = sum(int(s.valid.sum()) for s in steps[:5])  # env steps 0–9: the first 5 vector steps of 2 envs
    assert agent.replay.added == data_set == len(agent.replay)
    assert agent.gradient_steps == 2 * 25  # regression goes on: vector steps 6 … 30
    stored = {tuple(k) for k in agent.replay.data["obs"][:data_set].round(6).tolist()}
    sampled = {tuple(k) for c in agent.calls for k in c["batch"].data["obs"].round(6).tolist()}
    assert sampled <= stored


def test_capacity_one_batch_one_is_online():
    agent, env = _recorder(train_every=1, grad_steps=1, learning_starts=0, capacity=1, batch_size=1, envs=1)
    steps, _ = _drive(agent, env, 25)
    last_valid = None
    for step, call in zip(steps, agent.calls):  # every batch is the newest stored transition
        if step.valid[0]:
            last_valid = step
        assert np.array_equal(call["batch"].data["obs"][0], last_valid.obs[0])
        assert np.array_equal(call["batch"].data["next_obs"][0], last_valid.next_obs[0])
        assert call["batch"].discount.item() == pytest.approx(0.99 * (1 - last_valid.terminated[0]))


def test_random_starts_then_the_actor():
    agent, env = _recorder(learning_starts=20, train_every=1)
    steps, _ = _drive(agent, env, 20)
    early = np.concatenate([s.action for s in steps[:10]])
    late = np.concatenate([s.action for s in steps[10:]])
    assert set(early.tolist()) == {0, 1} and set(late.tolist()) == {1}  # uniform, then select's constant 1
    mask = np.array([[True, False], [False, True]])
    fresh, _ = _recorder(learning_starts=100)
    for _ in range(20):
        assert fresh.act(np.zeros((2, 4), np.float32), mask=mask)[0].tolist() == [0, 1]


def test_rates_and_explain_of_named_points():
    dqn = cfg.OffPolicyConfig(train_every=4, grad_steps=1, target_period=10_000, tau=1.0, batch_size=32,
                              learning_starts=1000)
    r = dqn.rates()
    assert (r["env_steps_per_iteration"], r["grad_steps_per_env_step"], r["replay_ratio"]) == (4, 0.25, 8.0)
    assert (r["target_update"], r["target_period_env_steps"], r["online"]) == ("copy", 40_000.0, False)
    text = dqn.explain("dqn")
    assert "hard copy" in text and "every 40,000 env steps" in text and "1 env(s) × 4 step(s) = 4 env steps" in text
    online = cfg.OffPolicyConfig(capacity=1, batch_size=1, target_period=0, learning_starts=0)
    assert online.rates()["online"] and online.rates()["target_update"] == "none"
    assert "evicted immediately" in online.explain() and "stop-gradient" in online.explain()
    fqi = cfg.OffPolicyConfig(collect_once=True, learning_starts=5000, grad_steps=500, target_period=500, tau=1.0)
    assert "collected ONCE: the first 5,000 env steps" in fqi.explain()
    sac = cfg.SACConfig()
    assert sac.rates()["target_update"] == "polyak" and "Polyak φ' ← 0.995·φ' + 0.005·φ" in sac.explain()
    assert cfg.TD3Config().rates()["target_period"] == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"tau": 0.0}, r"tau = 0 must be in \(0, 1\]"),
    ({"target_period": -1}, "target_period = -1 must be at least 0"),
    ({"collect_once": True, "learning_starts": 0}, "collect_once needs learning_starts ≥ 1"),
    ({"collect_once": True, "learning_starts": 100, "capacity": 50}, "capacity = 50 must hold 100"),
    ({"batch_size": 0}, "batch_size = 0 must be at least 1"),
])
def test_rate_errors_are_one_line(fields, message):
    with pytest.raises(ValidationError, match=message):
        dataclasses.replace(cfg.OffPolicyConfig(), **fields).validate()


def test_state_dict_round_trip_restores_counters_generators_and_targets():
    agent, env = _recorder(train_every=1, grad_steps=1, learning_starts=4, target_period=3, tau=0.5)
    _drive(agent, env, 12)
    state = agent.state_dict()
    assert set(state["model"]) == {"q.0.weight", "q.0.bias", "target.q.0.weight", "target.q.0.bias"}
    other, _ = _recorder(train_every=1, grad_steps=1, learning_starts=4, target_period=3, tau=0.5)
    other.load_state_dict(state)
    assert (other.env_steps, other.gradient_steps, other.vector_steps) == (agent.env_steps, agent.gradient_steps, 12)
    assert other.weight(other.target) == agent.weight(agent.target)
    assert np.array_equal(other.replay.sample(np.random.default_rng(0), 5)["obs"],
                          agent.replay.sample(np.random.default_rng(0), 5)["obs"])
    assert other.rng.integers(0, 1 << 30) == agent.rng.integers(0, 1 << 30)


def test_box_actions_are_stored_normalised_and_acted_in_the_bounds():
    import gymnasium

    spaces = loop.env_spaces(gymnasium.make_vec("Pendulum-v1", num_envs=3, vectorization_mode="sync"))
    agent = Recorder.__new__(Recorder)
    OffPolicyAgent.__init__(agent, cfg.OffPolicyConfig(envs=3, learning_starts=50), spaces, 0, "recorder")
    env_action, extras = agent.act(np.zeros((3, 3), np.float32))
    assert env_action.shape == (3, 1) and np.all(np.abs(env_action) <= 2.0)
    assert np.allclose(env_action, 2.0 * extras["raw"]) and np.all(np.abs(extras["raw"]) <= 1.0)
    assert agent.replay.spec["action"] == ((1,), np.dtype(np.float32))


def test_replay_seam_truncates_each_streams_newest_step():
    buf = ReplayBuffer(10, (1,), np.float32, (), np.int64)
    for t in range(3):
        buf.add({"obs": np.full((2, 1), t, np.float32), "action": np.zeros(2, np.int64), "reward": np.zeros(2),
                 "terminated": np.array([False, t == 2]), "truncated": np.zeros(2, bool),
                 "next_obs": np.zeros((2, 1), np.float32)})
    buf.seam()
    # Rows in insertion order: (t0,b0) (t0,b1) (t1,b0) (t1,b1) (t2,b0) (t2,b1); stream 1's last step terminated.
    assert buf.data["truncated"][:6].tolist() == [False, False, False, False, True, False]
    assert buf.data["terminated"][:6].tolist() == [False, False, False, False, False, True]
