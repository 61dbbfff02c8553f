"""The exact policy gradient, the γ^t-dropped direction, and why the latter is not a gradient."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from triad import FiniteMDP, ValidationError, zoo
from triad.analysis import policy_gradient as pg
from triad.operators import stationary_distribution
from triad.testing import mdps


def _thetas(mdp):
    return hnp.arrays(np.float64, (mdp.S, mdp.A), elements=st.floats(-3, 3, allow_nan=False))


def _finite_difference_gradient(mdp, theta, h=1e-5):
    grad = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        grad[idx] = (pg.objective(mdp, theta + e) - pg.objective(mdp, theta - e)) / (2 * h)
    return grad


def two_decisions(gamma=0.5):
    """State 0: action 0 pays 1 and ends, action 1 pays 0 and moves to state 1; state 1: actions pay 0 / 2 and end.

    At θ = 0 (uniform): V(1) = 1, Q(0, ·) = (1, γ) = (1, 0.5), V(0) = 0.75, so A(0, ·) = (0.25, −0.25)
    and A(1, ·) = (−1, 1). Discounted visits ρ = (1, γ·½) = (1, 0.25); visits per episode η = (1, ½).
    """
    P = np.zeros((3, 2, 3))
    P[0, 0, 2] = P[0, 1, 1] = 1.0
    P[1, :, 2] = P[2, :, 2] = 1.0
    R = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    return FiniteMDP(P, R, gamma, mu=[1.0, 0.0, 0.0], terminal=[False, False, True])


# ------------------------------------------------------------------------------ exact gradient
@settings(max_examples=40)
@given(st.data())
def test_exact_gradient_matches_finite_differences_of_J(data):
    mdp = data.draw(mdps(max_states=4, max_actions=3, gamma=st.floats(0.0, 0.9)))
    theta = data.draw(_thetas(mdp))
    scale = 1.0 + np.abs(mdp.R).max() / (1.0 - mdp.gamma)
    np.testing.assert_allclose(pg.policy_gradient(mdp, theta), _finite_difference_gradient(mdp, theta),
                               rtol=1e-5, atol=1e-7 * scale)


def test_log_linear_gradient_matches_finite_differences_on_the_aliased_example():
    problem = zoo.aliased_decision(gamma=0.8, delay=3)
    mdp, features = problem.mdp, problem.policy_features
    for theta in (np.array([-1.0]), np.array([0.3]), np.array([2.0])):
        h = 1e-6
        fd = (pg.objective(mdp, theta + h, features) - pg.objective(mdp, theta - h, features)) / (2 * h)
        np.testing.assert_allclose(pg.policy_gradient(mdp, theta, features), [fd], rtol=1e-7)


def test_gradient_respects_forbidden_actions():
    from triad import zoo

    mdp = zoo.make("maximization-bias").mdp
    theta = np.random.default_rng(0).normal(size=(mdp.S, mdp.A))
    grad = pg.policy_gradient(mdp, theta)
    assert np.all(grad[~mdp.allowed] == 0.0)
    pi = pg.softmax_policy(mdp, theta)
    assert np.all(pi[~mdp.allowed] == 0.0) and np.allclose(pi.sum(axis=1), 1.0)
    np.testing.assert_allclose(grad, _finite_difference_gradient(mdp, theta), atol=1e-8)


# ---------------------------------------------------------------------- the γ^t-dropped direction
def test_worked_example_weightings_fields_and_angle():
    mdp = two_decisions()
    theta = np.zeros((3, 2))
    pi = pg.softmax_policy(mdp, theta)
    np.testing.assert_allclose(pg.discounted_weighting(mdp, pi)[:2], [1.0, 0.25])
    np.testing.assert_allclose(pg.undiscounted_visitation(mdp, pi), [1.0, 0.5, 0.0])
    # Entry (s, a) is w(s) π(a|s) A(s, a) with the values in two_decisions' docstring.
    true = pg.policy_gradient(mdp, theta)
    dropped = pg.dropped_discount_direction(mdp, theta)
    np.testing.assert_allclose(true, [[0.125, -0.125], [-0.125, 0.125], [0.0, 0.0]])
    np.testing.assert_allclose(dropped, [[0.125, -0.125], [-0.25, 0.25], [0.0, 0.0]])
    # cos = (2·0.125² + 2·0.125·0.25) / (0.25 · √(2·0.125² + 2·0.25²)) = 3/√10, i.e. arctan(1/3).
    assert pg.angle(true, dropped) == pytest.approx(np.degrees(np.arctan(1 / 3)), abs=1e-9)
    assert pg.angle(true, dropped) == pytest.approx(18.4349, abs=1e-4)


@settings(max_examples=30)
@given(st.data())
def test_dropped_direction_equals_the_gradient_in_a_single_state_mdp(data):
    # One state: the stationary law is 1, so both weightings are 1/(1 − γ).
    mdp = data.draw(mdps(min_states=1, max_states=1, max_actions=4))
    theta = data.draw(_thetas(mdp))
    np.testing.assert_allclose(pg.dropped_discount_direction(mdp, theta), pg.policy_gradient(mdp, theta),
                               rtol=1e-9, atol=1e-12)


@settings(max_examples=30)
@given(st.data())
def test_dropped_direction_equals_the_gradient_when_gamma_is_zero_and_mu_is_stationary(data):
    # γ = 0: ρ_0 = μ. If μ is the stationary law of π_θ, both fields weight states identically.
    base = data.draw(mdps(max_states=4, max_actions=3, gamma=st.just(0.0)))
    theta = data.draw(_thetas(base))
    try:
        d = stationary_distribution(base, pg.softmax_policy(base, theta))
    except ValidationError:
        assume(False)
    mdp = FiniteMDP(base.P, base.R, 0.0, mu=d)
    np.testing.assert_allclose(pg.dropped_discount_direction(mdp, theta), pg.policy_gradient(mdp, theta),
                               rtol=1e-8, atol=1e-10)


def test_dropped_direction_equals_the_gradient_when_episodes_last_one_step():
    rng = np.random.default_rng(3)
    P = np.zeros((4, 3, 4))
    P[:, :, 3] = 1.0
    R = rng.normal(size=(4, 3))
    R[3] = 0.0
    mdp = FiniteMDP(P, R, 0.9, mu=[0.2, 0.5, 0.3, 0.0], terminal=[False, False, False, True])
    theta = rng.normal(size=(4, 3))
    np.testing.assert_allclose(pg.dropped_discount_direction(mdp, theta), pg.policy_gradient(mdp, theta),
                               rtol=1e-12)


def test_aliased_example_fields_point_opposite_ways_with_hand_values():
    problem = zoo.make("aliased-decision")
    mdp, features = problem.mdp, problem.policy_features
    g = 0.9 ** 21
    theta = np.zeros(1)
    # At p = ½ with σ'(0) = ¼: ∇J = ¼(2g·4·½ − 1), dropped = ¼((1 + g)·4·½ − 1) (aliased_decision docstring).
    np.testing.assert_allclose(pg.policy_gradient(mdp, theta, features), [0.25 * (4 * g - 1)], rtol=1e-10)
    np.testing.assert_allclose(pg.dropped_discount_direction(mdp, theta, features), [0.25 * (2 * (1 + g) - 1)],
                               rtol=1e-10)
    assert pg.angle(pg.policy_gradient(mdp, theta, features),
                    pg.dropped_discount_direction(mdp, theta, features)) == pytest.approx(180.0)
    assert pg.objective(mdp, theta, features) == pytest.approx(1 - 0.5 + g * 4 * 0.25)


def test_following_each_field_on_the_aliased_example_reaches_opposite_ends():
    problem = zoo.make("aliased-decision")
    mdp, features = problem.mdp, problem.policy_features
    g = 0.9 ** 21
    true = pg.ascend(mdp, np.zeros(1), "true", step_size=1.0, steps=400, features=features)
    dropped = pg.ascend(mdp, np.zeros(1), "dropped", step_size=1.0, steps=400, features=features)
    assert true.J.shape == (401,) and true.theta.shape == (401, 1)
    assert true.J[0] == dropped.J[0] == pytest.approx(0.5 + g)
    assert true.J[-1] > 0.99  # J* = 1 (quit at once)
    assert dropped.J[-1] == pytest.approx(4 * g, abs=2e-3)  # p → 1: the minimum of J over the class
    assert np.all(np.diff(true.J) > -1e-12)  # exact gradient ascent with a small step never loses J
    assert dropped.theta[-1, 0] > 5 and true.theta[-1, 0] < -5


def test_undiscounted_visitation_rejects_improper_policies_and_scales_the_stationary_law_otherwise():
    P = np.zeros((3, 1, 3))
    P[0, 0, 1] = P[1, 0, 1] = P[2, 0, 2] = 1.0
    trapped = FiniteMDP(P, np.zeros((3, 1)), 0.9, terminal=[False, False, True])
    with pytest.raises(ValidationError, match="state 0 cannot reach a terminal state"):
        pg.undiscounted_visitation(trapped, np.ones((3, 1)))
    P = np.array([[[0.0, 1.0]], [[0.5, 0.5]]])
    cycle = FiniteMDP(P, np.zeros((2, 1)), 0.9)
    # Stationary law (1/3, 2/3), scaled to the total mass 1/(1 − γ) = 10 of the discounted weighting.
    np.testing.assert_allclose(pg.undiscounted_visitation(cycle, np.ones((2, 1))), [10 / 3, 20 / 3])


# --------------------------------------------------------------------------- not a gradient
def test_loop_tools_on_a_pure_rotation():
    def rotation(x):  # F = (−y, x): curl 2, circulation 2πr²
        return np.array([-x[1], x[0]])

    K = pg.curl(rotation, np.zeros(2))
    np.testing.assert_allclose(K, [[0.0, -1.0], [1.0, 0.0]], atol=1e-9)
    u, v, density = pg.curl_plane(K)
    assert density == pytest.approx(2.0)
    assert pg.loop_integral(rotation, np.array([3.0, -1.0]), u, v, 0.5) == pytest.approx(2 * np.pi * 0.25)
    assert pg.loop_integral(lambda x: 2 * x, np.zeros(2), u, v, 0.5) == pytest.approx(0.0, abs=1e-14)


def test_dropped_direction_has_curl_and_circulation_on_the_worked_example():
    mdp = two_decisions()
    theta = np.zeros((3, 2))
    K_true = pg.curl(pg.field(mdp, "true"), theta)
    K_drop = pg.curl(pg.field(mdp, "dropped"), theta)
    assert np.abs(K_true).max() < 1e-9
    # ∂F(0,0)/∂θ(1,1) is the Hessian entry −1/16 for both fields, while ∂F(1,1)/∂θ(0,0) carries
    # η(1) = ρ(1)/γ and so is −1/8: K = (−1/16 + 1/8)/2 = 1/32.
    # By the symmetry of the two actions the whole block is (1/32)·[[−1, 1], [1, −1]], whose top
    # singular value 1/16 gives the largest circulation density 2 · 1/16.
    np.testing.assert_allclose(K_drop[:2, 2:4], np.array([[-1, 1], [1, -1]]) / 32, atol=1e-9)
    u, v, density = pg.curl_plane(K_drop)
    assert density == pytest.approx(1 / 8, abs=1e-8)
    for radius in (1e-2, 3e-2):
        circulation = pg.loop_integral(pg.field(mdp, "dropped"), theta, u, v, radius)
        assert circulation == pytest.approx(np.pi * radius**2 * density, rel=1e-3)  # Stokes
        assert abs(pg.loop_integral(pg.field(mdp, "true"), theta, u, v, radius)) < 1e-15


@settings(max_examples=15)
@given(st.data())
def test_the_true_gradient_has_a_symmetric_jacobian(data):
    mdp = data.draw(mdps(max_states=3, max_actions=3, gamma=st.floats(0.0, 0.9)))
    theta = data.draw(_thetas(mdp))
    D = pg.jacobian(pg.field(mdp, "true"), theta)
    scale = 1.0 + np.abs(mdp.R).max() / (1.0 - mdp.gamma)
    np.testing.assert_allclose(D, D.T, atol=1e-7 * scale)


def test_dropped_direction_has_curl_on_a_chain_and_a_garnet():
    from triad import zoo

    for spec in ("chain:n=5,slip=0.1,gamma=0.9", "garnet:S=5,A=3,b=3,gamma=0.9"):
        mdp = zoo.make(spec).mdp
        theta = np.random.default_rng(0).normal(size=(mdp.S, mdp.A))
        K_true = pg.curl(pg.field(mdp, "true"), theta)
        K_drop = pg.curl(pg.field(mdp, "dropped"), theta)
        assert np.abs(K_drop).max() > 1e3 * max(np.abs(K_true).max(), 1e-12), spec


# ------------------------------------------------------------------------------- bad input
def test_bad_input_gives_one_clear_error():
    mdp = two_decisions()
    with pytest.raises(ValidationError, match=r"theta has shape \(2,\), expected \(S, A\) = \(3, 2\)"):
        pg.policy_gradient(mdp, np.zeros(2))
    with pytest.raises(ValidationError, match=r"features have shape \(3, 2\), expected \(S, A, d\)"):
        pg.policy_gradient(mdp, np.zeros(2), features=np.zeros((3, 2)))
    with pytest.raises(ValidationError, match=r"theta has shape \(3,\), expected \(2,\)"):
        pg.policy_gradient(mdp, np.zeros(3), features=np.zeros((3, 2, 2)))
    with pytest.raises(ValidationError, match=r"theta\[1, 0\] is NaN"):
        pg.objective(mdp, np.array([[0.0, 0.0], [np.nan, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValidationError, match="unknown field 'both'"):
        pg.field(mdp, "both")
    with pytest.raises(ValidationError, match="step_size = 0 must be positive"):
        pg.ascend(mdp, np.zeros((3, 2)), "true", step_size=0, steps=3)
    with pytest.raises(ValidationError, match="delay = -1"):
        zoo.aliased_decision(delay=-1)
