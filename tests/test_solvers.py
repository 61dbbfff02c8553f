"""Exact solvers: agreement, guaranteed accuracy, optimality of the greedy policy, known values."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from triad import FiniteMDP, ValidationError, solvers
from triad import operators as ops
from triad.mdp import uniform_policy
from triad.testing import mdps
from triad.zoo import chain, garnet, maximization_bias, sutton_barto_grid

# Figures 3.2 and 3.5 of Sutton & Barto (2018), printed to one decimal.
SB_FIG_3_2 = [[3.3, 8.8, 4.4, 5.3, 1.5], [1.5, 3.0, 2.3, 1.9, 0.5], [0.1, 0.7, 0.7, 0.4, -0.4],
              [-1.0, -0.4, -0.4, -0.6, -1.2], [-1.9, -1.3, -1.2, -1.4, -2.0]]
SB_FIG_3_5 = [[22.0, 24.4, 22.0, 19.4, 17.5], [19.8, 22.0, 19.8, 17.8, 16.0], [17.8, 19.8, 17.8, 16.0, 14.4],
              [16.0, 17.8, 16.0, 14.4, 13.0], [14.4, 16.0, 14.4, 13.0, 11.7]]


def test_sutton_barto_gridworld_reproduces_printed_values():
    mdp = sutton_barto_grid().mdp
    V_random = solvers.evaluate_policy(mdp, uniform_policy(mdp)).reshape(5, 5)
    np.testing.assert_array_equal(np.round(V_random, 1), SB_FIG_3_2)
    for method in solvers.METHODS:
        V_star = solvers.solve(mdp, method, tol=1e-8).V.reshape(5, 5)
        np.testing.assert_array_equal(np.round(V_star, 1), SB_FIG_3_5)


def test_sutton_barto_optimal_policy_from_state_a_and_b():
    result = solvers.solve(sutton_barto_grid().mdp, "pi")
    # Book, Figure 3.5: V*(A) = 24.4 = 10 + γ⁵·V*(A)… i.e. 10 / (1 − 0.9⁵) = 24.419
    assert result.V[1] == pytest.approx(10 / (1 - 0.9**5), abs=1e-9)


def test_chain_values_by_hand():
    n, gamma = 7, 0.9
    for method in solvers.METHODS:
        result = solvers.solve(chain(n, gamma=gamma).mdp, method, tol=1e-10)
        expected = np.append(gamma ** np.arange(n - 2, -1, -1.0), 0.0)
        np.testing.assert_allclose(result.V, expected, atol=1e-9)
        np.testing.assert_array_equal(result.actions[:-1], 1)  # always right


@given(mdps(max_states=7, max_actions=4))
def test_all_methods_agree_and_vi_is_eps_optimal(mdp):
    exact = solvers.policy_iteration(mdp)
    for method in ("vi", "mpi", "lp"):
        result = solvers.solve(mdp, method, tol=1e-7)
        assert result.converged
        scale = 1 + np.abs(exact.V).max()
        assert np.abs(result.V - exact.V).max() <= result.error_bound + 1e-9 * scale
    vi = solvers.value_iteration(mdp, tol=1e-4)
    assert np.abs(vi.V - exact.V).max() <= 1e-4 + 1e-9 * (1 + np.abs(exact.V).max())


@given(mdps(max_states=7, max_actions=4))
def test_greedy_policy_of_v_star_is_optimal(mdp):
    star = solvers.linear_program(mdp)
    V_greedy = solvers.evaluate_policy(mdp, star.policy)
    scale = 1 + np.abs(star.V).max()
    np.testing.assert_allclose(V_greedy, star.V, atol=1e-7 * scale)
    # … and no policy does better at any state (checked against every deterministic policy's B^π).
    np.testing.assert_array_less(ops.bellman_optimality_v(mdp, V_greedy) - V_greedy, 1e-7 * scale)


def _tied_actions() -> FiniteMDP:
    """Actions tied at V0 = const but not after: dense and CSR break the first tie differently."""
    P = np.tile(np.array([3.0, 2, 2, 2, 2, 2]) / 13, (6, 3, 1))
    P[:, 1] = P[:, 2] = np.array([1.0, 2, 2, 2, 2, 2]) / 11
    R = np.zeros((6, 3))
    R[0, :2] = -1.0, 1.0
    return FiniteMDP(P, R, 0.1875)


@given(mdps(max_states=6, max_actions=3, sparse=False), st.sampled_from(solvers.METHODS))
@example(_tied_actions(), "mpi")
def test_dense_and_sparse_storage_give_identical_results(mdp, method):
    dense = solvers.solve(mdp, method, tol=1e-9)
    sparse = solvers.solve(mdp.to_sparse(), method, tol=1e-9)
    np.testing.assert_allclose(dense.V, sparse.V, atol=1e-8 * (1 + np.abs(dense.V).max()))
    # Only VI's path is storage-independent: dense and CSR sum P·V in different orders, so exactly
    # tied actions can break differently (both greedy), which changes the path of PI and MPI, and
    # HiGHS may pivot differently. The values above must agree all the same.
    if method == "vi":
        assert dense.iterations == sparse.iterations


def test_compiled_kernel_matches_numpy_path(monkeypatch):
    mdp = garnet(S=300, A=3, b=5, seed=4).mdp
    reference = solvers.value_iteration(mdp, tol=1e-10)
    pi_ref = solvers.policy_iteration(mdp)
    monkeypatch.setattr(solvers, "KERNEL_MIN_SIZE", 1)
    compiled = solvers.value_iteration(mdp, tol=1e-10)
    np.testing.assert_allclose(compiled.V, reference.V, rtol=0, atol=1e-10)
    assert compiled.iterations == reference.iterations
    np.testing.assert_array_equal(solvers.policy_iteration(mdp).actions, pi_ref.actions)
    np.testing.assert_allclose(solvers.modified_policy_iteration(mdp, tol=1e-10).V, reference.V, atol=1e-9)


def test_large_sparse_policy_evaluation_uses_iterative_solver():
    mdp = garnet(S=5000, A=2, b=5, seed=1).mdp
    pi = uniform_policy(mdp)
    V = solvers.evaluate_policy(mdp, pi)
    np.testing.assert_allclose(ops.bellman_v(mdp, V, pi), V, atol=1e-8)


def test_action_mask_is_respected():
    mdp = maximization_bias().mdp
    for method in solvers.METHODS:
        result = solvers.solve(mdp, method)
        assert result.actions[0] == 1  # right: 0 beats γ·(−0.1)
        assert result.V[0] == pytest.approx(0.0, abs=1e-6)
        assert result.V[1] == pytest.approx(-0.1, abs=1e-6)


def test_residual_history_and_bound_reported():
    result = solvers.value_iteration(garnet(S=200, seed=3).mdp, tol=1e-8)
    assert len(result.residuals) == result.iterations
    assert result.error_bound <= 1e-8 and result.converged and result.seconds > 0
    assert result.residuals[-1] < result.residuals[0]


def test_vi_reports_non_convergence_when_capped():
    with pytest.warns(RuntimeWarning, match="vi stopped after 2 iterations"):
        result = solvers.value_iteration(garnet(S=50, seed=0).mdp, tol=1e-12, max_iter=2)
    assert not result.converged and result.error_bound > 1e-12


def test_bad_arguments():
    mdp = chain(3).mdp
    with pytest.raises(ValidationError, match="unknown method 'foo'"):
        solvers.solve(mdp, "foo")
    with pytest.raises(ValidationError, match="tol = 0.0 must be a positive number"):
        solvers.value_iteration(mdp, tol=0.0)
    with pytest.raises(ValidationError, match="m = 0 must be at least 1"):
        solvers.modified_policy_iteration(mdp, m=0)
    with pytest.raises(ValidationError, match="pi0 must be deterministic"):
        solvers.policy_iteration(mdp, pi0=uniform_policy(mdp))


def test_gamma_zero_is_one_step():
    mdp = garnet(S=20, seed=0, gamma=0.0).mdp
    for method in solvers.METHODS:
        np.testing.assert_allclose(solvers.solve(mdp, method).V, mdp.R.max(axis=1), atol=1e-9)


# ------------------------------------------------------------ guaranteed bounds, γ → 1, overflow, LP size
@given(mdps(max_states=6, max_actions=3))
def test_pi_and_lp_bounds_are_real(mdp):
    exact = solvers.policy_iteration(mdp)
    # Reference: the same greedy policy's values by a dense solve written out here.
    P_pi = mdp.to_dense().P[np.arange(mdp.S), exact.actions]
    reference = np.linalg.solve(np.eye(mdp.S) - mdp.gamma * P_pi, mdp.R[np.arange(mdp.S), exact.actions])
    scale = 1 + np.abs(reference).max()
    for result in (exact, solvers.linear_program(mdp)):
        assert result.error_bound > 0 or not mdp.R.any()  # rounding makes nothing but R = 0 exact
        assert np.abs(result.V - reference).max() <= result.error_bound + 1e-12 * scale


@pytest.mark.parametrize("gamma", [0.999, 0.99999, 0.999999])
def test_policy_iteration_near_gamma_one(gamma):
    mdp = garnet(S=400, A=3, b=5, seed=2, gamma=gamma).mdp  # sparse, beyond the dense limit
    pi, vi = solvers.policy_iteration(mdp), solvers.value_iteration(mdp, tol=1e-4)
    assert pi.converged and 0 < pi.error_bound < 1e-3
    assert np.abs(pi.V - vi.V).max() <= pi.error_bound + vi.error_bound
    np.testing.assert_array_equal(pi.actions, vi.actions)


def test_deflated_solves_match_dense_lu():
    from triad.linalg import solve_resolvent

    M = garnet(S=300, A=1, b=4, seed=5).mdp.P  # (300, 300) sparse stochastic
    rhs = np.random.default_rng(0).normal(size=300)
    for gamma in (0.9, 1 - 1e-9):
        A = np.eye(300) - gamma * M.toarray()
        for transpose, dense in ((False, A), (True, A.T)):
            x = solve_resolvent(M, gamma, rhs, transpose=transpose)
            # Relative to the solution's scale 1/(1 − γ): LU's own error there is ~ε/(1 − γ).
            np.testing.assert_allclose(x, np.linalg.solve(dense, rhs), rtol=0, atol=1e-6 * np.abs(x).max())


def test_overflow_is_an_error_not_a_converged_result():
    base = garnet(S=20, seed=0).mdp
    huge = FiniteMDP(base.P, np.full(base.R.shape, 1e308), 0.99)
    for method in solvers.METHODS:
        with pytest.raises(ValidationError, match=r"values overflow: max \|R\| / \(1 − γ\) = 1e\+308 / 0.01 exceeds"):
            solvers.solve(huge, method)
    with pytest.raises(ValidationError, match=r"values overflow: max \|r\^π\| / \(1 − γ\)"):
        solvers.evaluate_policy(huge, uniform_policy(huge))
    at_zero = FiniteMDP(base.P, np.full(base.R.shape, 1e306), 0.0)  # fits: V* = R
    assert solvers.value_iteration(at_zero).V[0] == 1e306


def test_lp_refuses_beyond_its_size_and_pdlp_path_is_certified(monkeypatch):
    with pytest.raises(ValidationError, match=r"lp on 12,001 states would be slow .* use method 'pi'"):
        solvers.linear_program(garnet(S=12_001, A=2, b=2).mdp)
    mdp = garnet(S=60, A=3, b=4, seed=1).mdp
    monkeypatch.setattr(solvers, "LP_PDLP_MIN_STATES", 10)
    lp, pi = solvers.linear_program(mdp), solvers.policy_iteration(mdp)
    assert lp.converged and np.abs(lp.V - pi.V).max() <= lp.error_bound <= 1e-8
