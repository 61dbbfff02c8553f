"""One problem: exact fields at θ0, their curl and circulation, and gradient ascent along each."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import zoo
from triad.analysis import policy_gradient as pg
from triad.experiment import Progress, Run, tidy
from triad.solvers import solve


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Rows: ``J`` and ``angle`` per ascent step for each followed field; curl and loop measures at θ0 (step 0).

    The problem is a zoo spec at the run's discount; its ``policy_features`` (if any) parameterise
    a log-linear policy, otherwise the logits are tabular.
    """
    p = run.params
    problem = zoo.make(p["problem"])
    mdp, features = problem.mdp.with_gamma(p["gamma"]), problem.policy_features
    theta0 = np.zeros((mdp.S, mdp.A)) if features is None else np.zeros(features.shape[2])
    n = theta0.size
    # A one-parameter field is always a gradient (integrate it along the line): no plane, no loop.
    loops = n > 1
    progress.total(2 * p["steps"] + 4 * n + (2 * p["loop_points"] if loops else 0))
    frames = [tidy([0], {"J_star": [mdp.initial @ solve(mdp, "pi").V], "parameters": [n]}, field="")]
    fields = {name: pg.field(mdp, name, features) for name in pg.FIELDS}

    def counted(f: pg.Field) -> pg.Field:
        def g(theta: np.ndarray) -> np.ndarray:
            progress.advance()
            return f(theta)
        return g

    curls = {name: pg.curl(counted(f), theta0) for name, f in fields.items()}
    # The loop lies in the plane where the dropped field circulates most; any plane would do for the true one.
    u, v, density = pg.curl_plane(curls["dropped"])
    for name, f in fields.items():
        at_start = {"curl_norm": [np.linalg.norm(curls[name])], "direction_norm": [np.linalg.norm(f(theta0))]}
        if loops:
            at_start["loop_integral"] = [pg.loop_integral(counted(f), theta0, u, v, p["radius"], p["loop_points"])]
        frames.append(tidy([0], at_start, field=name))
    if loops:
        frames.append(tidy([0], {"stokes_prediction": [np.pi * p["radius"] ** 2 * density]}, field="dropped"))
    for name in pg.FIELDS:
        path = pg.ascend(mdp, theta0, name, p["step_size"], p["steps"], features)
        progress.advance(p["steps"])
        frames.append(tidy(np.arange(p["steps"] + 1), {"J": path.J, "angle": path.angle}, field=name))
    return pd.concat(frames, ignore_index=True)
