"""One problem: exact fields at θ0, their curl and circulation, and gradient ascent along each."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd

from triad import zoo
from triad.analysis import policy_gradient as pg
from triad.errors import SpecError
from triad.experiment import Progress, Run
from triad.mdp import FiniteMDP
from triad.solvers import solve
from triad.spec import coerce

from .sweep import ALIASED


def build(spec: str, gamma: float) -> tuple[FiniteMDP, np.ndarray | None]:
    """The MDP at discount ``gamma`` and the policy features (``None``: tabular logits)."""
    name, raw = zoo.parse_spec(spec)
    if name != ALIASED:
        return zoo.make(spec).mdp.with_gamma(gamma), None
    signature = inspect.signature(pg.aliased_decision).parameters
    kwargs = {"gamma": gamma}
    for key, value in raw.items():
        if key not in signature:
            raise SpecError(f"{ALIASED} has no parameter {key!r} (parameters: {', '.join(signature)})")
        kwargs[key] = coerce(value, signature[key].default, f"{ALIASED}: {key}")
    return pg.aliased_decision(**kwargs)


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Rows: ``J`` and ``angle`` per ascent step for each followed field; curl and loop measures at θ0."""
    p = run.params
    mdp, features = build(p["problem"], p["gamma"])
    theta0 = np.zeros((mdp.S, mdp.A)) if features is None else np.zeros(features.shape[2])
    n = theta0.size
    # A one-parameter field is always a gradient (integrate it along the line): no plane, no loop.
    loops = n > 1
    progress.total(2 * p["steps"] + 4 * n + (2 * p["loop_points"] if loops else 0))
    rows: list[dict] = [{"field": "", "step": 0, "quantity": "J_star",
                         "value": float(mdp.initial @ solve(mdp, "pi").V)},
                        {"field": "", "step": 0, "quantity": "parameters", "value": float(n)}]
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
        rows += [{"field": name, "step": 0, "quantity": "curl_norm", "value": float(np.linalg.norm(curls[name]))},
                 {"field": name, "step": 0, "quantity": "direction_norm",
                  "value": float(np.linalg.norm(f(theta0)))}]
        if loops:
            rows.append({"field": name, "step": 0, "quantity": "loop_integral",
                         "value": pg.loop_integral(counted(f), theta0, u, v, p["radius"], p["loop_points"])})
    if loops:
        rows.append({"field": "dropped", "step": 0, "quantity": "stokes_prediction",
                     "value": float(np.pi * p["radius"] ** 2 * density)})
    for name in pg.FIELDS:
        path = pg.ascend(mdp, theta0, name, p["step_size"], p["steps"], features)
        progress.advance(p["steps"])
        steps = np.arange(p["steps"] + 1)
        rows += [{"field": name, "step": int(k), "quantity": "J", "value": float(j)} for k, j in zip(steps, path.J)]
        rows += [{"field": name, "step": int(k), "quantity": "angle", "value": float(a)}
                 for k, a in zip(steps, path.angle)]
    return pd.DataFrame(rows)
