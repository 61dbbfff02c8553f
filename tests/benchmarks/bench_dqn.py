"""DQN benchmark: triad against Stable-Baselines3 in one process (not collected by pytest).

    python tests/benchmarks/bench_dqn.py full [--seeds 0 1 2] [--steps 50000] [--record]
    python tests/benchmarks/bench_dqn.py speed [--steps 20000] [--repeat 3]
    python tests/benchmarks/bench_dqn.py learn [--seeds 0 1 2] [--steps 50000] [--algo dqn]
    python tests/benchmarks/bench_dqn.py pomdp [--seeds 0 1 2] [--steps 100000]

``speed`` trains DQN on CartPole-v1 with the rl-baselines3-zoo settings (hyperparams/dqn.yml,
CartPole-v1: lr 2.3e-3, batch 64, buffer 100,000, learning_starts 1,000, γ 0.99,
target_update_interval 10, train_freq 256, gradient_steps 128, exploration_fraction 0.16,
exploration_final_eps 0.04, net_arch [256, 256]; triad's ``DQN_PRESETS``, which also runs SB3's clock: a
same-step env and whole rollouts, so both take 50,176 env steps for ``--steps 50000``) in both libraries, one env
and one torch thread each, alternating which goes first, and prints env steps per second and their
ratio per repetition. ``full`` is the issue's benchmark in one run: per seed, triad and SB3 each train
50,000 steps (alternating which goes first), with the deterministic evaluation return (10 episodes
on a separately seeded env), the mean of the last 10 training episodes and env steps per second of
the training loop, then the medians over the seeds and of the per-seed speed ratios (``--record``: also
written for the paper to ``tests/benchmarks/records/dqn``, :func:`triad.paper.write_benchmark`). ``learn`` trains triad alone and prints, per seed, the deterministic
evaluation return (10 episodes on a separately seeded env) and the mean of the last 10 training
episodes, with the medians. ``pomdp`` compares r2d2-lite with feed-forward DQN (the CartPole
zoo settings) on velocity-masked CartPole (``triad/CartPoleNoVel-v1``). Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from triad.agents import loop


def sb3_dqn(seed: int):
    """rl-baselines3-zoo's CartPole-v1 DQN in Stable-Baselines3 (one CartPole-v1 env)."""
    from stable_baselines3 import DQN

    return DQN("MlpPolicy", "CartPole-v1", learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
               learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
               exploration_fraction=0.16, exploration_final_eps=0.04, policy_kwargs={"net_arch": [256, 256]},
               seed=seed, device="cpu", verbose=0)


def time_sb3(steps: int, seed: int) -> float:
    model = sb3_dqn(seed)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return model.num_timesteps / (time.perf_counter() - start)


def learn_sb3(steps: int, seed: int) -> dict:
    """SB3 DQN trained for ``steps``: steps/s of ``learn``, the mean of its last 10 training episodes (Monitor)
    and the deterministic evaluation return over 10 episodes on a CartPole-v1 seeded apart (seed + 10,000)."""
    import gymnasium
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    model = sb3_dqn(seed)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - start
    returns = [ep["r"] for ep in model.ep_info_buffer][-10:]
    env = Monitor(gymnasium.make("CartPole-v1"))
    env.reset(seed=seed + 10_000)
    mean, _ = evaluate_policy(model, env, n_eval_episodes=10, deterministic=True)
    return {"eval_return": float(mean), "final_return": float(np.mean(returns)),
            "steps_per_second": model.num_timesteps / seconds}


def run_triad(algo: str, env: str, steps: int, seed: int, overrides: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as out:
        return loop.train(algo, env, steps, seed=seed, out=out, eval_episodes=10,
                          overrides={"log_every": 10_000, **(overrides or {})})


def _table(*columns: str) -> None:
    """One torch thread; the load average and a markdown table header."""
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def speed(args: argparse.Namespace) -> None:
    _table("rep", "first", "triad steps/s", "SB3 steps/s", "ratio")
    ratios = []
    for rep in range(args.repeat):
        order = ("triad", "sb3") if rep % 2 == 0 else ("sb3", "triad")
        got = {}
        for who in order:
            got[who] = (run_triad("dqn", "CartPole-v1", args.steps, rep)["steps_per_second"] if who == "triad"
                        else time_sb3(args.steps, rep))
        ratios.append(got["triad"] / got["sb3"])
        print(f"| {rep} | {order[0]} | {got['triad']:,.0f} | {got['sb3']:,.0f} | {ratios[-1]:.2f}× |", flush=True)
    print(f"median ratio {np.median(ratios):.2f}× over {len(ratios)} repetitions")
    print(f"load average at end: {os.getloadavg()}")


TARGETS = {"eval": 500, "last10": 437, "speed": 1.5}
"""Issue 14's targets: median deterministic eval, median mean of the last 10 training episodes, speed ratio."""


def full(args: argparse.Namespace) -> None:
    from triad import paper

    params = paper.measured_on(seeds=args.seeds, steps=args.steps, env="CartPole-v1", torch_threads=1)
    _table("seed", "first", "triad eval", "triad last-10", "triad steps/s", "SB3 eval", "SB3 last-10", "SB3 steps/s",
           "ratio")
    rows = []
    for i, seed in enumerate(args.seeds):
        order = ("triad", "sb3") if i % 2 == 0 else ("sb3", "triad")
        got = {who: (run_triad("dqn", "CartPole-v1", args.steps, seed) if who == "triad" else learn_sb3(args.steps, seed))
               for who in order}
        t, b = got["triad"], got["sb3"]
        rows.append((t["eval_return"], t["final_return"], b["eval_return"], b["final_return"],
                     t["steps_per_second"] / b["steps_per_second"]))
        print(f"| {seed} | {order[0]} | {t['eval_return']:.1f} | {t['final_return']:.1f} | {t['steps_per_second']:,.0f} | "
              f"{b['eval_return']:.1f} | {b['final_return']:.1f} | {b['steps_per_second']:,.0f} | {rows[-1][4]:.2f}× |",
              flush=True)
    med = np.median(np.array(rows), axis=0)
    print(f"medians: triad eval {med[0]:.1f}, last-10 {med[1]:.1f}; SB3 eval {med[2]:.1f}, last-10 {med[3]:.1f}; "
          f"speed ratio {med[4]:.2f}×")
    print(f"load average at end: {os.getloadavg()}")
    if args.record:
        from triad import paper

        keys = ("triad_eval", "triad_last10", "sb3_eval", "sb3_last10", "speed_ratio")
        by_seed = {str(seed): dict(zip(keys, row)) for seed, row in zip(args.seeds, rows)}
        summary = {"seeds": len(args.seeds), "dqn": {"median": dict(zip(keys, med.tolist())), "by_seed": by_seed,
                                                     "target": TARGETS}}
        params["load_average_end"] = round(os.getloadavg()[0], 2)
        print(paper.write_benchmark("dqn", summary, params))


def learn(args: argparse.Namespace) -> None:
    print(f"load average at start: {os.getloadavg()}")
    print("| algorithm | env | seed | eval return | last-10 training return | steps/s |")
    print("|---|---|---|---|---|---|")
    evals, finals = [], []
    for seed in args.seeds:
        s = run_triad(args.algo, args.env, args.steps, seed)
        evals.append(s["eval_return"])
        finals.append(s["final_return"])
        print(f"| {args.algo} | {args.env} | {seed} | {s['eval_return']:.1f} | {s['final_return']:.1f} | "
              f"{s['steps_per_second']:,.0f} |", flush=True)
    print(f"median eval {np.median(evals):.1f}, median last-10 training {np.median(finals):.1f}")


def pomdp(args: argparse.Namespace) -> None:
    env = "triad/CartPoleNoVel-v1"
    print(f"load average at start: {os.getloadavg()}")
    print("| algorithm | seed | eval return | last-10 training return | steps/s |")
    print("|---|---|---|---|---|")
    results: dict[str, list[float]] = {}
    for algo, overrides in (("r2d2-lite", {}), ("dqn", dict(_ZOO_CARTPOLE))):
        for seed in args.seeds:
            s = run_triad(algo, env, args.steps, seed, overrides)
            results.setdefault(algo, []).append(s["eval_return"])
            print(f"| {algo} | {seed} | {s['eval_return']:.1f} | {s['final_return']:.1f} | "
                  f"{s['steps_per_second']:,.0f} |", flush=True)
    for algo, evals in results.items():
        print(f"{algo}: median eval {np.median(evals):.1f}")


def _zoo_cartpole() -> dict:
    from triad.agents.config import DQN_PRESETS

    return DQN_PRESETS["CartPole-v1"]


_ZOO_CARTPOLE = _zoo_cartpole()
"""The zoo's CartPole-v1 DQN settings, applied to the masked env (which has no preset of its own)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("full")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--record", action="store_true", help="write tests/benchmarks/records/dqn for the paper")
    p = sub.add_parser("speed")
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=3)
    p = sub.add_parser("learn")
    p.add_argument("--algo", default="dqn")
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=50_000)
    p = sub.add_parser("pomdp")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=100_000)
    args = parser.parse_args()
    {"full": full, "speed": speed, "learn": learn, "pomdp": pomdp}[args.command](args)


if __name__ == "__main__":
    main()
