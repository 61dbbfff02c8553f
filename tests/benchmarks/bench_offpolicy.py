"""Off-policy actor-critic benchmark: triad against Stable-Baselines3 in one process (not collected by pytest).

    python tests/benchmarks/bench_offpolicy.py run [--algos sac td3] [--seeds 0 1 2] [--steps 20000] [--ddpg]
    python tests/benchmarks/bench_offpolicy.py speed [--algos sac td3] [--steps 3000] [--repeat 2] [--learning-starts 100]

``run`` trains SAC and TD3 on Pendulum-v1 with the rl-baselines3-zoo settings (hyperparams/sac.yml:
learning_rate 1e-3, SB3's SAC defaults otherwise; hyperparams/td3.yml: gamma 0.98, buffer 200000,
learning_starts 10000, normal action noise σ 0.1, train_freq 1, gradient_steps 1, learning_rate
1e-3, net_arch [400, 300] — triad's SAC_PRESETS / TD3_PRESETS) in both libraries, one torch thread,
alternating which goes first, for every seed, and prints per run the deterministic evaluation
return (10 episodes on a separately seeded env), the mean of the last 10 training episodes and
env steps per second of the training loop (collection + updates; evaluation excluded) in wall time
and in process CPU time (less sensitive to other jobs on a shared machine; triad's includes building
the agent and the final evaluation), then the median evaluation return per library and the median
speed ratios. ``--ddpg`` also trains triad's
DDPG (ddpg.yml Pendulum-v1: the td3.yml settings) for every seed. ``speed`` times short runs of
both libraries only, with ``learning_starts`` set for both (development). Needs the ``bench`` extra (stable-baselines3).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from triad.agents import loop

TARGETS = {"sac": -150.0, "td3": -150.0, "ddpg": -250.0}


def sb3_model(algo: str, seed: int, learning_starts: int | None = None):
    """The rl-baselines3-zoo Pendulum-v1 setting of ``algo`` in Stable-Baselines3 (``learning_starts`` overridden if given)."""
    import gymnasium
    from stable_baselines3 import SAC, TD3
    from stable_baselines3.common.noise import NormalActionNoise

    env = gymnasium.make("Pendulum-v1")
    if algo == "sac":  # sac.yml Pendulum-v1: learning_rate 1e-3
        return SAC("MlpPolicy", env, learning_rate=1e-3, learning_starts=learning_starts or 100, seed=seed,
                   device="cpu", verbose=0)
    noise = NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))  # td3.yml: noise_type normal, noise_std 0.1
    return TD3("MlpPolicy", env, gamma=0.98, buffer_size=200_000, learning_starts=learning_starts or 10_000,
               action_noise=noise,
               gradient_steps=1, train_freq=1, learning_rate=1e-3, policy_kwargs={"net_arch": [400, 300]},
               seed=seed, device="cpu", verbose=0)


def run_sb3(algo: str, steps: int, seed: int, evaluate: bool = True, learning_starts: int | None = None) -> dict:
    import gymnasium
    from stable_baselines3.common.evaluation import evaluate_policy

    model = sb3_model(algo, seed, learning_starts)
    start, cpu = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=steps)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = {"steps_per_second": model.num_timesteps / seconds, "steps_per_cpu_second": model.num_timesteps / cpu}
    if evaluate:
        eval_env = gymnasium.make("Pendulum-v1")
        eval_env.reset(seed=10_000 + seed)
        out["eval_return"] = float(evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)[0])
        recent = [info["r"] for info in list(model.ep_info_buffer)[-10:]]
        out["final_return"] = float(np.mean(recent))
    return out


def run_triad(algo: str, steps: int, seed: int, evaluate: bool = True, learning_starts: int | None = None) -> dict:
    overrides = {"log_every": 10_000} if learning_starts is None else {"log_every": 10_000,
                                                                       "learning_starts": learning_starts}
    with tempfile.TemporaryDirectory() as out:
        cpu = time.process_time()  # includes building the agent and the final evaluation
        summary = loop.train(algo, "Pendulum-v1", steps, seed=seed, out=out, eval_episodes=10 if evaluate else 1,
                             overrides=overrides)
        summary["steps_per_cpu_second"] = summary["steps"] / (time.process_time() - cpu)
    return summary


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    print("| algorithm | seed | first | triad eval | triad last-10 | triad steps/s | SB3 eval | SB3 last-10 | "
          "SB3 steps/s | speed ratio | CPU-time ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    results: dict[str, list[tuple[dict, dict]]] = {a: [] for a in args.algos}
    for i, seed in enumerate(args.seeds):
        for algo in args.algos:
            order = ("triad", "sb3") if i % 2 == 0 else ("sb3", "triad")
            got = {who: (run_triad if who == "triad" else run_sb3)(algo, args.steps, seed) for who in order}
            t, s = got["triad"], got["sb3"]
            results[algo].append((t, s))
            print(f"| {algo} | {seed} | {order[0]} | {t['eval_return']:.1f} | {t['final_return']:.1f} | "
                  f"{t['steps_per_second']:.1f} | {s['eval_return']:.1f} | {s['final_return']:.1f} | "
                  f"{s['steps_per_second']:.1f} | {t['steps_per_second'] / s['steps_per_second']:.2f}× | "
                  f"{t['steps_per_cpu_second'] / s['steps_per_cpu_second']:.2f}× |", flush=True)
    for algo, rows in results.items():
        te = np.median([t["eval_return"] for t, _ in rows])
        se = np.median([s["eval_return"] for _, s in rows])
        ratio = np.median([t["steps_per_second"] / s["steps_per_second"] for t, s in rows])
        cpu = np.median([t["steps_per_cpu_second"] / s["steps_per_cpu_second"] for t, s in rows])
        print(f"{algo}: median eval triad {te:.1f} (target ≥ {TARGETS[algo]:g}), SB3 {se:.1f}; "
              f"median speed ratio {ratio:.2f}× wall, {cpu:.2f}× CPU time (target ≥ 1.5×)")
    if args.ddpg:
        print("| algorithm | seed | triad eval | triad last-10 | triad steps/s |")
        print("|---|---|---|---|---|")
        evals = []
        for seed in args.seeds:
            t = run_triad("ddpg", args.steps, seed)
            evals.append(t["eval_return"])
            print(f"| ddpg | {seed} | {t['eval_return']:.1f} | {t['final_return']:.1f} | {t['steps_per_second']:.1f} |",
                  flush=True)
        print(f"ddpg: median eval {np.median(evals):.1f} (target ≥ {TARGETS['ddpg']:g})")
    print(f"load average at end: {os.getloadavg()}")


def speed(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    for rep in range(args.repeat):
        for algo in args.algos:
            order = ("triad", "sb3") if rep % 2 == 0 else ("sb3", "triad")
            got = {who: (run_triad if who == "triad" else run_sb3)(algo, args.steps, rep, evaluate=False,
                                                                   learning_starts=args.learning_starts)
                   for who in order}
            t, b = got["triad"], got["sb3"]
            print(f"{algo} rep {rep} ({order[0]} first): wall triad {t['steps_per_second']:.1f}, SB3 "
                  f"{b['steps_per_second']:.1f} steps/s, ratio {t['steps_per_second'] / b['steps_per_second']:.2f}×; "
                  f"CPU triad {t['steps_per_cpu_second']:.1f}, SB3 {b['steps_per_cpu_second']:.1f} steps/s, ratio "
                  f"{t['steps_per_cpu_second'] / b['steps_per_cpu_second']:.2f}×", flush=True)
    print(f"load average at end: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="learning and speed, triad vs SB3, every seed")
    r.add_argument("--algos", nargs="+", default=["sac", "td3"], choices=["sac", "td3"])
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    r.add_argument("--steps", type=int, default=20_000)
    r.add_argument("--ddpg", action="store_true", help="also train triad's DDPG for every seed")
    s = sub.add_parser("speed", help="short timing runs only")
    s.add_argument("--algos", nargs="+", default=["sac", "td3"], choices=["sac", "td3"])
    s.add_argument("--steps", type=int, default=3000)
    s.add_argument("--repeat", type=int, default=2)
    s.add_argument("--learning-starts", type=int, default=100, help="for both libraries (the zoo's TD3: 10000)")
    args = parser.parse_args()
    (run if args.command == "run" else speed)(args)


if __name__ == "__main__":
    main()
