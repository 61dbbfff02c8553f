"""`triad contraction` and `triad run contraction`: JSON contracts, Baird, one-line errors."""

import json
import math

import numpy as np
import pytest

from triad import zoo

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
    code, out, _ = triad_cli("contraction", "garnet:S=15,A=3,b=4,seed=2", "--gamma", "0.8", "--weighting",
                             "on-policy", "--json")
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


def _visitation_by_power_series(mdp, pi, terms=3000):
    """(1 − γ) Σ_{t<terms} γ^t μᵀ(P^π)^t, summed term by term (independent of the resolvent solve).

    At γ = 1 (episodic): the visits per episode Σ_t μᵀ(P^π)^t on non-terminal states, and on each
    terminal state the probability that the episode ends there (one visit per episode at most).
    """
    P = np.einsum("sa,sat->st", pi, mdp.to_dense().P)
    row, d = mdp.initial.copy(), np.zeros(mdp.S)
    if mdp.gamma == 1.0:
        live = ~mdp.terminal
        row = np.where(live, row, 0.0)
        for _ in range(terms):
            d += row
            step = row @ P
            d[~live] += step[~live]
            row = np.where(live, step, 0.0)
        return d
    for t in range(terms):
        d += (1 - mdp.gamma) * mdp.gamma**t * row
        row = row @ P
    return d


@pytest.mark.parametrize("spec", [*zoo.ZOO, "chain:n=20"])  # every zoo entry with its defaults; the README's SPEC
def test_the_default_weighting_works_on_every_zoo_mdp(triad_cli, spec):
    code, out, err = triad_cli("contraction", spec, "--json")
    assert code == 0, err
    data = json.loads(out)
    problem = zoo.make(spec)
    gamma = problem.mdp.gamma
    d = _visitation_by_power_series(problem.mdp, problem.policy(data["policy"]))
    np.testing.assert_allclose(data["weighting"], d / d.sum(), atol=1e-10)
    assert data["states"] == list(range(problem.mdp.S)) and data["Pi_is_identity"]
    assert data["B_inf"] == pytest.approx(gamma)
    if gamma < 1:  # at γ = 1 (a-split) nothing contracts: the terminal state's value is a free coordinate
        # d P^π = (d − (1 − γ)μ)/γ ≤ d/γ, so by Jensen ‖γP^π V‖_D ≤ γ·γ^(−½)‖V‖_D: a √γ-contraction.
        assert data["B_D"] <= math.sqrt(gamma) + 1e-9 and data["PiB_D"] <= math.sqrt(gamma) + 1e-9


def test_on_policy_weighting_of_an_episodic_chain_is_certified_on_its_support(triad_cli):
    # The uniform policy's stationary law on the chain sits on the absorbing goal state n − 1, which it never
    # leaves: the certificate is that of the one-state chain, ‖γ·1‖ = γ, and A = 1·(γ − 1)·1 = γ − 1.
    code, out, err = triad_cli("contraction", "chain:n=6", "--weighting", "on-policy", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["states"] == [5] and data["weighting"] == [0.0] * 5 + [1.0]
    assert data["B_D"] == pytest.approx(0.9) and data["PiB_D"] == pytest.approx(0.9)
    assert data["A_eigenvalues"] == [[pytest.approx(-0.1), 0.0]] and data["hurwitz"] is True
    code, out, _ = triad_cli("contraction", "chain:n=6", "--weighting", "on-policy")
    text = " ".join(out.split())  # rich may wrap the header line
    assert code == 0 and "on the 1 of 6 states where D > 0" in text and "5 feature(s) zero on all of them" in text


def test_a_weighting_that_pi_leaves_is_refused_naming_the_fix(triad_cli, tmp_path):
    np.save(tmp_path / "d.npy", np.eye(6)[0])  # all weight on state 0, from which the chain moves to state 1
    code, out, err = triad_cli("contraction", "chain:n=6", "--weighting", str(tmp_path / "d.npy"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "zero on state(s) 1, which π reaches from state 0" in err
    assert "use --weighting visitation (the default" in err and "or --weighting uniform" in err


def test_feature_and_weighting_files(triad_cli, tmp_path):
    np.save(tmp_path / "phi.npy", np.eye(7)[:, :3])
    np.save(tmp_path / "d.npy", np.full(7, 1 / 7))
    code, out, _ = triad_cli("contraction", "baird", "--features", str(tmp_path / "phi.npy"),
                           "--weighting", str(tmp_path / "d.npy"), "--json")
    assert code == 0 and json.loads(out)["rank"] == 3


@pytest.mark.parametrize("args, message", [
    (("baird", "--features", "fancy"), "unknown features 'fancy'"),
    (("baird", "--features", "random:two"), "features 'random:two': K='two' is not a valid int"),
    (("baird", "--features", "tabular:3"), "features 'tabular:3': tabular takes no parameters"),
    (("baird", "--features", "random:3,bins=2"), "unknown parameter 'bins' (parameters: K, seed)"),
    (("baird", "--features", "aggregate:2,seed=-1"), "seed = -1 must be non-negative"),
    (("chain", "--features", "baird"), "prescribes no features"),
    (("baird", "--weighting", "sideways"), "unknown weighting 'sideways'"),
    (("baird", "--weighting", "behaviour:x"), "weighting 'behaviour:x': epsilon='x' is not a valid float"),
    (("baird", "--weighting", "uniform:2"), "uniform takes no parameters"),
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
