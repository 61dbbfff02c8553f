"""The truth-probes experiment: a training run's probe rows, its summary against the exact solver, the figure."""

import numpy as np
import pytest

from triad import experiment as exp
from triad import zoo
from triad.errors import SpecError
from triad.solvers import policy_iteration

PROBLEM = "chain:n=5,slip=0.2"


def test_truth_probes_rows_summary_and_figure(tmp_path):
    experiment = exp.get("truth-probes")
    params = experiment.resolve({"problem": PROBLEM, "steps": "1000", "log_every": "250",
                                 "settings": "baseline=true;batch_steps=200"})
    outcome = exp.execute(experiment, params, out=tmp_path / "res", figures_dir=tmp_path / "fig", show_progress=False)
    assert outcome.ran == 2 and sorted(p.name for p in outcome.figures) == ["truth_probes.pdf", "truth_probes.png"]
    assert all(p.stat().st_size > 10_000 for p in outcome.figures)
    results, _ = exp.load_results(tmp_path / "res")
    J_star = zoo.make(PROBLEM).mdp.initial @ policy_iteration(zoo.make(PROBLEM).mdp).V  # the exact solver, again
    for run_id, rows in results.groupby("id"):
        J = rows[rows["quantity"] == "J"]
        steps = J["step"].to_numpy()  # one probe row per log step: the first step of 4 envs past each multiple
        assert np.array_equal(steps // 250, [1, 2, 3, 4]) and np.all(steps % 250 < 4)
        assert np.all(J["value"] <= J_star + 1e-9) and np.all(J["value"] > 0)
        assert rows[rows["quantity"] == "J_star"]["value"].tolist() == [pytest.approx(J_star)]
        cos = rows[rows["quantity"].isin(["cos_true", "cos_dropped"])]["value"]
        assert len(cos) > 0 and np.all(np.abs(cos) <= 1 + 1e-9)
        assert (rows[rows["quantity"] == "critic_error"]["value"] >= 0).all()
    summary = outcome.summary["runs"]
    assert set(summary) == {"option_1/seed=0", "option_2/seed=0"}
    for entry in summary.values():
        assert entry["J_star"] == pytest.approx(J_star)
        assert entry["gap"] == pytest.approx(J_star - entry["J_final"]) and entry["gap"] >= -1e-9
        assert -1 <= entry["cos_true_mean"] <= 1 and 0 <= entry["positive_cos_true"] <= 1
    again = exp.execute(experiment, params, out=tmp_path / "res", show_progress=False, make_figures=False)
    assert again.reused == 2 and again.summary == outcome.summary  # a deterministic, cached run


@pytest.mark.parametrize(("overrides", "message"), [
    ({"algorithm": "dqn-nope"}, "unknown algorithm 'dqn-nope'"),
    ({"problem": "CartPole-v1"}, "unknown MDP 'CartPole-v1'"),
    ({"settings": "baseline"}, "setting 'baseline' is not key=value"),
    ({"settings": "batchsteps=3"}, "ReinforceConfig has no field 'batchsteps'"),
])
def test_bad_parameters_fail_before_any_run(overrides, message):
    experiment = exp.get("truth-probes")
    with pytest.raises(SpecError, match=message):
        experiment.sweep(experiment.resolve(overrides))
