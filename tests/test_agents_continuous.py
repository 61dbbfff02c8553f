"""Continuous-action Q-learning: the maximisers, NAF's critic, QT-Opt's labeller and the four agents.

Expected values come from independent computations: dense grids over the action box (numpy),
hand expansions of tiny networks, and the TD3/DDPG agent's own target for the learned maximiser.
"""

import copy
import dataclasses
import itertools
import json

import gymnasium
import numpy as np
import pytest
import torch

from triad.agents import config as cfg
from triad.agents import loop
from triad.agents import maximise as mx
from triad.agents.continuous_q import BellmanUpdater, ContinuousQAgent, NAFCritic
from triad.errors import ValidationError

# ---------------------------------------------------------------------------- test functions
# Each "state" s shifts the functions, so one batched call solves B different problems.
HEIGHTS = np.array([1.0, 0.75, 0.6])
"""A clear global bump (1.0) and two lesser ones: their maxima differ by ≥ 0.25."""


def _centres(s, dim):
    """Bump centres ``(B, 3, dim)``, well apart, moved by the state ``s (B, 1)``."""
    base = np.array([[-0.55, 0.6, 0.05], [0.5, -0.6, 0.1]])[:dim].T  # (3, dim)
    return base[None] + 0.15 * np.tanh(s)[:, None, :1]


def bumps_np(s, a, width=0.15):
    """``f(s, a) = Σ_k h_k exp(−‖a − c_k(s)‖²/2w²)`` for ``s (B, 1)``, ``a (B, ..., dim)``: ``(B, ...)``."""
    dim = a.shape[-1]
    c = _centres(s, dim)
    a = a[..., None, :]
    extra = a.ndim - 3
    c = c.reshape(c.shape[0], *([1] * extra), 3, dim)
    return (HEIGHTS * np.exp(-((a - c) ** 2).sum(-1) / (2 * width**2))).sum(-1)


def bumps_q(dim, width=0.15):
    """The same as a ``q_fn`` on ``(N, 1), (N, dim)`` tensors."""
    def q(s, a):
        return torch.as_tensor(bumps_np(s.double().numpy(), a.double().numpy()[:, None], width)[:, 0],
                               dtype=torch.float32)
    return q


def grid_max(f, s, dim, n):
    """``max_a f(s, a)`` and its argmax on an ``n``-point (per axis) grid of ``[−1, 1]^dim``: ``(B,)``, ``(B, dim)``."""
    axis = np.linspace(-1, 1, n)
    pts = np.stack(np.meshgrid(*[axis] * dim, indexing="ij"), -1).reshape(-1, dim)
    best_v, best_a = np.full(len(s), -np.inf), np.zeros((len(s), dim))
    for row, si in enumerate(s):
        v = f(si[None], pts[None])[0]
        k = int(np.argmax(v))
        best_v[row], best_a[row] = v[k], pts[k]
    return best_v, best_a


def rastrigin_np(s, a):
    """A Rastrigin function (A = 10) on ``x = 5.12(a − shift(s))``, negated: one global maximum 0 at ``a = shift``,
    ~100 local maxima in the box, the best of them at −0.99."""
    shift = 0.2 * np.tanh(s)[:, :1] * np.array([1.0, -1.0])  # (B, 2)
    shift = shift.reshape(shift.shape[0], *([1] * (a.ndim - 2)), 2)
    x = 5.12 * (a - shift)
    return -(20.0 + (x * x - 10.0 * np.cos(2 * np.pi * x)).sum(-1))


def as_q(f):
    def q(s, a):
        return torch.as_tensor(f(s.double().numpy(), a.double().numpy()[:, None])[:, 0], dtype=torch.float32)
    return q


STATES = np.linspace(-2, 2, 24)[:, None]


# ------------------------------------------------------------------------------------- CEM
@pytest.mark.parametrize(("dim", "width", "cem"), [
    (1, 0.15, mx.CrossEntropy(iterations=4)),
    (2, 0.2, mx.CrossEntropy(samples=512, elites=8, iterations=4)),
])
def test_cem_finds_the_global_bump_of_a_mixture(dim, width, cem):
    s = torch.tensor(STATES, dtype=torch.float32)
    q = bumps_q(dim, width)
    best = mx.maximise(q, s, cem, torch.Generator().manual_seed(1), dim=dim)
    true_v, true_a = grid_max(lambda si, a: bumps_np(si, a, width), STATES, dim, 4001 if dim == 1 else 401)
    assert best.action.shape == (len(STATES), dim) and best.value.shape == (len(STATES),)
    assert np.all(true_v - best.value.numpy() < 0.01)  # the lesser bumps are ≥ 0.25 below
    assert np.all(np.abs(best.action.numpy() - true_a).max(1) < 0.03)
    assert torch.allclose(q(s, best.action), best.value)  # the value is q_fn at the returned action
    if dim == 1:  # QT-Opt's 2 × 64 comes close in one dimension, not as close
        default = mx.maximise(q, s, mx.CrossEntropy(), torch.Generator().manual_seed(1), dim=dim)
        assert np.all(true_v - default.value.numpy() < 0.05)


def test_cem_finds_the_global_maximum_of_a_rastrigin_function():
    s = torch.tensor(STATES, dtype=torch.float32)
    cem = mx.CrossEntropy(samples=512, elites=20, iterations=8, min_std=0.01)
    best = mx.maximise(as_q(rastrigin_np), s, cem, torch.Generator().manual_seed(0), dim=2)
    shift = 0.2 * np.tanh(STATES)[:, :1] * np.array([1.0, -1.0])
    assert np.all(best.value.numpy() > -0.1)  # in the global basin (the next local maxima are at −0.99)
    assert np.all(np.abs(best.action.numpy() - shift).max(1) < 0.02)
    # With QT-Opt's small default budget the same search ends in local maxima for some states.
    small = mx.maximise(as_q(rastrigin_np), s, mx.CrossEntropy(), torch.Generator().manual_seed(0), dim=2)
    assert (small.value.numpy() < -0.5).any()


def test_shooting_converges_as_the_number_of_samples_grows():
    s = torch.tensor(STATES, dtype=torch.float32)
    true_v, _ = grid_max(bumps_np, STATES, 2, 401)
    gaps = []
    for n in (8, 64, 512, 4096):
        best = mx.maximise(bumps_q(2), s, mx.RandomShooting(n), torch.Generator().manual_seed(3), dim=2)
        gaps.append(float(np.mean(true_v - best.value.numpy())))
    assert all(a > b for a, b in itertools.pairwise(gaps)), gaps
    assert gaps[0] > 0.2 and gaps[-1] < 0.01


def test_one_cem_iteration_is_shooting_and_more_iterations_never_lower_the_value():
    s = torch.tensor(STATES, dtype=torch.float32)
    q = bumps_q(2)
    one = mx.maximise(q, s, mx.CrossEntropy(samples=32, elites=4, iterations=1), torch.Generator().manual_seed(5), dim=2)
    shoot = mx.maximise(q, s, mx.RandomShooting(32), torch.Generator().manual_seed(5), dim=2)
    assert torch.equal(one.action, shoot.action) and torch.equal(one.value, shoot.value)
    three = mx.maximise(q, s, mx.CrossEntropy(samples=32, elites=4, iterations=3), torch.Generator().manual_seed(5),
                        dim=2)
    assert torch.all(three.value >= one.value)


@pytest.mark.parametrize("maximiser", [mx.CrossEntropy(), mx.RandomShooting(16)])
def test_sampling_maximisers_are_deterministic_given_the_generator(maximiser):
    s = torch.tensor(STATES, dtype=torch.float32)
    runs = [mx.maximise(bumps_q(2), s, maximiser, torch.Generator().manual_seed(seed), dim=2) for seed in (7, 7, 8)]
    assert torch.equal(runs[0].action, runs[1].action) and torch.equal(runs[0].value, runs[1].value)
    assert not torch.equal(runs[0].action, runs[2].action)
    with pytest.raises(ValidationError, match="needs a torch.Generator"):
        mx.maximise(bumps_q(2), s, maximiser, None, dim=2)


def test_cem_stays_in_an_asymmetric_box_and_finds_its_corner():
    low, high = torch.tensor([-2.0, 0.5]), torch.tensor([1.0, 3.0])
    w = torch.tensor([1.0, -2.0])

    def linear(s, a):
        return a @ w + s[:, 0]

    s = torch.zeros(16, 1)
    best = mx.maximise(linear, s, mx.CrossEntropy(samples=64, elites=6, iterations=10), torch.Generator().manual_seed(0),
                       low=low, high=high)
    assert torch.all(best.action >= low) and torch.all(best.action <= high)
    corner = torch.tensor([1.0, 0.5])  # the maximiser of a·w over the box
    assert torch.all(linear(s, corner.expand(16, 2)) - best.value < 0.05)
    with pytest.raises(ValidationError, match="finite low < high"):
        mx.maximise(linear, s, mx.CrossEntropy(), torch.Generator(), low=high, high=low)


def test_explore_adds_clipped_noise_and_epsilon_uniform_actions():
    a = torch.full((4000, 2), 0.95)
    g = torch.Generator().manual_seed(0)
    noisy = mx.explore(g, a, noise=0.1)
    assert torch.all(noisy <= 1.0) and abs(float(noisy.std()) - 0.1) < 0.03  # clipping at 1 narrows N(0, 0.1²)
    uniform = mx.explore(torch.Generator().manual_seed(0), a, noise=0.0, epsilon=1.0)
    assert abs(float(uniform.mean())) < 0.05 and float(uniform.min()) < -0.95
    assert torch.equal(mx.explore(torch.Generator().manual_seed(0), a, noise=0.0, epsilon=0.0), a)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"elites": 70}, r"elites = 70 must be in \[1, samples = 64\]"),
    ({"iterations": 0}, "iterations = 0 and samples = 64 must be at least 1"),
    ({"min_std": -0.1}, "min_std = -0.1 must be ≥ 0"),
])
def test_cem_settings_are_checked(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        mx.CrossEntropy(**kwargs)


# --------------------------------------------------------------------------------------- NAF
def _naf(d=2, diagonal="exp", seed=0, obs_dim=3):
    return NAFCritic(obs_dim, d, (16,), torch.Generator().manual_seed(seed), diagonal=diagonal)


@pytest.mark.parametrize("diagonal", ["exp", "softplus", "bounded"])
def test_naf_q_is_the_quadratic_of_its_heads_expanded_by_hand(diagonal):
    net = _naf(diagonal=diagonal)
    obs, action = 3 * torch.randn(5, 3), torch.rand(5, 2) * 2 - 1
    with torch.no_grad():
        out = net.heads(net.trunk(obs)).double().numpy()
        q = net(obs, action).double().numpy()
    pos = np.exp if diagonal != "softplus" else (lambda x: np.log1p(np.exp(x)))
    squash = np.tanh if diagonal == "bounded" else (lambda x: x)
    for n in range(5):
        v, mu = out[n, 0], np.tanh(out[n, 1:3])
        l11, l21, l22 = squash(out[n, 3:6])  # row-major lower triangle: (0,0), (1,0), (1,1)
        L = np.array([[pos(l11), 0.0], [l21, pos(l22)]])
        P = L @ L.T
        x = action[n].double().numpy() - mu
        assert q[n] == pytest.approx(v - 0.5 * x @ P @ x, rel=1e-5, abs=1e-6)
        assert np.all(np.linalg.eigvalsh(P) > 0)


@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_naf_analytic_argmax_equals_the_grid_argmax_of_its_own_q(scale):
    """μ = tanh(·) lies inside the box, so the unconstrained argmax is the box's; ``scale`` = 50 drives the
    pre-tanh outputs far out, where μ presses against the box but stays inside it."""
    net = _naf(seed=3)
    obs = scale * torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    n = 401
    h = 2.0 / (n - 1)
    axis = torch.linspace(-1, 1, n)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    with torch.no_grad():
        best = mx.maximise(net, obs, mx.Analytic())
        value, mu, _ = net.parts(obs)
        P = net.precision(obs).double().numpy()
        for i in range(len(obs)):
            q = net(obs[i].expand(len(grid), 3), grid)
            k = int(q.argmax())
            eig = np.linalg.eigvalsh(P[i])
            assert torch.all(mu[i].abs() <= 1.0)  # tanh: inside the box (float32 rounds it onto the edge far out)
            assert float(q[k]) <= float(value[i]) + 1e-5  # V(s) is the maximum
            assert float(value[i] - q[k]) <= 0.5 * eig[-1] * 2 * (h / 2) ** 2 + 1e-5  # the nearest grid point's deficit
            assert float((grid[k] - mu[i]).norm()) <= h * np.sqrt(2 * eig[-1] / eig[0]) + 1e-6
    assert torch.equal(best.action, mu) and torch.allclose(best.value, value, atol=1e-6)


def test_analytic_needs_a_critic_with_an_argmax():
    with pytest.raises(ValidationError, match="no closed-form argmax"):
        mx.maximise(bumps_q(2), torch.zeros(3, 1), mx.Analytic())


# --------------------------------------------------------------------------- the labeller
class Quadratic(torch.nn.Module):
    """``Q(s, a) = top − k‖a − peak‖² + s_0``: a fixed tiny critic with a known argmax."""

    def __init__(self, top, k, peak):
        super().__init__()
        self.top, self.k = torch.nn.Parameter(torch.tensor(top)), k
        self.peak = torch.tensor(peak)

    def forward(self, s, a):
        return self.top - self.k * ((a - self.peak) ** 2).sum(-1) + s[:, 0]


def test_labels_take_the_minimum_of_two_target_critics_at_the_argmax_of_the_first():
    q1, q2 = Quadratic(0.0, 1.0, [0.5]), Quadratic(0.3, 4.0, [-0.5])
    s2 = torch.tensor([[1.0], [-1.0], [0.0], [2.0]])
    reward, discount = torch.tensor([0.5, 0.0, -1.0, 1.0]), torch.tensor([0.9, 0.9, 0.0, 0.5])
    exact = mx.LearnedActor(lambda s: torch.full((len(s), 1), 0.5))  # argmax of q1, known exactly
    y = BellmanUpdater([q1, q2], exact, 1, seed=0).label(reward, discount, s2)
    # By hand at a* = 0.5: Q̄_1 = 0 − 0 + s, Q̄_2 = 0.3 − 4·1 + s = s − 3.7, so min = s − 3.7 in every row.
    hand = reward + discount * (s2[:, 0] - 3.7)
    assert torch.allclose(y, hand)
    # Where Q̄_2 is the larger one, the minimum is Q̄_1's.
    q3 = Quadratic(10.0, 0.0, [0.0])
    assert torch.allclose(BellmanUpdater([q1, q3], exact, 1, seed=0).label(reward, discount, s2),
                          reward + discount * s2[:, 0])
    # With CEM as the maximiser the same labels come out, to CEM's accuracy.
    cem = BellmanUpdater([q1, q2], mx.CrossEntropy(), 1, seed=0)
    value, action = cem.bootstrap(s2)
    assert torch.allclose(action, torch.full((4, 1), 0.5), atol=0.02)
    assert torch.allclose(cem.label(reward, discount, s2), hand, atol=0.05)
    assert torch.allclose(value, torch.minimum(q1(s2, action), q2(s2, action)))


def test_qtopt_labels_min_over_its_polyak_and_lagged_targets_by_hand():
    """A QT-Opt agent with one-unit critics whose target weights are set by hand."""
    spaces = loop.env_spaces(gymnasium.make_vec("Pendulum-v1", num_envs=1, vectorization_mode="sync"))
    agent = ContinuousQAgent(cfg.QTOptConfig(hidden=(1,), learning_starts=0), spaces, 0, "qtopt")
    assert agent.labeller.critics == [agent.critic_target, agent.lagged]
    # Q(s, a) = w2·relu(w1·[s, a] + b1) + b2 with [s, a] = (cos, sin, θ̇, a).
    for net, (w1, b1, w2, b2) in ((agent.critic_target, ([0.5, -1.0, 0.25, 2.0], 0.1, 1.5, -0.2)),
                                  (agent.lagged, ([1.0, 0.0, 0.0, -1.0], 1.0, 1.0, 0.0))):
        weights, biases = net.q.net.weights, net.q.net.biases
        with torch.no_grad():
            weights[0].copy_(torch.tensor(w1).reshape(1, 4, 1))
            biases[0].fill_(b1)
            weights[1].fill_(w2)
            biases[1].fill_(b2)
    s2 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 2.0], [-1.0, 0.0, -4.0]])
    reward, discount = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.98, 0.98, 0.0])
    state = agent.labeller.generator.get_state()
    y = agent.labeller.label(reward, discount, s2)
    agent.labeller.generator.set_state(state)  # the same draws again: the a* the labels were taken at
    _, a_star = agent.labeller.bootstrap(s2)
    hand = []
    for (c, s, w), a in zip(s2.tolist(), a_star[:, 0].tolist()):
        q1 = 1.5 * max(0.0, 0.5 * c - 1.0 * s + 0.25 * w + 2.0 * a + 0.1) - 0.2
        q2 = max(0.0, c - a + 1.0)
        hand.append(min(q1, q2))
        # a* maximises Q̄_1 over [−1, 1]: Q̄_1 increases with a, so a* = 1 up to CEM's last samples.
        assert a > 0.9
    assert np.allclose(y.numpy(), (reward + discount * torch.tensor(hand)).numpy(), atol=1e-6)
    assert hand[0] != pytest.approx(1.5 * max(0.0, 0.5 - 0 + 2 * a_star[0, 0].item() + 0.1) - 0.2)  # the lagged one won


def test_the_lagged_target_is_a_copy_of_the_polyak_target_every_lag_period():
    config = cfg.QTOptConfig(hidden=(4,), learning_starts=8, batch_size=4, lag_period=3, tau=0.5)
    agent, env = _agent(config)
    copies = []
    stepper = loop.VectorStepper(env, seed=0)
    for _ in range(20):
        before = agent.gradient_steps
        action, extras = loop.act(agent, stepper)
        agent.observe(stepper.step(action, extras))
        agent.update()
        if agent.gradient_steps != before:
            lagged = [p.clone() for p in agent.lagged.parameters()]
            target = [p.clone() for p in agent.critic_target.parameters()]
            copies.append((agent.gradient_steps, all(torch.equal(a, b) for a, b in zip(lagged, target))))
    assert copies and all(same == (k % 3 == 0) for k, same in copies), copies


def test_ddpg_learned_actor_plugs_into_the_labeller_and_gives_ddpgs_target():
    from triad.agents.actor_critic import TD3

    spaces = loop.env_spaces(gymnasium.make_vec("Pendulum-v1", num_envs=1, vectorization_mode="sync"))
    ddpg = TD3(cfg.DDPGConfig(hidden=(8, 8)), spaces, 0, "ddpg")
    s2 = torch.randn(10, 3, generator=torch.Generator().manual_seed(0))
    labeller = BellmanUpdater([lambda s, a: ddpg.critic_target(s, a)[0]], mx.LearnedActor(ddpg.actor_target), 1, 0)
    value, action = labeller.bootstrap(s2)
    assert torch.equal(value, ddpg.target_values(s2)) and torch.equal(action, ddpg.actor_target(s2))


# ------------------------------------------------------------------------------- the agents
ALGORITHMS = ("naf", "qtopt", "cem-q", "shooting-q")
TINY = {"hidden": "8", "learning_starts": "16", "batch_size": "8", "samples": "8", "elites": "2", "log_every": "20",
        "gamma": "1.0"}


def _agent(config, env_id="triad/Unimodal-v0"):
    from triad.envs import make_env

    env = make_env(env_id, num_envs=config.envs, seed=0)
    return ContinuousQAgent(config, loop.env_spaces(env), 0, "test"), env


def _parameters(out):
    agent = loop.load_agent(out)
    return {k: v.clone() for k, v in agent._model().items()}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_agent_trains_and_is_deterministic(tmp_path, algorithm):
    runs = []
    for name in ("a", "b"):
        summary = loop.train(algorithm, "triad/Unimodal-v0", 60, seed=4, overrides=dict(TINY), out=tmp_path / name,
                             eval_episodes=2)
        runs.append(_parameters(tmp_path / name))
        assert summary["steps"] == 60 and np.isfinite(summary["eval_return"])
    assert runs[0].keys() == runs[1].keys() and all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    other = loop.train(algorithm, "triad/Unimodal-v0", 60, seed=5, overrides=dict(TINY), out=tmp_path / "c",
                       eval_episodes=2)
    assert np.isfinite(other["eval_return"])
    assert not all(torch.equal(runs[0][k], v) for k, v in _parameters(tmp_path / "c").items())
    if algorithm == "qtopt":
        assert any(k.startswith("target.lagged.critic.") for k in runs[0])


def test_qtopt_state_dict_restores_the_lagged_target_and_the_labeller():
    """A copy loaded from the state dict continues exactly like the original (the loop's resume relies on it;
    gymnasium's sync vector envs do not pickle, so here the env's history is replayed instead)."""
    config = cfg.QTOptConfig(hidden=(8,), learning_starts=10, batch_size=8, samples=8, elites=2, lag_period=3)
    agent, env = _agent(config)
    stepper = loop.VectorStepper(env, seed=2)
    actions = []
    for _ in range(30):
        action, extras = loop.act(agent, stepper)
        actions.append(action)
        agent.observe(stepper.step(action, extras))
        agent.update()
    twin, twin_env = _agent(config)
    twin.load_state_dict(copy.deepcopy(agent.state_dict()))
    twin_stepper = loop.VectorStepper(twin_env, seed=2)
    for action in actions:
        twin_stepper.step(action)
    for _ in range(30):
        for a, st in ((agent, stepper), (twin, twin_stepper)):
            action, extras = loop.act(a, st)
            a.observe(st.step(action, extras))
            a.update()
    ours, theirs = agent._model(), twin._model()
    assert any(k.startswith("target.lagged.") for k in ours)
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert torch.equal(agent.labeller.generator.get_state(), twin.labeller.generator.get_state())


def test_greedy_actions_do_not_disturb_the_training_generator():
    agent, _ = _agent(cfg.CEMQConfig(hidden=(8,), learning_starts=0))
    state = agent.generator.get_state()
    obs = np.zeros((3, 3), np.float32)
    first, _ = agent.act(obs, explore=False)
    second, _ = agent.act(obs, explore=False)
    assert np.array_equal(first, second) and torch.equal(agent.generator.get_state(), state)


def test_cli_trains_naf_on_pendulum_and_explains_qtopt(triad_cli, tmp_path):
    code, out, err = triad_cli("train", "naf", "--env", "Pendulum-v1", "--steps", "300", "--set", "learning_starts=100",
                               "--set", "batch_size=16", "--eval-episodes", "1", "--out", str(tmp_path), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["algorithm"] == "naf" and summary["steps"] == 300
    assert json.loads((tmp_path / "config.json").read_text())["config"]["gamma"] == 0.98  # the Pendulum preset
    text = cfg.QTOptConfig().explain("qtopt")
    assert "min(Q̂'_1, Q̂'_2)" in text and "every 6,000 gradient steps" in text and "CEM, 2 iteration(s) × 64" in text
    assert "analytic argmax a* = μ(s)" in cfg.NAFConfig().explain("naf")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"maximiser": "analytic"}, "maximiser=analytic needs network=naf"),
    ({"elites": 100}, "elites = 100 must be at most samples = 64"),
    ({"target_critics": 3}, "target_critics = 3 must be one of 1, 2"),
])
def test_config_errors_are_one_line(overrides, message):
    with pytest.raises(ValidationError, match=message):
        dataclasses.replace(cfg.CEMQConfig(), **overrides).validate()


def test_discrete_actions_are_refused_in_one_line(triad_cli):
    code, _, err = triad_cli("train", "qtopt", "--env", "CartPole-v1", "--steps", "10")
    assert code == 2 and "qtopt cannot handle the action space Discrete(2)" in err and err.count("\n") == 1
