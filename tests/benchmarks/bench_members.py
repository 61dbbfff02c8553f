"""Vectorised value agents: E DQN members in one process against one agent (not collected by pytest).

    python tests/benchmarks/bench_members.py [--members 8] [--steps 2000] [--repeat 2] [--env grid|cartpole] [--warmup 300]

Issue 17 §2's target: 8 vectorised DQN agents (:func:`triad.agents.members.train_members`, one stacked
Q network, one env per member) in ≤ 2× the wall time of one agent on the same task. "One agent" is
timed twice: ``triad.agents.loop.train`` (the CLI's loop, with its logging, checkpoint and
evaluation) and ``train_members`` with a single member (the same driver). The task: the deep
level's tabular twin (``grid``: one gradient step per env step, batch 32, hidden 64×64) or CartPole-v1
(``cartpole``: rl-baselines3-zoo's DQN rates). The variants alternate which goes first; the load
average is printed with every line, and every time is given as wall time and as the process's CPU time
(``time.process_time``: on a loaded machine the wall time also counts the other processes' turns). Each variant first runs once untimed for ``--warmup`` env steps (lazy
imports, first-call allocations and kernel set-up are not what is compared).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from triad.agents import REGISTRY, loop
from triad.agents.members import train_members
from triad.experiments.deadly_triad.env import ENV

SETTINGS = {"grid": (ENV, {"train_every": 1, "learning_starts": 200, "batch_size": 32, "hidden": (64, 64),
                           "lr": 1e-3, "target_period": 100}),
            "cartpole": ("CartPole-v1", {"hidden": (64, 64)})}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--env", choices=tuple(SETTINGS), default="grid")
    parser.add_argument("--warmup", type=int, default=300)
    a = parser.parse_args()
    env, fields = SETTINGS[a.env]
    overrides = {**fields, "capacity": a.steps, "log_every": a.steps}

    def vectorised(members: int, steps: int = a.steps) -> tuple[float, float]:
        configs = [REGISTRY["dqn"].resolve(env, overrides)] * members
        start, cpu = time.perf_counter(), time.process_time()
        train_members(configs, env, steps, list(range(members)))
        return time.perf_counter() - start, time.process_time() - cpu

    def single_loop(steps: int = a.steps) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as out:
            start, cpu = time.perf_counter(), time.process_time()
            loop.train("dqn", env, steps, seed=0, overrides=overrides, out=out, eval_episodes=1)
            return time.perf_counter() - start, time.process_time() - cpu

    if a.warmup:
        vectorised(a.members, a.warmup), vectorised(1, a.warmup), single_loop(a.warmup)

    for r in range(a.repeat):
        order = [("members", lambda: vectorised(a.members)), ("one member", lambda: vectorised(1)),
                 ("loop.train", single_loop)]
        if r % 2:
            order.reverse()
        measured = {name: fn() for name, fn in order}
        load = os.getloadavg()[0]
        for k, clock in enumerate(("wall", "cpu")):
            t = {name: v[k] for name, v in measured.items()}
            print(f"repeat {r} {clock}: {a.members} members {t['members']:.2f} s, one member {t['one member']:.2f} s, "
                  f"loop.train {t['loop.train']:.2f} s; ratio to one member ×{t['members'] / t['one member']:.2f}, "
                  f"to loop.train ×{t['members'] / t['loop.train']:.2f} (load {load:.1f})")


if __name__ == "__main__":
    main()
