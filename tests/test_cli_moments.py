"""`triad moments` and `triad run bias-variance`: JSON contracts, hand-checked values, one-line errors."""

import json

import numpy as np
import pandas as pd
import pytest

from triad import zoo
from triad.experiment import get
from triad.mdp import uniform_policy
from triad.solvers import evaluate_policy


def test_one_step_return_on_a_three_state_chain(triad_cli):
    # chain:n=3 (γ = .9), uniform policy, V̂ = 0, n = 1: the estimate is the first reward.
    # State 0 never pays (variance 0); state 1 pays 1 with probability ½ (variance ¼); 2 is terminal.
    code, out, _ = triad_cli("moments", "chain:n=3", "--estimator", "nstep", "--n", "1", "--json")
    assert code == 0
    data = json.loads(out)
    np.testing.assert_allclose(data["variance"], [0.0, 0.25, 0.0], atol=1e-12)
    np.testing.assert_allclose(data["mean"], [0.0, 0.5, 0.0], atol=1e-12)
    V = evaluate_policy(zoo.make_mdp("chain:n=3"), uniform_policy(zoo.make_mdp("chain:n=3")))
    np.testing.assert_allclose(data["bias"], [0.0, 0.5, 0.0] - V, atol=1e-12)
    np.testing.assert_allclose(data["mse"], np.square(data["bias"]) + np.array(data["variance"]), atol=1e-12)


@pytest.mark.parametrize("estimator, extra", [("nstep", ["--n", "4"]), ("lambda", ["--lam", "0.7"]), ("mc", [])])
def test_true_critic_gives_unbiased_value_estimates(triad_cli, estimator, extra):
    code, out, _ = triad_cli("moments", "garnet:S=12,A=3,b=3,seed=1", "--estimator", estimator, *extra,
                           "--v-hat", "true", "--gamma", "0.8", "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data["bias"]) == len(data["variance"]) == 12 and data["gamma"] == 0.8
    np.testing.assert_allclose(data["bias"], 0.0, atol=1e-9)
    assert min(data["variance"]) > 0


def test_gae_reports_pairs_and_reads_policy_and_critic_files(triad_cli, tmp_path):
    pi = np.array([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    np.save(tmp_path / "pi.npy", pi)
    np.save(tmp_path / "v.npy", np.array([0.3, 0.6, 5.0]))
    code, out, _ = triad_cli("moments", "chain:n=3", "--estimator", "gae", "--lam", "0",
                           "--policy", str(tmp_path / "pi.npy"), "--v-hat", str(tmp_path / "v.npy"), "--json")
    assert code == 0
    data = json.loads(out)
    assert np.shape(data["bias"]) == np.shape(data["variance"]) == (3, 2)
    # GAE(0) from (1, right): δ = 1 + γ·0 − V̂(1) = .4 (the terminal's V̂ is never read), variance 0.
    assert data["mean"][1][1] == pytest.approx(0.4) and data["variance"][1][1] == pytest.approx(0.0)
    # From (0, right): δ = 0 + .9·V̂(1) − V̂(0) = .24.
    assert data["mean"][0][1] == pytest.approx(0.24)


def test_rich_output_lists_bias_and_variance(triad_cli):
    code, out, _ = triad_cli("moments", "garnet:S=20,A=2,b=3", "--estimator", "lambda", "--gamma", "0.9")
    assert code == 0 and "bias" in out and "variance" in out and "mean bias²" in out


@pytest.mark.parametrize("args, message", [
    (("--estimator", "td"), "unknown estimator 'td' (choose from mc, nstep, lambda, gae)"),
    (("--estimator", "lambda", "--lam", "1.5"), "lam = 1.5 is outside [0, 1]"),
    (("--estimator", "gae", "--lam", "-1"), "lam = -1 is outside [0, 1]"),
    (("--estimator", "nstep", "--n", "0"), "n = 0 must be an integer ≥ 1"),
    (("--estimator", "nstep", "--v-hat", "missing.npy"), "value estimate file missing.npy does not exist"),
    (("--estimator", "mc", "--policy", "missing.npy"), "policy file missing.npy does not exist"),
])
def test_user_errors_are_one_line_with_status_2(triad_cli, args, message):
    code, out, err = triad_cli("moments", "chain:n=4", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("triad: error: ") and message in err


def test_critic_of_the_wrong_shape(triad_cli, tmp_path):
    np.save(tmp_path / "v.npy", np.zeros(3))
    code, _, err = triad_cli("moments", "chain:n=4", "--estimator", "lambda", "--v-hat", str(tmp_path / "v.npy"))
    assert code == 2 and "v_hat has shape (3,), expected (S,) = (4,)" in err


def test_bias_variance_quick_run(triad_cli, tmp_path):
    out_dir, fig_dir = tmp_path / "bv", tmp_path / "figs"
    args = ("run", "bias-variance", "--quick", "--out", str(out_dir), "--figures", str(fig_dir), "--json")
    code, out, _ = triad_cli(*args)
    assert code == 0
    summary = json.loads(out)
    assert summary["max_bias2_exact_critic"] < 1e-20
    assert summary["sampled_checks"] > 0 and summary["sampled_max_abs_z"] < 5
    for cells in summary["by_mdp"].values():
        # An exact critic makes one-step TD best; a critic off by σ_G pushes the best λ up.
        assert cells["error=0"]["best_lambda"] == 0.0 and cells["error=0"]["best_n"] == 1
        assert cells["error=1"]["best_lambda"] > 0.0
        assert cells["error=0"]["mse_td"] < cells["error=0"]["mse_mc"]
    assert (fig_dir / "bias_variance.png").stat().st_size > 0
    experiment = get("bias-variance")
    results = pd.read_csv(out_dir / "results.csv")
    params = json.loads((out_dir / "params.json").read_text())
    assert json.loads(json.dumps(experiment.summarise(results, params))) == summary
    assert {"step", "quantity", "value", "critic", "error", "estimator", "knob", "method"} <= set(results.columns)
    code, out, _ = triad_cli(*args)
    assert code == 0 and json.loads(out) == summary  # cached runs give the same summary
