"""One spiral run to tidy rows: θ, ‖V(θ)‖ and √MSPBE per recorded step and stream."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad.experiment import Progress, Run, tidy
from triad.sampling import StreamRNG

from .model import Spiral, learn, mspbe


def spiral_of(params: dict) -> Spiral:
    """The constructed family (ε from the parameters) or the printed constants."""
    return Spiral.published() if params["family"] == "published" else Spiral.construct(epsilon=params["epsilon"])


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Learn θ on the spiral with TD(0) or nonlinear TDC."""
    p = run.params
    spiral = spiral_of(p)
    progress.total(p["steps"])
    streams = p.get("streams", 1)
    rng = StreamRNG(streams, key=p["seed"]) if p["form"] == "sampled" else None
    curve = learn(rng, spiral, p["algorithm"], p["alpha"], p["beta"], p["steps"], p["gamma"], form=p["form"],
                  streams=streams, theta0=p["theta0"], threshold=p["threshold"], record_every=p["record_every"])
    progress.advance(p["steps"])
    theta = curve.w[..., 0]
    with np.errstate(over="ignore", invalid="ignore"):
        quantities = {"theta": theta, "norm_v": np.linalg.norm(spiral.value(theta), axis=-1),
                      "sqrt_mspbe": np.sqrt(mspbe(spiral, theta, p["gamma"]))}
    labels = {"algorithm": p["algorithm"], "family": p["family"], "form": p["form"]}
    check = np.linspace(-20.0, 20.0, 401)
    return pd.concat([tidy(curve.steps, quantities, **labels),
                      tidy(curve.steps[-1:], {"diverged_at": curve.diverged_at[None, :]}, **labels),
                      tidy([0], {"consistency_error": [spiral.consistency_error(check)]}, **labels)],
                     ignore_index=True)
