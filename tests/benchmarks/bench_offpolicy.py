"""Off-policy actor-critic benchmark: triad against Stable-Baselines3 in one process (not collected by pytest).

    python tests/benchmarks/bench_offpolicy.py run [--algos sac td3] [--seeds 0 1 2] [--steps 20000] [--ddpg]
        [--libs triad sb3] [--shared-episodes 20] [--json PATH] [--record]
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
speed ratios. Each library's own evaluation starts its 10 episodes from different initial states,
and on Pendulum the start decides much of the return, so every final policy is also evaluated on
the same ``--shared-episodes`` starts (``reset(seed=SHARED_SEED + 1000·seed + k)``, deterministic
actions): the ``shared`` columns compare the two libraries' policies on identical episodes.
``--libs triad`` runs triad alone (SB3's numbers for a seed do not change: both are deterministic);
``--json PATH`` writes every row as a JSON list; ``--record`` writes the medians and per-seed numbers for the
paper (``tests/benchmarks/records/offpolicy``, :func:`triad.paper.write_benchmark`). ``--ddpg`` also trains triad's
DDPG (ddpg.yml Pendulum-v1: the td3.yml settings) for every seed. ``speed`` times short runs of
both libraries only, with ``learning_starts`` set for both (development). Needs the ``bench`` extra (stable-baselines3).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch

from triad.agents import loop

TARGETS = {"sac": -150.0, "td3": -150.0, "ddpg": -250.0}
SHARED_SEED = 50_000


def shared_eval(policy, seed: int, episodes: int) -> float:
    """Mean return of ``episodes`` Pendulum-v1 episodes from the starts ``reset(seed=SHARED_SEED + 1000·seed + k)``
    under ``policy(obs (3,)) -> env action (1,)``: the same episodes for every library's policy."""
    import gymnasium

    env = gymnasium.make("Pendulum-v1")
    total = 0.0
    for k in range(episodes):
        obs, _ = env.reset(seed=SHARED_SEED + 1000 * seed + k)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            done = terminated or truncated
    env.close()
    return total / episodes


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


def run_sb3(algo: str, steps: int, seed: int, evaluate: bool = True, learning_starts: int | None = None,
            shared: int = 0) -> dict:
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
    if shared:
        out["shared_eval"] = shared_eval(lambda o: model.predict(o, deterministic=True)[0], seed, shared)
    return out


def run_triad(algo: str, steps: int, seed: int, evaluate: bool = True, learning_starts: int | None = None,
              shared: int = 0) -> dict:
    overrides = {"log_every": 10_000} if learning_starts is None else {"log_every": 10_000,
                                                                       "learning_starts": learning_starts}
    with tempfile.TemporaryDirectory() as out:
        cpu = time.process_time()  # includes building the agent and the final evaluation
        summary = loop.train(algo, "Pendulum-v1", steps, seed=seed, out=out, eval_episodes=10 if evaluate else 1,
                             overrides=overrides)
        summary["steps_per_cpu_second"] = summary["steps"] / (time.process_time() - cpu)
        if shared:
            agent = loop.load_agent(out)
            summary["shared_eval"] = shared_eval(lambda o: agent.act(o[None], explore=False)[0][0], seed, shared)
    return summary


def _cell(row: dict | None, key: str, fmt: str = ".1f") -> str:
    return "—" if row is None or key not in row else format(row[key], fmt)


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}")
    print("| algorithm | seed | first | triad eval | triad shared | triad last-10 | triad steps/s | SB3 eval | "
          "SB3 shared | SB3 last-10 | SB3 steps/s | speed ratio | CPU-time ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results: dict[str, list[tuple[dict | None, dict | None]]] = {a: [] for a in args.algos}
    records = []
    runners = {"triad": run_triad, "sb3": run_sb3}
    for i, seed in enumerate(args.seeds):
        for algo in args.algos:
            order = [who for who in (("triad", "sb3") if i % 2 == 0 else ("sb3", "triad")) if who in args.libs]
            got = {who: runners[who](algo, args.steps, seed, shared=args.shared_episodes) for who in order}
            t, s = got.get("triad"), got.get("sb3")
            results[algo].append((t, s))
            both = t is not None and s is not None
            ratio = f"{t['steps_per_second'] / s['steps_per_second']:.2f}×" if both else "—"
            cpu = f"{t['steps_per_cpu_second'] / s['steps_per_cpu_second']:.2f}×" if both else "—"
            print(f"| {algo} | {seed} | {order[0]} | {_cell(t, 'eval_return')} | {_cell(t, 'shared_eval')} | "
                  f"{_cell(t, 'final_return')} | {_cell(t, 'steps_per_second')} | {_cell(s, 'eval_return')} | "
                  f"{_cell(s, 'shared_eval')} | {_cell(s, 'final_return')} | {_cell(s, 'steps_per_second')} | "
                  f"{ratio} | {cpu} |", flush=True)
            for who, row in got.items():
                records.append({"algorithm": algo, "seed": seed, "library": who, "first": order[0],
                                **{k: row[k] for k in ("eval_return", "shared_eval", "final_return", "steps_per_second",
                                                       "steps_per_cpu_second") if k in row}})
    for algo, rows in results.items():
        parts = []
        for who, k in (("triad", 0), ("SB3", 1)):
            mine = [r[k] for r in rows if r[k] is not None]
            if mine:
                shared = f", shared {np.median([r['shared_eval'] for r in mine]):.1f}" if args.shared_episodes else ""
                parts.append(f"{who} {np.median([r['eval_return'] for r in mine]):.1f}{shared}")
        line = f"{algo}: median eval {'; '.join(parts)} (target ≥ {TARGETS[algo]:g})"
        pairs = [(t, s) for t, s in rows if t is not None and s is not None]
        if pairs:
            ratio = np.median([t["steps_per_second"] / s["steps_per_second"] for t, s in pairs])
            cpu = np.median([t["steps_per_cpu_second"] / s["steps_per_cpu_second"] for t, s in pairs])
            line += f"; median speed ratio {ratio:.2f}× wall, {cpu:.2f}× CPU time (target ≥ 1.5×)"
        print(line)
    if args.ddpg:
        print("| algorithm | seed | triad eval | triad shared | triad last-10 | triad steps/s |")
        print("|---|---|---|---|---|---|")
        evals = []
        for seed in args.seeds:
            t = run_triad("ddpg", args.steps, seed, shared=args.shared_episodes)
            evals.append(t["eval_return"])
            records.append({"algorithm": "ddpg", "seed": seed, "library": "triad", "first": "triad",
                            **{k: t[k] for k in ("eval_return", "shared_eval", "final_return", "steps_per_second",
                                                 "steps_per_cpu_second") if k in t}})
            print(f"| ddpg | {seed} | {t['eval_return']:.1f} | {_cell(t, 'shared_eval')} | {t['final_return']:.1f} | "
                  f"{t['steps_per_second']:.1f} |", flush=True)
        print(f"ddpg: median eval {np.median(evals):.1f} (target ≥ {TARGETS['ddpg']:g})")
    print(f"load average at end: {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load_average_end": os.getloadavg(), "shared_episodes": args.shared_episodes,
                       "steps": args.steps, "rows": records}, f, indent=1)
    if args.record:
        from triad import paper

        params = paper.measured_on(seeds=args.seeds, steps=args.steps, env="Pendulum-v1", torch_threads=1,
                                   shared_episodes=args.shared_episodes, libs=args.libs)
        print(paper.write_benchmark("offpolicy", summarise(records, len(args.seeds)), params))


METRICS = {"eval_return": "eval", "shared_eval": "shared_eval", "final_return": "last10",
           "steps_per_second": "steps_per_second"}
"""A record's name of each measured quantity (``triad_eval``, ``sb3_shared_eval``, …)."""


def summarise(records: list[dict], seeds: int) -> dict:
    """The paper's record: per algorithm the medians over seeds of each library's numbers and of the per-seed
    wall and CPU-time speed ratios, every seed's numbers, and the issue's targets."""
    out: dict = {"seeds": seeds}
    for algo in dict.fromkeys(r["algorithm"] for r in records):
        rows = {(r["seed"], r["library"]): r for r in records if r["algorithm"] == algo}
        by_seed: dict[str, dict] = {}
        for (seed, library), r in rows.items():
            by_seed.setdefault(str(seed), {}).update({f"{library}_{name}": r[key] for key, name in METRICS.items()
                                                     if key in r})
            other = rows.get((seed, "sb3"))
            if library == "triad" and other is not None:  # both libraries ran this seed: the ratios
                by_seed[str(seed)].update(speed_ratio=r["steps_per_second"] / other["steps_per_second"],
                                          cpu_ratio=r["steps_per_cpu_second"] / other["steps_per_cpu_second"])
        keys = dict.fromkeys(k for seed in by_seed.values() for k in seed)
        median = {k: float(np.median([seed[k] for seed in by_seed.values() if k in seed])) for k in keys}
        target = {"eval": TARGETS[algo]} if algo == "ddpg" else {"eval": TARGETS[algo], "speed": 1.5}
        out[algo] = {"median": median, "by_seed": by_seed, "target": target}
    return out


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
    r.add_argument("--libs", nargs="+", default=["triad", "sb3"], choices=["triad", "sb3"],
                   help="which libraries to train (the ratios need both)")
    r.add_argument("--shared-episodes", type=int, default=20,
                   help="episodes from common starts on which both libraries' final policies are evaluated (0: none)")
    r.add_argument("--json", help="write every row (and the load average at the end) to this JSON file")
    r.add_argument("--record", action="store_true", help="write tests/benchmarks/records/offpolicy for the paper")
    s = sub.add_parser("speed", help="short timing runs only")
    s.add_argument("--algos", nargs="+", default=["sac", "td3"], choices=["sac", "td3"])
    s.add_argument("--steps", type=int, default=3000)
    s.add_argument("--repeat", type=int, default=2)
    s.add_argument("--learning-starts", type=int, default=100, help="for both libraries (the zoo's TD3: 10000)")
    args = parser.parse_args()
    (run if args.command == "run" else speed)(args)


if __name__ == "__main__":
    main()
