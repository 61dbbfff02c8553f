"""Sweeps on Ray (triad.distributed): parallel = serial byte for byte, a killed sweep resumes exactly,
errors in cells read as in serial runs, worker deaths are retried and reported, Ray stays optional.

The tests that run Ray share one local instance (``ray.init(num_cpus=2, include_dashboard=False)``
through :func:`triad.distributed.session`) and are skipped only where the ``distributed`` extra is
not installed; the tests of what happens without Ray always run.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray_sweep_cells as cells

from triad import distributed
from triad import experiment as exp

TESTS = Path(__file__).resolve().parent
MISSING = "triad: error: --workers needs Ray: pip install 'triad[distributed]'\n"


@pytest.fixture(scope="module")
def ray_module():
    """Ray, imported the way triad imports it (local instances on 127.0.0.1); skipped without the extra."""
    try:
        distributed.require_ray()
    except distributed.RayMissing:
        pass
    return pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_instance(ray_module):
    """One local Ray instance of 2 CPUs for the module (its Cluster); its workers can import ray_sweep_cells."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
        with distributed.session(workers=2) as cluster:
            assert cluster.started and cluster.cpus == 2 and ray_module.is_initialized()
            yield cluster


def files(folder: Path) -> dict[str, bytes]:
    """Every file a sweep wrote, by path relative to ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def execute(experiment, out, workers=None, **overrides):
    return exp.execute(experiment, experiment.resolve(overrides), out=out, show_progress=False, make_figures=False,
                       workers=workers)


# ------------------------------------------------------------------------------ without Ray
def test_workers_without_ray_is_one_line_naming_the_extra(triad_cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails, as where the extra is missing
    code, out, err = triad_cli("run", "baird", "--quick", "--workers", "2", "--out", str(tmp_path / "r"))
    assert (code, out, err) == (2, "", MISSING)
    assert not (tmp_path / "r").exists()  # refused before anything ran
    code, _, err = triad_cli("reproduce", "--quick", "--workers", "2", "--results", str(tmp_path / "r"))
    assert (code, err) == (2, MISSING)
    with pytest.raises(distributed.RayMissing, match=r"^workers=2 needs Ray: pip install 'triad\[distributed\]'$"):
        execute(cells.EXPERIMENT, tmp_path / "lib", workers=2)


def test_bad_worker_options_are_one_line(triad_cli, tmp_path):
    code, _, err = triad_cli("run", "baird", "--workers", "0")
    assert (code, err) == (2, "triad: error: --workers must be at least 1, got 0\n")
    code, _, err = triad_cli("run", "baird", "--address", "auto")
    assert code == 2
    assert err == "triad: error: --address needs --workers N (how many runs to compute at once on the cluster)\n"
    with pytest.raises(exp.ValidationError, match="workers must be a positive integer, got 0"):
        execute(cells.EXPERIMENT, tmp_path, workers=0)


def test_serial_commands_never_import_ray(tmp_path):
    script = (
        "import sys\n"
        "import triad, triad.distributed\n"
        "from triad import cli\n"
        f"for argv in (['list', '--json'], ['run', 'baird', '--quick', '--no-figures', '--out', {str(tmp_path)!r},"
        " '--json']):\n"
        "    sys.argv = ['triad', *argv]\n"
        "    try:\n"
        "        cli.main()\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "print('ray' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == "False"
    assert (tmp_path / "results.csv").exists()


# ---------------------------------------------------------------------------------- on Ray
def test_an_address_where_no_cluster_listens_is_one_line(ray_module, triad_cli, tmp_path):
    code, out, err = triad_cli("run", "baird", "--workers", "2", "--address", "127.0.0.1:1", "--out", str(tmp_path))
    assert (code, out, err) == (2, "", "triad: error: cannot join the Ray cluster at 127.0.0.1:1: Connection refused\n")
    code, _, err = triad_cli("run", "baird", "--workers", "2", "--address", "head-node", "--out", str(tmp_path))
    assert code == 2
    assert err == "triad: error: cannot join the Ray cluster at 'head-node': expected HOST:PORT of its head, or auto\n"
    assert not any(tmp_path.iterdir())


def test_parallel_sweep_equals_the_serial_one_byte_for_byte(ray_instance, tmp_path):
    baird = exp.get("baird")
    params = baird.resolve({}, quick=True)
    serial = exp.execute(baird, params, out=tmp_path / "serial", show_progress=False, make_figures=False)
    parallel = exp.execute(baird, params, out=tmp_path / "parallel", show_progress=False, make_figures=False,
                           workers=2)
    assert (serial.ran, parallel.ran, parallel.reused, parallel.retried) == (10, 10, 0, ())
    written = files(tmp_path / "serial")
    assert len([name for name in written if name.startswith("runs/")]) == 20  # a CSV and a record per run
    assert files(tmp_path / "parallel") == written
    assert parallel.summary == serial.summary


def test_reproduce_with_workers_equals_the_serial_reproduce(ray_instance, triad_cli, monkeypatch, tmp_path):
    monkeypatch.setattr(exp, "registry", lambda: {"cells": cells.EXPERIMENT})
    for root, extra in (("serial", ()), ("parallel", ("--workers", "2"))):
        code, out, _ = triad_cli("reproduce", "--quick", "--results", str(tmp_path / root), *extra, "--json")
        assert (code, json.loads(out)["cells"]["ran"]) == (0, 6)
    assert files(tmp_path / "parallel") == files(tmp_path / "serial")


def test_an_error_in_a_cell_is_the_serial_one_line(ray_instance, triad_cli, monkeypatch, tmp_path):
    monkeypatch.setattr(exp, "registry", lambda: {"cells": cells.EXPERIMENT})
    args = ("run", "cells", "--fail", "4", "--no-figures")
    for extra in ((), ("--workers", "2")):
        code, out, err = triad_cli(*args, "--out", str(tmp_path / "out"), *extra)
        messages = [line for line in err.splitlines() if "━" not in line]  # all but the progress bar
        assert (code, out, messages) == (2, "", ["triad: error: cell 4: a bad value for this cell"])


def _session_processes(sid: int) -> list[int]:
    """The processes of session ``sid`` (a driver started with ``start_new_session``, Ray's daemons and workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after the command: state, ppid, pgrp, session
            found.append(int(stat.parent.name))
    return found


def test_a_killed_sweep_resumed_equals_an_uninterrupted_one(ray_instance, tmp_path):
    gate = tmp_path / "gate"
    params = {"cells": 6, "gated": 3, "gate": str(gate), "steps": 40}
    out = tmp_path / "killed"
    driver = ("import json, sys\n"
              "import ray_sweep_cells as cells\n"
              "from triad.experiment import execute\n"
              "e = cells.EXPERIMENT\n"
              "execute(e, e.resolve(json.loads(sys.argv[1])), out=sys.argv[2], workers=2, address=sys.argv[3],"
              " show_progress=False, make_figures=False)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    # The driver joins the test's Ray instance (as `triad run --address` would): killing it kills a
    # driver mid-sweep without starting a second instance.
    proc = subprocess.Popen([sys.executable, "-c", driver, json.dumps(params), str(out), ray_instance.address],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    records = [out / "runs" / f"cells__i={i}.json" for i in range(3)]
    try:
        deadline = time.monotonic() + 90
        while not all(r.exists() for r in records):  # cells 0-2 stored, 3 and 4 waiting at the gate
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "the sweep never stored its first three cells"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    finally:
        for pid in _session_processes(proc.pid):  # anything the driver started dies with it
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    assert sorted(p.name for p in (out / "runs").glob("*.json")) == [r.name for r in records]
    assert not (out / "results.csv").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}

    gate.touch()
    resumed = execute(cells.EXPERIMENT, out, workers=2, **params)  # the same command again
    assert (resumed.reused, resumed.ran) == (3, 3)
    assert all((out / "runs" / name).stat().st_mtime_ns == t for name, t in stamps.items())  # kept, not redone
    uninterrupted = execute(cells.EXPERIMENT, tmp_path / "uninterrupted", **params)
    assert uninterrupted.ran == 6
    assert files(out) == files(tmp_path / "uninterrupted")


def test_a_dead_worker_is_retried_and_reported(ray_instance, triad_cli, monkeypatch, tmp_path):
    monkeypatch.setattr(exp, "registry", lambda: {"cells": cells.EXPERIMENT})
    marker = tmp_path / "crashed"
    args = ("run", "cells", "--crash", str(marker), "--crash-cell", "2", "--warn", "3", "--no-figures", "--json")
    code, out, err = triad_cli(*args, "--out", str(tmp_path / "parallel"), "--workers", "2")
    assert code == 0 and marker.exists()
    summary = json.loads(out)  # stdout holds the summary alone, whatever Ray printed about the dead worker
    assert "triad: warning: run cells/i=2: its Ray worker died; Ray ran the cell again (attempt 2) and it " \
           "finished\n" in err
    assert "triad: warning: cell 3 warns\n" in err  # a cell's warnings reach the driver
    code, serial_out, _ = triad_cli(*args, "--out", str(tmp_path / "serial"))  # the marker exists: no crash
    assert (code, json.loads(serial_out)) == (0, summary)
    assert files(tmp_path / "parallel") == files(tmp_path / "serial")
