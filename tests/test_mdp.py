"""FiniteMDP validation: each bad input gets one error naming the problem and its place."""

import numpy as np
import pytest
import scipy.sparse as sp

from triad import FiniteMDP, ValidationError, uniform_policy, validate_policy


def two_by_two(**overrides):
    args = {"P": np.array([[[0.5, 0.5], [1.0, 0.0]], [[0.0, 1.0], [0.2, 0.8]]]),
            "R": np.array([[1.0, 0.0], [0.0, 2.0]]), "gamma": 0.9}
    args.update(overrides)
    return FiniteMDP(**args)


def test_valid_mdp_shapes_and_readonly():
    mdp = two_by_two()
    assert (mdp.S, mdp.A, mdp.nnz) == (2, 2, 8)
    assert not mdp.sparse
    with pytest.raises(ValueError):
        mdp.P[0, 0, 0] = 0.3  # arrays are frozen like the dataclass


@pytest.mark.parametrize("gamma, message", [(1.5, "gamma = 1.5 is outside [0, 1]"), (-0.1, "gamma = -0.1 is outside"),
                                            (float("nan"), "gamma = nan is outside"), ("x", "is not a number")])
def test_gamma_errors(gamma, message):
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        two_by_two(gamma=gamma)


def test_gamma_one_is_accepted_and_saved(tmp_path):
    mdp = two_by_two(gamma=1, terminal=None)
    assert mdp.gamma == 1.0 and FiniteMDP.load(mdp.save(tmp_path / "g1.npz")).gamma == 1.0


def test_row_not_summing_to_one_names_state_action_and_sum():
    P = two_by_two().P.copy()
    P[1, 0] = [0.0, 0.9]
    with pytest.raises(ValidationError, match=r"P\[1, 0\] sums to 0.9 \(expected 1 within 1e-08\)"):
        two_by_two(P=P)


def test_negative_and_nan_probabilities_named():
    P = two_by_two().P.copy()
    P[0, 1] = [1.5, -0.5]
    with pytest.raises(ValidationError, match=r"P\[0, 1, 1\] = -0.5 is negative"):
        two_by_two(P=P)
    P[0, 1] = [np.nan, 1.0]
    with pytest.raises(ValidationError, match=r"P\[0, 1, 0\] is NaN"):
        two_by_two(P=P)


def test_wrong_shapes():
    with pytest.raises(ValidationError, match=r"P has shape \(2, 2\), expected \(S, A, S\)"):
        two_by_two(P=np.eye(2))
    with pytest.raises(ValidationError, match=r"R has shape \(3,\), expected \(2, 2\)"):
        two_by_two(R=np.zeros(3))


def test_reward_nan_and_inf_named():
    with pytest.raises(ValidationError, match=r"R\[1, 0\] is NaN"):
        two_by_two(R=np.array([[0.0, 0.0], [np.nan, 0.0]]))
    with pytest.raises(ValidationError, match=r"R\[0, 1\] is infinite"):
        two_by_two(R=np.array([[0.0, np.inf], [0.0, 0.0]]))


def test_transition_rewards_are_reduced_to_expectations():
    base = two_by_two()
    R3 = np.zeros((2, 2, 2))
    R3[0, 0] = [2.0, 4.0]  # expectation 0.5*2 + 0.5*4 = 3
    R3[1, 1] = [10.0, 0.0]  # 0.2*10 = 2
    mdp = two_by_two(R=R3)
    np.testing.assert_allclose(mdp.R, [[3.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(two_by_two(P=sp.csr_array(base.P_flat), R=R3).R, mdp.R)


def test_sparse_storage_validation_names_state_and_action():
    P = sp.csr_array(np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.3, 0.3]]))
    with pytest.raises(ValidationError, match=r"P\[1, 1\] sums to 0.6"):
        two_by_two(P=P)
    with pytest.raises(ValidationError, match=r"sparse P has shape \(4, 2\), expected \(S·A, S\) = \(6, 3\)"):
        two_by_two(P=sp.csr_array(np.eye(4, 2)), R=np.zeros((3, 2)))
    bad = sp.csr_array(np.array([[0.5, 0.5], [1.0, 0.0], [-1.0, 2.0], [0.3, 0.7]]))
    with pytest.raises(ValidationError, match=r"P\[1, 0, 0\] = -1 is negative"):
        two_by_two(P=bad)


def test_mu_allowed_terminal_and_names():
    with pytest.raises(ValidationError, match=r"^mu sums to 0.5"):
        two_by_two(mu=[0.25, 0.25])
    with pytest.raises(ValidationError, match=r"allowed\[1\] allows no action"):
        two_by_two(allowed=[[True, False], [False, False]])
    with pytest.raises(ValidationError, match="terminal state 0 is not absorbing"):
        two_by_two(terminal=[True, False])
    with pytest.raises(ValidationError, match="state_names has 3 entries, expected 2"):
        two_by_two(state_names=["a", "b", "c"])


def test_policy_validation():
    mdp = two_by_two(allowed=[[True, False], [True, True]])
    with pytest.raises(ValidationError, match=r"policy has shape \(2,\), expected \(S, A\) = \(2, 2\)"):
        validate_policy(np.ones(2), mdp)
    with pytest.raises(ValidationError, match=r"policy\[1\] sums to 0.8"):
        validate_policy([[1.0, 0.0], [0.4, 0.4]], mdp)
    with pytest.raises(ValidationError, match=r"policy\[0, 1\] = 0.5 but action 1 is not allowed in state 0"):
        validate_policy([[0.5, 0.5], [0.5, 0.5]], mdp)
    np.testing.assert_array_equal(uniform_policy(mdp), [[1.0, 0.0], [0.5, 0.5]])


def test_expect_batches_and_checks_shape():
    mdp = two_by_two()
    V = np.array([[1.0, 3.0], [0.0, 10.0]])
    E = mdp.expect(V)
    assert E.shape == (2, 2, 2)
    np.testing.assert_allclose(E[0], [[2.0, 1.0], [3.0, 2.6]])
    np.testing.assert_allclose(mdp.to_sparse().expect(V), E)
    with pytest.raises(ValidationError, match=r"value array has shape \(3,\)"):
        mdp.expect(np.zeros(3))


@pytest.mark.parametrize("sparse", [False, True])
def test_save_load_roundtrip(tmp_path, sparse):
    mdp = two_by_two(mu=[0.5, 0.5], state_names=["x", "y"])
    mdp = mdp.to_sparse() if sparse else mdp
    back = FiniteMDP.load(mdp.save(tmp_path / "m.npz"))
    assert back.sparse == sparse
    np.testing.assert_array_equal(back.to_dense().P, mdp.to_dense().P)
    np.testing.assert_array_equal(back.R, mdp.R)
    assert back.gamma == mdp.gamma and back.state_names == ("x", "y")


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        FiniteMDP.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "noP.npz", R=np.zeros((1, 1)), gamma=0.5)
    with pytest.raises(ValidationError, match="noP.npz has no array 'P'"):
        FiniteMDP.load(tmp_path / "noP.npz")
    np.savez(tmp_path / "bad.npz", P=np.full((1, 1, 1), 0.5), R=np.zeros((1, 1)), gamma=0.5)
    with pytest.raises(ValidationError, match=r"bad.npz: P\[0, 0\] sums to 0.5"):
        FiniteMDP.load(tmp_path / "bad.npz")
