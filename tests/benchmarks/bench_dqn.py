"""DQN benchmark: triad against Stable-Baselines3 in one process (not collected by pytest).

    python tests/benchmarks/bench_dqn.py full [--seeds 0 1 2] [--steps 50000] [--record]
    python tests/benchmarks/bench_dqn.py speed [--steps 20000] [--repeat 3]
    python tests/benchmarks/bench_dqn.py learn [--seeds 0 1 2] [--steps 50000] [--algo dqn]
    python tests/benchmarks/bench_dqn.py pomdp [--seeds 0 1 2] [--steps 100000]
    python tests/benchmarks/bench_dqn.py parity [--seeds 0 1 2] [--steps 50000]
    python tests/benchmarks/bench_dqn.py rounding [--seeds 0 1 2] [--ulps 0 1 2 3 4 5] [--library triad sb3]

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
zoo settings) on velocity-masked CartPole (``triad/CartPoleNoVel-v1``). ``parity`` runs triad's learner on
SB3's own batches from SB3's initial network (:func:`parity`); ``rounding`` trains both from each seed with
the initial network changed by a few units in the last place (:func:`rounding`). Needs the ``bench`` extra.
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


def learn_sb3(steps: int, seed: int, scale: float = 1.0) -> dict:
    """SB3 DQN trained for ``steps``: steps/s of ``learn``, the mean of its last 10 training episodes (Monitor)
    and the deterministic evaluation return over 10 episodes on a CartPole-v1 seeded apart (seed + 10,000);
    ``scale``: the second layer's initial weights multiplied by it first (:func:`rounding`)."""
    model = sb3_dqn(seed)
    if scale != 1.0:
        with torch.no_grad():
            model.q_net.q_net[2].weight.mul_(scale)
            model.q_net_target.load_state_dict(model.q_net.state_dict())
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    seconds = time.perf_counter() - start
    returns = [ep["r"] for ep in model.ep_info_buffer][-10:]
    return {"eval_return": _sb3_eval(model, seed), "final_return": float(np.mean(returns)),
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


ULP = 2.0 ** -23
"""One unit in the last place of a float32 1: :func:`parity`'s and :func:`rounding`'s changes of the initial network."""

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


def parity(args: argparse.Namespace) -> None:
    """Processes 2 and 3 of triad's ``dqn`` against SB3's on the same data (:func:`_sb3_recorded`,
    :func:`_triad_on`): triad's by-hand gradients, clipping, fused Adam and target copies from SB3's initial
    network on exactly the batches SB3's replay handed to its ``train``. Printed per seed: the largest parameter
    difference (relative to the largest parameter) after training phases 1, 10 and the last, between triad and
    SB3 and, as the control, between triad and triad started from a second layer scaled by 1 + 2⁻²³ (one unit in
    the last place of 1); the largest
    difference of the final Q̂ of triad and SB3 over every state in SB3's replay, how many of those states
    their greedy actions disagree on, and both final networks' deterministic evaluation (10 episodes, the env
    seeded as in ``full``). With the data held fixed the two libraries differ by floating-point rounding only
    (summation orders of the gradient norm and the backward pass, Adam's kernel), so the differences show how
    much the learning dynamics amplify rounding."""
    import triad.agents as agents

    algo = agents.get("dqn")
    config = algo.resolve("CartPole-v1")
    _table("seed", "phases", "triad–SB3 after 1 / 10 / last", "triad–triad(1 ulp) after 1 / 10 / last",
           "max |ΔQ̂| on replay", "greedy disagreements", "SB3 eval", "triad eval")
    for seed in args.seeds:
        model, start, batches, phases = _sb3_recorded(seed, args.steps)
        agent, ours = _triad_on(algo, config, seed, start, batches, len(phases))
        _, control = _triad_on(algo, config, seed, start, batches, len(phases), scale=1.0 + ULP)
        scale = max(p.abs().max().item() for p in phases[-1])

        def drift(xs, ys):
            d = [max((a - b).abs().max().item() for a, b in zip(x, y)) / scale for x, y in zip(xs, ys)]
            return " / ".join(f"{d[i]:.0e}" for i in (0, min(9, len(d) - 1), len(d) - 1))

        states = torch.as_tensor(model.replay_buffer.observations[:model.replay_buffer.size(), 0])
        with torch.no_grad():
            q_ours, q_theirs = agent.q_values(states), model.q_net(states)
        disagree = int((q_ours.argmax(1) != q_theirs.argmax(1)).sum())
        evals = [_sb3_eval(policy, seed) for policy in (model, _Greedy(agent))]
        print(f"| {seed} | {len(phases)} | {drift(ours, phases)} | {drift(ours, control)} | "
              f"{(q_ours - q_theirs).abs().max().item():.1e} | {disagree:,} of {len(states):,} | {evals[0]:.1f} | "
              f"{evals[1]:.1f} |", flush=True)
    print(f"load average at end: {os.getloadavg()}")


def _sb3_recorded(seed: int, steps: int) -> tuple:
    """SB3 DQN trained ``steps`` as in ``full``, with what :func:`parity` replays: ``(model, initial parameters,
    every batch its replay returned, the parameters after each training phase)`` (parameters in
    ``q_net.parameters()`` order)."""
    model = sb3_dqn(seed)
    batches, phases = [], []
    sample, train = model.replay_buffer.sample, model.train

    def kept(batch_size, env=None):
        batches.append(sample(batch_size, env))
        return batches[-1]

    def snapshot(gradient_steps, batch_size):
        train(gradient_steps=gradient_steps, batch_size=batch_size)
        phases.append([p.detach().clone() for p in model.q_net.parameters()])

    model.replay_buffer.sample, model.train = kept, snapshot
    start = [p.detach().clone() for p in model.q_net.parameters()]
    model.learn(total_timesteps=steps)
    return model, start, batches, phases


def _scaled(agent, scale: float):
    """``agent`` (a triad ``dqn``) with its second layer's weights multiplied by ``scale``, the target copied anew."""
    with torch.no_grad():
        agent.q.net.weights[1].mul_(scale)
    agent.update_targets()
    return agent


def _triad_on(algo, config, seed: int, start: list, batches: list, n_phases: int, scale: float = 1.0) -> tuple:
    """A triad agent from SB3's parameters ``start`` (its second layer's weights × ``scale``) through
    ``n_phases`` of its own iterations (:meth:`~triad.agents.value.ValueAgent.update`) on SB3's ``batches`` in
    order: ``(agent, parameters after each phase)`` in SB3's layout."""
    from triad.agents.value import ValueBatch

    env = loop.make_env("CartPole-v1", 1, seed=seed, autoreset=config.autoreset)
    agent = algo.build(config, loop.env_spaces(env), seed)
    net = agent.q.net
    with torch.no_grad():  # SB3's Linear weight (out, in) is triad's stacked (1, in, out)
        for w, b, sw, sb in zip(net.weights, net.biases, start[::2], start[1::2]):
            w.copy_(sw.T[None])
            b.copy_(sb[None, None])
    _scaled(agent, scale)
    feed = iter(batches)

    def sb3_batch():
        s = next(feed)
        return ValueBatch(obs=s.observations, action=s.actions[:, 0].long(), reward=s.rewards[:, 0],
                          discount=config.gamma * (1.0 - s.dones[:, 0]), next_obs=s.next_observations,
                          weight=None, next_mask=None, data={})

    agent.sample, agent.tick = sb3_batch, (lambda: True)
    after = []
    for _ in range(n_phases):
        agent.update()
        after.append([t.detach().clone() for w, b in zip(net.weights, net.biases) for t in (w[0].T, b[0, 0])])
    return agent, after


def _sb3_eval(policy, seed: int) -> float:
    """SB3's deterministic evaluation as in :func:`learn_sb3`: 10 episodes on a CartPole-v1 reset with ``seed + 10,000``."""
    import gymnasium
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    env = Monitor(gymnasium.make("CartPole-v1"))
    env.reset(seed=seed + 10_000)
    return float(evaluate_policy(policy, env, n_eval_episodes=10, deterministic=True)[0])


def rounding(args: argparse.Namespace) -> None:
    """How much of a seed's result is the seed: each library trains from each seed as in ``full``, with its
    second layer's initial weights scaled by ``1 + k·2⁻²³`` (``k`` units in the last place of 1; ``k = 0`` is
    the plain run) — a change of the size of the rounding differences between any two implementations of the
    same algorithm (see ``parity``). Printed per library and ``k``: each seed's deterministic evaluation and
    last-10 training return, and their medians over the seeds; then for how many ``k`` the medians meet
    :data:`TARGETS` (``--record``: written for the paper to ``tests/benchmarks/records/dqn-rounding-LIBRARY``)."""
    from triad import paper

    _table("library", "ulps", *(f"seed {s} eval / last-10" for s in args.seeds), "median eval", "median last-10")
    for library in args.library:
        params = paper.measured_on(seeds=args.seeds, steps=args.steps, ulps=args.ulps, library=library,
                                   env="CartPole-v1", torch_threads=1)
        by_ulps = {}
        for k in args.ulps:
            scale = 1.0 + k * ULP
            got = [_perturbed_triad(seed, args.steps, scale) if library == "triad" else
                   learn_sb3(args.steps, seed, scale) for seed in args.seeds]
            evals, finals = [g["eval_return"] for g in got], [g["final_return"] for g in got]
            by_ulps[str(k)] = {"eval": dict(zip(map(str, args.seeds), evals)),
                               "last10": dict(zip(map(str, args.seeds), finals)),
                               "median_eval": float(np.median(evals)), "median_last10": float(np.median(finals))}
            cells = " | ".join(f"{e:.1f} / {f:.1f}" for e, f in zip(evals, finals))
            print(f"| {library} | {k} | {cells} | {np.median(evals):.1f} | {np.median(finals):.1f} |", flush=True)
        medians = [v["median_last10"] for v in by_ulps.values()]
        summary = {"variants": len(by_ulps), "by_ulps": by_ulps,
                   "meets_eval": sum(v["median_eval"] >= TARGETS["eval"] for v in by_ulps.values()),
                   "meets_last10": sum(m >= TARGETS["last10"] for m in medians),
                   "median_last10_min": min(medians), "median_last10_max": max(medians), "target": TARGETS}
        print(f"{library}: median eval ≥ {TARGETS['eval']} for {summary['meets_eval']} of {len(by_ulps)} variants, "
              f"median last-10 ≥ {TARGETS['last10']} for {summary['meets_last10']} (range {min(medians):.1f}–"
              f"{max(medians):.1f})", flush=True)
        if args.record:
            params["load_average_end"] = round(os.getloadavg()[0], 2)
            print(paper.write_benchmark(f"dqn-rounding-{library}", summary, params))
    print(f"load average at end: {os.getloadavg()}")


def _perturbed_triad(seed: int, steps: int, scale: float) -> dict:
    from triad.agents import value

    build = value.build

    def scaled(config, spaces, agent_seed, name="dqn"):
        return _scaled(build(config, spaces, agent_seed, name), scale)

    value.build = scaled  # what the registry's "triad.agents.value:build" resolves to when the run builds its agent
    try:
        return run_triad("dqn", "CartPole-v1", steps, seed)
    finally:
        value.build = build


class _Greedy:
    """A triad value agent behind SB3's ``predict`` (what ``evaluate_policy`` calls): the greedy action."""

    def __init__(self, agent):
        self.agent = agent

    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        with torch.no_grad():
            q = self.agent.q_values(torch.as_tensor(obs, dtype=torch.float32))
        return q.argmax(1).numpy(), None


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
    p = sub.add_parser("parity")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=50_000)
    p = sub.add_parser("rounding")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--ulps", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    p.add_argument("--library", nargs="+", choices=("triad", "sb3"), default=["triad", "sb3"])
    p.add_argument("--record", action="store_true", help="write tests/benchmarks/records/dqn-rounding-LIBRARY")
    args = parser.parse_args()
    {"full": full, "speed": speed, "learn": learn, "pomdp": pomdp, "parity": parity,
     "rounding": rounding}[args.command](args)


if __name__ == "__main__":
    main()
