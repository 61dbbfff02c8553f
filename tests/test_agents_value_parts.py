"""Parts of the value-based suite: Q networks, exploration, targets, exact FQI, probes, the masked CartPole."""

import gymnasium
import numpy as np
import pytest
import torch

from triad import zoo
from triad.agents import nets, pomdp, value
from triad.agents.recurrent import RecurrentQNetwork
from triad.envs import make_env
from triad.errors import ValidationError
from triad.projections import ProjectedBellman, projected_value_iteration, weighted_least_squares
from triad.solvers import evaluate_q, policy_iteration


# ------------------------------------------------------------------------------------- Q networks
def test_dueling_head_is_value_plus_centred_advantage():
    q = nets.QNetwork(3, 4, (5,), torch.Generator().manual_seed(0), kind="dueling")
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    z = torch.relu(x @ q.trunk.weights[0][0] + q.trunk.biases[0][0])
    v = z @ q.value_head.weights[0][0] + q.value_head.biases[0][0]
    adv = z @ q.advantage_head.weights[0][0] + q.advantage_head.biases[0][0]
    expected = v + adv - adv.mean(dim=1, keepdim=True)  # Wang et al. (2016) eq. 9, by hand
    assert torch.allclose(q(x)[0], expected, atol=1e-6)
    assert torch.allclose(q(x)[0].mean(1), v[:, 0], atol=1e-6)  # the mean advantage is 0


def test_mlp_q_network_members_are_independent_networks():
    q = nets.QNetwork(3, 2, (8, 8), torch.Generator().manual_seed(0), members=3)
    singles = [nets.QNetwork(3, 2, (8, 8), torch.Generator().manual_seed(0), members=1)]
    x = torch.randn(5, 3)
    out = q(x)
    assert out.shape == (3, 5, 2)
    assert torch.equal(out[0], singles[0](x)[0])  # member 0 is drawn first, exactly as a single network
    assert not torch.allclose(out[0], out[1])


def test_linear_q_network_is_a_zero_table_on_one_hot_inputs():
    q = nets.QNetwork(4, 3, (64,), torch.Generator().manual_seed(0), kind="linear")
    assert torch.equal(q(torch.eye(4))[0], torch.zeros(4, 3))
    with torch.no_grad():
        q.weight[0] = torch.arange(12.0).reshape(4, 3)
    assert torch.equal(q(torch.eye(4)[[2, 0]])[0], torch.tensor([[6.0, 7.0, 8.0], [0.0, 1.0, 2.0]]))
    with pytest.raises(ValidationError, match="Q network 'cnn' must be one of mlp, dueling, linear"):
        nets.QNetwork(4, 3, (8,), torch.Generator(), kind="cnn")


def test_recurrent_q_network_unroll_equals_stepping_with_resets():
    net = RecurrentQNetwork(2, 3, 8, 6, torch.Generator().manual_seed(0))
    obs = torch.randn(5, 4, 2, generator=torch.Generator().manual_seed(1))
    starts = torch.zeros(5, 4, dtype=torch.bool)
    starts[3, 1] = True
    state0 = (torch.randn(4, 6), torch.randn(4, 6))
    H, C = net.unroll(obs, state0, starts)
    state = state0
    for t in range(5):
        keep = (~starts[t]).float()[:, None]
        q, state = net.step(obs[t], (state[0] * keep, state[1] * keep))
        assert torch.allclose(H[t], state[0], atol=1e-6) and torch.allclose(C[t], state[1], atol=1e-6)
        assert torch.allclose(net.q_values(H[t]), q, atol=1e-6)
    fresh, _ = net.step(obs[3, 1:2], net.initial_state(1))  # a reset forgets everything before
    assert torch.allclose(net.q_values(H[3, 1:2]), fresh, atol=1e-6)


def test_networks_read_no_global_rng():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    nets.QNetwork(3, 2, (4,), torch.Generator().manual_seed(0), kind="dueling")
    RecurrentQNetwork(3, 2, 4, 4, torch.Generator().manual_seed(0))
    assert torch.equal(before, torch.get_rng_state())


# ------------------------------------------------------------------------------------ exploration
def test_exploration_schedule_is_sb3s_linear_schedule():
    # SB3 LinearSchedule(1.0, 0.05, 0.1) at progress p = step/total: 1 − 0.95·min(1, p/0.1).
    for step in (0, 250, 500, 999, 1000, 5000):
        expected = 1.0 - 0.95 * min(1.0, step / 10_000 / 0.1)
        assert value.exploration_value(step, 10_000, 1.0, 0.05, 0.1) == pytest.approx(expected)


def test_behaviour_probabilities():
    q = np.array([[1.0, 3.0, 2.0], [0.0, 0.0, 5.0]])
    eps = value.behaviour_probabilities(q, "epsilon", 0.3)
    assert np.allclose(eps, [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    mask = np.array([[True, False, True], [True, True, True]])
    assert np.allclose(value.behaviour_probabilities(q, "epsilon", 0.3, mask)[0], [0.15, 0.0, 0.85])
    assert np.allclose(value.behaviour_probabilities(np.zeros((1, 2)), "epsilon", 0.2), [[0.5, 0.5]])  # ties split
    soft = value.behaviour_probabilities(q, "boltzmann", 2.0)
    assert np.allclose(soft[0], np.exp(q[0] / 2) / np.exp(q[0] / 2).sum())
    with pytest.raises(ValidationError, match="explore = 'ucb'"):
        value.behaviour_probabilities(q, "ucb", 0.1)


# ---------------------------------------------------------------------------------------- targets
def test_td_errors_by_hand_and_semi_gradient():
    q_tm1 = torch.tensor([[1.0, 2.0], [0.5, -1.0]], requires_grad=True)
    q_t = torch.tensor([[3.0, 4.0], [2.0, 6.0]], requires_grad=True)
    selector = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    r, d = torch.tensor([1.0, 0.0]), torch.tensor([0.9, 0.0])  # the second transition terminated
    delta = value.td_errors(q_tm1, torch.tensor([1, 0]), r, d, q_t)
    assert torch.allclose(delta, torch.tensor([1 + 0.9 * 4 - 2.0, 0.0 - 0.5]))
    double = value.td_errors(q_tm1, torch.tensor([1, 0]), r, d, q_t, selector)  # selector picks action 0 in row 0
    assert torch.allclose(double, torch.tensor([1 + 0.9 * 3 - 2.0, -0.5]))
    (0.5 * delta**2).sum().backward()
    assert q_t.grad is None or not q_t.grad.any()  # stop-gradient at the target: not a residual gradient
    assert torch.allclose(q_tm1.grad, torch.tensor([[0.0, -(1 + 0.9 * 4 - 2.0)], [0.5, 0.0]]))


# ------------------------------------------------------------------------------------- exact FQI
def test_fit_linear_q_is_weighted_least_squares_per_action():
    rng = np.random.default_rng(0)
    x, a, y, w = rng.standard_normal((30, 3)), rng.integers(0, 2, 30), rng.standard_normal(30), rng.random(30)
    W = value.fit_linear_q(x, a, y, w, 3)
    for k in range(2):
        X, Y, D = x[a == k], y[a == k], np.diag(w[a == k])
        assert np.allclose(W[:, k], np.linalg.solve(X.T @ D @ X, X.T @ D @ Y))
    assert np.array_equal(W[:, 2], np.zeros(3))  # no data for action 2


def _state_action_features(Phi, A):
    S, d = Phi.shape
    out = np.zeros((S * A, d * A))
    for s in range(S):
        for a in range(A):
            out[s * A + a, a * d:(a + 1) * d] = Phi[s]
    return out


def test_fqi_on_the_expected_data_set_is_projected_value_iteration():
    """Linear FQI (exact regression on every (s, a, s') weighted by d(s, a)P(s'|s, a)) = iterating Π_D B*."""
    mdp = zoo.make("garnet:S=6,A=3,b=3,seed=2,gamma=0.9").mdp
    rng = np.random.default_rng(0)
    Phi, d = rng.standard_normal((6, 3)), rng.random((6, 3))
    batch = value.expected_transitions(mdp, Phi, d / d.sum())
    W, iterates = np.zeros((3, 3)), []
    for _ in range(12):
        q_tm1 = batch["obs"] @ W
        delta = value.td_errors(q_tm1, batch["action"], batch["reward"], mdp.gamma * ~batch["terminated"],
                                batch["next_obs"] @ W)
        W = value.fit_linear_q(batch["obs"], batch["action"], delta + q_tm1[np.arange(delta.size), batch["action"]],
                               batch["weight"], 3)
        iterates.append(Phi @ W)
    op = ProjectedBellman(mdp, weighted_least_squares(_state_action_features(Phi, 3), (d / d.sum()).ravel()), None,
                          "q")
    pvi = projected_value_iteration(op, np.zeros(18), 12)
    for k in range(12):
        assert np.allclose(iterates[k].ravel(), pvi.w[k + 1], atol=1e-12)


def test_expected_transitions_rows():
    mdp = zoo.make("chain:n=3,slip=0.25").mdp
    d = np.full((3, 2), 1 / 6)
    batch = value.expected_transitions(mdp, np.eye(3), d)
    assert batch["weight"].sum() == pytest.approx(1.0)  # terminal rows are absorbing: every (s, a) sums to d
    right_from_1 = (batch["obs"][:, 1] == 1) & (batch["action"] == 1)
    assert np.allclose(sorted(batch["weight"][right_from_1]), [0.25 / 6, 0.75 / 6])
    assert batch["terminated"][right_from_1 & (batch["next_obs"][:, 2] == 1)].all()


# ----------------------------------------------------------------------------------------- probes
def test_q_truth_at_q_star_and_for_an_overestimating_table():
    mdp = zoo.make("chain:n=4,slip=0.1").mdp
    Q_star = policy_iteration(mdp).Q

    def uniform(pi):  # a fixed state law for the test
        return np.full(mdp.S, 1 / mdp.S)

    rows = value.q_truth(mdp, Q_star, Q_star, uniform)
    assert rows["q_error"] == pytest.approx(0.0, abs=1e-9) and rows["overestimation"] == pytest.approx(0.0, abs=1e-9)
    assert rows["return_bound"] == pytest.approx(0.9 / (1 - mdp.gamma))  # max R = Pr(right succeeds) = 0.9
    shifted = Q_star + 0.5 * ~mdp.terminal[:, None]
    rows = value.q_truth(mdp, shifted, Q_star, uniform)
    assert rows["q_error"] == pytest.approx(0.5)
    assert rows["overestimation"] == pytest.approx(0.5 * 3 / 4)  # 3 live states of 4 under the uniform law
    bad = np.zeros((4, 2))
    bad[:, 0] = 1.0  # greedy: always left, which never reaches the goal
    rows = value.q_truth(mdp, bad, Q_star, uniform)
    Q_left = evaluate_q(mdp, np.eye(2)[np.zeros(4, int)])
    assert rows["overestimation"] == pytest.approx(np.mean((1.0 - Q_left[:, 0]) * ~mdp.terminal))


# --------------------------------------------------------------------------------- masked CartPole
def test_cartpole_without_velocities_is_cartpole_masked():
    masked = make_env(pomdp.CARTPOLE_NO_VELOCITY, 3, seed=4)
    full = make_env("CartPole-v1", 3, seed=4)
    assert masked.single_observation_space.shape == (2,)
    actions = np.random.default_rng(0).integers(0, 2, (40, 3))
    for a in actions:
        o, r, term, trunc, _ = masked.step(a)
        of, rf, termf, truncf, _ = full.step(a)
        assert np.array_equal(o, of[:, [0, 2]]) and np.array_equal(r, rf)
        assert np.array_equal(term, termf) and np.array_equal(trunc, truncf)
    single = gymnasium.make(pomdp.CARTPOLE_NO_VELOCITY)
    assert single.spec.max_episode_steps == 500 and single.reset(seed=0)[0].shape == (2,)
