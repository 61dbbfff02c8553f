"""One run of the three-process grid: the value-based loop at one setting of its rates, to tidy rows."""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd

from triad.experiment import Progress, Run, tidy

FEATURE_GRID = "triad.experiments.three_process.env:triad/FeatureGrid-v0"
"""The id ``loop.train`` takes for the feature grid (imports :mod:`.env`, which registers it)."""

CARTPOLE_BOUND = 100.0
"""The largest |Q| on CartPole-v1 at γ = 0.99: rewards 1, so Σ_t γ^t < 1/(1 − γ)."""


def rates(capacity: int, period: int, ratio: float) -> dict[str, str]:
    """The config fields of one grid cell: replay, batch, train_every / grad_steps, target period."""
    every, grad = (1, int(ratio)) if ratio >= 1 else (round(1 / ratio), 1)
    return {"capacity": str(capacity), "batch_size": str(min(32, capacity)), "train_every": str(every),
            "grad_steps": str(grad), "target_period": str(period), "tau": "1.0"}


def _env(p: dict) -> tuple[str, dict[str, str]]:
    """The env id and the settings shared by every cell of that env (network, step size, discount)."""
    if p["env"] == "feature-grid":
        return FEATURE_GRID, {"q_net": "linear", "lr": "1e-3", "gamma": "0.9"}
    return "CartPole-v1", {"hidden": "64,64", "lr": "1e-3", "gamma": "0.99"}


def _train(algorithm: str, env: str, steps: int, seed: int, overrides: dict[str, str]) -> tuple[pd.DataFrame, dict]:
    from triad.agents import loop

    with tempfile.TemporaryDirectory() as out:
        try:
            summary = loop.train(algorithm, env, steps, seed=seed, overrides={**overrides,
                                 "log_every": str(max(1, steps // 10))}, out=out, eval_episodes=10)
            summary["diverged"] = 0.0
        except loop.Diverged:
            summary = {"final_return": np.nan, "eval_return": np.nan, "diverged": 1.0}
        log = loop.read_log(f"{out}/log.csv")
    return log, summary


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Rows at the last step: ``final_return`` (mean of the last 10 training episodes), ``eval_return``,
    ``q_abs_max`` (the largest |Q̂| seen: the table's on the feature grid, the replayed batches' on
    CartPole), ``return_bound`` (the largest possible |Q|), ``diverged`` (a NaN stopped the run) and, on
    the feature grid, the final ``J``, ``J_star`` and ``q_error``; plus per log window ``return`` (mean
    episode return) and ``q_max``."""
    p = run.params
    env, shared = _env(p)
    progress.total(1)
    if p["kind"] == "fqi":
        data = p["steps"] // 2
        every = max(1, (p["steps"] - data) // p["iterations"])
        fit = ({"fit": "exact", "grad_steps": "1", "target_period": "1"} if p["env"] == "feature-grid" else
               {"grad_steps": "500", "target_period": "500", "batch_size": "256"})
        overrides = {**shared, "learning_starts": str(data), "capacity": str(data), "train_every": str(every), **fit}
        log, summary = _train("fqi", env, p["steps"], p["seed"], overrides)
        labels = {"capacity": data, "target_period": int(fit["target_period"]), "ratio": np.nan, "named": "fqi"}
    else:
        overrides = {**shared, **rates(p["capacity"], p["target_period"], p["ratio"]),
                     "learning_starts": str(p["learning_starts"])}
        log, summary = _train("dqn", env, p["steps"], p["seed"], overrides)
        named = next((name for name, cell in _named().items() if cell == (p["capacity"], p["target_period"],
                                                                          p["ratio"])), "")
        labels = {"capacity": p["capacity"], "target_period": p["target_period"], "ratio": p["ratio"], "named": named}
    progress.advance()
    finite = p["env"] == "feature-grid"

    def series(quantity: str) -> pd.Series:
        return log[log["quantity"] == quantity].set_index("step")["value"]

    q = series("q_abs_max" if finite else "q_batch_max")
    q = q[~q.index.duplicated(keep="last")] if finite else q
    last = int(log["step"].max()) if len(log) else p["steps"]
    finals = {"final_return": summary["final_return"], "eval_return": summary["eval_return"],
              "diverged": summary["diverged"], "q_abs_max": float(q.max()) if len(q) else np.nan,
              "return_bound": float(series("return_bound").iloc[0]) if finite else CARTPOLE_BOUND}
    if finite:
        finals.update({k: float(series(k).iloc[-1]) for k in ("J", "J_star", "q_error") if len(series(k))})
    frames = [tidy([last], {k: [np.nan if v is None else v] for k, v in finals.items()}, env=p["env"], **labels)]
    episodes = series("episode_return")
    window = max(1, p["steps"] // 10)
    if len(episodes):
        binned = episodes.groupby((episodes.index - 1) // window * window + window).mean()
        frames.append(tidy(binned.index.to_numpy(), {"return": binned.to_numpy()}, env=p["env"], **labels))
    if len(q):
        frames.append(tidy(q.index.to_numpy(), {"q_max": q.to_numpy()}, env=p["env"], **labels))
    return pd.concat(frames, ignore_index=True)


def _named() -> dict[str, tuple[int, int, float]]:
    from triad.experiments.three_process.sweep import NAMED

    return NAMED
