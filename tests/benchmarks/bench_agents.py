"""Agents benchmark: triad against Stable-Baselines3 in one process (not collected by pytest).

    python tests/benchmarks/bench_agents.py speed [--algos ppo a2c] [--steps 30000] [--repeat 3]
    python tests/benchmarks/bench_agents.py learn ppo [--seeds 0 1 2] [--steps 100000] [--eval-every 0]
    python tests/benchmarks/bench_agents.py learn a2c --steps 500000 --eval-every 25000
    python tests/benchmarks/bench_agents.py learn reinforce --steps 200000 --eval-every 10000 --set baseline=true

``speed`` trains PPO and A2C on CartPole-v1 with the rl-baselines3-zoo hyper-parameters
(hyperparams/ppo.yml and a2c.yml, CartPole-v1 entries; triad's PPO_PRESETS / A2C_PRESETS) in
both libraries, alternating which goes first, one torch thread each, and prints env steps per
second and their ratio for every repetition. Stable-Baselines3 steps the zoo's default
``DummyVecEnv`` of 8 CartPole-v1 envs; triad steps gymnasium's CartPole vector env (its vector
entry point) — each library's ordinary way to vectorise the task. ``learn`` trains triad alone and
prints the deterministic evaluation return (10 episodes, separately seeded env), the mean of the
last 10 training episodes and, with ``--eval-every``, the first step at which the evaluation
reached the target (500 for PPO, 475 for A2C, 195 for REINFORCE). Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from triad.agents import loop

TARGETS = {"ppo": 500.0, "a2c": 475.0, "reinforce": 195.0}


def sb3_model(algo: str, seed: int):
    """The rl-baselines3-zoo CartPole-v1 setting of ``algo`` in Stable-Baselines3."""
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    if algo == "ppo":  # ppo.yml: n_steps 32, batch 256, λ 0.8, γ 0.98, 20 epochs, lin_0.001, lin_0.2, ent 0
        return PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                   ent_coef=0.0, learning_rate=lambda f: 1e-3 * f, clip_range=lambda f: 0.2 * f, seed=seed,
                   device="cpu", verbose=0)
    return A2C("MlpPolicy", env, ent_coef=0.0, seed=seed, device="cpu", verbose=0)  # a2c.yml: n_envs 8, ent 0


def time_sb3(algo: str, steps: int, seed: int) -> float:
    model = sb3_model(algo, seed)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.perf_counter() - start)


def time_triad(algo: str, steps: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        summary = loop.train(algo, "CartPole-v1", steps, seed=seed, out=out, eval_episodes=1,
                             overrides={"log_every": 10_000})
    return summary["steps_per_second"]


def speed(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    print("| algorithm | rep | first | triad steps/s | SB3 steps/s | ratio |")
    print("|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {a: [] for a in args.algos}
    for rep in range(args.repeat):
        for algo in args.algos:
            order = ("triad", "sb3") if rep % 2 == 0 else ("sb3", "triad")
            got = {}
            for who in order:
                got[who] = (time_triad if who == "triad" else time_sb3)(algo, args.steps, rep)
            ratio = got["triad"] / got["sb3"]
            ratios[algo].append(ratio)
            print(f"| {algo} | {rep} | {order[0]} | {got['triad']:,.0f} | {got['sb3']:,.0f} | {ratio:.2f}× |", flush=True)
    for algo, rs in ratios.items():
        print(f"{algo}: median ratio {np.median(rs):.2f}× over {len(rs)} repetitions")
    print(f"load average at end: {os.getloadavg()}")


def learn(args: argparse.Namespace) -> None:
    overrides = dict(item.split("=", 1) for item in args.set)
    target = TARGETS[args.algo]
    print(f"load average at start: {os.getloadavg()}")
    print("| algorithm | seed | steps | eval return | last-10 training return | first eval ≥ target at | seconds |")
    print("|---|---|---|---|---|---|---|")
    evals = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as out:
            summary = loop.train(args.algo, "CartPole-v1", args.steps, seed=seed, out=out, overrides=overrides,
                                 eval_every=args.eval_every)
            rows = loop.read_log(os.path.join(out, "log.csv"))
        ev = rows[rows["quantity"] == "eval_return"]
        hit = ev[ev["value"] >= target]["step"]
        first = f"{int(hit.iloc[0]):,}" if len(hit) else "—"
        evals.append(summary["eval_return"])
        print(f"| {args.algo} | {seed} | {summary['steps']:,} | {summary['eval_return']:.1f} | "
              f"{summary['final_return']:.1f} | {first} | {summary['seconds']:.0f} |", flush=True)
    print(f"median eval return {np.median(evals):.1f} (target {target:g})")
    print(f"load average at end: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--algos", nargs="+", default=["ppo", "a2c"], choices=["ppo", "a2c"])
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--repeat", type=int, default=3)
    p = sub.add_parser("learn")
    p.add_argument("algo", choices=sorted(TARGETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--eval-every", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[])
    args = parser.parse_args()
    speed(args) if args.command == "speed" else learn(args)


if __name__ == "__main__":
    main()
