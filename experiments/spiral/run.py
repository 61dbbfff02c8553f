"""One spiral run to tidy rows: θ, ‖V(θ)‖ and √MSPBE per recorded step and seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad.experiment import Progress, Run
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
    rng = StreamRNG(p.get("seeds", 1), key=p.get("seed", 0))
    curve = learn(spiral, p["algorithm"], p["alpha"], p["beta"], p["steps"], p["gamma"], form=p["form"], rng=rng,
                  seeds=p.get("seeds", 1), theta0=p["theta0"], threshold=p["threshold"], record_every=p["record_every"])
    progress.advance(p["steps"])
    theta = curve.w[..., 0]
    K, B = theta.shape
    with np.errstate(over="ignore", invalid="ignore"):
        quantities = {"theta": theta, "norm_v": np.linalg.norm(spiral.value(theta), axis=-1),
                      "sqrt_mspbe": np.sqrt(mspbe(spiral, theta, p["gamma"]))}
    labels = {"algorithm": p["algorithm"], "family": p["family"], "form": p["form"]}
    frames = [pd.DataFrame({**labels, "seed": np.tile(np.arange(B), K), "step": np.repeat(curve.steps, B),
                            "quantity": name, "value": q.ravel()}) for name, q in quantities.items()]
    check = np.linspace(-20.0, 20.0, 401)
    frames.append(pd.DataFrame({**labels, "seed": np.arange(B), "step": curve.steps[-1], "quantity": "diverged_at",
                                "value": curve.diverged_at}))
    frames.append(pd.DataFrame({**labels, "seed": [0], "step": [0], "quantity": ["consistency_error"],
                                "value": [spiral.consistency_error(check)]}))
    return pd.concat(frames, ignore_index=True)
