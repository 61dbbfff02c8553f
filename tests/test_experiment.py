"""The experiment runner: tidy rows, atomic files, resume, parameter parsing."""

import json

import numpy as np
import pandas as pd
import pytest

from triad import SpecError, ValidationError
from triad import experiment as exp
from triad.spec import coerce, key_values

CALLS = []


def _sweep(params):
    return [exp.Run(f"toy/stream={s}", {"stream": s, "steps": params["steps"], "scale": params["scale"]})
            for s in range(params["streams"])]


def _run(run, progress):
    CALLS.append(run.id)
    progress.total(run.params["steps"])
    rng = np.random.default_rng(run.params["stream"])
    rows = []
    for t in range(run.params["steps"]):
        rows.append({"stream": run.params["stream"], "step": t, "quantity": "x", "value": run.params["scale"] * rng.random()})
        progress.advance()
    return pd.DataFrame(rows)


def _summarise(results, params):
    return {"mean": float(results["value"].mean()), "runs": int(results["id"].nunique())}


TOY = exp.Experiment(name="toy", description="a test experiment", defaults={"streams": 3, "steps": 5, "scale": 1.0,
                                                                           "names": ("a", "b")},
                     sweep=_sweep, run=_run, summarise=_summarise, quick={"streams": 1})


def test_execute_writes_tidy_results_and_resumes(tmp_path):
    CALLS.clear()
    params = TOY.resolve({})
    first = exp.execute(TOY, params, out=tmp_path / "toy", show_progress=False)
    assert first.ran == 3 and first.reused == 0 and len(CALLS) == 3
    table = pd.read_csv(tmp_path / "toy" / "results.csv")
    assert list(table.columns[:5]) == ["id", "stream", "step", "quantity", "value"] and len(table) == 15
    assert json.loads((tmp_path / "toy" / "summary.json").read_text()) == first.summary
    assert not list((tmp_path / "toy").rglob("*.tmp"))
    again = exp.execute(TOY, params, out=tmp_path / "toy", show_progress=False)
    assert again.ran == 0 and again.reused == 3 and len(CALLS) == 3
    assert again.summary == first.summary  # bit-identical from the cache
    changed = exp.execute(TOY, TOY.resolve({"scale": "2"}), out=tmp_path / "toy", show_progress=False)
    assert changed.ran == 3 and changed.summary["mean"] == pytest.approx(2 * first.summary["mean"])
    fresh = exp.execute(TOY, TOY.resolve({"scale": "2"}), out=tmp_path / "toy", fresh=True, show_progress=False)
    assert fresh.ran == 3 and fresh.summary == changed.summary


def test_same_seed_is_bit_identical(tmp_path):
    a = exp.execute(TOY, TOY.resolve({}), out=tmp_path / "a", show_progress=False)
    b = exp.execute(TOY, TOY.resolve({}), out=tmp_path / "b", show_progress=False)
    assert (tmp_path / "a" / "results.csv").read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()
    assert a.summary == b.summary


def test_resolve_parses_by_default_type_and_rejects_unknown_keys():
    params = TOY.resolve({"streams": "2", "scale": "0.5", "names": "x, y,z"}, quick=True)
    assert params == {"streams": 2, "steps": 5, "scale": 0.5, "names": ("x", "y", "z")}
    assert TOY.resolve({}, quick=True)["streams"] == 1
    with pytest.raises(SpecError, match="experiment 'toy' has no parameter 'sweeps' \\(parameters: streams, steps"):
        TOY.resolve({"sweeps": "3"})
    with pytest.raises(SpecError, match="toy: streams='2.5' is not a valid int"):
        TOY.resolve({"streams": "2.5"})
    with pytest.raises(SpecError, match="--set: expected key=value, got 'oops'"):
        key_values(["oops"], "--set")
    with pytest.raises(SpecError, match="--set: streams is given twice"):
        key_values(["streams=1", "streams = 2"], "--set")
    assert key_values([" a = 1", "", "b=x=y"], "--set") == {"a": "1", "b": "x=y"}


def test_json_conversion_keeps_divergence_readable():
    assert exp.to_jsonable({"w": np.array([1.0, np.inf]), "n": np.int64(3), "ok": np.bool_(True),
                            "nan": float("nan")}) == {"w": [1.0, "inf"], "n": 3, "ok": True, "nan": "nan"}


def test_tuple_parameters_split_on_semicolons_when_items_hold_commas():
    assert coerce("chain:n=5;garnet:S=10,A=2", ("x",), "w") == ("chain:n=5", "garnet:S=10,A=2")
    assert coerce("1,2", (0,), "w") == (1, 2)


def test_cached_runs_of_other_code_are_recomputed(tmp_path, monkeypatch):
    CALLS.clear()
    exp.execute(TOY, TOY.resolve({}), out=tmp_path / "toy", show_progress=False)
    monkeypatch.setattr(exp, "code_fingerprint", lambda experiment: "changed")
    again = exp.execute(TOY, TOY.resolve({}), out=tmp_path / "toy", show_progress=False)
    assert again.ran == 3 and len(CALLS) == 6


# ------------------------------------------------------------------------------------ tidy rows
def test_tidy_rows_match_a_plain_loop():
    steps = np.array([0, 10, 20])
    w = np.arange(6.0).reshape(3, 2)  # (K, B): 3 recorded steps, 2 streams
    norm = -w
    gammas = np.array([0.5, 0.9])
    rows = exp.tidy(steps, {"w": w, "norm": norm}, algorithm="td", gamma=gammas)
    expected = pd.DataFrame([{"algorithm": "td", "gamma": gammas[b], "step": steps[k], "stream": b, "quantity": q,
                              "value": values[k, b]}
                             for q, values in (("w", w), ("norm", norm)) for k in range(3) for b in range(2)])
    pd.testing.assert_frame_equal(rows, expected, check_dtype=False)
    # (K,) arrays: one deterministic run, no stream column; another name for the second axis.
    single = exp.tidy([1, 2], {"J": [0.5, 0.25]}, field="true")
    assert list(single.columns) == ["field", "step", "quantity", "value"]
    assert single["value"].tolist() == [0.5, 0.25] and single["step"].tolist() == [1, 2]
    cells = exp.tidy([7], {"w": [[1.0, 2.0, 3.0]]}, axis="cell")
    assert cells["cell"].tolist() == [0, 1, 2] and cells["step"].tolist() == [7, 7, 7]
    assert exp.tidy([0], {"diverged": [True]})["value"].dtype == np.float64


@pytest.mark.parametrize("quantities, labels, message", [
    ({}, {}, "no quantities given"),
    ({"a": np.zeros((3, 2)), "b": np.zeros((3, 4))}, {}, r"shapes \[\(3, 2\), \(3, 4\)\], expected one shape"),
    ({"a": np.zeros((2, 2))}, {}, "with K = 3 recorded steps"),
    ({"a": np.zeros((3, 2))}, {"gamma": np.zeros(3)}, r"label 'gamma' has shape \(3,\), expected a scalar or \(2,\)"),
    ({"a": np.zeros((3, 2))}, {"stream": 1}, "label 'stream' would overwrite a column tidy writes"),
])
def test_tidy_rejects_inconsistent_shapes(quantities, labels, message):
    with pytest.raises(ValidationError, match=message):
        exp.tidy(np.arange(3), quantities, **labels)


def test_require_columns_names_what_is_missing():
    rows = pd.DataFrame({"id": ["a"], "seed": [0], "step": [0], "quantity": ["x"], "value": [1.0]})
    exp.require_columns(rows, ["id", "step"], "toy analysis")
    with pytest.raises(ValidationError, match=r"^toy analysis: the results lack the columns stream, form \(they have "
                                              r"id, seed, step, quantity, value\)"):
        exp.require_columns(rows, ["id", "stream", "form", "stream"], "toy analysis")


# An old-format table: no step column (and no stream, form, field, m, ...) that analyses and figures read.
OLD_ROWS = pd.DataFrame({"id": ["x/y"], "case": ["iid"], "algorithm": ["q"], "quantity": ["w_1"], "value": [1.0]})


@pytest.mark.parametrize("name", sorted(exp.registry()))
def test_every_analysis_names_the_columns_it_lacks(name):
    with pytest.raises(ValidationError, match=r"analysis: the results lack the columns? "):
        exp.get(name).summarise(OLD_ROWS, {})


@pytest.mark.parametrize("name, figure", [(e.name, f) for e in exp.registry().values() for f in e.figures])
def test_every_figure_names_the_columns_it_lacks(name, figure, tmp_path):
    import importlib

    exp.write_csv(tmp_path / "results.csv", OLD_ROWS)
    exp.write_json(tmp_path / "params.json", dict(exp.get(name).defaults))
    with pytest.raises(ValidationError, match=rf"^{figure} figure: the results lack the columns? "):
        importlib.import_module(f"triad.figures.{figure}").plot(tmp_path, tmp_path / "out")


def test_figures_command_reports_results_of_another_version_in_one_line(triad_cli, tmp_path):
    exp.write_csv(tmp_path / "baird" / "results.csv",
                  pd.DataFrame({"id": ["baird/x"], "algorithm": ["tdc"], "form": ["sampled"], "seed": [0],
                                "step": [0], "quantity": ["w_1"], "value": [1.0]}))
    code, out, err = triad_cli("figures", "baird", "--results", str(tmp_path), "--out", str(tmp_path / "f"))
    assert code == 2 and out == ""
    assert err.startswith("triad: error: baird_weights figure: the results lack the column stream ")
