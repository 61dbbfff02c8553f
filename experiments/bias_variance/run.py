"""One MDP: exact moments for every critic error, critic draw, n and λ, plus a sampled check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import zoo
from triad.analysis.moments import Moments, default_horizon, estimates, sampled_moments, simulate, starts, value_moments
from triad.experiment import Progress, Run, tidy
from triad.mdp import uniform_policy
from triad.solvers import evaluate_policy

SAMPLED_NS = (1, 4, 16)
SAMPLED_LAMS = (0.0, 0.5, 0.9, 1.0)
"""Settings also simulated (those present in the sweep's ``ns`` and ``lams``)."""


def _rows(m: Moments, keep: np.ndarray, **labels) -> pd.DataFrame:
    """bias², variance and MSE averaged over the non-terminal start states (exact results: step 0)."""
    return tidy([0], {q: [np.mean(x[keep])] for q, x in (("bias2", m.bias**2), ("variance", m.variance),
                                                         ("mse", m.mse))}, **labels)


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Rows ``step`` (0: moments have no time axis), ``quantity`` (bias2, variance, mse; for the
    sampled check also max_abs_z, the largest |sampled − exact mean| over states in exact standard
    errors), ``value``, with ``method`` (exact, sampled), ``error`` (critic error), ``critic``
    (critic draw; draw k has the same z at every error), ``estimator`` (nstep, lambda), ``knob``
    (n or λ), ``mdp`` and ``sigma_G``.

    The sampled check simulates ``streams`` episodes per state once (seeded by the MDP's position
    in the sweep) and evaluates every checked setting and every critic on them."""
    p = run.params
    mdp = zoo.make(p["mdp"]).mdp.with_gamma(p["gamma"])
    pi = uniform_policy(mdp)
    V = evaluate_policy(mdp, pi)
    keep = ~mdp.terminal if mdp.terminal is not None else np.ones(mdp.S, bool)
    sigma = float(np.sqrt(np.mean(value_moments(mdp, pi, "mc").variance[keep])))
    unit = sigma if sigma > 0 else 1.0  # a deterministic return has no spread to measure errors in
    grid = [("nstep", n) for n in p["ns"]] + [("lambda", lam) for lam in p["lams"]]
    checked = [(est, k) for est, k in grid
               if p["streams"] and (k in SAMPLED_NS if est == "nstep" else k in SAMPLED_LAMS)]
    progress.total(len(p["errors"]) * p["critics"] * (len(grid) + len(checked)))
    episodes = None
    if checked:
        # One set of episodes for every critic (common random numbers across errors and critics).
        horizon = max([default_horizon(mdp.gamma)] + [k for est, k in checked if est == "nstep"])
        episodes = simulate(np.random.default_rng(p["position"]), mdp, pi, starts(mdp, p["streams"])[0],
                            horizon=horizon)
    frames: list[pd.DataFrame] = []
    for error in p["errors"]:
        for critic in range(p["critics"]):
            v_hat = V + error * unit * np.random.default_rng(critic).standard_normal(mdp.S)
            for est, k in grid:
                kw = {"n": k} if est == "nstep" else {"lam": k}
                labels = {"error": error, "critic": critic, "estimator": est, "knob": k}
                exact = value_moments(mdp, pi, est, v_hat, **kw)
                frames.append(_rows(exact, keep, method="exact", **labels))
                progress.advance()
                if episodes is None or (est, k) not in checked:
                    continue
                draws = estimates(episodes, est, v_hat, **kw).reshape(mdp.S, p["streams"])
                sampled = sampled_moments(draws, V, est)
                se = np.sqrt(exact.variance / p["streams"])
                ok = keep & (se > 0)
                z = np.abs(sampled.mean - exact.mean)[ok] / se[ok]
                frames += [_rows(sampled, keep, method="sampled", **labels),
                           tidy([0], {"max_abs_z": [z.max() if z.size else 0.0]}, method="sampled", **labels)]
                progress.advance()
    frame = pd.concat(frames, ignore_index=True)
    frame["mdp"] = p["mdp"]
    frame["sigma_G"] = sigma
    return frame
