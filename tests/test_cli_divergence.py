"""`triad run` for the divergence lab: the JSON contract of baird and w2w, and one-line errors with status 2."""

import json

import numpy as np
import pytest

from triad import cli, zoo


def test_baird_semi_gradient_dp_prints_the_books_weights(triad_cli, tmp_path):
    code, out, _ = triad_cli("run", "baird", "--algorithm", "semi-gradient-dp", "--sweeps", "1000",
                           "--json", "--out", str(tmp_path / "baird"), "--figures", str(tmp_path / "fig"))
    assert code == 0
    summary = json.loads(out)
    assert {"w", "sqrt_ve", "sqrt_pbe", "diverged_fraction", "first_divergence_step"} <= set(summary)
    # Semi-gradient DP (S&B eq. 11.9), by an independent loop: all rewards 0, the target goes to state 7.
    problem = zoo.baird()
    Phi, w = problem.features, problem.w0.astype(float)
    for _ in range(1000):
        v = Phi @ w
        w = w + 0.01 * sum((0.99 * v[6] - v[s]) * Phi[s] for s in range(7)) / 7
    np.testing.assert_allclose(summary["w"], w, rtol=1e-10)
    assert summary["diverged_fraction"] == 1.0 and 0 < summary["first_divergence_step"] < 1000
    assert (tmp_path / "fig" / "baird_weights.png").exists()


@pytest.mark.parametrize("json_flag", [True, False])
def test_baird_lstd_alone_has_a_summary_and_no_trajectory_figures(triad_cli, tmp_path, json_flag):
    code, out, err = triad_cli("run", "baird", "--algorithm", "lstd", *(["--json"] if json_flag else []),
                               "--out", str(tmp_path / "baird"), "--figures", str(tmp_path / "fig"))
    assert code == 0, err
    if json_flag:
        summary = json.loads(out)
        assert summary["run"] == "lstd/closed" and set(summary["runs"]) == {"lstd/closed"}
        np.testing.assert_allclose(summary["w"], 0.0, atol=1e-12)  # the minimum-norm solution of A w = b = 0
    else:
        assert "sqrt_ve" in out
    assert not list((tmp_path / "fig").glob("*.png"))


def test_baird_rich_output_is_a_table(triad_cli, monkeypatch, tmp_path):
    from rich.console import Console

    monkeypatch.setattr(cli, "out", Console(width=200))
    code, out, _ = triad_cli("run", "baird", "--quick", "--no-figures", "--set",
                           "algorithm=tdc,semi-gradient-td", "--out", str(tmp_path / "baird"))
    assert code == 0
    assert "tdc/expected" in out and "semi-gradient-td/sampled" in out and "diverged_fraction" in out


def test_streams_option_sets_the_number_of_sampled_streams(triad_cli, tmp_path):
    code, out, err = triad_cli("run", "residual-gradient", "--algorithm", "semi-gradient-td", "--set", "form=sampled",
                               "--steps", "20", "--streams", "3", "--json", "--no-figures", "--out", str(tmp_path / "rg"))
    assert code == 0, err
    assert json.loads(out)["semi-gradient-td/sampled"]["streams"] == 3
    code, _, err = triad_cli("run", "residual-gradient", "--seeds", "3", "--out", str(tmp_path / "rg"))
    assert code == 2 and "has no parameter 'seeds' (from --seeds)" in err


def test_w2w_single_point(triad_cli, tmp_path):
    code, out, _ = triad_cli("run", "w2w", "--gamma", "0.95", "--epsilon", "0.1", "--quick",
                           "--json", "--no-figures", "--out", str(tmp_path / "w2w"))
    assert code == 0
    summary = json.loads(out)
    assert summary["diverged"] is True
    assert summary["growth_factor"] == pytest.approx((6 - 4 * 0.1) * 0.95 / 5, rel=1e-9)


@pytest.mark.parametrize("args, message", [
    (("run", "baird", "--algorithm", "q-learning"), "unknown algorithm 'q-learning'"),
    (("run", "baird", "--set", "alpha=-0.01"), "alpha = -0.01 is negative"),
    (("run", "baird", "--set", "beta=-1"), "beta = -1 is negative"),
    (("run", "baird", "--set", "w0=1,2,3"), "w0 has shape (3,), expected (8,): one initial weight per column of the features (7, 8)"),
    (("run", "baird", "--sweeps", "0", "--algorithm", "tdc"), "sweeps = 0 must be a positive integer"),
    (("run", "w2w", "--gamma", "1.5"), "gamma = 1.5 is outside [0, 1)"),
    (("run", "spiral", "--set", "alpha=-1"), "step sizes must be positive"),
    (("run", "residual-gradient", "--algorithm", "gtd9"), "unknown algorithm 'gtd9'"),
    (("run", "bairds"), "unknown experiment 'bairds'"),
])
def test_user_errors_are_one_line_with_status_2(triad_cli, tmp_path, args, message):
    code, out, err = triad_cli(*args, "--out", str(tmp_path / "x"), "--no-figures")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("triad: error: ") and message in err


def test_inconsistent_feature_file(triad_cli, tmp_path):
    np.save(tmp_path / "phi.npy", np.ones((7, 3)))
    code, _, err = triad_cli("run", "baird", "--set", f"features={tmp_path / 'phi.npy'}",
                           "--out", str(tmp_path / "x"), "--no-figures")
    assert code == 2 and "w0 has shape (8,), expected (3,)" in err
    np.save(tmp_path / "phi.npy", np.ones((4, 2)))
    code, _, err = triad_cli("run", "baird", "--set", f"features={tmp_path / 'phi.npy'}",
                           "--out", str(tmp_path / "x"), "--no-figures")
    assert code == 2 and "features have shape (4, 2), expected (S, d) with S = 7" in err
