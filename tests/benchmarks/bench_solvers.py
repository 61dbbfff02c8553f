"""Benchmark: triad's VI / PI / MPI against mdptoolbox-hiive on Garnet MDPs (A=4, b=10, γ=0.99).

Both libraries run in this process on the same MDPs, so the printed ratios are measured in one run.
Also reported: one VI sweep against the memory-bandwidth bound (bytes of P read per sweep divided
by the read bandwidth measured here with all cores), and the S = 1,000,000 sparse solve with its
peak memory (in a child process, so the figure is that solve's alone).

    python tests/benchmarks/bench_solvers.py                 # S = 1e3, 1e4, 1e5 and 1e6
    python tests/benchmarks/bench_solvers.py --sizes 1000 --no-million
    python tests/benchmarks/bench_solvers.py --cliffs        # LP by size, PI as γ → 1 (no hiive needed)

``--cliffs`` times the two former performance cliffs (issue 10 §2), each solve in a child process
with a time limit so that a slow one is reported as "> limit" rather than waited for: the LP on
Garnet S = 1,000 … 10,000 (A = 4, b = 10, γ = 0.99, as ``triad solve garnet:S=…,A=4,b=10 --method
lp``) and policy iteration on Garnet S = 1,000 and 10,000 for γ = 0.99 … 0.999999 (VI beside it).
``--before DIR`` runs each solve also with the triad tree in DIR, for before/after in one run::

    git archive <old-commit> | tar -x -C /tmp/before
    python tests/benchmarks/bench_solvers.py --cliffs --before /tmp/before

Needs the ``bench`` extra (mdptoolbox-hiive). hiive needs dense (A, S, S) input to run in
reasonable time (its sparse input path spends minutes in input checks), which does not fit in
memory beyond S = 10,000; larger sizes report triad alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np

from triad import solvers, zoo

HIIVE_MAX_S = 10_000


def best_of(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


@numba.njit(parallel=True, cache=True)
def _parallel_sum(a):  # pragma: no cover - compiled
    total = 0.0
    for i in numba.prange(a.size):
        total += a[i]
    return total


def read_bandwidth(repeat: int = 5) -> float:
    """Bytes per second a multi-threaded pass over a 1 GiB array reads (the memory-bound reference)."""
    big = np.random.default_rng(0).random(2**27)
    _parallel_sum(big)
    seconds, _ = best_of(lambda: _parallel_sum(big), repeat)
    return big.nbytes / seconds


def sweep_bound(mdp, bandwidth: float, repeat: int = 20) -> dict:
    """Time one compiled optimal backup and compare it with (bytes of P read) / bandwidth."""
    from triad._kernels import PanelMatrix

    V = np.random.default_rng(1).random(mdp.S)
    out_v, out_a = np.empty(mdp.S), np.empty(mdp.S, dtype=np.int64)
    allowed = np.ones((mdp.S, mdp.A), bool)
    R = np.ascontiguousarray(mdp.R)
    build, panel = best_of(lambda: PanelMatrix(mdp.P, group=mdp.A), 1)
    panel.optimal_backup(R, allowed, mdp.gamma, V, out_v, out_a)
    seconds, _ = best_of(lambda: panel.optimal_backup(R, allowed, mdp.gamma, V, out_v, out_a), repeat)
    csr_seconds, _ = best_of(lambda: (R + mdp.gamma * (mdp.P @ V).reshape(mdp.S, mdp.A)).max(axis=1), repeat)
    bound = panel.nbytes / bandwidth
    return {"sweep_ms": seconds * 1e3, "bound_ms": bound * 1e3, "ratio": seconds / bound, "P_MB": panel.nbytes / 1e6,
            "scipy_sweep_ms": csr_seconds * 1e3, "layout_build_ms": build * 1e3}


def hiive_dense(mdp) -> np.ndarray:
    return np.stack([mdp.P[a::mdp.A].toarray() for a in range(mdp.A)])


def run_size(S: int, repeat: int, bandwidth: float) -> dict:
    mdp = zoo.garnet(S=S, A=4, b=10, seed=0, gamma=0.99).mdp
    row: dict = {"S": S}
    t_vi, vi = best_of(lambda: solvers.value_iteration(mdp, tol=1e-6), repeat)
    t_pi, pi = best_of(lambda: solvers.policy_iteration(mdp), repeat)
    t_mpi, _ = best_of(lambda: solvers.modified_policy_iteration(mdp, tol=1e-6), repeat)
    row.update(triad_vi_s=t_vi, vi_sweeps=vi.iterations, vi_bound=vi.error_bound, triad_pi_s=t_pi,
               pi_iters=pi.iterations, triad_mpi_s=t_mpi, vi_pi_same_policy=bool(np.array_equal(vi.actions, pi.actions)),
               vi_vs_pi_max_abs=float(np.abs(vi.V - pi.V).max()))
    row.update(sweep_bound(mdp, bandwidth))
    if S <= HIIVE_MAX_S:
        from hiive.mdptoolbox.mdp import PolicyIteration, ValueIteration

        P_dense = hiive_dense(mdp)
        R = np.asarray(mdp.R)

        def hiive_vi():
            v = ValueIteration(P_dense, R, mdp.gamma)
            v.run()
            return v

        def hiive_pi():
            p = PolicyIteration(P_dense, R, mdp.gamma)
            p.run()
            return p

        h_vi_t, h_vi = best_of(hiive_vi, max(1, repeat if S <= 1000 else 1))
        h_pi_t, h_pi = best_of(hiive_pi, max(1, repeat if S <= 1000 else 1))
        h_vi_pol, h_pi_pol = np.asarray(h_vi.policy), np.asarray(h_pi.policy)
        row.update(hiive_vi_s=h_vi_t, hiive_pi_s=h_pi_t, vi_speedup=h_vi_t / t_vi, pi_speedup=h_pi_t / t_pi,
                   hiive_vi_same_policy=bool(np.array_equal(h_vi_pol, pi.actions)),
                   hiive_pi_same_policy=bool(np.array_equal(h_pi_pol, pi.actions)),
                   hiive_vi_value_error=float(np.abs(np.asarray(h_vi.V) - pi.V).max()),
                   triad_vi_value_error=float(np.abs(vi.V - pi.V).max()))
        del P_dense
    return row


def million(repeat: int) -> dict:
    """S = 1e6 in a child process: generation, VI and PI times and the child's peak RSS."""
    code = """
import json, time
from triad import solvers, zoo
t = time.perf_counter(); mdp = zoo.garnet(S=1_000_000, A=4, b=10, seed=0).mdp; gen = time.perf_counter() - t
vi = solvers.value_iteration(mdp, tol=1e-6)
pi = solvers.policy_iteration(mdp)
import numpy as np
# VmHWM belongs to this process image (ru_maxrss would carry the parent's peak across fork/exec).
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 2**20
print(json.dumps(dict(generate_s=gen, vi_s=vi.seconds, vi_sweeps=vi.iterations, vi_bound=vi.error_bound,
    pi_s=pi.seconds, pi_iters=pi.iterations, same_policy=bool(np.array_equal(vi.actions, pi.actions)),
    peak_rss_gib=peak)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


_CHILD = """
import json, sys, time
from triad import solvers, zoo
S, gamma, method = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
mdp = zoo.garnet(S=S, A=4, b=10, seed=0, gamma=gamma).mdp
t = time.perf_counter()
try:
    r = solvers.solve(mdp, method)
    out = dict(seconds=time.perf_counter() - t, iterations=r.iterations, bound=r.error_bound, converged=r.converged)
except Exception as exc:  # report the failure as a result of the benchmark
    out = dict(seconds=time.perf_counter() - t, error=f"{type(exc).__name__}: {exc}")
out["peak_rss_gib"] = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 2**20
print(json.dumps(out))
"""


def timed_child(S: int, gamma: float, method: str, limit: float, tree: str | None = None) -> dict:
    """One solve in a fresh process, killed after ``limit`` seconds; ``tree``: import triad from there."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    try:
        # cwd: a neutral folder, so that `-c` does not put a triad source tree first on sys.path.
        out = subprocess.run([sys.executable, "-c", _CHILD, str(S), repr(gamma), method], capture_output=True,
                             text=True, timeout=limit, env=env, cwd=tempfile.gettempdir(), check=False)
    except subprocess.TimeoutExpired:
        return {"seconds": math.inf, "error": f"> {limit:g} s (killed)"}
    if out.returncode != 0:
        return {"seconds": math.nan, "error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout)


def _cell(r: dict) -> str:
    if "error" in r:
        return r["error"]
    return f"{r['seconds']:.3g} s, {r['iterations']} it., bound {r['bound']:.2g}, {r['peak_rss_gib']:.2f} GiB"


def cliffs(limit: float, lp_sizes: list[int], pi_sizes: list[int], gammas: list[float], before: str | None) -> None:
    """The LP size cliff and the PI γ → 1 cliff, one child process per solve (``before``: also that tree)."""
    trees = ([("before", before)] if before else []) + [("after", None)]
    names = " | ".join(name for name, _ in trees)
    print(f"\n| LP: Garnet S (A = 4, b = 10, γ = 0.99) | {names} |")
    print("|---|" + "---|" * len(trees))
    for S in lp_sizes:
        print(f"| {S:,} | " + " | ".join(_cell(timed_child(S, 0.99, "lp", limit, t)) for _, t in trees) + " |", flush=True)
    print(f"\n| PI: Garnet S, γ | {names} | VI (after) |")
    print("|---|" + "---|" * (len(trees) + 1))
    for S in pi_sizes:
        for gamma in gammas:
            cells = [_cell(timed_child(S, gamma, "pi", limit, t)) for _, t in trees]
            cells.append(_cell(timed_child(S, gamma, "vi", limit)))
            print(f"| {S:,}, {gamma:g} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-million", action="store_true")
    parser.add_argument("--cliffs", action="store_true", help="only the LP-size and PI-γ→1 tables")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds before a --cliffs solve is killed")
    parser.add_argument("--lp-sizes", type=int, nargs="+", default=[1_000, 3_000, 10_000])
    parser.add_argument("--pi-sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.99, 0.999, 0.9999, 0.99999, 0.999999])
    parser.add_argument("--before", help="--cliffs: also time the triad source tree in this folder (e.g. an old "
                                         "commit unpacked with `git archive`), in the same run")
    args = parser.parse_args()
    if args.cliffs:
        cliffs(args.limit, args.lp_sizes, args.pi_sizes, args.gammas, args.before)
        return
    solvers.value_iteration(zoo.garnet(S=6000, A=4, b=10).mdp)  # compile the kernels outside the timings
    bandwidth = read_bandwidth()
    print(f"read bandwidth (all {numba.get_num_threads()} threads): {bandwidth / 1e9:.1f} GB/s")
    rows = [run_size(S, args.repeat, bandwidth) for S in args.sizes]
    print("\n| S | triad VI | sweeps | triad PI | triad MPI | hiive VI | hiive PI | VI × | PI × | same policy (VI, PI, hiive VI, hiive PI) | hiive VI ‖V−V*‖∞ | sweep / bound | scipy sweep |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        hv = f"{r['hiive_vi_s']:.3g} s" if "hiive_vi_s" in r else "—"
        hp = f"{r['hiive_pi_s']:.3g} s" if "hiive_pi_s" in r else "—"
        sv = f"{r['vi_speedup']:.0f}×" if "vi_speedup" in r else "—"
        spi = f"{r['pi_speedup']:.0f}×" if "pi_speedup" in r else "—"
        same = f"{r['vi_pi_same_policy']}, True" + (
            f", {r['hiive_vi_same_policy']}, {r['hiive_pi_same_policy']}" if "hiive_vi_s" in r else "")
        err = f"{r['hiive_vi_value_error']:.3g}" if "hiive_vi_s" in r else "—"
        print(f"| {r['S']:,} | {r['triad_vi_s'] * 1e3:.3g} ms | {r['vi_sweeps']} | {r['triad_pi_s'] * 1e3:.3g} ms | "
              f"{r['triad_mpi_s'] * 1e3:.3g} ms | {hv} | {hp} | {sv} | {spi} | {same} | {err} | "
              f"{r['sweep_ms']:.3g} ms / {r['bound_ms']:.3g} ms = {r['ratio']:.2f} | {r['scipy_sweep_ms']:.3g} ms |")
    if not args.no_million:
        m = million(args.repeat)
        print(f"\nS = 1,000,000 (sparse, {4 * 10 * 1_000_000:,} transitions): generate {m['generate_s']:.2f} s, "
              f"VI {m['vi_s']:.2f} s ({m['vi_sweeps']} sweeps, bound {m['vi_bound']:.2g}), "
              f"PI {m['pi_s']:.2f} s ({m['pi_iters']} improvements), same policy: {m['same_policy']}, "
              f"peak RSS {m['peak_rss_gib']:.2f} GiB")
    print("\n" + json.dumps(rows, default=float))


if __name__ == "__main__":
    main()
