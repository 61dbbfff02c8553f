"""One training run on the tabular twin; its log's probe rows become the run's tidy rows."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from triad.experiment import Progress, Run
from triad.experiments.truth_probes.sweep import overrides

QUANTITIES = ("J", "J_star", "critic_error", "cos_true", "cos_dropped", "eval_return")
"""The rows of the run's ``log.csv`` that are kept (the episode returns are left out)."""


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Rows ``discount_weighting, seed, step, quantity, value``: the truth probes at every log step
    (``J_star`` once), and the final ``eval_return``."""
    from triad.agents import loop

    p = run.params
    with tempfile.TemporaryDirectory() as out:
        loop.train(p["algorithm"], p["problem"], p["steps"], seed=p["seed"],
                   overrides=overrides(p, p["discount_weighting"]), out=out, eval_episodes=p["eval_episodes"],
                   max_episode_steps=p["max_episode_steps"], progress=progress)
        log = loop.read_log(Path(out) / "log.csv")
    rows = log[log["quantity"].isin(QUANTITIES)].reset_index(drop=True)
    rows.insert(0, "seed", p["seed"])
    rows.insert(0, "discount_weighting", p["discount_weighting"])
    return rows
