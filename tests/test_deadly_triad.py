"""The deadly triad: certificates against independent computations and sampled runs, the grid, `triad diagnose`."""

import dataclasses
import itertools
import json

import numpy as np
import pandas as pd
import pytest

from triad import SpecError, ValidationError, linear, zoo
from triad import experiment as exp
from triad.analysis import deadly_triad as dt
from triad.analysis.contraction import td_stability
from triad.linear_batch import sampled_batch
from triad.mdp import FiniteMDP
from triad.projections import mixture_policy, random_partition
from triad.sampling import StreamRNG

BAIRD = zoo.baird()
TD0 = linear.Rule("semi-gradient-td", alpha=0.01)


def _on_policy(problem):
    return dataclasses.replace(problem, behaviour=problem.target)


def _tabular(problem):
    return dataclasses.replace(problem, features=np.eye(problem.mdp.S), w0=None)


# ------------------------------------------------------------- the certificate predicts sampled divergence
@pytest.mark.parametrize("make, verdict, diverged", [
    (lambda: BAIRD, "diverges in expectation", 1.0),        # all three ingredients
    (lambda: _on_policy(BAIRD), "stable", 0.0),            # the same features, on-policy
    (lambda: _tabular(BAIRD), "stable", 0.0),              # off-policy, tabular
])
def test_the_certificate_predicts_where_sampled_runs_diverge(make, verdict, diverged):
    problem = make()
    assert dt.certify(TD0, problem).verdict == verdict
    curve = linear.sampled(StreamRNG(20, key=1), TD0, problem, 3000, streams=20, threshold=100.0, record_every=3000)
    assert curve.diverged.mean() == diverged


def test_baird_certificate_numbers_by_hand():
    c = dt.certify(TD0, BAIRD)
    # The positive eigenvalue is the one of the contraction lab's A = ΦᵀD(γP − I)Φ (D uniform: the behaviour's law).
    A_eig = td_stability(BAIRD.mdp, BAIRD.target, BAIRD.features, np.full(7, 1 / 7)).eigenvalues
    assert c.abscissa == pytest.approx(A_eig.real.max(), rel=1e-10) and c.abscissa > 0.2
    assert c.radius == pytest.approx(np.abs(1 + 0.01 * A_eig).max(), rel=1e-12) and c.radius > 1
    assert c.alpha_max == 0.0 and not c.hurwitz and c.eigenvalues.size == 7  # the 8th weight direction never moves
    # π always takes solid (μ = 1/7): E[ρ²] = 7 and P₂ = 7·P^π, so κ(λ = 1) = 7γ² (infinite variance).
    assert c.is_moment == pytest.approx(7.0)
    mc = dt.certify(linear.Rule("semi-gradient-td", alpha=0.01, lam=1.0), BAIRD)
    assert mc.kappa == pytest.approx(7 * 0.99**2) and mc.verdict == "can diverge" and mc.hurwitz
    # On-policy every state moves to state 7: D = e₇, r = 1, A = −(1 − γ)‖φ₇‖² = −0.05, α_max = 2/0.05.
    on = dt.certify(TD0, _on_policy(BAIRD))
    assert on.abscissa == pytest.approx(-0.05) and on.alpha_max == pytest.approx(40.0)
    assert on.radius == pytest.approx(1 - 0.01 * 0.05) and on.PiM_D == pytest.approx(0.99)


def _small_problem(seed=0, gamma=0.8, S=5, A=2, K=3):
    mdp = zoo.garnet(S=S, A=A, b=3, seed=seed, gamma=gamma, sparse=False).mdp
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.ones(A), size=S)
    mu = mixture_policy(pi, rng.dirichlet(np.ones(A), size=S), 0.7)
    return zoo.Problem(mdp, features=rng.standard_normal((S, K)), target=pi, behaviour=mu)


def _step_matrix(rule, problem, sweeps=1):
    """The matrix of the last expected sweep of linear.expected, from the increments of d + 1 starts."""
    d = problem.features.shape[1]
    starts = np.vstack([np.zeros(d), np.eye(d)])
    last = []
    for w0 in starts:
        curve = linear.expected(rule, problem, sweeps, w0=w0, record_every=1)
        last.append((curve.w[-1, 0] - curve.w[-2, 0], curve.w[-2, 0]))
    inc = np.array([x[0] for x in last])
    before = np.array([x[1] for x in last])
    return np.linalg.lstsq(before[1:] - before[0], inc[1:] - inc[0], rcond=None)[0].T / rule.alpha


@pytest.mark.parametrize("rule, sweeps", [
    (linear.Rule("semi-gradient-td", alpha=0.1), 1),
    (linear.Rule("semi-gradient-td", alpha=0.1, n=3), 1),       # linear.expected: Σ_k Γᵏ δ̄, not Γⁿ
    # after 300 sweeps the traces (and the follow-on weighting) of the expected run have converged (γ = 0.8);
    # a small α keeps the starts apart, so their increments still resolve the matrix
    (linear.Rule("semi-gradient-td", alpha=1e-4, lam=0.6), 300),
    (linear.Rule("etd", alpha=1e-4), 300),
])
def test_expected_update_matrix_is_the_one_linear_expected_iterates(rule, sweeps):
    problem = _small_problem()
    system = dt.TriadSystem(problem)
    assert system.rank == 3
    U = system.basis
    np.testing.assert_allclose(U @ system.update_matrix(rule) @ U.T, _step_matrix(rule, problem, sweeps),
                               rtol=1e-8, atol=1e-10)


def test_target_network_period_map_is_linear_expecteds():
    problem, K = _small_problem(1), 6
    rule = linear.Rule("target-network", alpha=0.2, target_period=K)
    d = problem.features.shape[1]
    columns = []
    for w0 in np.vstack([np.zeros(d), np.eye(d)]):
        columns.append(linear.expected(rule, problem, K, w0=w0).final[0])  # w after one period = the new w̄
    M_K = (np.array(columns[1:]) - columns[0]).T
    assert dt.TriadSystem(problem).iteration_radius(rule) == pytest.approx(np.abs(np.linalg.eigvals(M_K)).max()
                                                                         ** (1 / K), rel=1e-10)


def _mean_square_by_paths(problem, rule):
    """ρ(E[J ⊗ J]) enumerating every n-step path from d under μ, J built from the update equations."""
    mdp, Phi, pi, mu = problem.mdp, problem.features, problem.target, problem.behaviour
    P, g, (a_, b_) = mdp.to_dense().P, mdp.gamma, (rule.alpha, rule.beta)
    d = linear.behaviour_distribution(problem)
    n, k = rule.n, Phi.shape[1]
    L = 0
    for s in range(mdp.S):
        for path in itertools.product(range(mdp.A), range(mdp.S), repeat=n):
            prob, ratio, state = d[s], 1.0, s
            for a, nxt in zip(path[::2], path[1::2]):
                prob, ratio, state = prob * mu[state, a] * P[state, a, nxt], ratio * pi[state, a] / mu[state, a], nxt
            if prob == 0:
                continue
            x, x_n = Phi[s], Phi[state]
            if rule.algorithm == "semi-gradient-td":   # Δw = αρ(γⁿ x_nᵀw − xᵀw) x
                J = np.eye(k) + a_ * ratio * np.outer(x, g**n * x_n - x)
            else:  # TDC: Δw = αρ(δx − γx'(xᵀh)), Δh = βρ(δ − xᵀh)x, with δ's homogeneous part (γx' − x)ᵀw
                J = np.eye(2 * k)
                J[:k, :k] += a_ * ratio * np.outer(x, g * x_n - x)
                J[:k, k:] -= a_ * ratio * g * np.outer(x_n, x)
                J[k:, :k] += b_ * ratio * np.outer(x, g * x_n - x)
                J[k:, k:] -= b_ * ratio * np.outer(x, x)
            L = L + prob * np.kron(J, J)
    return np.abs(np.linalg.eigvals(L)).max()


@pytest.mark.parametrize("rule", [linear.Rule("semi-gradient-td", alpha=0.3), linear.Rule("semi-gradient-td", alpha=0.2, n=2),
                                  linear.Rule("tdc", alpha=0.2, beta=0.4)])
def test_mean_square_radius_enumerates_paths(rule):
    problem = _small_problem(2, S=3, K=2)
    assert dt.TriadSystem(problem).ms_radius(rule) == pytest.approx(_mean_square_by_paths(problem, rule), rel=1e-10)


# ------------------------------------------------------------------------- theorems on random cells
def _random_cells(count=24):
    rng = np.random.default_rng(7)
    for i in range(count):
        S, A = int(rng.integers(3, 9)), int(rng.integers(2, 4))
        mdp = zoo.garnet(S=S, A=A, b=int(rng.integers(1, 4)), seed=100 + i, gamma=[0.9, 0.99][i % 2], sparse=False).mdp
        pi = rng.dirichlet(np.full(A, 0.5), size=S)
        mu = mixture_policy(pi, rng.dirichlet(np.ones(A), size=S), float(rng.uniform(0.3, 1.0)))
        K = int(rng.integers(1, S))
        yield mdp, pi, mu, rng.random((S, K)), np.eye(K)[random_partition(rng, S, K)]


DEPTHS = [linear.Rule("semi-gradient-td", alpha=0.05), linear.Rule("semi-gradient-td", alpha=0.05, n=3),
          linear.Rule("semi-gradient-td", alpha=0.05, lam=0.7)]


def test_removing_any_one_ingredient_removes_divergence_in_expectation():
    # Tabular and aggregated features give A = −D̃(I − M̃) with M̃ ≥ 0 of row sums < 1 (an M-matrix), on-policy
    # ‖Π_D M‖_D < 1 (Tsitsiklis & Van Roy), n = ∞ gives A = −ΦᵀDΦ: every such A is Hurwitz; off-policy random
    # features are not always.
    unstable = 0
    for mdp, pi, mu, Phi, groups in _random_cells():
        for features, behaviour in ((np.eye(mdp.S), mu), (groups, mu), (Phi, pi)):
            system = dt.TriadSystem(zoo.Problem(mdp, features=features, target=pi, behaviour=behaviour))
            for rule in DEPTHS:
                assert system.certificate(rule).hurwitz
        system = dt.TriadSystem(zoo.Problem(mdp, features=Phi, target=pi, behaviour=mu))
        assert system.certificate(linear.Rule("semi-gradient-td", alpha=0.05, lam=1.0)).hurwitz
        for rule in DEPTHS:
            c = system.certificate(rule)
            assert c.hurwitz or c.PiM_D >= 1  # ‖Π_D M‖_D < 1 is sufficient for Hurwitz
            unstable += not c.hurwitz
    assert unstable > 0


def test_ingredients_of_baird_and_its_neighbours():
    def has(problem, rule=TD0):
        return dt.ingredients(dt.TriadSystem(problem), rule)

    all_three = has(BAIRD)
    assert (all_three.function_approximation, all_three.bootstrapping, all_three.off_policy) == (True, True, True)
    assert all_three.rank == all_three.states == 7  # Π = I, yet the features generalise: FA is present
    assert all_three.policy_distance == pytest.approx(6 / 7) and all_three.weighting_distance == pytest.approx(6 / 7)
    assert not has(_tabular(BAIRD)).function_approximation
    assert not has(BAIRD, linear.Rule("semi-gradient-td", alpha=0.01, lam=1.0)).bootstrapping
    on = has(_on_policy(BAIRD))
    assert not on.off_policy and on.weighting_distance == 0.0 and on.states == 1


def test_diagnosis_of_baird_picks_on_policy_data_as_the_fix():
    result = dt.diagnose(BAIRD, TD0)
    assert result.certificate.verdict == "diverges in expectation"
    assert result.fix.change == "on-policy data (μ = π)" and result.fix.kind == "off-policy"
    kinds = [n.kind for n in result.neighbours]
    assert kinds == sorted(kinds, key=["step size", "off-policy", "bootstrap depth", "rule",
                                       "function approximation"].index)  # the documented order
    verdicts = {n.change: n.certificate.verdict for n in result.neighbours}
    assert verdicts["tabular features"] == "stable" and verdicts["step size α/10 = 0.001"] == "diverges in expectation"
    assert dt.diagnose(_on_policy(BAIRD), TD0).fix is None


def test_rule_options_and_their_errors():
    assert dt.rule_from_options(n="inf").lam == 1.0
    assert dt.rule_from_options("tdc", alpha=0.02).beta == pytest.approx(0.2)
    for kwargs, message in (({"n": "3", "lam": 0.5}, "not both"), ({"n": "three"}, "integer ≥ 1 or inf"),
                            ({"algorithm": "tdc", "n": "3"}, "not of tdc")):
        with pytest.raises(ValidationError, match=message):
            dt.rule_from_options(**kwargs)


# ------------------------------------------------------------------------------------------ the grid
def _execute(tmp_path, overrides=None, quick=True, figures=True):
    experiment = exp.get("deadly-triad")
    params = experiment.resolve(overrides or {}, quick=quick)
    return exp.execute(experiment, params, out=tmp_path / "res", figures_dir=tmp_path / "figures",
                       show_progress=False, make_figures=figures)


def test_quick_grid_runs_end_to_end_resumes_and_draws(tmp_path):
    outcome = _execute(tmp_path)
    s = outcome.summary
    assert s["cells"] == 2 * 3 * 2 * (2 + 3) and s["seeds"] == 3 and s["steps"] == 400
    assert [p.name for p in outcome.figures] == ["deadly_triad_ingredients.png", "deadly_triad_confusion.png"]
    assert all(p.stat().st_size > 10_000 for p in outcome.figures)
    assert sum(sum(row.values()) for row in s["confusion"].values()) == s["cells"]
    for name in ("tabular features (no FA)", "on-policy (ε = 0)", "n = ∞ (no bootstrapping)"):
        assert s["removals"][name]["diverges_in_expectation"] == 0.0
    rows = pd.read_csv(tmp_path / "res" / "results.csv")
    assert {"id", "mdp", "cell", "features", "epsilon", "depth", "algorithm", "key", "stream", "step", "quantity",
            "value"} <= set(rows.columns)
    assert json.loads((tmp_path / "res" / "summary.json").read_text()) == s
    # The summary is derived from the rows: the sampled rates by hand.
    streams = rows[rows["quantity"] == "diverged_at"]
    rate = streams.groupby(["id", "cell"])["value"].apply(lambda v: v.notna().mean())
    assert s["agreement"]["stable_cells"] + s["agreement"]["diverging_cells"] == s["agreement"]["decided_cells"]
    assert s["removals"]["all three"]["cells"] == int(((rows["quantity"] == "verdict") & rows["function_approximation"]
                                                       & rows["bootstrapping"] & rows["off_policy"]
                                                       & (rows["algorithm"] == "semi-gradient-td")).sum())
    assert rate.size == s["cells"]
    again = _execute(tmp_path, figures=False)
    assert again.reused == 2 and again.ran == 0 and again.summary == s


def test_a_grid_cell_is_linear_sampled_on_its_key(tmp_path):
    from triad.experiments.deadly_triad import run as grid

    params = exp.get("deadly-triad").resolve({"mdps": "1", "steps": "300"}, quick=True)
    runs = exp.get("deadly-triad").sweep(params)
    p = dict(runs[0].params)
    cells = grid.cells(p, 0)
    rows = grid.run(runs[0], exp.Progress())
    for index in (0, len(cells) - 1):
        cell = cells[index]
        curve = linear.sampled(StreamRNG(p["streams"], key=cell.key), cell.rule, cell.problem, p["steps"],
                               streams=p["streams"], threshold=p["threshold"], record_every=p["steps"])
        mine = rows[(rows["cell"] == index) & (rows["quantity"] == "diverged_at")].sort_values("stream")
        np.testing.assert_array_equal(mine["value"].to_numpy(), curve.diverged_at)
        norms = rows[(rows["cell"] == index) & (rows["quantity"] == "final_norm")].sort_values("stream")
        np.testing.assert_array_equal(norms["value"].to_numpy(), np.linalg.norm(curve.final, axis=1))
        assert dt.certify(cell.rule, cell.problem).verdict == grid.dt.VERDICTS[
            int(rows[(rows["cell"] == index) & (rows["quantity"] == "verdict")]["value"].iloc[0])]


@pytest.mark.parametrize("overrides, error, message", [
    ({"level": "deep"}, ValidationError, r"level=deep is not available yet: it needs the value-based agents \(issue 14\)"),
    ({"level": "shallow"}, SpecError, "unknown level 'shallow'"),
    ({"features": "tabular,neural"}, SpecError, "unknown feature set 'neural'"),
    ({"depths": "n=0"}, SpecError, "depth 'n=0' is not"),
    ({"rules": "sarsa"}, SpecError, "unknown rule 'sarsa'"),
    ({"k": "6"}, ValidationError, "k = 6 must be below states = 6"),
    ({"far": "0"}, ValidationError, "far = 0 must lie in"),
])
def test_bad_grid_parameters(overrides, error, message, tmp_path):
    with pytest.raises(error, match=message):
        _execute(tmp_path, overrides, figures=False)


# ------------------------------------------------------------------------------------------ diagnose
def test_diagnose_baird_text_and_json(triad_cli):
    code, out, err = triad_cli("diagnose", "baird")
    assert code == 0, err
    out = " ".join(out.split())  # rich wraps at the terminal's width
    assert "3 of 3 present" in out and "verdict: diverges in expectation" in out
    assert "smallest change that makes it stable: on-policy data (μ = π)" in out and "E[w] diverges" in out
    code, out, err = triad_cli("diagnose", "baird", "--json")
    data = json.loads(out)
    assert code == 0 and data["verdict"] == "diverges in expectation" and data["fix"]["change"].startswith("on-policy")
    assert data["ingredients"]["function_approximation"] and data["ingredients"]["off_policy"]
    assert data["certificate"]["radius"] > 1 and len(data["certificate"]["eigenvalues"][0]) == 2
    assert data["rule"]["algorithm"] == "semi-gradient-td" and data["features"] == "problem"
    code, out, _ = triad_cli("diagnose", "baird", "--n", "inf", "--json")
    assert json.loads(out)["verdict"] == "can diverge" and json.loads(out)["ingredients"]["bootstrapping"] is False
    code, out, _ = triad_cli("diagnose", "baird", "--algorithm", "tdc", "--alpha", "0.005", "--json")
    assert json.loads(out)["verdict"] == "stable" and json.loads(out)["fix"] is None


def test_diagnose_user_npz_and_npy_files(triad_cli, tmp_path):
    BAIRD.mdp.save(tmp_path / "star.npz")
    for name, array in (("phi", BAIRD.features), ("pi", BAIRD.target), ("mu", BAIRD.behaviour)):
        np.save(tmp_path / f"{name}.npy", array)
    args = ["diagnose", str(tmp_path / "star.npz"), "--features", str(tmp_path / "phi.npy"), "--target",
            str(tmp_path / "pi.npy")]
    code, out, err = triad_cli(*args, "--behaviour", str(tmp_path / "mu.npy"), "--json")
    assert code == 0, err
    assert json.loads(out)["certificate"]["radius"] == pytest.approx(dt.certify(TD0, BAIRD).radius, rel=1e-12)
    code, out, _ = triad_cli(*args, "--json")  # no behaviour: on-policy
    assert json.loads(out)["verdict"] == "stable" and not json.loads(out)["ingredients"]["off_policy"]
    code, out, _ = triad_cli("diagnose", str(tmp_path / "star.npz"), "--features", "tabular", "--target",
                             str(tmp_path / "pi.npy"), "--behaviour", "uniform", "--lam", "0.5", "--json")
    assert code == 0 and json.loads(out)["ingredients"]["function_approximation"] is False


@pytest.mark.parametrize("args, message", [
    (["baird", "--n", "3", "--lam", "0.5"], "give --n or --lam, not both"),
    (["baird", "--features", "wavelets"], "unknown features 'wavelets'"),
    (["chain", "--features", "tabular"], "prescribes no target policy"),
    (["garnet:S=5,b=2", "--target", "uniform"], "prescribes no features"),
    (["baird", "--algorithm", "sarsa"], "unknown algorithm 'sarsa'"),
    (["baird", "--target", "nowhere.npy"], "nowhere.npy"),
    (["baird", "--behaviour", "uniform", "--target", "target"], None),
])
def test_diagnose_bad_input_is_one_line_with_status_2(triad_cli, args, message):
    code, out, err = triad_cli("diagnose", *args)
    if message is None:  # a valid variant: the behaviour is uniform, Baird's own behaviour is (6/7, 1/7)
        assert code == 0
        return
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_diagnose_generated_features_leave_terminal_states_out(triad_cli):
    # chain:n=6 ends in a terminal state: tabular features there would be refused (it is worth 0), so the
    # generated ones are zero on it; uniform data on uniform target: on-policy, one ingredient (bootstrapping).
    code, out, err = triad_cli("diagnose", "chain:n=6", "--features", "tabular", "--target", "uniform", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ingredients"]["states"] == 5 and not data["ingredients"]["function_approximation"]
    assert data["verdict"] == "stable" and data["behaviour"] == "uniform"


def test_diagnose_refuses_a_behaviour_that_misses_the_targets_actions(triad_cli, tmp_path):
    mu = np.tile([1.0, 0.0], (7, 1))  # never takes "solid", which the target always takes
    np.save(tmp_path / "mu.npy", mu)
    code, _, err = triad_cli("diagnose", "baird", "--behaviour", str(tmp_path / "mu.npy"))
    assert code == 2 and "importance ratios are undefined" in err


def test_episodic_problem_certificate_uses_the_cut_bootstrap():
    # Two-state w→2w (S&B §11.2) as an episodic chain with a terminal state: on-policy, one feature, γ < 1:
    # stable; its expected update matrix is linear.expected's.
    problem = zoo.two_state(epsilon=0.1, gamma=0.9)
    system = dt.TriadSystem(problem)
    assert system.certificate(TD0).verdict == "stable"
    A = system.basis @ system.td_matrix(TD0) @ system.basis.T
    np.testing.assert_allclose(A, _step_matrix(TD0, problem), rtol=1e-10)
    assert isinstance(problem.mdp, FiniteMDP) and problem.mdp.terminal.any()


def test_batch_and_single_cells_agree_on_divergence_for_the_certificate_cells():
    # The kernel's verdict on Baird's three hand-built cells, all at once, is what sampled says one by one.
    problems = [BAIRD, _on_policy(BAIRD), _tabular(BAIRD)]
    batch = sampled_batch([StreamRNG(10, key=k) for k in range(3)], TD0, problems, 2000, streams=10, threshold=100.0)
    np.testing.assert_array_equal(batch.diverged.mean(axis=1), [1.0, 0.0, 0.0])
