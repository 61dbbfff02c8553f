"""The three-process experiment: cells are rates of the one loop, named points marked, summary and figure."""

import json

import numpy as np
import pytest

from triad import SpecError
from triad import experiment as exp
from triad.experiments.three_process.run import rates
from triad.experiments.three_process.sweep import NAMED


def test_cells_are_the_documented_rates():
    assert rates(1, 0, 1.0) == {"capacity": "1", "batch_size": "1", "train_every": "1", "grad_steps": "1",
                                "target_period": "0", "tau": "1.0"}  # online Q: every process at one rate
    assert rates(10_000, 512, 0.25)["train_every"] == "4" and rates(256, 8, 4.0)["grad_steps"] == "4"
    assert NAMED["online-q"] == (1, 0, 1.0) and NAMED["dqn"][2] == 0.25


def test_summary_marks_online_q_dqn_and_fqi_and_draws_the_heat_map(tmp_path):
    experiment = exp.get("three-process")
    params = experiment.resolve({"envs": "feature-grid", "target_periods": "0,512", "ratios": "0.25,1",
                                 "capacities": "1,10000", "finite_steps": "400", "learning_starts": "100",
                                 "fqi_iterations": "2"})
    outcome = exp.execute(experiment, params, out=tmp_path / "tp", figures_dir=tmp_path / "fig", show_progress=False)
    grid = outcome.summary["envs"]["feature-grid"]
    assert grid["cells_run"] == 8 and set(grid["named"]) == {"online-q", "dqn", "fqi"}
    online = grid["cells"]["capacity=1/target_period=0/ratio=1"]
    assert online == grid["named"]["online-q"]
    assert grid["named"]["dqn"] == grid["cells"]["capacity=10000/target_period=512/ratio=0.25"]
    for cell in (*grid["cells"].values(), grid["named"]["fqi"]):
        assert 0.0 <= cell["q_abs_max"] and cell["return_bound"] == pytest.approx(0.925 / 0.1)
        assert cell["J"] <= cell["J_star"] + 1e-9 and cell["q_error"] >= 0.0
        assert cell["q_ratio"] == pytest.approx(cell["q_abs_max"] / cell["return_bound"])
    assert grid["soft_divergent_cells"] == sum(c["q_ratio"] > 1 for c in grid["cells"].values())
    assert [p.name for p in outcome.figures] == ["three_process.png"]
    rows = exp.load_results(tmp_path / "tp")[0]
    assert set(rows["quantity"]) >= {"final_return", "eval_return", "q_abs_max", "return", "q_max", "J"}
    assert np.isfinite(rows[rows["quantity"] == "q_abs_max"]["value"]).all()


def test_cli_errors_are_one_line(triad_cli, tmp_path):
    code, out, err = triad_cli("run", "three-process", "--set", "envs=Pong", "--out", str(tmp_path / "x"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "unknown envs ['Pong']" in err
    with pytest.raises(SpecError, match="ratios \\[0.3\\] must be whole numbers or 1/k"):
        exp.get("three-process").sweep(exp.get("three-process").resolve({"ratios": "0.3"}))


def test_quick_cli_runs_both_envs(triad_cli, tmp_path):
    code, out, _ = triad_cli("run", "three-process", "--quick", "--set", "target_periods=0", "--set", "capacities=1",
                             "--set", "steps=300", "--set", "finite_steps=300", "--set", "learning_starts=100",
                             "--set", "fqi_iterations=1", "--json", "--out", str(tmp_path / "q"), "--no-figures")
    assert code == 0
    data = json.loads(out)["envs"]
    assert set(data) == {"feature-grid", "CartPole-v1"}
    assert data["CartPole-v1"]["named"]["online-q"]["return_bound"] == 100.0
