"""Bellman operators: contraction laws, fixed points, induced chains and distributions."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from triad import FiniteMDP, ValidationError
from triad import operators as ops
from triad.solvers import evaluate_policy, solve
from triad.testing import mdp_and_policy, mdps, value_functions
from triad.zoo import baird, chain


def _pairs(mdp_strategy):
    return mdp_strategy.flatmap(lambda m: st.tuples(st.just(m), value_functions(m.S, batch=3),
                                                    value_functions(m.S, batch=3)))


@given(_pairs(mdps()))
def test_optimality_operator_is_gamma_contraction_in_sup_norm(case):
    mdp, U, V = case
    lhs = np.abs(ops.bellman_optimality_v(mdp, U) - ops.bellman_optimality_v(mdp, V)).max(axis=-1)
    rhs = mdp.gamma * np.abs(U - V).max(axis=-1)
    assert np.all(lhs <= rhs + 1e-9)


@given(mdp_and_policy().flatmap(lambda c: st.tuples(st.just(c), value_functions(c[0].S, batch=2),
                                                     value_functions(c[0].S, batch=2))))
def test_policy_operator_is_gamma_contraction_in_sup_norm(case):
    (mdp, pi), U, V = case
    lhs = np.abs(ops.bellman_v(mdp, U, pi) - ops.bellman_v(mdp, V, pi)).max(axis=-1)
    assert np.all(lhs <= mdp.gamma * np.abs(U - V).max(axis=-1) + 1e-9)


@given(mdp_and_policy())
def test_v_pi_is_the_fixed_point_of_b_pi(case):
    mdp, pi = case
    V = evaluate_policy(mdp, pi)
    scale = 1 + np.abs(V).max()
    np.testing.assert_allclose(ops.bellman_v(mdp, V, pi), V, atol=1e-9 * scale)
    Q = ops.q_values(mdp, V)
    np.testing.assert_allclose(ops.bellman_q(mdp, Q, pi), Q, atol=1e-9 * scale)


@given(mdps())
def test_batched_operators_equal_one_at_a_time(mdp):
    V = np.arange(2 * mdp.S, dtype=float).reshape(2, mdp.S)
    batch = ops.bellman_optimality_v(mdp, V)
    for i in range(2):
        np.testing.assert_allclose(batch[i], ops.bellman_optimality_v(mdp, V[i]))
    Q = ops.q_values(mdp, V)
    np.testing.assert_allclose(ops.bellman_optimality_q(mdp, Q)[1], ops.bellman_optimality_q(mdp, Q[1]))


@given(mdp_and_policy())
def test_induced_chain_and_reward(case):
    mdp, pi = case
    P_pi = ops.policy_transition(mdp, pi)
    dense = P_pi.toarray() if hasattr(P_pi, "toarray") else P_pi
    np.testing.assert_allclose(dense.sum(axis=1), 1.0)
    expected = np.einsum("sa,sat->st", pi, mdp.to_dense().P)
    np.testing.assert_allclose(dense, expected, atol=1e-12)
    np.testing.assert_allclose(ops.policy_reward(mdp, pi), (pi * mdp.R).sum(1))


@given(mdp_and_policy())
def test_discounted_visitation_is_a_distribution_satisfying_its_flow_equation(case):
    mdp, pi = case
    d = ops.discounted_visitation(mdp, pi)
    assert d.min() >= 0 and d.sum() == pytest.approx(1.0)
    P_pi = ops.policy_transition(mdp, pi)
    dense = P_pi.toarray() if hasattr(P_pi, "toarray") else P_pi
    # d = (1 − γ)μ + γ d P^π
    np.testing.assert_allclose(d, (1 - mdp.gamma) * mdp.initial + mdp.gamma * d @ dense, atol=1e-9)


def test_stationary_distribution_of_baird_behaviour_is_uniform():
    problem = baird()
    d = ops.stationary_distribution(problem.mdp, problem.behaviour)
    np.testing.assert_allclose(d, np.full(7, 1 / 7), atol=1e-12)


def test_stationary_distribution_not_unique_is_an_error():
    mdp = chain(4).mdp  # the terminal state is the only closed class ...
    right = np.tile([0.0, 1.0], (4, 1))
    np.testing.assert_allclose(ops.stationary_distribution(mdp, right), [0, 0, 0, 1], atol=1e-12)
    P = np.zeros((2, 1, 2))
    P[0, 0, 0] = P[1, 0, 1] = 1.0  # ... but two absorbing states give two closed classes
    with pytest.raises(ValidationError, match="not unique: the chain has 2 closed classes"):
        ops.stationary_distribution(FiniteMDP(P, np.zeros((2, 1)), 0.5), np.ones((2, 1)))


def test_greedy_epsilon_greedy_boltzmann():
    Q = np.array([[1.0, 3.0, 3.0], [0.0, -1.0, 5.0]])
    np.testing.assert_array_equal(ops.greedy_actions(Q), [1, 2])  # ties go to the lowest index
    allowed = np.array([[True, False, True], [True, True, False]])
    np.testing.assert_array_equal(ops.greedy_actions(Q, allowed), [2, 0])
    eg = ops.epsilon_greedy(Q, 0.3, allowed)
    np.testing.assert_allclose(eg, [[0.15, 0.0, 0.85], [0.85, 0.15, 0.0]])
    b = ops.boltzmann(Q, 1.0)
    np.testing.assert_allclose(b[0], np.exp([1, 3, 3]) / np.exp([1, 3, 3]).sum())
    assert np.all(np.isfinite(ops.boltzmann(Q * 1e6, 1e-3)))
    with pytest.raises(ValidationError, match="epsilon = 1.5 is outside"):
        ops.epsilon_greedy(Q, 1.5)
    with pytest.raises(ValidationError, match="temperature = 0 must be positive"):
        ops.boltzmann(Q, 0.0)


def test_td_system_on_baird_matches_hand_expansion():
    """A = ΦᵀD(γP^π − I)Φ with uniform D and the target policy (all mass to state 7)."""
    problem = baird()
    Phi = problem.features
    A, b = ops.td_system(problem.mdp, problem.target, Phi, np.full(7, 1 / 7))
    P_pi = np.zeros((7, 7))
    P_pi[:, 6] = 1.0
    expected = Phi.T @ np.diag(np.full(7, 1 / 7)) @ (0.99 * P_pi - np.eye(7)) @ Phi
    np.testing.assert_allclose(A, expected)
    np.testing.assert_array_equal(b, np.zeros(8))
    with pytest.raises(ValidationError, match=r"features have shape \(6, 8\)"):
        ops.td_system(problem.mdp, problem.target, Phi[:6], np.full(7, 1 / 7))


def _masked_mdp():
    """2 states, 3 actions; the forbidden action has the largest reward in each state.

    State 0 allows a0 (→ s1, r = 1) and a2 (stay, r = 3), forbids a1 (stay, r = 10); state 1 allows
    a0 (→ s0, r = 0) and a1 (stay, r = 3), forbids a2 (stay, r = 20). γ = 0.5.
    """
    P = np.zeros((2, 3, 2))
    P[0, 0, 1] = P[0, 1, 0] = P[0, 2, 0] = 1.0
    P[1, 0, 0] = P[1, 1, 1] = P[1, 2, 1] = 1.0
    R = np.array([[1.0, 10.0, 3.0], [0.0, 3.0, 20.0]])
    allowed = np.array([[True, False, True], [True, True, False]])
    return FiniteMDP(P, R, 0.5, allowed=allowed)


def test_optimality_operators_and_greedy_respect_the_action_mask():
    mdp = _masked_mdp()
    Q = np.array([[1.0, 10.0, 4.0], [-1.0, 2.0, 30.0]])
    np.testing.assert_array_equal(ops.max_values(Q, mdp.allowed), [4.0, 2.0])  # unmasked: (10, 30)
    np.testing.assert_array_equal(ops.max_values(np.stack([Q, -Q]), mdp.allowed), [[4.0, 2.0], [-1.0, 1.0]])
    # (B*Q)(s, a) = R(s, a) + γ max_{allowed a'} Q(s', a'): the successor maxima are (4, 2).
    np.testing.assert_allclose(ops.bellman_optimality_q(mdp, Q), [[1 + 0.5 * 2, 10 + 0.5 * 4, 3 + 0.5 * 4],
                                                                  [0 + 0.5 * 4, 3 + 0.5 * 2, 20 + 0.5 * 2]])
    # V = (4, 6): Q(0, ·) = (1 + 3, [10 + 2], 3 + 2), Q(1, ·) = (0 + 2, 3 + 3, [20 + 3]).
    np.testing.assert_allclose(ops.bellman_optimality_v(mdp, np.array([4.0, 6.0])), [5.0, 6.0])
    np.testing.assert_array_equal(ops.greedy(Q, mdp.allowed), [[0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(ops.greedy(Q, mdp.allowed, ties="split"), [[0, 0, 1], [0, 1, 0]])
    # Optimal: stay in each state for 3 per step, V* = 3/(1 − γ) = (6, 6) (the forbidden stays would
    # give 20 and 40); the greedy policy of V* never picks a forbidden action.
    for method in ("vi", "pi"):
        result = solve(mdp, method, tol=1e-12)
        np.testing.assert_allclose(result.V, [6.0, 6.0], atol=1e-9)
        np.testing.assert_array_equal(result.policy, [[0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(ops.greedy(ops.q_values(mdp, np.array([6.0, 6.0])), mdp.allowed),
                                  [[0, 0, 1], [0, 1, 0]])


def test_td_system_with_rewards_matches_a_plain_loop_over_states():
    """A = Σ_s d(s) φ(s)(γ Σ_s' P^π(s, s') φ(s') − φ(s))ᵀ and b = Σ_s d(s) φ(s) Σ_a π(a|s) R(s, a)."""
    P = np.array([[[0.2, 0.8, 0.0], [0.0, 0.5, 0.5]],
                  [[1.0, 0.0, 0.0], [0.3, 0.3, 0.4]],
                  [[0.0, 0.0, 1.0], [0.6, 0.0, 0.4]]])
    R = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 4.0]])
    gamma = 0.8
    mdp = FiniteMDP(P, R, gamma)
    pi = np.array([[0.3, 0.7], [1.0, 0.0], [0.25, 0.75]])
    Phi = np.array([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]])
    d = np.array([0.5, 0.2, 0.3])
    A = np.zeros((2, 2))
    b = np.zeros(2)
    for s in range(3):
        nxt = np.zeros(2)
        for s2 in range(3):
            nxt += sum(pi[s, a] * P[s, a, s2] for a in range(2)) * Phi[s2]
        A += d[s] * np.outer(Phi[s], gamma * nxt - Phi[s])
        b += d[s] * Phi[s] * sum(pi[s, a] * R[s, a] for a in range(2))
    assert np.abs(b).min() > 0.1
    A_lib, b_lib = ops.td_system(mdp, pi, Phi, d)
    np.testing.assert_allclose(A_lib, A, rtol=1e-12)
    np.testing.assert_allclose(b_lib, b, rtol=1e-12)
    # Same system when the MDP is stored sparse (P^π is then a sparse product).
    A_sp, b_sp = ops.td_system(mdp.to_sparse(), pi, Phi, d)
    np.testing.assert_allclose(A_sp, A, rtol=1e-12)
    np.testing.assert_allclose(b_sp, b, rtol=1e-12)


def test_greedy_ties_split_evenly_and_epsilon_greedy_rows_per_state():
    Q = np.array([[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]])
    np.testing.assert_allclose(ops.greedy(Q, ties="split"), [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    allowed = np.array([[True, False, True], [True, True, True]])
    np.testing.assert_allclose(ops.epsilon_greedy(Q, 0.3, allowed, ties="split"),
                               [[0.7 + 0.15, 0.0, 0.15], [0.1, 0.1 + 0.35, 0.1 + 0.35]])
    with pytest.raises(ValidationError, match="ties = 'random' must be"):
        ops.greedy(Q, ties="random")
