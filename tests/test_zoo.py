"""The zoo: spec strings, and each example's structure against its source."""

import re

import numpy as np
import pytest

from triad import SpecError, ValidationError, solvers, zoo
from triad import operators as ops
from triad.mdp import uniform_policy


def test_spec_parsing_and_types():
    problem = zoo.make("garnet:S=50, A=3,b=4,seed=7,gamma=0.9")
    mdp = problem.mdp
    assert (mdp.S, mdp.A, mdp.gamma, mdp.sparse, mdp.nnz) == (50, 3, 0.9, True, 50 * 3 * 4)
    assert zoo.make("garnet:S=1e2").mdp.S == 100
    assert not zoo.make("garnet:S=20,sparse=false").mdp.sparse


@pytest.mark.parametrize("spec, message", [
    ("nope", "unknown MDP 'nope'"),
    ("chain:m=3", "chain has no parameter 'm' (parameters: n, slip, gamma)"),
    ("chain:n=2.5", "chain: n='2.5' is not a valid int"),
    ("chain:n", "expected key=value, got 'n'"),
    ("chain:n=5,n=6", "spec 'chain:n=5,n=6': n is given twice"),
    ("garnet:sparse=maybe", "is not a valid bool"),
])
def test_spec_errors(spec, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        zoo.make(spec)


def test_invalid_parameters_raise_validation_errors():
    with pytest.raises(ValidationError, match="1 ≤ b ≤ S"):
        zoo.make("garnet:S=5,b=6")
    with pytest.raises(ValidationError, match=r"gamma = 1.5 is outside \[0, 1\]"):
        zoo.make("chain:gamma=1.5")


def test_npz_path_spec(tmp_path):
    path = zoo.make("chain:n=4").mdp.save(tmp_path / "c.npz")
    assert zoo.make(str(path)).mdp.S == 4


def test_garnet_is_deterministic_and_has_b_distinct_successors():
    a, b = zoo.garnet(S=2000, A=3, b=7, seed=11).mdp, zoo.garnet(S=2000, A=3, b=7, seed=11).mdp
    assert (a.P != b.P).nnz == 0 and np.array_equal(a.R, b.R)
    counts = np.diff(a.P.indptr)
    assert np.all(counts == 7)
    assert (zoo.garnet(S=2000, A=3, b=7, seed=12).mdp.P != a.P).nnz > 0
    small = zoo.garnet(S=10, A=2, b=10, seed=0).mdp  # b = S: every state is a successor
    assert np.all(np.diff(small.P.indptr) == 10)


def test_baird_matches_sutton_barto_figure_11_1():
    problem = zoo.baird()
    mdp, Phi = problem.mdp, problem.features
    w = np.arange(1.0, 9.0)
    v = Phi @ w
    np.testing.assert_allclose(v[:6], 2 * w[:6] + w[7])
    assert v[6] == w[6] + 2 * w[7]
    np.testing.assert_allclose(ops.policy_transition(mdp, problem.target)[:, 6], 1.0)
    np.testing.assert_allclose(ops.policy_transition(mdp, problem.behaviour)[0], [1 / 7] * 7)
    np.testing.assert_array_equal(problem.w0, [1, 1, 1, 1, 1, 1, 10, 1])
    assert np.linalg.matrix_rank(Phi) == 7  # 8 features span all 7 states
    np.testing.assert_allclose(solvers.evaluate_policy(mdp, problem.target), 0.0)


def test_two_state_least_squares_growth_factor():
    """Least-squares projected VI on w→2w: w_{k+1} = (6 − 4ε)/5 · γ w_k (S&B §11.2)."""
    eps, gamma = 0.1, 0.9
    problem = zoo.two_state(epsilon=eps, gamma=gamma)
    Phi = problem.features[:2]
    targets = gamma * problem.mdp.P[:2, 0] @ (problem.features @ [1.0])  # expected one-step targets for w = 1
    w_next = np.linalg.lstsq(Phi, targets, rcond=None)[0][0]
    assert w_next == pytest.approx((6 - 4 * eps) / 5 * gamma)


def test_maximization_bias_structure():
    mdp = zoo.maximization_bias(n_actions=8).mdp
    assert mdp.A == 8 and mdp.allowed[0].sum() == 2 and mdp.terminal.tolist() == [False, False, True]
    assert mdp.reward_std[1].tolist() == [1.0] * 8 and np.all(mdp.R[1] == -0.1)


def test_gridworld_layout_walls_slip_and_terminals():
    problem = zoo.gridworld(layout="S.#/..G", slip=0.2, gamma=0.9)
    mdp = problem.mdp
    assert mdp.S == 5  # one wall
    assert mdp.terminal.sum() == 1 and mdp.mu[0] == 1.0
    goal = mdp.state_names.index("(1,2)")
    above_goal = mdp.state_names.index("(0,1)")
    # From (0,1), "right" hits the wall: stays with 0.8 + slip share.
    assert mdp.P[above_goal, 1, above_goal] == pytest.approx(0.8 + 0.05 * 2)  # right and up both bump
    # Entering the goal from (1,1) by "right": 0.8 + 0.05 (slip to right) reward.
    left_of_goal = mdp.state_names.index("(1,1)")
    assert mdp.R[left_of_goal, 1] == pytest.approx(0.85)
    assert solvers.solve(mdp, "pi").V[goal] == 0.0
    with pytest.raises(ValidationError, match="unknown cells"):
        zoo.gridworld(layout="S.Q/..G")
    with pytest.raises(ValidationError, match="different lengths"):
        zoo.gridworld(layout="S./..G")


def test_every_entry_builds_with_defaults_and_is_described():
    names = [name for name, _, _ in zoo.describe()]
    assert names == list(zoo.ZOO)
    for name in names:
        problem = zoo.make(name)
        V = solvers.evaluate_policy(problem.mdp, uniform_policy(problem.mdp))
        assert np.all(np.isfinite(V))


def test_problems_built_for_analyses_are_zoo_entries_with_their_sources():
    for name in ("a-split", "off-policy-two-state", "aliased-decision"):
        assert name in zoo.ZOO and zoo.make(name).source
    # A-split (S&B Example 11.2): A splits evenly to B (then reward 1) and C (then 0), both terminate.
    a_split = zoo.make("a-split")
    np.testing.assert_array_equal(a_split.mdp.P[0, 0], [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(a_split.mdp.R[:, 0], [0.0, 1.0, 0.0, 0.0])
    assert a_split.mdp.state_names == ("A", "B", "C", "end") and a_split.mdp.terminal.tolist() == [0, 0, 0, 1]
    # Off-policy two-state: the target always moves to state 1 (value 1/(1 − γ) everywhere), the
    # behaviour with probability p.
    two = zoo.make("off-policy-two-state:p=0.25,gamma=0.5")
    np.testing.assert_allclose(solvers.evaluate_policy(two.mdp, two.target), [2.0, 2.0])
    np.testing.assert_array_equal(two.behaviour, [[0.75, 0.25], [0.75, 0.25]])
    np.testing.assert_array_equal(two.features, [[1.0], [2.0]])
    with pytest.raises(ValidationError, match=r"p = 0 must be in \(0, 1\]"):
        zoo.make("off-policy-two-state:p=0")
    with pytest.raises(SpecError, match="aliased-decision has no parameter 'lenght'"):
        zoo.make("aliased-decision:lenght=3")


def test_aliased_decision_carries_its_policy_features():
    problem = zoo.make("aliased-decision:delay=2,late_reward=3")
    mdp = problem.mdp
    assert mdp.S == 5 and problem.policy_features.shape == (5, 2, 1) and problem.features is None
    np.testing.assert_array_equal(problem.policy_features[:, :, 0], np.tile([0.0, 1.0], (5, 1)))
    # Always "go": start → corridor1 → corridor2 → late (reward 3) → end, so V(start) = 3γ³.
    go = np.tile([0.0, 1.0], (5, 1))
    assert solvers.evaluate_policy(mdp, go)[0] == pytest.approx(3 * 0.9**3)
    assert solvers.evaluate_policy(mdp, 1 - go)[0] == pytest.approx(1.0)  # quit at once
    with pytest.raises(ValidationError, match="delay = -1 must be non-negative"):
        zoo.aliased_decision(delay=-1)


def test_problem_checks_policy_features():
    mdp = zoo.make("chain:n=3").mdp
    with pytest.raises(ValidationError, match=r"policy_features have shape \(3, 3, 1\), expected \(S, A, k\) with "
                                              r"\(S, A\) = \(3, 2\)"):
        zoo.Problem(mdp, policy_features=np.zeros((3, 3, 1)))
    bad = np.zeros((3, 2, 1))
    bad[1, 0, 0] = np.inf
    with pytest.raises(ValidationError, match=r"policy_features\[1, 0, 0\] is infinite"):
        zoo.Problem(mdp, policy_features=bad)
