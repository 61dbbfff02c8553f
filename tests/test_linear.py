"""Linear off-policy learning rules: hand-expanded steps, independent loops, divergence, sampled vs expected."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from triad import SpecError, ValidationError, linear, multistep, operators, zoo
from triad.mdp import FiniteMDP
from triad.sampling import rollout

# ------------------------------------------------------------------------ a hand-checkable problem
# Two states, features φ0 = (1, 0), φ1 = (1, 1); action 0 stays, action 1 switches. The behaviour
# picks each action with ½, the target always switches (ρ = 0 for stay, 2 for switch). R(0, switch) = 1.


def toy(gamma=0.5, w0=(1.0, 2.0)):
    P = np.zeros((2, 2, 2))
    P[0, 0, 0] = P[1, 0, 1] = 1.0
    P[0, 1, 1] = P[1, 1, 0] = 1.0
    R = np.zeros((2, 2))
    R[0, 1] = 1.0
    mdp = FiniteMDP(P, R, gamma, mu=np.array([1.0, 0.0]))
    return zoo.Problem(mdp, features=np.array([[1.0, 0.0], [1.0, 1.0]]), target=np.array([[0.0, 1.0], [0.0, 1.0]]),
                       behaviour=np.full((2, 2), 0.5), w0=np.array(w0))


def test_direction_functions_by_hand():
    x, x_next = np.array([1.0, 2.0]), np.array([0.0, 1.0])
    w, h = np.array([0.5, -1.0]), np.array([0.1, 0.2])
    delta = multistep.td_error(x @ w, 1.0, 0.9, x_next @ w)
    assert delta == pytest.approx(1.0 + 0.9 * -1.0 + 1.5)  # v = −1.5, v' = −1
    rho = np.float64(2.0)
    np.testing.assert_allclose(linear.semi_gradient_td(delta, rho, x), [3.2, 6.4])
    dw, dh = linear.tdc(delta, rho, x, np.float64(0.9), x_next, h)  # xᵀh = 0.5
    np.testing.assert_allclose(dw, 2 * (1.6 * x - 0.9 * 0.5 * x_next))
    np.testing.assert_allclose(dh, [2.2, 4.4])
    dw, dh = linear.gtd2(delta, rho, x, np.float64(0.9), x_next, h)
    np.testing.assert_allclose(dw, [1.0, 1.1])
    np.testing.assert_allclose(dh, [2.2, 4.4])
    np.testing.assert_allclose(linear.emphatic_td(delta, rho, np.float64(3.0), x), [9.6, 19.2])
    np.testing.assert_allclose(linear.residual_gradient(delta, rho, x, np.float64(0.9), x_next), [3.2, 3.52])


# The expected first sweep on the toy by hand: d = (½, ½), only "switch" has ρ ≠ 0, b·ρ = 1, so
# E[ρ f] = ½ f(0, switch → 1) + ½ f(1, switch → 0). With w = (1, 2): v = (1, 3),
# δ(0→1) = 1 + ½·3 − 1 = 1.5, δ(1→0) = 0 + ½·1 − 3 = −2.5.
TD_STEP = 0.5 * (1.5 * np.array([1.0, 0.0]) - 2.5 * np.array([1.0, 1.0]))


@pytest.mark.parametrize("algorithm, kwargs, expected_w", [
    ("semi-gradient-td", {}, np.array([1.0, 2.0]) + 0.1 * TD_STEP),
    ("semi-gradient-dp", {}, np.array([1.0, 2.0]) + 0.1 * TD_STEP),
    ("target-network", {"target_period": 5}, np.array([1.0, 2.0]) + 0.1 * TD_STEP),
    ("etd", {}, np.array([1.0, 2.0]) + 0.1 * TD_STEP),  # first emphasis M_0 = I = 1
    # h = 0 at the start, so TDC's first step is TD's and GTD2 does not move w.
    ("tdc", {"beta": 0.3}, np.array([1.0, 2.0]) + 0.1 * TD_STEP),
    ("gtd2", {"beta": 0.3}, np.array([1.0, 2.0])),
    # naive RG: ½[1.5 (φ0 − ½φ1) − 2.5 (φ1 − ½φ0)]
    ("residual-gradient", {},
     np.array([1.0, 2.0]) + 0.1 * 0.5 * (1.5 * np.array([0.5, -0.5]) - 2.5 * np.array([0.5, 1.0]))),
])
def test_expected_single_sweep_by_hand(algorithm, kwargs, expected_w):
    curve = linear.expected(linear.Rule(algorithm, alpha=0.1, **kwargs), toy(), 1)
    np.testing.assert_allclose(curve.final[0], expected_w, rtol=1e-12)


def test_expected_secondary_weights_by_hand():
    # Δh = E[ρ(δ − xᵀh)x] with h = 0: ½(1.5 φ0 − 2.5 φ1) = TD_STEP, for TDC and GTD2 alike; then w moves with h.
    rule = linear.Rule("gtd2", alpha=0.1, beta=0.3)
    curve = linear.expected(rule, toy(), 2)
    h1 = 0.3 * TD_STEP
    x = np.array([[1.0, 0.0], [1.0, 1.0]])
    # second sweep, GTD2: Δw = ½ Σ_s (x_s − ½ x_{s'}) (x_sᵀ h1), s' the other state
    dw = 0.5 * ((x[0] - 0.5 * x[1]) * (x[0] @ h1) + (x[1] - 0.5 * x[0]) * (x[1] @ h1))
    np.testing.assert_allclose(curve.final[0], np.array([1.0, 2.0]) + 0.1 * dw, rtol=1e-12)


def test_sampled_step_matches_a_hand_loop_on_the_same_transitions():
    problem = toy(gamma=0.5)
    rule = linear.Rule("tdc", alpha=0.1, beta=0.2)
    curve = linear.sampled(np.random.default_rng(7), rule, problem, 6, streams=3)
    traj = rollout(np.random.default_rng(7), problem.mdp, problem.behaviour, 6, 3)
    Phi = problem.features
    for b in range(3):
        w, h = problem.w0.copy(), np.zeros(2)
        for t in range(6):
            s, a, s2 = traj.s_t[t, b], traj.a_t[t, b], traj.next_s_t[t, b]
            rho = 2.0 if a == 1 else 0.0
            x, x2 = Phi[s], Phi[s2]
            delta = problem.mdp.R[s, a] + 0.5 * x2 @ w - x @ w
            w, h = w + 0.1 * rho * (delta * x - 0.5 * x2 * (x @ h)), h + 0.2 * rho * (delta - x @ h) * x
        np.testing.assert_allclose(curve.final[b], w, rtol=1e-12)


# ------------------------------------------------------------------ Baird: the book's trajectories
BAIRD = zoo.make("baird")


def _baird_loop(algorithm, alpha, beta, sweeps):
    """Independent plain-loop expected updates on Baird (S&B eq. 11.9 and §11.7, §11.8), d uniform."""
    Phi, gamma = BAIRD.features, 0.99
    w, h = BAIRD.w0.astype(float).copy(), np.zeros(8)
    f = np.zeros(7)
    for _ in range(sweeps):
        v = Phi @ w
        # target policy: always "solid", to state 7 (index 6); all rewards 0
        dw, dh = np.zeros(8), np.zeros(8)
        f_next = np.zeros(7)
        for s in range(7):
            f_next[s] += 1.0 / 7.0
            f_next[6] += gamma * f[s]
        for s in range(7):
            delta = gamma * v[6] - v[s]
            x, x2 = Phi[s], Phi[6]
            if algorithm == "semi-gradient-dp":
                dw += delta * x / 7
            elif algorithm == "tdc":
                dw += (delta * x - gamma * x2 * (x @ h)) / 7
                dh += (delta - x @ h) * x / 7
            elif algorithm == "etd":
                dw += f_next[s] * delta * x  # f = d·M, the expected follow-on weight of state s
        f = f_next
        w, h = w + alpha * dw, h + beta * dh
    return w


@pytest.mark.parametrize("algorithm, alpha, beta", [
    ("semi-gradient-dp", 0.01, 0.0),   # Figure 11.2 (right)
    ("tdc", 0.005, 0.05),              # Figure 11.5 (right)
    ("etd", 0.03, 0.0),                # Figure 11.6
])
def test_baird_expected_trajectories_match_an_independent_loop(algorithm, alpha, beta):
    curve = linear.expected(linear.Rule(algorithm, alpha=alpha, beta=beta), BAIRD, 1000, record_every=250)
    for k, step in enumerate(curve.steps):
        np.testing.assert_allclose(curve.w[k, 0], _baird_loop(algorithm, alpha, beta, int(step)), rtol=1e-4)


def test_baird_dp_is_the_td_system_iteration_and_diverges():
    A, b = operators.td_system(BAIRD.mdp, BAIRD.target, BAIRD.features, np.full(7, 1 / 7))
    w = BAIRD.w0.astype(float)
    for _ in range(200):
        w = w + 0.01 * (A @ w + b)
    curve = linear.expected(linear.Rule("semi-gradient-dp", alpha=0.01), BAIRD, 200)
    np.testing.assert_allclose(curve.final[0], w, rtol=1e-12)
    assert np.linalg.eigvals(A).real.max() > 0  # not Hurwitz: the expected update grows
    long = linear.expected(linear.Rule("semi-gradient-dp", alpha=0.01), BAIRD, 1000, threshold=100.0)
    assert long.diverged[0] and 0 < long.diverged_at[0] < 1000


def test_sampled_tdc_is_bounded_for_every_seed_while_td_diverges_for_most():
    rng_td, rng_tdc = np.random.default_rng(1), np.random.default_rng(1)
    td = linear.sampled(rng_td, linear.Rule("semi-gradient-td", alpha=0.01), BAIRD, 3000, streams=100,
                        threshold=1000.0, record_every=3000)
    tdc = linear.sampled(rng_tdc, linear.Rule("tdc", alpha=0.005, beta=0.05), BAIRD, 3000, streams=100,
                         threshold=1000.0, record_every=3000)
    assert td.diverged.mean() > 0.5
    assert not tdc.diverged.any()
    assert np.all(np.linalg.norm(tdc.final, axis=1) < 20)


@pytest.mark.parametrize("rule", [
    linear.Rule("semi-gradient-td", alpha=0.01), linear.Rule("semi-gradient-td", alpha=0.01, lam=0.7),
    linear.Rule("tdc", alpha=0.005, beta=0.05), linear.Rule("gtd2", alpha=0.005, beta=0.05),
    linear.Rule("etd", alpha=0.03), linear.Rule("residual-gradient", alpha=0.01),
    linear.Rule("residual-gradient", alpha=0.01, double_sample=True), linear.Rule("target-network", alpha=0.01),
])
def test_mean_of_one_sampled_step_is_the_expected_step(rule):
    # Baird starts uniformly, which is the behaviour's stationary law, so one sampled step per stream
    # averages to one expected sweep (traces start at zero in both forms).
    n = 200_000
    sampled = linear.sampled(np.random.default_rng(3), rule, BAIRD, 1, streams=n).final
    expected = linear.expected(rule, BAIRD, 1).final[0]
    increments = sampled - BAIRD.w0
    se = increments.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(increments.mean(axis=0) - (expected - BAIRD.w0)) <= 5 * se + 1e-12)


def test_expected_traces_converge_to_their_closed_forms():
    problem, lam = toy(gamma=0.8), 0.6
    st = linear._setting(problem, None, None)
    d = linear.behaviour_distribution(problem)
    eligibility = linear._ExpectedTraces(linear.Rule("semi-gradient-td", alpha=0.1, lam=lam), [st], [d])
    follow_on = linear._ExpectedTraces(linear.Rule("etd", alpha=0.1, interest=np.array([1.0, 0.5])), [st], [d])
    for _ in range(300):
        trace, _ = eligibility.advance()
        _, emphasis = follow_on.advance()
    Gamma = linear.discounted_transition(problem)
    np.testing.assert_allclose(d[:, None] * trace[0],
                               np.linalg.solve(np.eye(2) - lam * Gamma.T, d[:, None] * problem.features))
    np.testing.assert_allclose(d * emphasis[0], np.linalg.solve(np.eye(2) - Gamma.T, d * np.array([1.0, 0.5])))


def test_expected_td_lambda_matches_the_lambda_td_system():
    # Stationary expected TD(λ): Δw = ΦᵀD(I − γλP^π)⁻¹(r^π + γP^πΦw − Φw) (Sutton & Barto 2018 §12).
    problem, lam, alpha = toy(gamma=0.8), 0.5, 0.05
    rule = linear.Rule("semi-gradient-td", alpha=alpha, lam=lam)
    curve = linear.expected(rule, problem, 400, record_every=1)
    d = linear.behaviour_distribution(problem)
    P = operators.policy_transition(problem.mdp, problem.target)
    r = operators.policy_reward(problem.mdp, problem.target)
    Phi = problem.features
    w = curve.w[-2, 0]
    step = Phi.T @ np.diag(d) @ np.linalg.solve(np.eye(2) - 0.8 * lam * P, r + 0.8 * P @ Phi @ w - Phi @ w)
    np.testing.assert_allclose(curve.w[-1, 0] - w, alpha * step, rtol=1e-9, atol=1e-15)


def test_target_network_with_period_one_is_semi_gradient_td():
    td = linear.sampled(np.random.default_rng(0), linear.Rule("semi-gradient-td", alpha=0.01), BAIRD, 50, streams=4)
    tn = linear.sampled(np.random.default_rng(0), linear.Rule("target-network", alpha=0.01, target_period=1), BAIRD,
                        50, streams=4)
    polyak = linear.sampled(np.random.default_rng(0), linear.Rule("target-network", alpha=0.01, tau=1.0), BAIRD, 50,
                            streams=4)
    np.testing.assert_array_equal(td.w, tn.w)
    np.testing.assert_allclose(td.w, polyak.w, rtol=1e-12)


def test_target_network_bootstraps_from_frozen_weights():
    # With period 3 the first three expected sweeps all bootstrap from w0.
    problem = toy()
    curve = linear.expected(linear.Rule("target-network", alpha=0.1, target_period=3), problem, 3)
    w, w0 = problem.w0.copy(), problem.w0.copy()
    Phi = problem.features
    for _ in range(3):
        v, v0 = Phi @ w, Phi @ w0
        step = 0.5 * ((1 + 0.5 * v0[1] - v[0]) * Phi[0] + (0 + 0.5 * v0[0] - v[1]) * Phi[1])
        w = w + 0.1 * step
    np.testing.assert_allclose(curve.final[0], w, rtol=1e-12)


def test_same_seed_is_bit_identical_and_batched_expected_matches_single():
    rule = linear.Rule("residual-gradient", alpha=0.01, double_sample=True)
    a = linear.sampled(np.random.default_rng(5), rule, BAIRD, 100, streams=8)
    b = linear.sampled(np.random.default_rng(5), rule, BAIRD, 100, streams=8)
    np.testing.assert_array_equal(a.w, b.w)
    problems = [zoo.baird(gamma=g) for g in (0.9, 0.99)]
    batch = linear.expected(linear.Rule("tdc", alpha=0.005, beta=0.05), problems, 50)
    for i, p in enumerate(problems):
        single = linear.expected(linear.Rule("tdc", alpha=0.005, beta=0.05), p, 50)
        np.testing.assert_allclose(batch.final[i], single.final[0], rtol=1e-12)


def test_divergence_is_recorded_not_raised():
    curve = linear.sampled(np.random.default_rng(0), linear.Rule("semi-gradient-td", alpha=5.0), BAIRD, 3000,
                           streams=5, threshold=1e6, record_every=1000)
    assert curve.diverged.all()
    assert np.all(curve.diverged_at >= 1) and np.all(curve.diverged_at <= 100)
    assert not np.isfinite(curve.final).all()  # it kept running past overflow, without an exception
    calm = linear.expected(linear.Rule("tdc", alpha=0.005, beta=0.05), BAIRD, 100)
    assert np.isnan(calm.diverged_at).all()


def test_lstd_and_error_measures():
    w = linear.lstd(BAIRD)
    np.testing.assert_allclose(BAIRD.features @ w, 0.0, atol=1e-12)  # v_π = 0 is representable
    rng = np.random.default_rng(0)
    ws = rng.normal(size=(5, 8))
    # Baird's features span R^7, so Π = I and √PBE is the d-weighted Bellman error.
    V = ws @ BAIRD.features.T
    bellman = 0.99 * V[:, [6]] - V
    np.testing.assert_allclose(linear.root_projected_bellman_error(BAIRD, ws), np.sqrt((bellman ** 2).mean(axis=1)))
    np.testing.assert_allclose(linear.root_value_error(BAIRD, ws), np.sqrt((V ** 2).mean(axis=1)))


def test_root_td_error_on_the_a_split_by_hand():
    problem = zoo.a_split()
    assert linear.root_td_error(problem, np.array([0.5, 1.0, 0.0]), gamma=1.0) == pytest.approx(np.sqrt(0.125))
    assert linear.root_td_error(problem, np.array([0.5, 0.75, 0.25]), gamma=1.0) == pytest.approx(0.25)
    np.testing.assert_allclose(linear.true_values(problem, gamma=1.0), [0.5, 1.0, 0.0, 0.0])


@given(st.floats(0.0, 0.6), st.floats(0.3, 0.99))
def test_projected_value_iteration_grows_by_the_books_factor(epsilon, gamma):
    curve = linear.projected_value_iteration(zoo.two_state(epsilon=epsilon, gamma=gamma), 5)
    np.testing.assert_allclose(curve.w[1:, 0, 0] / curve.w[:-1, 0, 0], (6 - 4 * epsilon) * gamma / 5, rtol=1e-10)


def test_behaviour_distribution_restarts_episodes():
    np.testing.assert_allclose(linear.behaviour_distribution(zoo.a_split()), [0.5, 0.25, 0.25, 0.0], atol=1e-12)
    np.testing.assert_allclose(linear.behaviour_distribution(BAIRD), np.full(7, 1 / 7))


@pytest.mark.parametrize("make, error, message", [
    (lambda: linear.Rule("sarsa", alpha=0.1), SpecError, "unknown algorithm 'sarsa'"),
    (lambda: linear.Rule("tdc", alpha=-0.1), ValidationError, "alpha = -0.1 must be a finite number ≥ 0"),
    (lambda: linear.Rule("tdc", alpha=0.1, beta=-1.0), ValidationError, "beta = -1"),
    (lambda: linear.Rule("semi-gradient-td", alpha=0.1, lam=2.0), ValidationError, "lam = 2 is outside"),
    (lambda: linear.Rule("tdc", alpha=0.1, lam=0.5), ValidationError, "traces .* are for semi-gradient-td"),
    (lambda: linear.Rule("target-network", alpha=0.1, target_period=0), ValidationError, "target_period = 0"),
    (lambda: linear.sampled(np.random.default_rng(0), linear.Rule("semi-gradient-dp", alpha=0.1), BAIRD, 5),
     ValidationError, "semi-gradient-dp is the expected"),
    (lambda: linear.expected(linear.Rule("lstd", alpha=0.0), BAIRD, 5), ValidationError, "closed-form"),
    (lambda: linear.expected(linear.Rule("tdc", alpha=0.1), BAIRD, 5, w0=np.ones(3)), ValidationError,
     r"w0 has shape \(3,\), expected \(8,\)"),
    (lambda: linear.expected(linear.Rule("tdc", alpha=0.1), BAIRD, 0), ValidationError, "sweeps = 0"),
    (lambda: linear.expected(linear.Rule("tdc", alpha=0.1), BAIRD, 5, weighting=np.ones(3)), ValidationError,
     r"weighting has shape \(3,\)"),
    (lambda: linear.expected(linear.Rule("tdc", alpha=0.1), [BAIRD, toy()], 5), ValidationError, "must share"),
])
def test_bad_input_gets_one_clear_error(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_problem_checks():
    two = zoo.two_state()
    bad = zoo.Problem(two.mdp, features=np.array([[1.0], [2.0], [3.0]]), target=two.target)
    with pytest.raises(ValidationError, match="features of terminal state 2 must be zero"):
        linear.expected(linear.Rule("semi-gradient-td", alpha=0.1), bad, 3)
    uncovered = zoo.Problem(BAIRD.mdp, features=BAIRD.features, target=BAIRD.target,
                            behaviour=np.tile([1.0, 0.0], (7, 1)))
    with pytest.raises(ValidationError, match="never takes action 1 in state 0"):
        linear.expected(linear.Rule("semi-gradient-td", alpha=0.1), uncovered, 3)
    with pytest.raises(ValidationError, match="with γ = 1 every episode must terminate"):
        linear.true_values(BAIRD, gamma=1.0)


# ---------------------------------------------------------------------------------- n-step TD
def test_expected_n_step_matches_path_enumeration():
    # E over S_t ~ d and n behaviour steps of ρ_{t:t+n−1}(G_{t:t+n} − v(S_t)) x_t, path by path.
    problem, n, alpha, gamma = toy(gamma=0.7), 3, 0.1, 0.7
    mdp, Phi, w = problem.mdp, problem.features, problem.w0
    d = linear.behaviour_distribution(problem)
    rho = linear.importance_ratios(problem.target, problem.behaviour)
    step = np.zeros(2)
    paths = [(s0,) for s0 in range(2)]
    for _ in range(n):
        paths = [p + (a, s) for p in paths for a in range(2) for s in range(2)]
    for p in paths:
        prob, ratio, ret = d[p[0]], 1.0, 0.0
        for k in range(n):
            s, a, s2 = p[2 * k], p[2 * k + 1], p[2 * k + 2]
            prob *= problem.behaviour[s, a] * mdp.P[s, a, s2]
            ratio *= rho[s, a]
            ret += gamma ** k * mdp.R[s, a]
        ret += gamma ** n * Phi[p[-1]] @ w
        step += prob * ratio * (ret - Phi[p[0]] @ w) * Phi[p[0]]
    curve = linear.expected(linear.Rule("semi-gradient-td", alpha=alpha, n=n), problem, 1)
    np.testing.assert_allclose(curve.final[0], w + alpha * step, rtol=1e-12)


def test_sampled_n_step_matches_a_hand_loop_across_episode_ends():
    problem, n, alpha = zoo.a_split(), 3, 0.2
    curve = linear.sampled(np.random.default_rng(4), linear.Rule("semi-gradient-td", alpha=alpha, n=n), problem, 12,
                           streams=2, gamma=1.0)
    traj = rollout(np.random.default_rng(4), problem.mdp, problem.behaviour, 12, 2)
    Phi = problem.features
    for b in range(2):
        w = problem.w0.copy()
        for t in range(n - 1, 12):
            tau = t - n + 1
            ret, k = 0.0, tau
            while True:  # rewards until the episode ends or the window does, then bootstrap
                ret += traj.r_t[k, b]
                if traj.terminated_t[k, b]:
                    break
                if k == t:
                    ret += Phi[traj.next_s_t[k, b]] @ w
                    break
                k += 1
            w = w + alpha * (ret - Phi[traj.s_t[tau, b]] @ w) * Phi[traj.s_t[tau, b]]
        np.testing.assert_allclose(curve.final[b], w, rtol=1e-12)


def test_sampled_n_step_importance_ratios_by_hand():
    problem, n, alpha = toy(gamma=0.5), 2, 0.05
    curve = linear.sampled(np.random.default_rng(9), linear.Rule("semi-gradient-td", alpha=alpha, n=n), problem, 8,
                           streams=3)
    traj = rollout(np.random.default_rng(9), problem.mdp, problem.behaviour, 8, 3)
    Phi = problem.features
    for b in range(3):
        w = problem.w0.copy()
        for t in range(1, 8):
            (s0, a0, s1), (a1, s2) = (traj.s_t[t - 1, b], traj.a_t[t - 1, b], traj.s_t[t, b]), (traj.a_t[t, b],
                                                                                               traj.next_s_t[t, b])
            ratio = (2.0 * a0) * (2.0 * a1)
            ret = problem.mdp.R[s0, a0] + 0.5 * problem.mdp.R[s1, a1] + 0.25 * Phi[s2] @ w
            w = w + alpha * ratio * (ret - Phi[s0] @ w) * Phi[s0]
        np.testing.assert_allclose(curve.final[b], w, rtol=1e-12)


def test_n_step_is_only_for_semi_gradient_td():
    with pytest.raises(ValidationError, match="n-step returns"):
        linear.Rule("tdc", alpha=0.1, n=3)
    with pytest.raises(ValidationError, match="n = 0 must be an integer"):
        linear.Rule("semi-gradient-td", alpha=0.1, n=0)


def test_a_sampled_stream_does_not_depend_on_how_many_streams_run_beside_it():
    from triad.sampling import StreamRNG

    problem = zoo.baird()
    rule = linear.Rule("semi-gradient-td", alpha=0.01)
    few = linear.sampled(StreamRNG(2, key=5), rule, problem, 300, streams=2)
    many = linear.sampled(StreamRNG(6, key=5), rule, problem, 300, streams=6)
    np.testing.assert_array_equal(few.w, many.w[:, :2])
    np.testing.assert_array_equal(few.diverged_at, many.diverged_at[:2])
