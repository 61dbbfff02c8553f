"""`triad contraction` and `triad run contraction`: JSON contracts, Baird, one-line errors."""

import json
import math

import numpy as np
import pytest

KEYS = {"B_inf", "PiB_inf", "PiB_D", "spectral_radius", "A_eigenvalues", "hurwitz"}


def test_baird_with_its_features_and_uniform_weighting(triad_cli):
    code, out, err = triad_cli("contraction", "baird", "--features", "baird", "--weighting", "uniform", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert KEYS <= set(data)
    assert data["policy"] == "target" and data["Pi_is_identity"] is True and data["rank"] == 7
    assert data["B_inf"] == pytest.approx(0.99)
    assert data["PiB_inf"] == pytest.approx(0.99)
    assert data["PiB_D"] == pytest.approx(0.99 * math.sqrt(7))  # uniform D: ‖0.99 · 1 e_7ᵀ‖₂
    assert data["spectral_radius"] == pytest.approx(0.99)
    assert data["hurwitz"] is False
    eig = data["A_eigenvalues"]
    assert len(eig) == 8 and all(len(z) == 2 for z in eig)
    assert eig[0][0] > 0.2 and eig[0][0] == max(z[0] for z in eig)  # sorted by real part


def test_tabular_on_policy_garnet_is_a_gamma_contraction(triad_cli):
    code, out, _ = triad_cli("contraction", "garnet:S=15,A=3,b=4,seed=2", "--gamma", "0.8", "--json")
    data = json.loads(out)
    assert code == 0 and data["Pi_is_identity"] and data["policy"] == "uniform"
    assert data["PiB_D"] <= 0.8 + 1e-9 and data["PiB_inf"] == pytest.approx(0.8)
    assert data["hurwitz"] is True and sum(data["weighting"]) == pytest.approx(1.0)


def test_random_features_off_policy_and_rich_output(triad_cli):
    code, out, _ = triad_cli("contraction", "two-state", "--features", "problem", "--weighting", "uniform",
                           "--gamma", "0.95")
    assert code == 0
    assert "projected VI diverges" in out and "not Hurwitz" in out
    code, out, _ = triad_cli("contraction", "garnet:S=12,seed=1", "--features", "random:3,seed=2",
                           "--weighting", "behaviour:0.5", "--policy", "uniform", "--json")
    assert code == 0 and json.loads(out)["d"] == 3


def test_feature_and_weighting_files(triad_cli, tmp_path):
    np.save(tmp_path / "phi.npy", np.eye(7)[:, :3])
    np.save(tmp_path / "d.npy", np.full(7, 1 / 7))
    code, out, _ = triad_cli("contraction", "baird", "--features", str(tmp_path / "phi.npy"),
                           "--weighting", str(tmp_path / "d.npy"), "--json")
    assert code == 0 and json.loads(out)["rank"] == 3


@pytest.mark.parametrize("args, message", [
    (("baird", "--features", "baird"), "--weighting on-policy with --features baird: weighting puts (near) zero mass"),
    (("baird", "--features", "fancy"), "unknown features 'fancy'"),
    (("baird", "--features", "random:two"), "'two' is not an integer"),
    (("chain", "--features", "baird"), "prescribes no features"),
    (("baird", "--weighting", "sideways"), "unknown weighting 'sideways'"),
    (("baird", "--weighting", "behaviour:x"), "EPS must be a number"),
    (("chain", "--weighting", "behaviour"), "defines no behaviour policy"),
    (("baird", "--policy", "nope.npy"), "policy file nope.npy does not exist"),
])
def test_user_errors_are_one_line(triad_cli, args, message):
    code, out, err = triad_cli("contraction", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("triad: error: ") and message in err


def test_bad_arrays_in_files(triad_cli, tmp_path):
    np.save(tmp_path / "phi.npy", np.ones(7))
    np.save(tmp_path / "d.npy", np.array([0.5, 0.5, 0.5, -0.5, 0.0, 0.0, 0.0]))
    code, _, err = triad_cli("contraction", "baird", "--features", str(tmp_path / "phi.npy"))
    assert code == 2 and "features in phi.npy have shape (7,), expected (7, d)" in err
    code, _, err = triad_cli("contraction", "baird", "--weighting", str(tmp_path / "d.npy"))
    assert code == 2 and "weighting in d.npy[3] = -0.5 is negative" in err


def test_run_contraction_quick(triad_cli, tmp_path):
    code, out, err = triad_cli("run", "contraction", "--quick", "--json", "--out", str(tmp_path / "res"),
                             "--figures", str(tmp_path / "fig"))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["instances"] == 3 * 3 * 4  # MDPs × feature sets × (on-policy, uniform, 2 behaviours)
    assert summary["tsitsiklis_van_roy_holds"] is True and summary["td_bound_holds"] is True
    assert summary["on_policy_PiB_D_max_over_gamma"] <= 1 + 1e-9
    assert summary["by_features"]["aggregation"]["PiB_inf_max"] <= summary["gamma"] + 1e-9  # averager
    assert summary["lipschitz_max"]["Bstar_inf"] <= summary["gamma"] + 1e-9
    assert {"neural_inf", "neural_D"} <= set(summary["lipschitz_max"])
    for name in ("contraction_norms", "contraction_expansion", "contraction_td_bound"):
        assert (tmp_path / "fig" / f"{name}.png").stat().st_size > 10_000
    assert (tmp_path / "res" / "results.csv").exists()
