"""Runs of the overestimation experiment: estimator moments per m, or left-action shares per episode."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import zoo
from triad.analysis import maximization as mx
from triad.experiment import Progress, Run, tidy

CASES = ("iid", "gap")
"""``iid``: all m means 0. ``gap``: one mean 0, the other m − 1 at −gap. The max of the means is 0 in both."""


def _means(case: str, m: int, gap: float) -> np.ndarray:
    loc = np.zeros(m) if case == "iid" else np.full(m, -gap)
    loc[0] = 0.0
    return loc


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Dispatch on the run's kind."""
    p = run.params
    # One independent generator per run, fixed by (seed, position in the sweep): reruns and resumes are bit-identical.
    rng = np.random.default_rng([p["seed"], p["position"]])
    return _estimators(rng, p, progress) if p["kind"] == "estimators" else _learning(rng, p, progress)


def _estimators(rng: np.random.Generator, p: dict, progress: Progress) -> pd.DataFrame:
    """Per case and m (column ``m``; ``step`` is 0): exact and sampled means (with standard errors) of
    the single and double estimators over ``streams`` independent draws."""
    progress.total(len(CASES) * len(p["ms"]))
    frames = []
    for case in CASES:
        for m in p["ms"]:
            loc = _means(case, m, p["gap"])
            draws = mx.sample_estimators(rng, loc, 1.0, p["family"], p["streams"])
            values = {
                "exact_max": mx.expected_max(loc, 1.0, p["family"]),
                "exact_double": mx.expected_double_estimator(loc, 1.0, p["family"]),
                "sampled_max": draws.single.mean(),
                "sampled_max_se": draws.single.std(ddof=1) / np.sqrt(p["streams"]),
                "sampled_double": draws.double.mean(),
                "sampled_double_se": draws.double.std(ddof=1) / np.sqrt(p["streams"]),
            }
            frames.append(tidy([0], {q: [v] for q, v in values.items()}, family=p["family"], case=case, m=m))
            progress.advance()
    return pd.concat(frames, ignore_index=True)


def _learning(rng: np.random.Generator, p: dict, progress: Progress) -> pd.DataFrame:
    """Per episode (``step``): the share of the ``streams`` runs whose first action (from A) was left,
    and its standard error."""
    progress.total(1)
    mdp = zoo.maximization_bias(n_actions=p["n_actions"], gamma=p["gamma"]).mdp
    learned = mx.q_learning(rng, mdp, p["algorithm"], episodes=p["episodes"], streams=p["streams"],
                            epsilon=p["epsilon"], alpha=p["alpha"])
    left = (learned.first_action == 0).mean(axis=1)
    se = np.sqrt(left * (1 - left) / p["streams"])
    progress.advance()
    return tidy(np.arange(1, p["episodes"] + 1), {"left_fraction": left, "left_fraction_se": se},
                algorithm=p["algorithm"])
