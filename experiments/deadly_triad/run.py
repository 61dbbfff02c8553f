"""One run of the deadly-triad grid: every cell of one random MDP → tidy rows.

MDP ``i``: a Garnet MDP with a deterministic random target ``π`` whose chain has a single closed
class (the first such draw from seeds derived from ``(seed, i)``), and a far policy
``ν = (1 − far)·(another action) + far·uniform``. For each feature set and each ε the behaviour is
``μ_ε = (1 − ε)π + εν``; every rule/depth on that problem is a cell. Per cell, rows hold

* the certificate (:class:`triad.analysis.deadly_triad.Certificate`: ``abscissa``, ``hurwitz``,
  ``radius``, ``alpha_max``, ``PiM_D``, ``kappa``, ``is_moment``, ``ms_radius`` and the verdict code
  ``verdict`` = index in :data:`~triad.analysis.deadly_triad.VERDICTS`), at step 0;
* per stream, ``diverged_at`` (the first step with ``‖w‖ > threshold``, NaN if never) and
  ``final_norm`` (``‖w‖`` after the last step), at the last step;

with the cell's parameters as columns (``mdp, features, epsilon, distance, depth, algorithm, alpha,
function_approximation, bootstrapping, off_policy, key``). A cell's sampled runs are exactly
``triad.linear.sampled(StreamRNG(streams, key=key), rule, problem, steps, streams)``: all cells of
the MDP run in one call of :func:`triad.linear_batch.sampled_batch`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from triad import linear, zoo
from triad import operators as ops
from triad.analysis import deadly_triad as dt
from triad.errors import ValidationError
from triad.experiment import Progress, Run, tidy
from triad.linear_batch import CellStreams, sampled_batch
from triad.projections import random_partition

from .sweep import DEEP_UNAVAILABLE, parse_depth

TRIES = 200
"""Garnet draws tried per MDP index for a target chain with a single closed class."""


def seed_of(*keys: int) -> int:
    """A 32-bit seed derived from integer keys (``SeedSequence``)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def instance(p: dict[str, Any], i: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """MDP ``i``, its deterministic target ``π`` and far policy ``ν`` (``(S, A)`` each)."""
    S, A = p["states"], p["actions"]
    for attempt in range(TRIES):
        mdp = zoo.garnet(S=S, A=A, b=p["branching"], seed=seed_of(p["seed"], i, attempt), gamma=p["gamma"],
                         sparse=False).mdp
        rng = np.random.default_rng([p["seed"], i, attempt, 1])
        action = rng.integers(0, A, S)
        pi = np.eye(A)[action]
        try:
            ops.stationary_distribution(mdp, pi)
        except ValidationError:  # several closed classes under π: no single on-policy law
            continue
        other = (action + rng.integers(1, A, S)) % A
        nu = (1.0 - p["far"]) * np.eye(A)[other] + p["far"] / A
        return mdp, pi, nu
    raise ValidationError(f"deadly-triad: no Garnet draw with a single closed class under π in {TRIES} tries "
                          f"(states = {S}, actions = {A}, branching = {p['branching']}); raise branching")


def features(kind: str, p: dict[str, Any], i: int) -> np.ndarray:
    """``Φ: (S, d)`` of feature set ``kind`` for MDP ``i``, scaled to max row norm 1."""
    S = p["states"]
    rng = np.random.default_rng([p["seed"], i, 2])
    if kind == "tabular":
        return np.eye(S)
    if kind == "aggregation":
        return np.eye(p["groups"])[random_partition(rng, S, p["groups"])]
    Phi = rng.random((S, p["k"])) if kind == "random" else rng.standard_normal((S, p["k"]))
    return Phi / np.linalg.norm(Phi, axis=1).max()


def rules(p: dict[str, Any]) -> list[linear.Rule]:
    """The cell rules: semi-gradient TD at every depth, then the one-step rules (module docstring of the sweep)."""
    alpha, gamma, scale = p["alpha"], p["gamma"], p["normalise"]
    out = []
    for depth in p["depths"]:
        n, lam = parse_depth(depth)
        step = alpha / n if lam == 0 else alpha * (1.0 - gamma * lam)
        out.append(linear.Rule("semi-gradient-td", alpha=step if scale else alpha, n=n, lam=lam))
    for name in p["rules"]:
        if name == "tdc":
            out.append(linear.Rule("tdc", alpha=alpha, beta=p["beta"]))
        elif name == "etd":
            out.append(linear.Rule("etd", alpha=alpha * (1.0 - gamma) if scale else alpha))
        else:
            out.append(linear.Rule("target-network", alpha=alpha, target_period=p["target_period"]))
    return out


@dataclasses.dataclass(frozen=True)
class Cell:
    """One cell: its problem and rule, the seed ``key`` of its streams, its labels and certificate numbers."""

    problem: zoo.Problem
    rule: linear.Rule
    key: int
    labels: dict[str, Any]
    numbers: dict[str, float]


def cells(p: dict[str, Any], i: int) -> list[Cell]:
    """Every cell of MDP ``i``, certified: feature sets × behaviours × rules."""
    mdp, pi, nu = instance(p, i)
    out = []
    with threadpool_limits(1):  # small eigenproblems: a second BLAS thread only adds contention
        for f, kind in enumerate(p["features"]):
            Phi = features(kind, p, i)
            for e, eps in enumerate(p["epsilons"]):
                problem = zoo.Problem(mdp, features=Phi, target=pi, behaviour=(1.0 - eps) * pi + eps * nu)
                system = dt.TriadSystem(problem)
                has = dt.ingredients(system, linear.Rule("semi-gradient-td", alpha=p["alpha"]))
                for r, rule in enumerate(rules(p)):
                    certificate = system.certificate(rule)
                    labels = {"features": kind, "epsilon": eps, "distance": has.policy_distance,
                              "depth": certificate.depth, "algorithm": rule.algorithm, "alpha": rule.alpha,
                              "function_approximation": has.function_approximation,
                              "bootstrapping": rule.lam < 1.0, "off_policy": has.off_policy,
                              "key": seed_of(p["seed"], i, f, e, r, 3)}
                    out.append(Cell(problem, rule, labels["key"], labels, certificate.numbers()))
    return out


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Every cell of one MDP: certificates, then all sampled runs in one batch."""
    p = dict(run.params)
    if p["level"] != "linear":
        raise ValidationError(DEEP_UNAVAILABLE)
    i, B, T = p["mdp"], p["streams"], p["steps"]
    grid = cells(p, i)
    batch = sampled_batch(CellStreams(B, [c.key for c in grid]), [c.rule for c in grid],
                          [c.problem for c in grid], T, streams=B, threshold=p["threshold"], progress=progress)
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.sqrt(np.einsum("cbd,cbd->cb", batch.final, batch.final))
    columns = {k: np.array([c.labels[k] for c in grid]) for k in grid[0].labels}
    numbers = {q: np.array([[c.numbers[q] for c in grid]]) for q in grid[0].numbers}
    frames = [tidy([0], numbers, axis="cell", mdp=i, **columns)]
    for b in range(B):
        frames.append(tidy([T], {"diverged_at": batch.diverged_at[None, :, b], "final_norm": norms[None, :, b]},
                           axis="cell", mdp=i, stream=b, **columns))
    return pd.concat(frames, ignore_index=True)
