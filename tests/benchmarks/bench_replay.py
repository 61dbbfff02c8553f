"""Replay: sum-tree sampling and priority updates at 1M entries, buffer add / sample costs, memory.

Targets (issue 14): sampling a batch of 256 from a 1,000,000-entry sum-tree, and updating 256
priorities, each ≤ 50 µs. Every timed call gets fresh random inputs (new uniforms for sampling,
new random leaves for updates), so the lower levels of the 16 MB tree are not all in cache.
Times are per call: the best and the median of ``--repeat`` runs of ``--number`` calls, in wall
time and in process CPU time (CPU time leaves out the time the process waits for a core on a
loaded machine). The first-call time of the compiled kernels is measured in fresh subprocesses,
once with an empty numba cache (compile) and once with the cache filled (load).

Run: ``python tests/benchmarks/bench_replay.py [--number 200] [--repeat 15] [--no-compile]``.
Exit status 1 if a target is missed (judged on the best wall time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from triad.agents.replay import PrioritisedReplay, ReplayBuffer
from triad.agents.sumtree import SumTree

N, K, TARGET_US = 1_000_000, 256, 50.0


def per_call_us(fn, number: int, repeat: int) -> dict[str, float]:
    """Best and median µs per call, wall and CPU; ``fn(i)`` gets the call's index."""
    wall, cpu = [], []
    for r in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(number):
            fn(r * number + i)
        wall.append((time.perf_counter() - w0) / number * 1e6)
        cpu.append((time.process_time() - c0) / number * 1e6)
    return {"best": min(wall), "median": float(np.median(wall)), "cpu best": min(cpu),
            "cpu median": float(np.median(cpu))}


def line(name: str, t: dict[str, float], target: float | None = None) -> bool:
    ok = target is None or t["best"] <= target
    goal = "" if target is None else f"  (target ≤ {target:g} µs: {'met' if ok else 'MISSED'})"
    print(f"{name:<52} best {t['best']:7.1f} µs  median {t['median']:7.1f} µs  "
          f"| CPU best {t['cpu best']:6.1f}  median {t['cpu median']:6.1f}{goal}")
    return ok


FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from triad.agents.sumtree import SumTree
t1 = time.perf_counter()
tree = SumTree(1000)
tree.update(np.arange(10), np.ones(10))
t2 = time.perf_counter()
tree.sample(np.random.default_rng(0), 4)
t3 = time.perf_counter()
print(f"{t1 - t0:.3f} {t2 - t1:.3f} {t3 - t2:.3f}")
"""


def first_calls() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("empty numba cache (compiles)", "filled cache (loads)"):
            out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True,
                                 check=True).stdout.split()
            imp, upd, smp = map(float, out)
            print(f"first calls, {label}: import {imp:.2f} s, first update {upd:.2f} s, first sample {smp:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--no-compile", action="store_true", help="skip the first-call subprocesses")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not args.no_compile:
        first_calls()

    rng = np.random.default_rng(0)
    tree = SumTree(N)
    tree.update(np.arange(N), rng.exponential(1.0, N))
    tree.sample(rng, K)
    calls = args.number * args.repeat
    leaves = rng.integers(0, N, (calls, K))
    values = rng.exponential(1.0, (calls, K))
    ok = line(f"SumTree.sample({K}) from {N:,} leaves", per_call_us(lambda i: tree.sample(rng, K), args.number,
                                                                      args.repeat), TARGET_US)
    ok &= line(f"SumTree.update({K} random leaves) of {N:,}",
               per_call_us(lambda i: tree.update(leaves[i], values[i]), args.number, args.repeat), TARGET_US)
    np.testing.assert_allclose(tree.total, tree.priorities().sum(), rtol=1e-9)

    # A full prioritised replay of 1M CartPole-sized transitions (obs 4·float32, int64 action).
    per = PrioritisedReplay(N, (4,), np.float32, (), np.int64)
    B = 1000
    step = {"obs": rng.standard_normal((B, 4)).astype(np.float32), "action": np.zeros(B, np.int64),
            "reward": np.ones(B), "terminated": np.zeros(B, bool), "truncated": np.zeros(B, bool),
            "next_obs": rng.standard_normal((B, 4)).astype(np.float32)}
    for _ in range(N // B):
        per.add(step)
    per.update_priorities(np.arange(N), rng.exponential(1.0, N))
    line(f"PrioritisedReplay.sample({K}) with fields and weights", per_call_us(
        lambda i: per.sample(rng, K, beta=0.4), args.number, args.repeat))
    keys = leaves + per.added - N
    line(f"PrioritisedReplay.update_priorities({K})", per_call_us(
        lambda i: per.update_priorities(keys[i], values[i]), args.number, args.repeat))

    uniform = ReplayBuffer(N, (4,), np.float32, (), np.int64)
    envs = 8
    small = {k: v[:envs] for k, v in step.items()}
    line(f"ReplayBuffer.add (vector step of {envs} envs)", per_call_us(lambda i: uniform.add(small), args.number,
                                                                      args.repeat))
    for _ in range(N // B):
        uniform.add(step)
    line(f"ReplayBuffer.sample({K})", per_call_us(lambda i: uniform.sample(rng, K), args.number, args.repeat))
    seq = ReplayBuffer(100_000, (4,), np.float32, (), np.int64, extras={"h": ((64,), np.float32)})
    seq_step = {k: v[:envs] for k, v in step.items()} | {"h": np.zeros((envs, 64), np.float32)}
    for _ in range(100_000 // envs):
        seq.add(seq_step)
    line("ReplayBuffer.sample_sequences(64, 80), 100k steps, h: 64", per_call_us(
        lambda i: seq.sample_sequences(rng, 64, 80), max(1, args.number // 10), args.repeat))

    print("bytes per transition:")
    for name, buf in (("CartPole DQN (obs 4·f32, int64 action)", ReplayBuffer(1, (4,), np.float32, (), np.int64)),
                      ("Pendulum SAC (obs 3·f32, action 1·f32)", ReplayBuffer(1, (3,), np.float32, (1,), np.float32)),
                      ("n-step Q with mu (obs 4·f32, int64, f64 mu)",
                       ReplayBuffer(1, (4,), np.float32, (), np.int64, extras={"mu": ((), np.float64)})),
                      ("R2D2-lite (obs 2·f32, int64, LSTM h, c: 2·64·f32)",
                       ReplayBuffer(1, (2,), np.float32, (), np.int64, extras={"h": ((2, 64), np.float32)}))):
        print(f"  {name:<52} {buf.bytes_per_transition:4d} B  (1M: {buf.bytes_per_transition * 1e6 / 2**20:.0f} MiB)")
    print(f"  prioritised replay adds the sum-tree: {SumTree(N).tree.nbytes / N:.1f} B per entry at {N:,}")
    print("targets met" if ok else "TARGET NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
