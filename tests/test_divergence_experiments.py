"""The divergence lab's experiments: baird, w2w, spiral, residual-gradient — results, summaries, figures."""

import json

import numpy as np
import pandas as pd
import pytest

from triad import SpecError, ValidationError, linear, zoo
from triad import experiment as exp
from triad.experiments.spiral.model import Spiral, learn
from triad.sampling import StreamRNG


def _execute(name, tmp_path, overrides=None, quick=True, figures=True):
    experiment = exp.get(name)
    params = experiment.resolve(overrides or {}, quick=quick)
    return exp.execute(experiment, params, out=tmp_path / name, figures_dir=tmp_path / "figures",
                       show_progress=False, make_figures=figures)


def test_experiments_are_registered():
    assert {"baird", "w2w", "spiral", "residual-gradient"} <= set(exp.registry())


def test_baird_quick_runs_every_algorithm_and_draws_its_figures(tmp_path):
    outcome = _execute("baird", tmp_path)
    summary = outcome.summary
    assert set(summary["runs"]) == {"semi-gradient-td/sampled", "semi-gradient-dp/expected", "tdc/sampled", "tdc/expected",
                            "gtd2/sampled", "gtd2/expected", "etd/expected", "residual-gradient/expected",
                            "target-network/sampled", "lstd/closed"}
    for entry in summary["runs"].values():
        assert {"w", "sqrt_ve", "sqrt_pbe", "diverged_fraction", "first_divergence_step"} <= set(entry)
    # The keys are at the top level whatever the number of runs: the first run's.
    assert summary["run"] == "semi-gradient-td/sampled"
    assert {k: summary[k] for k in summary["runs"][summary["run"]]} == summary["runs"]["semi-gradient-td/sampled"]
    assert [p.name for p in outcome.figures] == ["baird_weights.png", "baird_divergence.png"]
    assert all(p.stat().st_size > 10_000 for p in outcome.figures)
    rows = pd.read_csv(tmp_path / "baird" / "results.csv")
    assert {"id", "algorithm", "form", "stream", "step", "quantity", "value"} <= set(rows.columns)
    sampled = rows[rows["id"] == "baird/algorithm=tdc/form=sampled"]
    assert sampled["stream"].nunique() == 5  # one row per stream × checkpoint × quantity
    assert json.loads((tmp_path / "baird" / "summary.json").read_text()) == summary


def test_baird_summary_is_derived_from_the_rows(tmp_path):
    outcome = _execute("baird", tmp_path, {"algorithm": "semi-gradient-td", "steps": "2000", "streams": "30"},
                       figures=False)
    s = outcome.summary
    curve = linear.sampled(StreamRNG(30, key=0), linear.Rule("semi-gradient-td", alpha=0.01), zoo.baird(), 2000,
                           streams=30, threshold=100.0, record_every=2000)
    np.testing.assert_allclose(s["w"], curve.final.mean(axis=0), rtol=1e-12)
    assert s["diverged_fraction"] == pytest.approx(curve.diverged.mean())
    assert s["first_divergence_step"] == pytest.approx(np.median(curve.diverged_at[curve.diverged]))
    assert s["diverged_fraction"] > 0.5
    np.testing.assert_allclose(s["sqrt_ve"], linear.root_value_error(zoo.baird(), curve.final).mean(), rtol=1e-12)


def test_baird_book_divergence_pattern(tmp_path):
    s = _execute("baird", tmp_path, {"algorithm": "semi-gradient-dp,tdc,etd,lstd", "form": "expected"},
                 quick=False, figures=False).summary["runs"]
    assert s["semi-gradient-dp/expected"]["diverged_fraction"] == 1.0
    for stable in ("tdc/expected", "etd/expected"):
        assert s[stable]["diverged_fraction"] == 0.0 and s[stable]["first_divergence_step"] is None
    assert s["etd/expected"]["sqrt_ve"] < 1e-6  # Figure 11.6: VE goes to zero
    assert s["tdc/expected"]["sqrt_pbe"] < 0.01 < s["tdc/expected"]["sqrt_ve"]  # Figure 11.5: PBE → 0 first
    np.testing.assert_allclose(s["lstd/closed"]["w"], 0.0, atol=1e-12)


@pytest.mark.parametrize("overrides, error, message", [
    ({"algorithm": "sarsa"}, SpecError, "unknown algorithm 'sarsa'"),
    ({"alpha": "-0.01"}, ValidationError, "alpha = -0.01 is negative"),
    ({"w0": "1,1,1"}, ValidationError, r"w0 has shape \(3,\), expected \(8,\)"),
    ({"form": "sometimes"}, SpecError, "unknown form 'sometimes'"),
    ({"algorithm": "semi-gradient-dp", "form": "sampled"}, ValidationError, "has no sampled form"),
])
def test_baird_bad_parameters(overrides, error, message, tmp_path):
    with pytest.raises(error, match=message):
        _execute("baird", tmp_path, overrides)


def test_baird_features_from_a_file(tmp_path):
    np.save(tmp_path / "wrong.npy", np.ones((6, 8)))
    with pytest.raises(ValidationError, match=r"features have shape \(6, 8\), expected \(S, d\) with S = 7"):
        _execute("baird", tmp_path, {"features": str(tmp_path / "wrong.npy")})
    np.save(tmp_path / "tabular.npy", np.eye(7))
    s = _execute("baird", tmp_path, {"features": str(tmp_path / "tabular.npy"), "w0": "1,1,1,1,1,1,10",
                                     "algorithm": "semi-gradient-dp"}, figures=False).summary
    assert len(s["w"]) == 7 and s["diverged_fraction"] == 0.0  # tabular features: DP converges


def test_w2w_boundary_matches_the_sympy_threshold_within_one_grid_step(tmp_path):
    outcome = _execute("w2w", tmp_path, {"epsilon_step": "0.05", "gamma": "0.95", "epsilon": "0.1"}, quick=False)
    s = outcome.summary
    for method in ("projected_vi", "td_fragment"):
        assert s[method]["boundary_max_error"] <= s[method]["grid_step"]
    assert s["diverged"] is True and s["growth_factor"] == pytest.approx((6 - 0.4) * 0.95 / 5, rel=1e-9)
    assert s["threshold_gamma"] == pytest.approx(5 / 5.6)
    assert s["td_fragment"]["growth_factor"] == pytest.approx(1 + 0.1 * (2 * 0.95 - 1), rel=1e-9)
    assert outcome.figures[0].name == "w2w_phase.png"


def test_w2w_point_below_the_threshold(tmp_path):
    s = _execute("w2w", tmp_path, {"gamma": "0.85", "epsilon": "0.2", "algorithm": "td-fragment"},
                 figures=False).summary
    assert s["algorithm"] == "td-fragment" and s["diverged"] is True  # 0.85 > 1/2
    assert s["projected_vi"]["diverged"] is False  # 0.85 < 5/(6 − 0.8) ≈ 0.96
    with pytest.raises(SpecError, match="unknown algorithm 'tdc' for w2w"):
        _execute("w2w", tmp_path, {"algorithm": "tdc"})


def test_residual_gradient_reproduces_example_11_2(tmp_path):
    outcome = _execute("residual-gradient", tmp_path, {"form": "expected", "sweeps": "3000"}, quick=False)
    s = outcome.summary
    assert s["true"] == {"A": 0.5, "B": 1.0, "C": 0.0}
    naive = s["residual-gradient/expected"]
    assert (round(naive["A"], 4), round(naive["B"], 4), round(naive["C"], 4)) == (0.5, 0.75, 0.25)
    for exact in ("semi-gradient-td/expected", "double-sampled-residual-gradient/expected"):
        np.testing.assert_allclose([s[exact][k] for k in "ABC"], [0.5, 1.0, 0.0], atol=1e-4)
    assert naive["sqrt_tde"] < s["semi-gradient-td/expected"]["sqrt_tde"]  # RG minimises the TD error
    assert outcome.figures[0].name == "residual_gradient_values.png"


def test_residual_gradient_sampled_is_near_the_expected_values(tmp_path):
    s = _execute("residual-gradient", tmp_path, {"form": "sampled", "algorithm": "residual-gradient",
                                                 "steps": "4000", "streams": "100"}, quick=False, figures=False).summary
    naive = s["residual-gradient/sampled"]
    assert naive["B"] == pytest.approx(0.75, abs=0.03) and naive["C"] == pytest.approx(0.25, abs=0.03)


def test_spiral_family_is_consistent_only_when_constructed():
    theta = np.linspace(-20, 20, 201)
    built = Spiral.construct()
    assert built.lam == pytest.approx(np.sqrt(3) / 2, rel=1e-12)
    np.testing.assert_allclose(built.b, [23.094, 75.056, -98.150], atol=1e-3)
    assert built.consistency_error(theta) < 1e-12
    assert abs(built.a @ built.b) < 1e-9 and abs(built.a.sum()) < 1e-12
    assert Spiral.published().consistency_error(theta) > 0.1  # the printed b is not a solution
    h = 1e-6  # analytic derivatives against central differences
    np.testing.assert_allclose((built.value(theta + h) - built.value(theta - h)) / (2 * h), built.gradient(theta),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose((built.gradient(theta + h) - built.gradient(theta - h)) / (2 * h),
                               built.hessian(theta), rtol=1e-6, atol=1e-6)


def test_spiral_td_diverges_and_tdc_does_not():
    spiral = Spiral.construct()
    td = learn(None, spiral, "td", 2e-5, 0.0, 1000, 0.9, record_every=100)
    tdc = learn(None, spiral, "tdc", 2e-5, 5e-5, 1000, 0.9, record_every=100)
    assert td.diverged[0] and 100 < td.diverged_at[0] < 1000
    assert not tdc.diverged[0]
    norms = np.linalg.norm(spiral.value(tdc.w[:, 0, 0]), axis=-1)
    # While h is still ≈ 0 TDC first moves like TD; once h has learned, ‖V‖ shrinks towards the true 0.
    assert np.all(np.diff(norms[1:]) < 0) and norms[-1] < norms[0]
    sampled = learn(np.random.default_rng(0), spiral, "tdc", 2e-5, 5e-5, 1000, 0.9, form="sampled", streams=20,
                    record_every=1000)
    assert not sampled.diverged.any()


def test_spiral_experiment_quick(tmp_path):
    outcome = _execute("spiral", tmp_path)
    s = outcome.summary
    assert s["td/constructed/expected"]["diverged_fraction"] == 1.0
    assert s["tdc/constructed/expected"]["diverged_fraction"] == 0.0
    assert s["tdc/constructed/sampled"]["diverged_fraction"] == 0.0
    # A stream that diverged is infinitely far, even if a huge step then threw θ to where V(θ) ≈ 0.
    td = s["td/constructed/sampled"]
    assert td["diverged_fraction"] > 0.5 and td["norm_v"] == td["sqrt_mspbe"] == "inf"  # JSON has no inf
    assert np.isfinite(float(s["tdc/constructed/sampled"]["norm_v"]))
    assert s["family"]["consistency_error_constructed"] < 1e-12
    assert s["family"]["consistency_error_published"] > 0.1
    assert outcome.figures[0].name == "spiral_divergence.png"
