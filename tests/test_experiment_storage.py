"""Results on disk: umask, stale temporary files, unwritable folders, nothing rewritten when cached,
quick runs kept apart, specs in parameters checked before any run."""

import functools
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from triad import SpecError, ValidationError
from triad import experiment as exp
from triad.spec import coerce, split_items

CALLS: list[str] = []


def _sweep(params):
    return [exp.Run(f"disk/mdp={spec}", {"mdp": spec, "steps": params["steps"]}) for spec in params["mdps"]]


def _run(run, progress):
    CALLS.append(run.id)
    rng = np.random.default_rng(len(run.params["mdp"]))
    return pd.DataFrame({"step": np.arange(run.params["steps"]), "quantity": "x",
                         "value": rng.random(run.params["steps"])})


def _summarise(results, params):
    return {"mean": float(results["value"].mean()), "rows": len(results)}


def _plot(results_dir, out_dir):
    import matplotlib.pyplot as plt

    from triad.figures import save

    rows, _ = exp.load_results(results_dir)
    fig, ax = plt.subplots()
    ax.plot(rows["step"], rows["value"])
    return save(fig, out_dir, "disk_toy")


@pytest.fixture
def disk(monkeypatch):
    """An experiment with MDP-spec parameters and one figure (``triad.figures.disk_toy``)."""
    module = types.ModuleType("triad.figures.disk_toy")
    module.plot = _plot
    monkeypatch.setitem(sys.modules, "triad.figures.disk_toy", module)
    CALLS.clear()
    return exp.Experiment(name="disk", description="runs on disk",
                          defaults={"mdps": ("chain:n=4,slip=0.1", "garnet:S=5,A=2,b=2,seed=0"), "steps": 4},
                          sweep=_sweep, run=_run, summarise=_summarise, figures=("disk_toy",),
                          quick={"steps": 2}, docs={"mdps": "MDP specs", "steps": "steps per run"})


def _files(root: Path) -> dict[Path, tuple[float, bytes]]:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ read-only
@pytest.fixture
def read_only(monkeypatch):
    """``read_only(path)`` makes ``path`` unwritable: chmod 0o555, and — since root ignores modes —
    for root also a kernel-like PermissionError from every create (os.open, os.mkdir) inside it."""
    made = []

    def make(path: Path) -> Path:
        path = Path(path).resolve()
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o555)
        made.append(path)
        if os.geteuid() == 0 and len(made) == 1:
            real_open, real_mkdir = os.open, os.mkdir

            def inside(target) -> bool:
                target = Path(os.path.abspath(target))
                return any(target == p or p in target.parents for p in made)

            def guarded_open(target, flags, *args, **kwargs):
                if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(target):
                    raise PermissionError(13, "Permission denied", str(target))
                return real_open(target, flags, *args, **kwargs)

            def guarded_mkdir(target, *args, **kwargs):
                if inside(target) and not Path(target).exists():
                    raise PermissionError(13, "Permission denied", str(target))
                return real_mkdir(target, *args, **kwargs)

            monkeypatch.setattr(os, "open", guarded_open)
            monkeypatch.setattr(os, "mkdir", guarded_mkdir)
        return path

    yield make
    for path in made:
        os.chmod(path, 0o755)


def test_read_only_guard_refuses_like_the_kernel(read_only, tmp_path):
    """The fixture itself: creating a file in the folder fails, as it would for a non-root user."""
    folder = read_only(tmp_path / "ro")
    with pytest.raises(PermissionError):
        (folder / "f").write_bytes(b"x") if os.geteuid() != 0 else os.open(folder / "f", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(exp.OutputError, match=f"cannot write {folder}.*Permission denied"):
        exp.require_writable(folder)


def test_unwritable_results_folder_is_refused_before_any_run(disk, read_only, tmp_path):
    out = read_only(tmp_path / "results")
    with pytest.raises(exp.OutputError, match=f"cannot write {out / 'runs'}"):
        exp.execute(disk, disk.resolve({}), out=out, figures_dir=tmp_path / "fig", show_progress=False)
    assert CALLS == []


def test_unwritable_figures_folder_is_refused_before_any_run(disk, read_only, tmp_path):
    figures = read_only(tmp_path / "fig")
    with pytest.raises(exp.OutputError, match=f"cannot write {figures} \\(figures folder"):
        exp.execute(disk, disk.resolve({}), out=tmp_path / "r", figures_dir=figures, show_progress=False)
    assert CALLS == []
    exp.execute(disk, disk.resolve({}), out=tmp_path / "r", show_progress=False, make_figures=False)
    with pytest.raises(exp.OutputError, match=f"cannot write {figures} \\(figures folder"):
        exp.plot_figures(disk, tmp_path / "r", figures)


def test_fully_cached_results_are_shown_from_read_only_folders_without_rewriting(disk, read_only, tmp_path):
    params = disk.resolve({})
    first = exp.execute(disk, params, out=tmp_path / "r", figures_dir=tmp_path / "fig", show_progress=False)
    assert first.ran == 2 and [p.name for p in first.figures] == ["disk_toy.png"]
    before = {**_files(tmp_path / "r"), **_files(tmp_path / "fig")}
    read_only(tmp_path / "r")
    read_only(tmp_path / "r" / "runs")
    read_only(tmp_path / "fig")
    again = exp.execute(disk, params, out=tmp_path / "r", figures_dir=tmp_path / "fig", show_progress=False)
    assert again.ran == 0 and again.reused == 2 and again.summary == first.summary
    assert again.figures == first.figures
    assert {**_files(tmp_path / "r"), **_files(tmp_path / "fig")} == before  # same bytes, same mtimes


# -------------------------------------------------------------------------------------- umask
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_are_written_with_the_users_umask(disk, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        exp.execute(disk, disk.resolve({}), out=tmp_path / "r", figures_dir=tmp_path / "fig", show_progress=False)
        path = exp.atomic_write(tmp_path / "plain.txt", lambda fh: fh.write("x"))
    finally:
        os.umask(old)
    written = [path, tmp_path / "r" / "results.csv", tmp_path / "r" / "summary.json", tmp_path / "fig" / "disk_toy.png",
               *(tmp_path / "r" / "runs").iterdir()]
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(mode)}


# ---------------------------------------------------------------------------------- stale tmp
def test_a_killed_write_leaves_a_tmp_file_that_the_next_run_removes(disk, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    script = ("import os, signal, sys; from pathlib import Path; from triad.experiment import atomic_write; "
              "atomic_write(Path(sys.argv[1]) / 'results.csv', lambda fh: (fh.write('half'), fh.flush(), "
              "os.kill(os.getpid(), signal.SIGKILL)))")
    proc = subprocess.run([sys.executable, "-c", script, str(out)], check=False)
    assert proc.returncode == -signal.SIGKILL
    (left,) = out.glob(".results.csv.*.tmp")
    assert left.read_text() == "half" and not (out / "results.csv").exists()
    exp.execute(disk, disk.resolve({}), out=out, figures_dir=tmp_path / "fig", show_progress=False)
    assert not left.exists() and not list(out.rglob("*.tmp"))


def test_stale_tmp_files_go_and_a_live_writers_stay(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        files = {name: tmp_path / name for name in (
            f".a.csv.{int(dead.stdout)}.0a1b2c3d.tmp",  # its writer is gone
            f".b.csv.{sleeper.pid}.0a1b2c3d.tmp",  # its writer still runs (a concurrent run)
            ".c.csv.k3j2h1.tmp",  # an old-style name (no pid), long untouched
            ".d.csv.x9y8z7.tmp")}  # an old-style name, just written
        for path in files.values():
            path.write_text("partial")
        os.utime(files[".c.csv.k3j2h1.tmp"], (1e9, 1e9))
        removed = exp.remove_stale_tmp(tmp_path)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(p.name for p in removed) == sorted([f".a.csv.{int(dead.stdout)}.0a1b2c3d.tmp", ".c.csv.k3j2h1.tmp"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".b.csv.{sleeper.pid}.0a1b2c3d.tmp",
                                                                  ".d.csv.x9y8z7.tmp"])


# ------------------------------------------------------------------------------- quick folders
def test_quick_runs_have_their_own_results_and_figures(disk, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    full = exp.execute(disk, disk.resolve({}), show_progress=False)
    quick = exp.execute(disk, disk.resolve({}, quick=True), quick=True, show_progress=False)
    assert full.results_dir == Path("results/disk") and quick.results_dir == Path("results/disk-quick")
    assert full.figures == [Path("figures/disk_toy.png")] and quick.figures == [Path("figures/quick/disk_toy.png")]
    assert len(pd.read_csv("results/disk/results.csv")) == 8 and len(pd.read_csv("results/disk-quick/results.csv")) == 4
    assert exp.execute(disk, disk.resolve({}), show_progress=False).ran == 0  # the full run is still cached


# ------------------------------------------------------------------------------ specs up front
def test_list_values_keep_specs_whole():
    assert split_items("chain:n=5,slip=0.1") == ["chain:n=5,slip=0.1"]
    assert split_items("chain:n=5,slip=0.1,garnet:S=10,A=2") == ["chain:n=5,slip=0.1", "garnet:S=10,A=2"]
    assert split_items("chain:n=5,slip=0.1;garnet:S=10,A=2") == ["chain:n=5,slip=0.1", "garnet:S=10,A=2"]
    assert split_items("tdc, gtd2,,") == ["tdc", "gtd2"] and split_items("baird") == ["baird"]
    assert coerce("1,2,3", (0,), "w") == (1, 2, 3)
    assert coerce("12345678901234567891", 0, "n") == 12345678901234567891  # exact, not via a float
    assert coerce("1e3", 0, "n") == 1000


def test_every_spec_is_checked_before_any_run(disk, tmp_path):
    params = disk.resolve({"mdps": "chain:n=5,slip=0.1"})
    assert params["mdps"] == ("chain:n=5,slip=0.1",)
    for value, message in (("chain:n=4;chian:n=3", "disk: mdps: 'chian:n=3': unknown MDP 'chian'"),
                           ("chain:n=4,slip=0.1,chain:n=5,slip=1.5", "disk: mdps: 'chain:n=5,slip=1.5': slip = 1.5"),
                           ("chain:n=4,garnet:S=4,A=2,bb=2", "garnet has no parameter 'bb'")):
        with pytest.raises((SpecError, ValidationError), match=message):
            disk.resolve({"mdps": value})
    assert CALLS == []


def test_large_specs_are_checked_without_being_built(disk, monkeypatch):
    from triad import zoo

    built = []

    @functools.wraps(zoo.garnet)
    def garnet(**kw):
        built.append(kw)
        return zoo.garnet(**kw)

    monkeypatch.setitem(zoo.ZOO, "garnet", garnet)
    disk.resolve({"mdps": "garnet:S=3000000,A=2,b=3"})  # ~0.8 GB to build: parsed and sized, not built
    disk.resolve({"mdps": "garnet:S=30,A=2,b=3"})
    assert built == [{"S": 30, "A": 2, "b": 3}]
