"""γ = 1 on episodic MDPs: proper policies, the textbook values, refusals, and guaranteed bounds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from triad import FiniteMDP, ValidationError, solvers, zoo
from triad import operators as ops
from triad.mdp import improper_class, proper_actions, trap_states, uniform_policy

EXAMPLE_4_1 = "gridworld:layout=G.../..../..../...G,step_reward=-1,goal_reward=0,gamma=1"
# Sutton & Barto (2018) Figure 4.1, k = ∞: the equiprobable random policy, states row by row.
FIGURE_4_1 = [[0, -14, -20, -22], [-14, -18, -20, -20], [-20, -20, -18, -14], [-22, -20, -14, 0]]


def example_4_1() -> FiniteMDP:
    mdp = zoo.make(EXAMPLE_4_1).mdp
    # The zoo lists the cells row by row: state 4·i + j is cell (i, j); the corners are terminal.
    assert mdp.state_names[6] == "(1,2)" and mdp.terminal.tolist() == [True] + [False] * 14 + [True]
    return mdp


def manhattan_to_corner() -> np.ndarray:
    i, j = np.divmod(np.arange(16), 4)
    return np.minimum(i + j, (3 - i) + (3 - j)).astype(float)


def test_example_4_1_random_policy_values():
    mdp = example_4_1()
    V = solvers.evaluate_policy(mdp, uniform_policy(mdp))
    np.testing.assert_allclose(V.reshape(4, 4), FIGURE_4_1, atol=1e-9)


@pytest.mark.parametrize("method", solvers.METHODS)
def test_example_4_1_optimal_values_and_policy(method):
    mdp = example_4_1()
    result = solvers.solve(mdp, method, tol=1e-9)
    distance = manhattan_to_corner()
    np.testing.assert_allclose(result.V, -distance, atol=1e-9)
    assert result.converged and 0 < result.error_bound <= 1e-9
    # Each greedy move goes straight toward the nearest corner: one step closer.
    i, j = np.divmod(np.arange(16), 4)
    di, dj = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])[result.actions].T
    after = np.clip(i + di, 0, 3) * 4 + np.clip(j + dj, 0, 3)
    live = ~mdp.terminal
    np.testing.assert_array_equal(distance[after][live], distance[live] - 1)


def random_walk() -> FiniteMDP:
    """Sutton & Barto (2018) Example 6.2: terminal, A…E, terminal; +1 for leaving E to the right."""
    P = np.zeros((7, 1, 7))
    P[0, 0, 0] = P[6, 0, 6] = 1.0
    for s in range(1, 6):
        P[s, 0, s - 1] = P[s, 0, s + 1] = 0.5
    R = np.zeros((7, 1))
    R[5, 0] = 0.5
    return FiniteMDP(P, R, 1.0, mu=np.eye(7)[3], terminal=[True] + [False] * 5 + [True],
                     state_names=("left", "A", "B", "C", "D", "E", "right"))


def test_random_walk_values_and_visits():
    mdp = random_walk()
    expected = np.array([0, 1, 2, 3, 4, 5, 0]) / 6  # S&B: V(A…E) = 1/6 … 5/6
    np.testing.assert_allclose(solvers.evaluate_policy(mdp, uniform_policy(mdp)), expected, atol=1e-12)
    for method in solvers.METHODS:  # one action: V* = V^π
        result = solvers.solve(mdp, method, tol=1e-10)
        assert np.abs(result.V - expected).max() <= result.error_bound <= 1e-10
    # Expected visits per episode from C of a symmetric walk absorbed at both ends (Green's function
    # 2·min(i, j)·(6 − max(i, j))/6 with i = 3): 1, 2, 3, 2, 1; normalised.
    np.testing.assert_allclose(ops.discounted_visitation(mdp, uniform_policy(mdp)), np.array([0, 1, 2, 3, 2, 1, 0]) / 9)


def test_improper_policy_is_named():
    mdp = example_4_1()
    up = np.eye(4)[np.zeros(16, int)]  # the top row bumps into the wall forever
    with pytest.raises(ValidationError, match=r"state 1 \(0,1\) forms a closed class with no terminal state, so "
                                              r"its values are undefined \(give a proper policy"):
        solvers.evaluate_policy(mdp, up)
    with pytest.raises(ValidationError, match="under pi0 state 1"):
        solvers.policy_iteration(mdp, pi0=up)
    with pytest.raises(ValidationError, match="closed class"):
        ops.discounted_visitation(mdp, up)


def test_closed_class_of_several_states():
    # 0 → 1 → terminal 2; states 3 and 4 alternate forever.
    P = np.zeros((5, 1, 5))
    P[0, 0, 1] = P[1, 0, 2] = P[2, 0, 2] = P[3, 0, 4] = P[4, 0, 3] = 1.0
    mdp = FiniteMDP(P, np.zeros((5, 1)), 1.0, terminal=[False, False, True, False, False])
    P_pi = ops.policy_transition(mdp, uniform_policy(mdp))
    np.testing.assert_array_equal(improper_class(mdp, P_pi), [3, 4])
    with pytest.raises(ValidationError, match="under this policy states 3, 4 form a closed class"):
        solvers.evaluate_policy(mdp, uniform_policy(mdp))
    np.testing.assert_array_equal(trap_states(mdp), [False, False, False, True, True])
    with pytest.raises(ValidationError, match=r"from states 3, 4 no policy can reach a terminal state"):
        proper_actions(mdp)
    # γ < 1 is unaffected.
    assert np.all(np.isfinite(solvers.evaluate_policy(mdp.with_gamma(0.5), uniform_policy(mdp))))


def test_trap_states_and_proper_policy_by_hand():
    mdp = example_4_1()
    # Every non-terminal cell can stay put forever (into a wall, or along a wall that leads back).
    np.testing.assert_array_equal(trap_states(mdp), ~mdp.terminal)
    actions = proper_actions(mdp)
    assert improper_class(mdp, ops.policy_transition(mdp, np.eye(4)[actions])) is None
    walk = random_walk()
    assert not trap_states(walk).any()


def test_refusals_where_values_may_be_infinite_or_ambiguous():
    free_loops = zoo.make("gridworld:layout=G.../..../..../...G,step_reward=0,goal_reward=1,gamma=1").mdp
    for method in solvers.METHODS:
        with pytest.raises(ValidationError, match=r"stay forever among .* earning R\[1, 0\] = 0 ≥ 0 per step, so "
                                                  r"optimal values may be \+∞ or not unique"):
            solvers.solve(free_loops, method)
    # Every step costs but one rewarding escape: improper policies exist and a reward is ≥ 0.
    P = np.zeros((3, 2, 3))
    P[0, 0, 0] = P[0, 1, 1] = 1.0  # state 0: stay (−1) or move to 1 (+2)
    P[1, :, 2] = P[2, :, 2] = 1.0
    R = np.array([[-1.0, 2.0], [-1.0, -1.0], [0.0, 0.0]])
    mdp = FiniteMDP(P, R, 1.0, terminal=[False, False, True])
    with pytest.raises(ValidationError, match=r"need every step to cost .* R\[0, 1\] = 2"):
        solvers.value_iteration(mdp)
    no_end = FiniteMDP(np.ones((2, 1, 2)) / 2, -np.ones((2, 1)), 1.0)
    with pytest.raises(ValidationError, match="no policy can reach a terminal state"):
        solvers.policy_iteration(no_end)
    with pytest.raises(ValidationError, match="closed class with no terminal state"):
        solvers.evaluate_policy(no_end, uniform_policy(no_end))


@st.composite
def episodic_mdps(draw, all_proper: bool):
    """S live states and one terminal one. all_proper: every action ends w.p. ≥ 0.05 (any rewards);
    else some actions may loop without ending, and every step costs (R ≤ −0.1)."""
    S = draw(st.integers(1, 5))
    A = draw(st.integers(1, 3))
    # Probabilities 0 or ≥ 0.01: a termination probability of 1e-12 makes an expected episode of
    # 1e12 steps, whose float64 rounding alone (correctly) keeps the bound above any small tol.
    w = draw(hnp.arrays(np.float64, (S, A, S + 1), elements=st.one_of(st.just(0.0), st.floats(0.01, 1.0))))
    w = np.where(draw(hnp.arrays(bool, (S, A, S + 1))), w, 0.0)
    w[..., 0] += 0.5  # every row has mass somewhere
    if all_proper:
        w[..., S] = np.maximum(w[..., S], 0.05 * w.sum(-1) / 0.95)
        R = draw(hnp.arrays(np.float64, (S, A), elements=st.floats(-10, 10)))
    else:
        R = -draw(hnp.arrays(np.float64, (S, A), elements=st.floats(0.1, 10)))
        w[0, 0, S] += 1.0  # some way to end from state 0 ...
        w[1:, 0, :S] = 0.0  # ... and from every other state, through state 0 or directly
        w[1:, 0, 0] = 1.0
    P = np.zeros((S + 1, A, S + 1))
    P[:S] = w / w.sum(-1, keepdims=True)
    P[S, :, S] = 1.0
    mdp = FiniteMDP(P, np.vstack([R, np.zeros((1, A))]), 1.0, terminal=[False] * S + [True])
    return mdp.to_sparse() if draw(st.booleans()) else mdp


def plain_value_iteration(mdp: FiniteMDP, sweeps: int = 20_000) -> np.ndarray:
    """Reference V* by a plain loop of Bellman backups (converges at γ = 1 under both cases)."""
    P, R = mdp.to_dense().P, mdp.R
    V = np.zeros(mdp.S)
    for _ in range(sweeps):
        V = (R + P @ V).max(axis=1)
    return V


@settings(max_examples=40, deadline=None)
@given(st.booleans().flatmap(episodic_mdps))
def test_every_method_is_within_its_bound_at_gamma_one(mdp):
    reference = plain_value_iteration(mdp)
    scale = 1 + np.abs(reference).max()
    for method in solvers.METHODS:
        result = solvers.solve(mdp, method, tol=1e-7)
        assert result.converged and result.error_bound < np.inf
        assert result.error_bound > 0 or not mdp.R.any()  # 0 only when it is exact
        # The plain loop itself is converged to round-off; allow that, nothing more.
        assert np.abs(result.V - reference).max() <= result.error_bound + 1e-9 * scale, method
