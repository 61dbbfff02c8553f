"""The command line: JSON contracts and one-line errors with exit status 2."""

import json
import subprocess
import sys

import numpy as np
import pytest


def test_solve_json_contract(triad_cli):
    code, out, _ = triad_cli("solve", "chain:n=5", "--json")
    assert code == 0
    data = json.loads(out)
    assert {"values", "policy", "iterations", "seconds"} <= set(data)
    np.testing.assert_allclose(data["values"], [0.729, 0.81, 0.9, 1.0, 0.0], atol=1e-6)
    assert data["policy"][:4] == [1, 1, 1, 1]


@pytest.mark.parametrize("method", ["vi", "pi", "mpi", "lp"])
def test_solve_methods_and_gamma_override(triad_cli, method):
    code, out, _ = triad_cli("solve", "chain:n=3", "--method", method, "--gamma", "0.5", "--json")
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["values"], [0.5, 1.0, 0.0], atol=1e-6)


def test_evaluate_json_and_policy_file(triad_cli, tmp_path):
    code, out, _ = triad_cli("evaluate", "sutton-barto-grid", "--json")
    assert code == 0 and round(json.loads(out)["values"][1], 1) == 8.8
    right = np.tile([0.0, 1.0], (3, 1))
    np.save(tmp_path / "right.npy", right)
    code, out, _ = triad_cli("evaluate", "chain:n=3", "--policy", str(tmp_path / "right.npy"), "--json")
    assert code == 0 and json.loads(out)["values"] == pytest.approx([0.9, 1.0, 0.0])


@pytest.mark.parametrize("args, message", [
    (("solve", "nope"), "unknown MDP 'nope'"),
    (("solve", "chain:n=1"), "chain needs n ≥ 2 states"),
    (("solve", "chain", "--method", "xx"), "unknown method 'xx'"),
    (("solve", "chain", "--gamma", "1.5"), "gamma = 1.5 is outside [0, 1]"),
    (("evaluate", "chain", "--policy", "missing.npy"), "policy file missing.npy does not exist"),
    (("evaluate", "chain", "--policy", "greedy"), "policy 'greedy' is neither uniform/target/behaviour nor an .npy file"),
    (("evaluate", "chain", "--policy", "target"), "defines no target policy"),
    (("run", "no-such-experiment"), "unknown experiment 'no-such-experiment'"),
    # Command-line usage errors from typer get the same one line, with a pointer to --help.
    (("moments", "chain", "--json"), "Missing option '--estimator'. (see `triad moments --help`)"),
    (("solve", "chain", "--gamma", "abc"), "Invalid value for '--gamma'"),
    (("solve", "chain", "--bogus"), "No such option: --bogus"),
    (("solve",), "Missing argument"),
    (("nosuch",), "No such command 'nosuch'"),
])
def test_user_errors_are_one_line_with_status_2(triad_cli, args, message):
    code, out, err = triad_cli(*args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("triad: error: ") and message in err


def test_invalid_mdp_file(triad_cli, tmp_path):
    np.savez(tmp_path / "bad.npz", P=np.full((2, 1, 2), 0.3), R=np.zeros((2, 1)), gamma=0.9)
    code, _, err = triad_cli("solve", str(tmp_path / "bad.npz"))
    assert code == 2 and "P[0, 0] sums to 0.6" in err
    (tmp_path / "text.npz").write_text("not an archive")
    code, _, err = triad_cli("solve", str(tmp_path / "text.npz"))
    assert code == 2 and err == f"triad: error: {tmp_path / 'text.npz'} is not a readable .npz file (not an .npz archive of arrays)\n"


def test_policy_file_of_wrong_shape(triad_cli, tmp_path):
    np.save(tmp_path / "p.npy", np.ones((2, 2)))
    code, _, err = triad_cli("evaluate", "chain:n=3", "--policy", str(tmp_path / "p.npy"))
    assert code == 2 and "has shape (2, 2), expected (S, A) = (3, 2)" in err


def test_list_json(triad_cli):
    code, out, _ = triad_cli("list", "--json")
    data = json.loads(out)
    assert code == 0 and {"mdps", "experiments", "agents"} <= set(data)
    assert {"baird", "a-split", "off-policy-two-state", "aliased-decision"} <= {m["name"] for m in data["mdps"]}


def test_console_script_runs_as_module():
    proc = subprocess.run([sys.executable, "-m", "triad", "solve", "garnet:S=50,seed=1", "--json"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["values"]) == 50


def test_reproduce_runs_every_experiment_and_resumes(triad_cli, monkeypatch, tmp_path):
    from test_experiment import TOY

    from triad import experiment as exp

    monkeypatch.setattr(exp, "registry", lambda: {"toy": TOY})
    args = ("reproduce", "--quick", "--results", str(tmp_path / "r"), "--figures", str(tmp_path / "f"), "--json")
    code, out, _ = triad_cli(*args)
    assert code == 0 and json.loads(out)["toy"]["ran"] == 1  # --quick: one stream
    code, out, _ = triad_cli(*args)
    assert json.loads(out)["toy"] == {"ran": 0, "reused": 1, "figures": [],
                                      "summary": str(tmp_path / "r" / "toy-quick" / "summary.json")}


def test_solver_warning_is_one_line_on_stderr(triad_cli, monkeypatch):
    from triad import solvers

    monkeypatch.setattr(solvers, "_max_sweeps", lambda *args: 2)  # a budget too small for --tol
    code, out, err = triad_cli("solve", "garnet:S=30,A=2,b=3,seed=0", "--tol", "1e-9", "--json")
    assert code == 0 and json.loads(out)["iterations"] == 2
    assert err.startswith("triad: warning: vi stopped after 2 iterations with error bound")
    assert err.count("\n") == 1 and "solvers.py" not in err
