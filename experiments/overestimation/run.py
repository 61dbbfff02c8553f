"""Runs of the overestimation experiment: estimator moments per m, or left-action shares per episode."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import zoo
from triad.analysis import maximization as mx
from triad.experiment import Progress, Run

CASES = ("iid", "gap")
"""``iid``: all m means 0. ``gap``: one mean 0, the other m − 1 at −gap. The max of the means is 0 in both."""


def _means(case: str, m: int, gap: float) -> np.ndarray:
    loc = np.zeros(m) if case == "iid" else np.full(m, -gap)
    loc[0] = 0.0
    return loc


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Dispatch on the run's kind."""
    p = run.params
    # One independent stream per run, fixed by (seed, stream): reruns and resumes are bit-identical.
    rng = np.random.default_rng([p["seed"], p["stream"]])
    return _estimators(rng, p, progress) if p["kind"] == "estimators" else _learning(rng, p, progress)


def _estimators(rng: np.random.Generator, p: dict, progress: Progress) -> pd.DataFrame:
    """Per case and m: exact and sampled means (with standard errors) of the single and double estimators."""
    progress.total(len(CASES) * len(p["ms"]))
    rows = []
    for case in CASES:
        for m in p["ms"]:
            loc = _means(case, m, p["gap"])
            draws = mx.sample_estimators(rng, loc, 1.0, p["family"], p["samples"])
            values = {
                "exact_max": mx.expected_max(loc, 1.0, p["family"]),
                "exact_double": mx.expected_double_estimator(loc, 1.0, p["family"]),
                "sampled_max": draws.single.mean(),
                "sampled_max_se": draws.single.std(ddof=1) / np.sqrt(p["samples"]),
                "sampled_double": draws.double.mean(),
                "sampled_double_se": draws.double.std(ddof=1) / np.sqrt(p["samples"]),
            }
            rows += [{"family": p["family"], "case": case, "step": m, "quantity": q, "value": float(v)}
                     for q, v in values.items()]
            progress.advance()
    return pd.DataFrame(rows)


def _learning(rng: np.random.Generator, p: dict, progress: Progress) -> pd.DataFrame:
    """Per episode: the share of runs whose first action (from A) was left, and its standard error."""
    progress.total(1)
    mdp = zoo.maximization_bias(n_actions=p["n_actions"], gamma=p["gamma"]).mdp
    learned = mx.q_learning(rng, mdp, p["algorithm"], episodes=p["episodes"], runs=p["runs"],
                            epsilon=p["epsilon"], alpha=p["alpha"])
    left = (learned.first_action == 0).mean(axis=1)
    se = np.sqrt(left * (1 - left) / p["runs"])
    progress.advance()
    episodes = np.arange(1, p["episodes"] + 1)
    return pd.DataFrame(
        [{"algorithm": p["algorithm"], "step": int(e), "quantity": "left_fraction", "value": float(v)}
         for e, v in zip(episodes, left)]
        + [{"algorithm": p["algorithm"], "step": int(e), "quantity": "left_fraction_se", "value": float(v)}
           for e, v in zip(episodes, se)])
