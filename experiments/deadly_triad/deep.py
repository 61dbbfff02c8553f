"""The deep level of the deadly-triad grid, after van Hasselt, Doron, Strub, Hessel, Sonnerat & Modayil (2018),
"Deep Reinforcement Learning and the Deadly Triad" (arXiv 1812.02648).

Their variants of DQN with experience replay, scaled down: the bootstrap target (no target network
— the online network under stop-gradient —, a periodic hard copy, or Polyak averaging), double Q
on/off, n-step returns (n = 1, 3, 10, uncorrected as in the paper), prioritised replay on/off and
the network's size; their measure, **soft divergence**: ``max |Q̂|`` beyond the largest possible
return (with rewards clipped to [−1, 1] and γ = 0.99 that is 100, their threshold). On the tabular
twin (:mod:`.env`) also ``‖Q̂ − Q*‖∞`` and ``J`` against ``J*``; everywhere the final return.

A *run* is one env × n × network size: those settings fix the shapes of the batches and the
network, so every target variant × double × prioritisation × stream of the run trains as one
member of :class:`triad.agents.members.ValueMembers` (one stacked network, one env batch per
member), in one process. Member ``e`` is exactly ``triad train dqn --env ENV --seed S`` with its
settings (up to float rounding; tested), ``S = seed_of(seed, stream)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from triad.errors import SpecError, ValidationError
from triad.experiment import Progress, Run, tidy

from .env import ENV as TRIAD_GRID

ENVS = {"triad-grid": TRIAD_GRID, "CartPole-v1": "CartPole-v1"}
"""The deep level's envs: the tabular twin with random features (exact Q*) and CartPole-v1."""

TARGETS = {"none": {"target_period": 0, "tau": 1.0}, "periodic": None, "polyak": None}
"""Bootstrap targets: the online network (stop-gradient), a hard copy every ``deep_target_period`` gradient
steps, or ``φ' ← (1 − τ)φ' + τφ`` after every gradient step (``tau``)."""

CARTPOLE_BOUND = 100.0
"""The largest |Q| on CartPole-v1 at γ = 0.99: rewards 1, so |Σ_t γ^t r_t| < 1/(1 − γ)."""

FINITE = {"train_every": 1, "grad_steps": 1, "learning_starts": 200, "batch_size": 32}
"""The tabular twin's rates: a gradient step per env step on batches of 32 after 200 random steps (SB3 DQN's batch;
the paper's replay ratio, one update per 4 agent steps, is raised to learn within a short budget)."""

DEFAULTS: dict[str, Any] = {
    "deep_envs": tuple(ENVS),
    "targets": tuple(TARGETS),
    "doubles": (False, True),
    "n_steps": (1, 3, 10),
    "prioritised": (False, True),
    "sizes": ("16", "64x64"),
    "deep_streams": 2,
    "deep_steps": 3000,
    "cartpole_steps": 5000,
    "deep_lr": 1e-3,
    "deep_target_period": 100,
    "tau": 0.005,
}

DOCS = {
    "deep_envs": f"level=deep: envs, subset of {', '.join(ENVS)}",
    "targets": f"level=deep: bootstrap targets, subset of {', '.join(TARGETS)}",
    "doubles": "level=deep: double Q off/on (false,true)",
    "n_steps": "level=deep: n of the uncorrected n-step returns (van Hasselt et al. 2018: 1, 3, 10)",
    "prioritised": "level=deep: proportional prioritised replay off/on (α = 0.6, β 0.4 → 1; Schaul et al. 2016)",
    "sizes": "level=deep: Q-network hidden layers, e.g. 16 or 64x64 (one run per size)",
    "deep_streams": "level=deep: independent agents (seeds) per variant",
    "deep_steps": "level=deep: env steps of every agent on the tabular twin",
    "cartpole_steps": "level=deep: env steps of every agent on CartPole-v1 (rl-baselines3-zoo's DQN rates)",
    "deep_lr": "level=deep: Adam's step size on the tabular twin (CartPole-v1: the zoo's 2.3e-3)",
    "deep_target_period": "level=deep: gradient steps between hard copies of the periodic target",
    "tau": "level=deep: Polyak target's τ per gradient step (Haarnoja et al. 2018, Fujimoto et al. 2018: 0.005)",
}

QUICK: dict[str, Any] = {"targets": ("none", "periodic"), "n_steps": (1, 3), "prioritised": (False, True),
                         "sizes": ("16",), "deep_streams": 1, "deep_steps": 300, "cartpole_steps": 300}


def hidden_of(size: str) -> tuple[int, ...]:
    """``"64x64"`` → ``(64, 64)``."""
    try:
        widths = tuple(int(w) for w in str(size).split("x"))
    except ValueError:
        widths = ()
    if not widths or min(widths) < 1:
        raise SpecError(f"deadly-triad: network size {size!r} is not widths joined by x (e.g. 16 or 64x64)")
    return widths


def seed_of(*keys: int) -> int:
    """A 32-bit seed derived from integer keys (``SeedSequence``)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """One run per env × n × network size (``deadly-triad/level=deep/env=E/n=N/size=H``), parameters checked first."""
    bad = [e for e in params["deep_envs"] if e not in ENVS] or ([""] if not params["deep_envs"] else [])
    if bad:
        raise SpecError(f"deadly-triad: unknown deep env {bad[0]!r} (choose from {', '.join(ENVS)})")
    bad = [t for t in params["targets"] if t not in TARGETS] or ([""] if not params["targets"] else [])
    if bad:
        raise SpecError(f"deadly-triad: unknown target {bad[0]!r} (choose from {', '.join(TARGETS)})")
    for key in ("doubles", "n_steps", "prioritised", "sizes"):
        if not params[key]:
            raise SpecError(f"deadly-triad: {key} is empty")
    for size in params["sizes"]:
        hidden_of(size)
    for key in ("deep_streams", "deep_steps", "cartpole_steps", "deep_target_period"):
        if params[key] < 1:
            raise ValidationError(f"deadly-triad: {key} = {params[key]} must be at least 1")
    if any(n < 1 for n in params["n_steps"]):
        raise ValidationError(f"deadly-triad: n_steps {params['n_steps']} must be at least 1")
    if not 0.0 < params["tau"] <= 1.0 or not params["deep_lr"] > 0:
        raise ValidationError("deadly-triad: tau must lie in (0, 1] and deep_lr must be positive")
    shared = {k: params[k] for k in DEFAULTS if k not in ("deep_envs", "n_steps", "sizes")}
    return [Run(f"deadly-triad/level=deep/env={env}/n={n}/size={size}",
                {**shared, "level": "deep", "seed": params["seed"], "env": env, "n_step": n, "size": size})
            for env in params["deep_envs"] for n in params["n_steps"] for size in params["sizes"]]


def variants(p: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The members of a run: every target × double × prioritisation × stream, with their labels."""
    out = []
    for target in p["targets"]:
        for double in p["doubles"]:
            for per in p["prioritised"]:
                for stream in range(p["deep_streams"]):
                    out.append({"target": target, "double": bool(double), "prioritised": bool(per), "stream": stream})
    return out


def overrides(p: Mapping[str, Any], member: Mapping[str, Any]) -> dict[str, Any]:
    """The DQN config fields of a member (on top of the env's DQN preset)."""
    target = {"none": {"target_period": 0, "tau": 1.0}, "periodic": {"target_period": p["deep_target_period"],
                                                                      "tau": 1.0},
              "polyak": {"target_period": 1, "tau": p["tau"]}}[member["target"]]
    steps = p["deep_steps"] if p["env"] == "triad-grid" else p["cartpole_steps"]
    out = {**target, "hidden": hidden_of(p["size"]), "n_step": p["n_step"], "double": member["double"],
           "prioritized": member["prioritised"], "capacity": steps, "log_every": steps}
    if p["env"] == "triad-grid":
        out.update({**FINITE, "lr": p["deep_lr"], "gamma": 0.99})
    return out


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Train every member of the run vectorised; rows per member (labels ``target, double, prioritised, stream``):

    at the last step ``q_abs_max`` (the largest ``|Q̂|`` seen: over every state-action pair at each probe on
    the tabular twin, over the replayed batches on CartPole), ``return_bound``, ``soft_diverged``
    (``q_abs_max`` > bound, or a non-finite estimate), ``final_return`` (mean of the last 10 training
    episodes), ``diverged`` (non-finite parameters) and on the twin ``q_error`` (‖Q̂ − Q*‖∞), ``J``,
    ``J_star``; per probe (tenths of the run) ``q_max`` (the largest |Q̂| so far)."""
    from triad.agents import REGISTRY
    from triad.agents.members import train_members
    from triad.agents.probes import TruthProbe

    p = dict(run.params)
    env = ENVS[p["env"]]
    finite = p["env"] == "triad-grid"
    steps = p["deep_steps"] if finite else p["cartpole_steps"]
    members = variants(p)
    configs = [REGISTRY["dqn"].resolve(env, overrides(p, m)) for m in members]
    seeds = [seed_of(p["seed"], m["stream"]) for m in members]
    truth: dict[str, Any] = {}

    def probe(agent: Any, vec_env: Any) -> dict[str, float]:
        if not finite:  # max|Q̂| over the states in the member's replay
            obs = agent.replay.data["obs"][:len(agent.replay)]
            return {"q_abs_max": float(np.abs(agent.q_table(obs)).max()) if len(obs) else np.nan}
        if "probe" not in truth:
            truth["probe"] = TruthProbe(vec_env)
        truth["probe"].first = True
        return truth["probe"](agent)

    out = train_members(configs, env, steps, seeds, probe_every=max(1, steps // 10), probe=probe, progress=progress)
    E = len(members)
    labels = {k: np.array([m[k] for m in members]) for k in members[0]}
    common = {"env": p["env"], "n_step": p["n_step"], "size": p["size"], **labels}
    probes = pd.DataFrame([{"step": s, "member": e, **rows} for s, e, rows in out.probes])
    probes["q_abs_max"] = probes["q_abs_max"].fillna(np.inf)  # a NaN estimate has diverged
    curve = probes.pivot_table(index="step", columns="member", values="q_abs_max", aggfunc="last").cummax()
    last = probes.sort_values("step").groupby("member").last()
    bound = float(last["return_bound"].max()) if finite else CARTPOLE_BOUND
    extra = {k: last[k].to_numpy()[None] for k in ("q_error", "J", "J_star", "overestimation")} if finite else {}
    q_abs_max = curve.iloc[-1].to_numpy()
    finite_params = np.array([a.parameters_finite() is None for a in out.members.agents])
    q_abs_max = np.where(finite_params, q_abs_max, np.inf)
    final_return = np.array([np.mean([r for _, r, _ in ep[-10:]]) if ep else np.nan for ep in out.episodes])
    finals = {"q_abs_max": q_abs_max[None], "return_bound": np.full((1, E), bound),
              "soft_diverged": (q_abs_max > bound).astype(float)[None], "final_return": final_return[None],
              "diverged": (~finite_params).astype(float)[None], "seconds": np.full((1, E), out.seconds), **extra}
    frames = [tidy([steps], finals, axis="member", **common),
              tidy(curve.index.to_numpy(), {"q_max": curve.to_numpy()}, axis="member", **common)]
    return pd.concat(frames, ignore_index=True)
