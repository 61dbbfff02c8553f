"""One Baird run to tidy rows: every recorded step × stream × quantity (w_1 … w_d, sqrt_ve, sqrt_pbe)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import linear
from triad.experiment import Progress, Run, tidy
from triad.sampling import StreamRNG

from .sweep import problem, rule


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Learn on Baird's counterexample with one algorithm in one form."""
    p = run.params
    baird = problem(p)
    learning = rule(p["algorithm"], p)
    form = p["form"]
    if form == "closed":
        w = linear.lstd(baird)[None, None, :]
        steps, diverged_at, threshold = np.array([0]), np.array([np.nan]), p["threshold"]
    else:
        if form == "expected":
            progress.total(p["sweeps"])
            curve = linear.expected(learning, baird, p["sweeps"], threshold=p["threshold"],
                                    record_every=p["record_every"], progress=progress)
        else:
            progress.total(p["steps"])
            curve = linear.sampled(StreamRNG(p["streams"], key=p["seed"]), learning, baird, p["steps"],
                                   streams=p["streams"], threshold=p["threshold"], record_every=p["record_every"],
                                   progress=progress)
        w, steps, diverged_at, threshold = curve.w, curve.steps, curve.diverged_at, curve.threshold
    quantities = {f"w_{i + 1}": w[..., i] for i in range(w.shape[-1])}
    with np.errstate(over="ignore", invalid="ignore"):
        quantities["sqrt_ve"] = linear.root_value_error(baird, w)
        quantities["sqrt_pbe"] = linear.root_projected_bellman_error(baird, w)
    rows = tidy(steps, quantities, algorithm=p["algorithm"], form=form)
    last = tidy(steps[-1:], {"diverged_at": diverged_at[None, :], "threshold": np.full((1, w.shape[1]), threshold)},
                algorithm=p["algorithm"], form=form)
    return pd.concat([rows, last], ignore_index=True)
