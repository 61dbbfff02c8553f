"""The command line under bad input, big requests and unwritable folders — and what it shows."""

import io
import json
import os
import re
import sys
import tracemalloc
import types
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
from test_experiment_storage import CALLS, disk, read_only  # noqa: F401  (fixtures)

from triad import cli, memory, zoo
from triad import experiment as exp

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and out == "", (code, out, err)
    assert err.count("\n") == 1 and err.startswith("triad: error: "), err
    return err


# ------------------------------------------------------------------------------------ bad files
def _write_bad_files(d: Path) -> dict[str, str]:
    P, R = np.full((2, 1, 2), 0.5), np.zeros((2, 1))
    (d / "zero.npz").write_bytes(b"")
    np.savez(d / "empty.npz")
    np.save(d / "array.npy", np.eye(3))
    np.savez(d / "gamma_text.npz", P=P, R=R, gamma="0.9")
    objects = np.empty((2, 1, 2), dtype=object)
    objects[...] = 0.5
    np.savez(d / "objects.npz", P=objects, R=R, gamma=0.9)
    np.savez(d / "mask_text.npz", P=P, R=R, gamma=0.9, terminal=np.array(["no", "yes"]))
    return {
        "zero.npz": "is empty (0 bytes): expected an .npz archive with P, R and gamma",
        "empty.npz": "holds no arrays: expected P, R and gamma",
        "array.npy": "holds a single array of shape (3, 3) (an .npy file), not an MDP",
        "gamma_text.npz": "gamma is stored as text (first entry '0.9'); expected a number",
        "objects.npz": "array 'P' holds Python objects (dtype=object), which triad does not unpickle",
        "mask_text.npz": "terminal is stored as text (first entry 'no'); expected booleans",
    }


def test_bad_mdp_files_are_one_line_errors_naming_the_file(triad_cli, tmp_path):
    for name, message in _write_bad_files(tmp_path).items():
        err = one_line_error(*triad_cli("solve", str(tmp_path / name)))
        assert str(tmp_path / name) in err and message in err, err


def test_a_size_no_array_can_have(triad_cli):
    err = one_line_error(*triad_cli("solve", "chain:n=" + "1" * 40))
    assert "chain: n = 11111111…(40 digits) is too large to be a size (at most 2^63 − 1)" in err
    err = one_line_error(*triad_cli("solve", "garnet:S=4,A=" + "9" * 30))
    assert "garnet: A = 99999999…(30 digits) is too large to be a size" in err


# --------------------------------------------------------------------------------------- memory
GiB = 2**30


@pytest.mark.parametrize("spec, P_alone, alternative", [
    # P alone: 12 bytes per stored transition (float64 + int32 column) for sparse, 8·S²·A dense.
    ("garnet:S=100000000,A=4,b=10", 12 * 100_000_000 * 4 * 10, None),
    ("chain:n=100000", 8 * 100_000**2 * 2, None),
    ("garnet:S=100000,A=2,b=10,sparse=false", 8 * 100_000**2 * 2, "sparse=true stores only the S·A·b = 2,000,000"),
])
def test_specs_too_big_for_memory_are_refused_before_allocating(triad_cli, monkeypatch, spec, P_alone, alternative):
    monkeypatch.setattr(memory, "available_bytes", lambda: 8 * GiB)
    tracemalloc.start()
    try:
        err = one_line_error(*triad_cli("solve", spec))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # nothing of the size asked for was allocated
    assert f"{spec} needs about " in err and "but only 8 GiB are available" in err
    assert f"(P alone is {memory.format_bytes(P_alone)})" in err
    assert (alternative in err) if alternative else ("sparse=true" not in err)


@pytest.mark.parametrize("spec", ["garnet:S=20000,A=2,b=10", "garnet:S=300,A=3,b=5", "chain:n=1200",
                                  "gridworld:rows=25,cols=30", "garnet:S=600,A=2,b=4,sparse=false"])
def test_the_memory_estimate_matches_the_measured_peak(spec):
    name, raw = zoo.parse_spec(spec)
    params = {k: p.default for k, p in __import__("inspect").signature(zoo.ZOO[name]).parameters.items()}
    params.update({k: zoo.coerce(v, params[k], k) for k, v in raw.items()})
    estimate = zoo._footprint(name, params)[0]
    tracemalloc.start()
    try:
        zoo.make(spec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.8 * peak < estimate < 1.6 * peak, (estimate, peak)


def test_available_memory_is_read_from_the_kernel(tmp_path):
    (tmp_path / "meminfo").write_text("MemTotal:       32768000 kB\nMemFree:  1000 kB\nMemAvailable:   2048 kB\n")
    assert memory._meminfo_available(tmp_path / "meminfo") == 2048 * 1024
    (tmp_path / "none").write_text("MemTotal: 1 kB\n")
    assert memory._meminfo_available(tmp_path / "none") is None
    fields = dict(line.split(":") for line in Path("/proc/meminfo").read_text().splitlines())
    kernel = int(fields["MemAvailable"].split()[0]) * 1024
    assert 0 < memory.available_bytes() <= kernel * 1.1  # the kernel's figure, or a tighter cgroup limit


def test_large_requests_that_fit_are_announced():
    with pytest.warns(memory.MemoryWarning, match="big needs about 3 GiB of memory \\(64 GiB available\\)"):
        memory.require(3 * GiB, "big", available=64 * GiB)
    memory.require(GiB // 2, "small", available=GiB // 4)  # below LARGE nothing is said or refused


# ------------------------------------------------------------------------------- unwritable output
@pytest.fixture
def disk_cli(disk, monkeypatch):  # noqa: F811
    monkeypatch.setattr(exp, "registry", lambda: {"disk": disk})
    return disk


def test_run_into_a_read_only_results_folder(triad_cli, disk_cli, read_only, tmp_path):  # noqa: F811
    out = read_only(tmp_path / "r")
    err = one_line_error(*triad_cli("run", "disk", "--out", str(out), "--figures", str(tmp_path / "f")))
    assert f"cannot write {out / 'runs'} (results folder): Permission denied" in err
    assert CALLS == []


def test_run_with_a_read_only_figures_folder(triad_cli, disk_cli, read_only, tmp_path):  # noqa: F811
    figures = read_only(tmp_path / "f")
    err = one_line_error(*triad_cli("run", "disk", "--out", str(tmp_path / "r"), "--figures", str(figures)))
    assert f"cannot write {figures} (figures folder): Permission denied" in err
    assert CALLS == []


def test_run_in_a_read_only_working_directory(triad_cli, disk_cli, read_only, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(read_only(tmp_path / "cwd"))
    err = one_line_error(*triad_cli("run", "disk"))
    assert "cannot write results/disk/runs (results folder" in err and "Permission denied" in err


def test_figures_into_a_read_only_folder(triad_cli, disk_cli, read_only, tmp_path):  # noqa: F811
    code, _, err = triad_cli("run", "disk", "--out", str(tmp_path / "r" / "disk"), "--no-figures")
    assert code == 0, err
    figures = read_only(tmp_path / "f")
    err = one_line_error(*triad_cli("figures", "--results", str(tmp_path / "r"), "--out", str(figures)))
    assert f"cannot write {figures} (figures folder): Permission denied" in err


def test_reproduce_into_a_read_only_results_root(triad_cli, disk_cli, read_only, tmp_path):  # noqa: F811
    root = read_only(tmp_path / "r")
    code, out, err = triad_cli("reproduce", "--results", str(root), "--figures", str(tmp_path / "f"))
    assert err.splitlines()[0] == "disk"  # the experiment being reproduced, then the one error line
    one_line_error(code, out, err.split("\n", 1)[1])
    assert f"cannot write {root / 'disk' / 'runs'} (results folder): Permission denied" in err and CALLS == []


def test_cached_results_are_shown_from_read_only_folders(triad_cli, disk_cli, read_only, tmp_path):  # noqa: F811
    args = ("run", "disk", "--out", str(tmp_path / "r"), "--figures", str(tmp_path / "f"))
    code, first, err = triad_cli(*args)
    assert code == 0, err
    for folder in (tmp_path / "r", tmp_path / "r" / "runs", tmp_path / "f"):
        read_only(folder)
    code, again, err = triad_cli(*args)
    assert code == 0, err
    assert "disk: 0 runs computed, 2 reused" in again and f"figure: {tmp_path / 'f' / 'disk_toy.png'}" in again
    assert again.splitlines()[1:] == first.splitlines()[1:]  # the same summary and figures
    code, _, err = triad_cli("reproduce", "--results", str(tmp_path), "--figures", str(tmp_path / "f"))
    assert code == 2 and "cannot write" in err  # reproduce's own results/disk is new, so it must write


def test_oserror_from_the_environment_is_one_line(triad_cli, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", "results/x.csv")

    monkeypatch.setattr("triad.solvers.solve", full)
    err = one_line_error(*triad_cli("solve", "chain:n=3"))
    assert err == "triad: error: cannot write results/x.csv: No space left on device\n"


# --------------------------------------------------------------------------------- quick runs
def test_quick_runs_go_to_their_own_folders_and_say_so(triad_cli, disk_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = triad_cli("run", "disk", "--quick")
    assert code == 0, err
    assert "disk (quick): 2 runs computed, 0 reused; results in results/disk-quick/" in out
    assert "figure: figures/quick/disk_toy.png" in out
    assert sorted(p.name for p in Path("results").iterdir()) == ["disk-quick"]
    code, out, _ = triad_cli("figures", "--quick", "--json")
    assert json.loads(out) == {"figures": ["figures/quick/disk_toy.png"]}
    code, out, _ = triad_cli("figures", "--json")
    assert json.loads(out) == {"figures": []}  # no full run yet


# ------------------------------------------------------------------------ experiment parameters
def test_parameters_are_options_and_each_is_given_once(triad_cli, disk_cli, tmp_path):
    base = ("run", "disk", "--out", str(tmp_path / "r"), "--no-figures", "--json")
    code, out, err = triad_cli(*base, "--steps", "3")
    assert code == 0 and json.loads(out)["rows"] == 6, err
    code, out, _ = triad_cli(*base, "--steps=5", "--set", "mdps=chain:n=5,slip=0.1")
    assert json.loads(out)["rows"] == 5  # one spec, commas and all
    err = one_line_error(*triad_cli(*base, "--steps", "5", "--set", "steps=7"))
    assert "steps is given twice: --steps 5 and --set steps=7; keep one" in err
    err = one_line_error(*triad_cli(*base, "--algorithm", "tdc"))
    assert "experiment 'disk' has no parameter 'algorithm' (from --algorithm); its parameters: mdps, steps" in err
    err = one_line_error(*triad_cli(*base, "--steps"))
    assert "--steps needs a value" in err
    CALLS.clear()
    err = one_line_error(*triad_cli(*base, "--mdps", "chain:n=4;chain:n=3,slip=2"))
    assert "disk: mdps: 'chain:n=3,slip=2': slip = 2 is outside [0, 1]" in err and CALLS == []


def test_boolean_parameters_are_flags(disk):  # noqa: F811
    flagged = exp.Experiment(name="f", description="", defaults={"double_sample": False, "steps": 1},
                             sweep=disk.sweep, run=disk.run, summarise=disk.summarise)
    assert cli.parameter_options(flagged, ["--double-sample", "--steps", "2"]) == {"double_sample": "true",
                                                                                   "steps": "2"}
    assert cli.parameter_options(flagged, ["--no-double-sample"]) == {"double_sample": "false"}
    assert cli.parameter_options(flagged, ["--double_sample=off"]) == {"double_sample": "off"}
    with pytest.raises(cli.SpecError, match="unexpected argument 'x'"):
        cli.parameter_options(flagged, ["x"])


def test_run_help_and_list_show_an_experiments_parameters(triad_cli, disk_cli):
    code, out, _ = triad_cli("run", "disk", "--help")
    assert code == 0
    section = out[out.index("Parameters of disk"):]
    assert re.search(r"--mdps A,B,\.\.\.\s+MDP specs\s+\[default:\s+chain:n=4,slip=0.1;garnet:S=5,A=2,b=2,seed=0\]",
                     section)
    assert re.search(r"--steps N\s+steps per run\s+\[default: 4, --quick: 2\]", section)
    code, out, _ = triad_cli("run", "--help")
    assert code == 0 and "`triad run EXPERIMENT --help` or `triad list EXPERIMENT` lists them" in out
    code, out, _ = triad_cli("list", "disk")
    assert code == 0 and "--steps" in out and "steps per run" in out and "MDP specs" in out
    code, out, _ = triad_cli("list", "disk", "--json")
    rows = json.loads(out)["parameters"]
    assert rows[1] == {"name": "steps", "option": "--steps", "default": 4, "quick": 2, "doc": "steps per run"}


def test_every_real_experiment_lists_its_parameters(triad_cli):
    for name, experiment in exp.registry().items():
        code, out, _ = triad_cli("list", name, "--json")
        assert code == 0 and [r["name"] for r in json.loads(out)["parameters"]] == list(experiment.defaults)


# -------------------------------------------------------------------------------------- agents
def test_list_shows_agents_from_a_registry_and_omits_the_section_without_one(triad_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "triad.agents", types.ModuleType("triad.agents"))  # a package without one
    code, out, _ = triad_cli("list")
    assert code == 0 and "Agents" not in out and "none yet" not in out

    class PPO:
        """Proximal policy optimisation (Schulman et al. 2017)."""

        envs = ("FiniteEnv", "CartPole-v1")

    agents = types.ModuleType("triad.agents")
    agents.registry = lambda: {"ppo": PPO}
    monkeypatch.setitem(sys.modules, "triad.agents", agents)
    code, out, _ = triad_cli("list")
    assert code == 0 and "Agents" in out and "ppo" in out and "Proximal policy optimisation" in out
    assert "FiniteEnv, CartPole-v1" in out
    code, out, _ = triad_cli("list", "--json")
    assert json.loads(out)["agents"] == [{"name": "ppo", "summary": "Proximal policy optimisation (Schulman et al. "
                                          "2017).", "envs": "FiniteEnv, CartPole-v1"}]


# ----------------------------------------------------------------------------------- help text
COMMANDS = ("solve", "evaluate", "contraction", "list", "run", "figures", "reproduce", "moments")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_no_type_tags_after_flags_and_readable_metavars(triad_cli, command):
    code, out, _ = triad_cli(command, "--help")
    assert code == 0 and "<bool>" not in out and "<str>" not in out.split("Options:")[0]
    assert "{" not in out.splitlines()[0]  # usage: `triad solve [OPTIONS] SPEC`
    if command in ("solve", "evaluate", "contraction", "moments"):
        assert f"Usage: triad {command} [OPTIONS] SPEC" in out
    if command == "run":
        assert "--set PARAM=VALUE" in out and "Usage: triad run [OPTIONS] EXPERIMENT" in out


def test_version(triad_cli):
    code, out, _ = triad_cli("--version")
    assert code == 0 and out == f"triad {version('triad')}\n"


def test_singular_plural_and_gamma_digits(triad_cli, disk_cli, tmp_path):
    code, out, _ = triad_cli("solve", "garnet:S=1,A=1,b=1", "--gamma", "0.999999999")
    assert code == 0 and "1 state, 1 action, γ = 0.999999999" in out and "iteration" in out
    code, out, _ = triad_cli("evaluate", "chain:n=3", "--gamma", "0.123456789012")
    assert "3 states, 2 actions, γ = 0.123456789012" in out
    code, out, _ = triad_cli("run", "disk", "--mdps", "chain:n=4", "--out", str(tmp_path / "r"), "--no-figures")
    assert code == 0 and "disk: 1 run computed, 0 reused" in out
    assert cli.plural(1, "run") == "1 run" and cli.plural(0, "run") == "0 runs" and cli.plural(2, "state") == "2 states"


# ------------------------------------------------------------------------------ summary tables
def _render(summary: dict) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, file=io.StringIO())
    console.print(cli._summary_table(exp.to_jsonable(summary)))
    return console.export_text()


def test_nested_summaries_render_as_tables_not_json():
    summary = {  # the shapes of bias-variance, overestimation, discount-weighting and contraction summaries
        "by_mdp": {"chain:n=6": {"error=0": {"best_n": 1, "mse_td": 0.25}, "error=1": {"best_n": 2, "mse_td": 0.5}},
                   "garnet:S=10": {"error=0": {"best_n": 3, "mse_td": 0.125}, "error=1": {"best_n": 4, "mse_td": 1.5}}},
        "expected_max": {str(m): {"exact": {"normal": m / 10, "uniform": m / 20}} for m in (2, 4)},
        "problems": {"chain": {"J_final": {"true": 0.75, "dropped": 0.5}, "parameters": 8},
                     "aliased": {"J_final": {"true": 0.99, "dropped": 0.44}, "parameters": 1}},
        "lipschitz_max": {"Bstar_inf": 0.9},
        "gamma": 0.9,
    }
    text = _render(summary)
    assert "{" not in text and '"' not in text
    lines = [line.split() for line in text.splitlines()]
    assert [line for line in lines if "·" in line] == [
        ["chain:n=6", "·", "error=0", "1", "0.25"], ["chain:n=6", "·", "error=1", "2", "0.5"],
        ["garnet:S=10", "·", "error=0", "3", "0.125"], ["garnet:S=10", "·", "error=1", "4", "1.5"]]
    assert ["2", "0.2", "0.1"] in lines and ["4", "0.4", "0.2"] in lines  # expected_max: a row per m
    assert ["J_final", "J_final"] in lines and ["true", "dropped", "parameters"] in lines
    assert ["chain", "0.75", "0.5", "8"] in lines and ["aliased", "0.99", "0.44", "1"] in lines
    assert ["lipschitz_max.Bstar_inf", "0.9"] in lines and ["gamma", "0.9"] in lines


def test_infinity_reads_diverged_where_the_run_diverged():
    runs = {"td": {"diverged_fraction": 1.0, "norm_v": float("inf")},
            "tdc": {"diverged_fraction": 0.0, "norm_v": 3.5},
            "other": {"diverged_fraction": 0.0, "norm_v": float("inf")}}
    lines = {line.split()[0]: line.split()[1:] for line in _render({"runs": runs}).splitlines() if line.strip()}
    assert lines["td"] == ["1", "diverged"] and lines["tdc"] == ["0", "3.5"] and lines["other"] == ["0", "∞"]


def test_wide_records_are_transposed():
    summary = {"by_m": {str(m): {f"q{k}": m * k for k in range(1, 11)} for m in (2, 4)}}
    lines = [line.split() for line in _render(summary).splitlines() if line.strip()]
    assert lines[1] == ["quantity", "2", "4"] and lines[2] == ["q1", "2", "4"] and lines[-1] == ["q10", "20", "40"]


def test_real_summaries_render_without_json(tmp_path):
    for name in ("bias-variance", "overestimation", "discount-weighting"):
        experiment = exp.get(name)
        outcome = exp.execute(experiment, experiment.resolve({}, quick=True), out=tmp_path / name,
                              show_progress=False, make_figures=False)
        text = _render(outcome.summary)
        assert "{" not in text and '": ' not in text, (name, text)


# ------------------------------------------------------------------------------------- README
def test_readme_synopsis_lists_every_option():
    readme = (ROOT / "README.md").read_text()
    synopsis = readme[readme.index("## The command line"):readme.index("## Experiments")]
    import typer.main

    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():
        line = next((x for x in synopsis.splitlines() if x.startswith(f"triad {name}")), None)
        assert line is not None, f"README synopsis lacks `triad {name}`"
        block = synopsis[synopsis.index(line):].split("\ntriad ")[0]
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help":
                    assert opt in block, f"README synopsis of `triad {name}` lacks {opt}"
    for cell, meaning in ((".", "floor"), ("#", "wall"), ("S", "start"), ("G", "goal"), ("X", "pit")):
        assert re.search(rf"`{re.escape(cell)}`\s+{meaning}", readme), (cell, meaning)


def test_readme_slow_marker_collects_real_tests():
    """`python -m pytest -m slow` (as the README says) overrides the default `-m 'not slow'` and finds the long checks."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "pytest", "-m", "slow", "--collect-only", "-q",
                           str(ROOT / "tests" / "test_slow.py")],
                          capture_output=True, text=True, cwd=ROOT, check=False, env={**os.environ, "COLUMNS": "200"})
    collected = [line for line in proc.stdout.splitlines() if "::" in line]
    assert len(collected) >= 2, proc.stdout[-2000:]
