"""Ray on this machine: start-up time, memory overhead, and what ``--workers 2`` buys on a real sweep.

Start-up (each repeat in a fresh subprocess, so imports are not cached in memory): the time to
import Ray, to start a local instance with :func:`triad.distributed.session` (``ray.init(num_cpus=N,
include_dashboard=False, ...)``), to run the first N tasks (each worker imports triad's experiment
code, as a sweep's first cells do), the per-task overhead of 200 empty tasks, and shutdown. Memory:
every process of the instance (the driver and its descendants: GCS, raylet, dashboard head, agents,
monitors, workers) read from ``/proc/PID/status`` (VmRSS, VmHWM) and ``/proc/PID/smaps_rollup``
(Pss: shared pages split between the processes sharing them, so the Pss column adds up).

Speed-up: one experiment's default sweep computed three ways in this process, each ``--fresh`` into
its own folder without figures: serially, with ``workers=2`` (the time includes starting and
stopping Ray, as ``triad run NAME --workers 2`` pays it), and with ``workers=2`` on an instance
already running (the compute alone). The three ``results.csv`` must be identical. The load average
is printed before and after each, since the machine is shared.

Run: ``python tests/benchmarks/bench_ray.py [--workers 2] [--repeat 3] [--experiment contraction]
[--quick] [--no-sweep] [--no-startup]`` (needs the ``distributed`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTUP = r"""
import json, os, sys, time
from pathlib import Path

def status(pid):
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) / 1024
        out["name"] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:300]
    except OSError:
        return None
    return out

def descendants(root):
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found

def kind(name):
    for key, label in (("gcs_server", "GCS server"), ("raylet --", "raylet"), ("dashboard/agent", "dashboard agent"),
                       ("DashboardAgent", "dashboard agent"), ("RuntimeEnvAgent", "runtime-env agent"),
                       ("runtime_env/agent", "runtime-env agent"), ("dashboard.py", "dashboard head (no UI)"),
                       ("log_monitor", "log monitor"), ("monitor.py", "autoscaler monitor"),
                       ("ray::", "worker")):
        if key in name:
            return label
    return "other: " + name[:60]

def memory(driver):
    rows = []
    for pid in descendants(driver):
        s = status(pid)
        if s is not None:
            s["kind"] = "driver" if pid == driver else kind(s["name"])
            rows.append(s)
    return rows

workers = int(sys.argv[1])
me = os.getpid()
t0 = time.perf_counter()
before = status(me)
from triad import distributed
ray = distributed.require_ray()
t1 = time.perf_counter()
imported = status(me)
with distributed.session(workers=workers) as cluster:
    t2 = time.perf_counter()
    idle = memory(me)

    def warm(i):
        import triad.experiment  # what a sweep's first cell imports (pandas, numpy, triad)
        return os.getpid()

    warm_task = distributed.task(warm)
    pids = distributed.gather([warm_task.remote(i) for i in range(workers)])
    t3 = time.perf_counter()

    def nothing(i):
        return i

    empty = distributed.task(nothing)
    distributed.gather([empty.remote(i) for i in range(200)])
    t4 = time.perf_counter()
    loaded = memory(me)
t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "init": t2 - t1, "first_tasks": t3 - t2, "per_task": (t4 - t3) / 200,
                  "shutdown": t5 - t4, "before": before, "imported": imported, "idle": idle, "loaded": loaded,
                  "distinct_workers": len(set(pids))}))
"""


def group(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Memory by kind of process: count, VmRSS, VmHWM and Pss summed (MiB)."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        g = out.setdefault(row["kind"], {"n": 0, "VmRSS": 0.0, "VmHWM": 0.0, "Pss": 0.0})
        g["n"] += 1
        for key in ("VmRSS", "VmHWM", "Pss"):
            g[key] += row.get(key, 0.0)
    return out


def startup(workers: int, repeat: int) -> None:
    print(f"== Ray start-up, local instance of {workers} CPUs, {repeat} fresh processes "
          f"(load average before: {os.getloadavg()[0]:.2f})")
    results = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", STARTUP, str(workers)], capture_output=True, text=True,
                              check=True, timeout=300)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for key, label in (("import", "import ray"), ("init", "start the instance (ray.init)"),
                       ("first_tasks", f"first {workers} tasks (workers import triad)"),
                       ("per_task", "an empty task, in a batch of 200"), ("shutdown", "ray.shutdown")):
        values = [r[key] for r in results]
        scale, unit = (1e3, "ms") if key == "per_task" else (1, "s")
        print(f"{label:<46} min {min(values) * scale:7.3f} {unit}  median {statistics.median(values) * scale:7.3f} "
              f"{unit}  max {max(values) * scale:7.3f} {unit}")
    last = results[-1]
    print(f"driver VmRSS: {last['before']['VmRSS']:.0f} MiB before import, {last['imported']['VmRSS']:.0f} MiB "
          f"after `import ray`")
    for when in ("idle", "loaded"):
        print(f"-- processes of the instance, {'just started' if when == 'idle' else 'after the tasks'} (MiB)")
        groups = group(last[when])
        total = {"n": 0, "VmRSS": 0.0, "VmHWM": 0.0, "Pss": 0.0}
        for name, g in sorted(groups.items(), key=lambda kv: -kv[1]["Pss"]):
            print(f"   {name:<28} ×{g['n']:<2} VmRSS {g['VmRSS']:7.1f}  VmHWM {g['VmHWM']:7.1f}  Pss {g['Pss']:7.1f}")
            for key in total:
                total[key] += g[key]
        print(f"   {'total':<28} ×{total['n']:<2} VmRSS {total['VmRSS']:7.1f}  VmHWM {total['VmHWM']:7.1f}  "
              f"Pss {total['Pss']:7.1f}")


def sweep(name: str, workers: int, quick: bool) -> None:
    from triad import experiment as exp

    experiment = exp.get(name)
    params = experiment.resolve({}, quick=quick)
    runs = experiment.sweep(params)
    print(f"== {name}{' --quick' if quick else ''}: {len(runs)} runs, serial vs workers={workers}")
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
        compare(experiment, params, Path(folder), workers)


def compare(experiment, params, root: Path, workers: int) -> None:
    """Serial, ``workers`` with Ray's start, and ``workers`` on a running instance, into folders under ``root``."""
    from triad import distributed
    from triad import experiment as exp

    texts = {}

    def timed(label: str, **options) -> None:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        outcome = exp.execute(experiment, params, out=root / label, fresh=True, show_progress=False,
                              make_figures=False, **options)
        seconds = time.perf_counter() - start
        texts[label] = (root / label / "results.csv").read_bytes()
        print(f"{label:<40} {seconds:7.2f} s   ({outcome.ran} runs; load average {load:.2f} before, "
              f"{os.getloadavg()[0]:.2f} after)", flush=True)
        timings[label] = seconds

    timings: dict[str, float] = {}
    timed("serial")
    timed(f"workers={workers} (Ray start included)", workers=workers)
    with distributed.session(workers=workers):
        timed(f"workers={workers} (Ray already running)", workers=workers)
    same = len(set(texts.values())) == 1
    serial = timings["serial"]
    for label, seconds in timings.items():
        if label != "serial":
            print(f"speed-up, {label:<40} {serial / seconds:5.2f}×")
    print(f"results.csv identical in all three: {same}")
    if not same:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--experiment", default="contraction")
    parser.add_argument("--quick", action="store_true", help="the experiment's --quick sweep")
    parser.add_argument("--no-sweep", action="store_true", help="start-up and memory only")
    parser.add_argument("--no-startup", action="store_true", help="the sweep only")
    args = parser.parse_args()
    if not args.no_startup:
        startup(args.workers, args.repeat)
    if not args.no_sweep:
        sweep(args.experiment, args.workers, args.quick)


if __name__ == "__main__":
    main()
