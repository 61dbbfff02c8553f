"""One MDP: exact moments for every critic error, critic seed, n and λ, plus a sampled check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import zoo
from triad.analysis.moments import Moments, default_horizon, estimates, sampled_moments, simulate, starts, value_moments
from triad.experiment import Progress, Run
from triad.mdp import uniform_policy
from triad.solvers import evaluate_policy

SAMPLED_NS = (1, 4, 16)
SAMPLED_LAMS = (0.0, 0.5, 0.9, 1.0)
"""Settings also simulated (those present in the sweep's ``ns`` and ``lams``)."""


def _rows(m: Moments, keep: np.ndarray, **labels) -> list[dict]:
    """bias², variance and MSE averaged over the non-terminal start states."""
    return [{"quantity": q, "value": float(np.mean(x[keep])), **labels}
            for q, x in (("bias2", m.bias**2), ("variance", m.variance), ("mse", m.mse))]


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Rows ``step`` (position in the n-then-λ grid), ``quantity`` (bias2, variance, mse; for the
    sampled check also max_abs_z, the largest |sampled − exact mean| over states in exact standard
    errors), ``value``, with ``error`` (critic error), ``seed`` (critic draw; seed k draws the same z
    at every error), ``estimator`` (nstep, lambda), ``knob`` (n or λ), ``method`` (exact, sampled),
    ``mdp`` and ``sigma_G``.

    The sampled check simulates ``samples`` episodes per state once (seeded by the MDP's position
    in the sweep) and evaluates every checked setting and every critic on them."""
    p = run.params
    mdp = zoo.make(p["mdp"]).mdp.with_gamma(p["gamma"])
    pi = uniform_policy(mdp)
    V = evaluate_policy(mdp, pi)
    keep = ~mdp.terminal if mdp.terminal is not None else np.ones(mdp.S, bool)
    sigma = float(np.sqrt(np.mean(value_moments(mdp, pi, "mc").variance[keep])))
    unit = sigma if sigma > 0 else 1.0  # a deterministic return has no spread to measure errors in
    grid = [("nstep", n) for n in p["ns"]] + [("lambda", lam) for lam in p["lams"]]
    checked = [(step, est, k) for step, (est, k) in enumerate(grid)
               if p["samples"] and (k in SAMPLED_NS if est == "nstep" else k in SAMPLED_LAMS)]
    progress.total(len(p["errors"]) * p["seeds"] * (len(grid) + len(checked)))
    episodes = None
    if checked:
        # One set of episodes for every critic (common random numbers across errors and seeds).
        horizon = max([default_horizon(mdp.gamma)] + [k for _, est, k in checked if est == "nstep"])
        episodes = simulate(np.random.default_rng(p["stream"]), mdp, pi, starts(mdp, p["samples"])[0], horizon=horizon)
    rows: list[dict] = []
    for error in p["errors"]:
        for seed in range(p["seeds"]):
            v_hat = V + error * unit * np.random.default_rng(seed).standard_normal(mdp.S)
            for step, (est, k) in enumerate(grid):
                kw = {"n": k} if est == "nstep" else {"lam": k}
                labels = {"step": step, "error": error, "seed": seed, "estimator": est, "knob": k}
                exact = value_moments(mdp, pi, est, v_hat, **kw)
                rows += _rows(exact, keep, method="exact", **labels)
                progress.advance()
                if episodes is None or (step, est, k) not in checked:
                    continue
                draws = estimates(episodes, est, v_hat, **kw).reshape(mdp.S, p["samples"])
                sampled = sampled_moments(draws, V, est)
                rows += _rows(sampled, keep, method="sampled", **labels)
                se = np.sqrt(exact.variance / p["samples"])
                ok = keep & (se > 0)
                z = np.abs(sampled.mean - exact.mean)[ok] / se[ok]
                rows.append({"quantity": "max_abs_z", "value": float(z.max()) if z.size else 0.0, "method": "sampled",
                             **labels})
                progress.advance()
    frame = pd.DataFrame(rows)
    frame["mdp"] = p["mdp"]
    frame["sigma_G"] = sigma
    return frame
