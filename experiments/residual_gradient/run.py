"""One A-split run to tidy rows: the values of A, B, C, √VE and the root mean squared TD error."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import linear
from triad.experiment import Progress, Run
from triad.sampling import StreamRNG

from .problem import STATES, a_split
from .sweep import rule


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Learn the A-split values with one variant in one form."""
    p = run.params
    problem = a_split()
    learning = rule(p["variant"], p["alpha"])
    if p["form"] == "expected":
        progress.total(p["sweeps"])
        curve = linear.expected(learning, problem, p["sweeps"], gamma=p["gamma"], record_every=p["record_every"],
                                progress=progress)
    else:
        progress.total(p["steps"])
        curve = linear.sampled(learning, problem, p["steps"], StreamRNG(p["seeds"], key=p["seed"]), seeds=p["seeds"],
                               gamma=p["gamma"], record_every=p["record_every"], progress=progress)
    K, B, _ = curve.w.shape
    values = curve.w @ problem.features.T
    quantities = {f"v_{name}": values[..., s] for s, name in enumerate(STATES)}
    quantities["sqrt_ve"] = linear.root_value_error(problem, curve.w, gamma=p["gamma"])
    quantities["sqrt_tde"] = linear.root_td_error(problem, curve.w, gamma=p["gamma"])
    quantities["sqrt_be"] = linear.root_projected_bellman_error(problem, curve.w, gamma=p["gamma"])
    frames = [pd.DataFrame({"algorithm": p["variant"], "form": p["form"], "seed": np.tile(np.arange(B), K),
                            "step": np.repeat(curve.steps, B), "quantity": name, "value": q.ravel()})
              for name, q in quantities.items()]
    return pd.concat(frames, ignore_index=True)
