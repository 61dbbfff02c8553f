"""The discount-weighting and overestimation experiments: summaries derived from rows, figures, CLI."""

import json

import numpy as np
import pytest

from triad import SpecError
from triad import experiment as exp


def test_discount_weighting_summary_and_figures(tmp_path):
    experiment = exp.get("discount-weighting")
    params = experiment.resolve({"problems": "chain:n=3,slip=0.1; aliased-decision:late_reward=4", "steps": "40"})
    outcome = exp.execute(experiment, params, out=tmp_path / "dw", figures_dir=tmp_path / "fig", show_progress=False)
    chain = outcome.summary["problems"]["chain:n=3,slip=0.1"]
    assert chain["parameters"] == 6 and chain["angle_at_start_deg"] > 1.0
    assert chain["curl_norm"]["dropped"] > 1e4 * chain["curl_norm"]["true"]
    assert abs(chain["loop_integral"]["true"]) < 1e-14
    assert chain["loop_integral"]["dropped"] == pytest.approx(chain["stokes_prediction"], rel=0.02)
    assert chain["J_start"] < min(chain["J_final"].values()) <= max(chain["J_final"].values()) <= chain["J_star"]
    aliased = outcome.summary["problems"]["aliased-decision:late_reward=4"]
    assert aliased["angle_at_start_deg"] == pytest.approx(180.0)
    assert aliased["J_final"]["dropped"] < aliased["J_start"] < aliased["J_final"]["true"]
    assert aliased["loop_integral"] == {"true": None, "dropped": None}
    assert sorted(p.name for p in outcome.figures) == ["discount_weighting.png", "discount_weighting_curl.png"]
    assert all(p.stat().st_size > 10_000 for p in outcome.figures)
    again = exp.execute(experiment, params, out=tmp_path / "dw", show_progress=False, make_figures=False)
    assert again.reused == 2 and again.summary == outcome.summary


def test_discount_weighting_rejects_unknown_problem_parameters(tmp_path):
    experiment = exp.get("discount-weighting")
    # Checked when the parameters are resolved, before any run starts.
    with pytest.raises(SpecError, match="aliased-decision has no parameter 'lenght'"):
        experiment.resolve({"problems": "aliased-decision:lenght=3"})


def test_overestimation_summary_matches_closed_forms_and_the_book(tmp_path):
    experiment = exp.get("overestimation")
    params = experiment.resolve({"ms": "2,8", "streams": "1000", "episodes": "60"})
    outcome = exp.execute(experiment, params, out=tmp_path / "ov", figures_dir=tmp_path / "fig", show_progress=False)
    summary = outcome.summary
    two = summary["expected_max"]["2"]
    assert two["exact"]["normal"] == pytest.approx(1 / np.sqrt(np.pi), rel=1e-10)
    assert summary["expected_max"]["8"]["exact"]["uniform"] == pytest.approx(7 / 9, rel=1e-10)
    for entry in summary["expected_max"].values():
        for family in ("normal", "uniform"):
            assert abs(entry["sampled"][family] - entry["exact"][family]) < 5 * entry["sampled_se"][family]
            assert entry["double_exact"][family] == pytest.approx(0.0, abs=1e-10)  # i.i.d.: unbiased
            assert abs(entry["double_sampled"][family]) < 5 * entry["double_sampled_se"][family]
    for entry in summary["gap_case"]["by_m"].values():
        for family in ("normal", "uniform"):
            assert entry["double_exact"][family] < 0.0 < entry["exact"][family]
    left = summary["left_from_A"]
    assert left["optimal"] == pytest.approx(0.05)
    assert left["q"]["episodes_2_to_20"] > 0.7 and left["q"]["peak"] > 0.85
    assert left["q"]["episodes_2_to_20"] > left["double"]["episodes_2_to_20"] + 0.2
    assert sorted(p.name for p in outcome.figures) == ["overestimation.png", "overestimation_qlearning.png"]


def test_overestimation_cli_json_and_bad_input(triad_cli, tmp_path):
    code, out, _ = triad_cli("run", "overestimation", "--quick", "--set", "ms=2,4", "--set", "streams=200",
                           "--set", "episodes=20", "--json", "--out", str(tmp_path / "ov"),
                           "--no-figures")
    assert code == 0
    data = json.loads(out)
    assert set(data["expected_max"]) == {"2", "4"}
    assert set(data["left_from_A"]) == {"optimal", "q", "double"}
    code, out, err = triad_cli("run", "overestimation", "--set", "families=cauchy", "--out", str(tmp_path / "x"))
    assert code == 2 and out == ""
    assert err.strip() == "triad: error: overestimation: unknown families ['cauchy'] (choose from normal, uniform)"
