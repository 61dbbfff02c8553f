"""The nstep-corrections experiment: exact target means against brute force, the summary's laws, the CLI."""

import itertools
import json

import numpy as np
import pytest

from triad import SpecError, zoo
from triad import experiment as exp
from triad.experiments.nstep_corrections import model
from triad.operators import boltzmann
from triad.projections import mixture_policy
from triad.solvers import evaluate_q, policy_iteration


def _brute_force_mean(mdp, q_hat, pi, mu, method, n, s0, a0):
    """E[G⁽ⁿ⁾(s0, a0)] by enumerating every path s0 a0 s1 a1 … s_n (a plain loop over paths).

    The target of one path, written from the definitions: with v_k = Σ_a π(a|s_k) Q̂(s_k, a) and the
    trace c_k of continuing into (s_k, a_k) — IS π/μ, tree backup π, Retrace min(1, π/μ), cut
    1[a_k is π's most probable action], ignore 1 with Q̂(s_k, a_k) replaced by v_k —
    G = r_0 + γ(v_1 + c_1(r_1 + γ(v_2 + c_2(… r_{n−1} + γ v_n …) − q_1))), stopping at a terminal state.
    """
    P = mdp.P if not mdp.sparse else mdp.P.toarray().reshape(mdp.S, mdp.A, mdp.S)
    terminal = np.zeros(mdp.S, bool) if mdp.terminal is None else mdp.terminal
    total = 0.0
    for path in itertools.product(range(mdp.S), range(mdp.A), repeat=n):  # (s1, a1, s2, a2, …, s_n, a_n)
        states, actions = [s0, *path[0::2]], [a0, *path[1::2]]
        prob = 1.0
        for k in range(1, n + 1):
            prob *= P[states[k - 1], actions[k - 1], states[k]]
            if k < n:
                prob *= mu[states[k], actions[k]]
        if prob == 0.0:
            continue
        # The actions a_n drawn after the window do not matter: count each path once (a_n = 0).
        if actions[n] != 0:
            continue
        G = 0.0
        for k in range(n, 0, -1):  # backward over the window, G_k = target for Q(s_{k−1}, a_{k−1})
            s, a, s_next = states[k - 1], actions[k - 1], states[k]
            v = pi[s_next] @ q_hat[s_next]
            if terminal[s_next]:
                G = mdp.R[s, a]
            elif k == n:
                G = mdp.R[s, a] + mdp.gamma * v
            else:
                a_next = actions[k]
                ratio = pi[s_next, a_next] / mu[s_next, a_next]
                c = {"importance-sampling": ratio, "tree-backup": pi[s_next, a_next], "retrace": min(1.0, ratio),
                     "cut": float(pi[s_next, a_next] >= pi[s_next].max()), "ignore": 1.0}[method]
                q = v if method == "ignore" else q_hat[s_next, a_next]
                G = mdp.R[s, a] + mdp.gamma * (v + c * (G - q))
        total += prob * G
    return total


@pytest.mark.parametrize("method", model.METHODS)
def test_exact_means_are_the_brute_force_expectations(method):
    mdp = zoo.make("chain:n=3,slip=0.3,gamma=0.8").mdp  # a terminal state inside the window
    Q_star = policy_iteration(mdp).Q
    pi = boltzmann(Q_star, 0.2)
    mu = mixture_policy(pi, np.full_like(pi, 0.5), 0.6)
    q_hat = (Q_star + np.random.default_rng(0).standard_normal(Q_star.shape)) * ~mdp.terminal[:, None]
    for n in (1, 2, 3):
        exact = model.expected_targets(mdp, q_hat, pi, mu, method, n)
        for s0, a0 in zip(*model.pairs(mdp)):
            assert exact[s0, a0] == pytest.approx(_brute_force_mean(mdp, q_hat, pi, mu, method, n, s0, a0),
                                                  rel=1e-12, abs=1e-12)


def test_sampled_targets_agree_with_the_exact_means():
    mdp = zoo.make("garnet:S=4,A=2,b=2,seed=3,gamma=0.8").mdp
    pi = policy_iteration(mdp).policy
    mu = mixture_policy(pi, np.full_like(pi, 0.5), 0.5)
    q_hat = evaluate_q(mdp, pi) + np.random.default_rng(1).standard_normal((4, 2))
    samples = model.sampled_targets(np.random.default_rng(2), mdp, q_hat, pi, mu, model.METHODS, (1, 3), 3000)
    for (method, n), G in samples.targets.items():
        exact = model.expected_targets(mdp, q_hat, pi, mu, method, n)[samples.s, samples.a]
        z = (G.mean(axis=0) - exact) / (G.std(axis=0, ddof=1) / np.sqrt(G.shape[0]))
        assert np.abs(z).max() < 4.5, (method, n)


def test_summary_laws_and_figure(tmp_path):
    experiment = exp.get("nstep-corrections")
    params = experiment.resolve({"ns": "1,4", "epsilons": "0,0.5", "temperatures": "0,0.3",
                                 "bootstrap_errors": "0,1", "samples": "300", "reference_n": "4",
                                 "reference_epsilon": "0.5", "learning_steps": "400", "learning_seeds": "1",
                                 "methods": "ignore,cut,importance-sampling,tree-backup,retrace"})
    outcome = exp.execute(experiment, params, out=tmp_path / "nc", figures_dir=tmp_path / "fig", show_progress=False)
    summary = outcome.summary
    assert summary["bias_z_max"] < 5.0
    assert summary["tv_distance"]["0"] == 0.0 and summary["tv_distance"]["0.5"] > 0.0
    greedy_exact = summary["targets"]["temperature=0/bootstrap_error=0"]
    for method in ("cut", "importance-sampling", "tree-backup", "retrace"):  # unbiased from the true Q^π
        assert max(greedy_exact[method]["by_n"]["bias"].values()) < 1e-10
    ignore = greedy_exact["ignore"]
    assert ignore["by_n"]["bias"]["1"] < 1e-10 and ignore["by_n"]["bias"]["4"] > 0.05  # biased towards Q^μ off-policy
    assert ignore["by_epsilon"]["bias"]["0"] < 1e-10  # … but not on-policy
    for cell in summary["targets"].values():
        # IS's mean does not depend on μ; its variance grows with the distance.
        is_ = cell["importance-sampling"]["by_epsilon"]
        assert is_["bias"]["0"] == pytest.approx(is_["bias"]["0.5"], abs=1e-10)
        assert is_["variance"]["0.5"] > is_["variance"]["0"]
    # For a greedy π, cut, tree backup and Retrace are one correction (c = 1[a' greedy] for each).
    for sigma in ("0", "1"):
        cell = summary["targets"][f"temperature=0/bootstrap_error={sigma}"]
        assert cell["cut"] == cell["tree-backup"] == cell["retrace"]
    soft = summary["targets"]["temperature=0.3/bootstrap_error=1"]
    assert soft["retrace"]["by_n"]["bias"]["4"] != pytest.approx(soft["tree-backup"]["by_n"]["bias"]["4"])
    learning = summary["learning"]
    assert set(learning) >= set(model.METHODS) and learning["n"] == 4
    for method in model.METHODS:
        assert 0.0 <= learning[method]["final_q_error"] < 2.0 and learning[method]["final_J_over_J_star"] <= 1.0 + 1e-9
    # greedy π: cut, tree backup and Retrace take the same steps on the same data
    assert learning["cut"] == learning["tree-backup"] == learning["retrace"]
    assert sorted(p.name for p in outcome.figures) == ["nstep_corrections.png", "nstep_corrections_learning.png"]


def test_cli_quick_json_and_bad_input(triad_cli, tmp_path):
    code, out, _ = triad_cli("run", "nstep-corrections", "--quick", "--set", "samples=50", "--set", "learning_steps=0",
                             "--json",
                             "--out", str(tmp_path / "nc"), "--no-figures")
    assert code == 0
    data = json.loads(out)
    assert set(data["targets"]) == {"temperature=0/bootstrap_error=1"} and "learning" not in data
    code, out, err = triad_cli("run", "nstep-corrections", "--set", "methods=vtrace", "--out", str(tmp_path / "x"))
    assert code == 2 and out == ""
    assert "unknown methods ['vtrace']" in err and err.count("\n") == 1
    with pytest.raises(SpecError, match="reference_n = 5 is not one of ns"):
        exp.get("nstep-corrections").sweep(exp.get("nstep-corrections").resolve({"reference_n": "5"}))
