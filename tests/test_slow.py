"""Long checks, left out of the default run (``python -m pytest -m slow``, a few minutes):
full default sweeps against theory and the book, and a large solve checked by hand."""

import numpy as np
import pandas as pd
import pytest

from triad import experiment as exp
from triad import zoo

pytestmark = pytest.mark.slow


def test_full_contraction_sweep_obeys_tsitsiklis_van_roy_on_every_instance(tmp_path):
    """Every one of the 2,100 default instances (100 Garnet MDPs × 7 weightings × 3 feature sets):
    under the on-policy weighting ‖γΠP^π‖_D ≤ γ (Tsitsiklis & Van Roy 1997, Lemma 1 with the
    projection non-expansive in ‖·‖_D), and ‖γP^π‖∞ = γ for a row-stochastic P^π."""
    experiment = exp.get("contraction")
    params = experiment.resolve({})
    outcome = exp.execute(experiment, params, out=tmp_path / "c", show_progress=False, make_figures=False)
    rows = pd.read_csv(tmp_path / "c" / "results.csv")
    wide = rows.pivot_table(index=["features", "mdp", "weighting"], columns="quantity", values="value")
    features = params["features"]
    assert len(wide) == len(features) * params["mdps"] * (len(params["epsilons"]) + 2)
    on = wide.xs("on-policy", level="weighting")
    assert (on["PiB_D"] <= params["gamma"] + 1e-9).all()
    np.testing.assert_allclose(wide["B_inf"], params["gamma"], rtol=1e-12)
    assert outcome.summary["tsitsiklis_van_roy_holds"] is True


def test_full_overestimation_sweep_matches_closed_forms_and_sutton_barto_figure_6_5(tmp_path):
    """Default sweep: m = 2 … 1024 estimates, 10,000 draws; 10,000 runs of 300 episodes.

    E[max of m i.i.d. U(−1, 1)] = (m − 1)/(m + 1) (the mean of the largest of m uniforms on
    [−1, 1]), and E[max of 2 i.i.d. N(0, 1)] = 1/√π. S&B Figure 6.5: Q-learning takes `left`
    far more often than the 5% an ε-greedy optimal policy does early on; double Q-learning
    hardly at all beyond its first episodes."""
    experiment = exp.get("overestimation")
    outcome = exp.execute(experiment, experiment.resolve({}), out=tmp_path / "o", show_progress=False,
                          make_figures=False)
    summary = outcome.summary
    for m, entry in summary["expected_max"].items():
        m = int(m)
        assert entry["exact"]["uniform"] == pytest.approx((m - 1) / (m + 1), rel=1e-9)
        for family in ("normal", "uniform"):
            assert abs(entry["sampled"][family] - entry["exact"][family]) < 5 * entry["sampled_se"][family]
    assert summary["expected_max"]["2"]["exact"]["normal"] == pytest.approx(1 / np.sqrt(np.pi), rel=1e-10)
    left = summary["left_from_A"]
    assert left["q"]["peak"] > 0.9 and left["q"]["episodes_2_to_20"] > 0.75
    assert left["double"]["peak"] < 0.6 and left["double"]["episodes_2_to_20"] < 0.5
    assert left["optimal"] < left["double"]["last_50_episodes"] < left["q"]["last_50_episodes"] < 0.2


def test_large_garnet_solve_is_optimal_by_a_hand_computed_bellman_residual():
    """S = 200,000 states, 800,000 state-action rows: value iteration and policy iteration agree.

    If ‖V − V*‖∞ ≤ tol (VI's guarantee) then ‖B*V − V‖∞ ≤ ‖B*V − B*V*‖∞ + ‖V* − V‖∞ ≤ (1 + γ)·tol,
    checked with a plain sparse product; policy iteration's values are those of its policy."""
    from triad.solvers import evaluate_policy, solve

    mdp = zoo.make("garnet:S=200000,A=4,b=10,seed=3").mdp
    tol = 1e-6
    vi = solve(mdp, method="vi", tol=tol)
    pi = solve(mdp, method="pi")
    Q = mdp.R + mdp.gamma * (mdp.P_flat @ vi.V).reshape(mdp.S, mdp.A)
    residual = np.abs(Q.max(axis=1) - vi.V).max()
    assert residual <= (1 + mdp.gamma) * tol
    assert np.abs(vi.V - pi.V).max() <= tol + 1e-9
    np.testing.assert_array_equal(vi.actions, pi.actions)
    np.testing.assert_allclose(evaluate_policy(mdp, np.eye(mdp.A)[pi.actions]), pi.V, atol=1e-8)
