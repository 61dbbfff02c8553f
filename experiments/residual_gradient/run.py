"""One A-split run to tidy rows: the values of A, B, C, √VE and the root mean squared TD error."""

from __future__ import annotations

import pandas as pd

from triad import linear, zoo
from triad.experiment import Progress, Run, tidy
from triad.sampling import StreamRNG

from .sweep import STATES, rule


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Learn the A-split values with one variant in one form."""
    p = run.params
    problem = zoo.a_split()
    learning = rule(p["variant"], p["alpha"])
    if p["form"] == "expected":
        progress.total(p["sweeps"])
        curve = linear.expected(learning, problem, p["sweeps"], gamma=p["gamma"], record_every=p["record_every"],
                                progress=progress)
    else:
        progress.total(p["steps"])
        curve = linear.sampled(StreamRNG(p["streams"], key=p["seed"]), learning, problem, p["steps"],
                               streams=p["streams"], gamma=p["gamma"], record_every=p["record_every"],
                               progress=progress)
    values = curve.w @ problem.features.T
    quantities = {f"v_{name}": values[..., s] for s, name in enumerate(STATES)}
    quantities["sqrt_ve"] = linear.root_value_error(problem, curve.w, gamma=p["gamma"])
    quantities["sqrt_tde"] = linear.root_td_error(problem, curve.w, gamma=p["gamma"])
    quantities["sqrt_be"] = linear.root_projected_bellman_error(problem, curve.w, gamma=p["gamma"])
    return tidy(curve.steps, quantities, algorithm=p["variant"], form=p["form"])
