"""One run of the contraction lab: every Garnet MDP and weighting for one feature set → tidy rows.

Per MDP ``i``: a Garnet MDP, a random stochastic target policy ``π`` (rows ~ Dirichlet(1)), its
exact ``V^π``, and a random deterministic policy ``ν`` toward which behaviour policies
``μ_ε = (1 − ε)π + εν`` move. Weightings: ``on-policy`` (stationary law of π), ``uniform``, and
``behaviour:ε`` (stationary law of μ_ε), whose distance from π is ``ε·mean_s TV(π(·|s), ν(·|s))``.
Every (MDP, weighting) pair is an *instance*: its rows hold the exact certificate of ``Π_D B^π``
(:func:`triad.analysis.contraction.certify`), the TD fixed-point bound, and empirical Lipschitz
ratios of ``B*`` and ``Π_D B*``. The neural run also measures the neural projection itself.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from triad import operators as ops
from triad import zoo
from triad.analysis import contraction as cert
from triad.experiment import Progress, Run, tidy
from triad.projections import (
    NeuralProjection,
    ProjectedBellman,
    mixture_policy,
    random_features,
    random_partition,
    weighted_least_squares,
)
from triad.solvers import evaluate_policy

INPUT_DIM = 4
"""Dimension of the random state embedding the networks read."""


def _seed(*keys: int) -> int:
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])


def _network(p: dict[str, Any], i: int, S: int, d_on: np.ndarray) -> NeuralProjection:
    """MDP ``i``'s network: a random state embedding, k − 1 tanh units, fitted under ``d_on``."""
    embedding = np.random.default_rng([p["seed"], i, 2]).standard_normal((S, INPUT_DIM))
    return NeuralProjection(inputs=embedding, weighting=d_on, hidden=(max(p["k"] - 1, 1),), steps=p["fit_steps"],
                            seed=_seed(p["seed"], i, 2))


def _features(kind: str, p: dict[str, Any], i: int, S: int) -> np.ndarray:
    """``Φ: (S, k)`` of the fixed feature set ``kind`` (random or aggregation) for MDP ``i``."""
    rng = np.random.default_rng([p["seed"], i, 1])
    if kind == "random":
        return random_features(rng, S, p["k"])
    return np.eye(p["k"])[random_partition(rng, S, p["k"])]


def _neural(p: dict[str, Any], i: int, S: int, V: np.ndarray, d_on: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """Learned features ``Φ = [h, 1]`` of MDP ``i``'s network fitted to ``V^π``, and the Lipschitz
    ratios of the neural projection itself (‖·‖∞ and on-policy ‖·‖_D) — all from one batched fit."""
    net = _network(p, i, S, d_on)
    K = p["neural_pairs"]
    rng = np.random.default_rng([p["seed"], i, 3])
    U, W = cert.random_pairs(rng, S, K, 1.0 + np.abs(V).max()) if K else (np.zeros((0, S)), np.zeros((0, S)))
    fit = net.fit(np.concatenate([V[None], U, W]))
    Phi = net.feature_projection(fit.features[0]).features
    if not K:
        return Phi, {}
    inf, dnorm = cert.ratios_of(fit.predictions[1:K + 1], fit.predictions[K + 1:], U, W, ["inf", d_on])
    return Phi, {**cert.summarise_ratios(inf).summary("lip_neural_inf_"),
                 **cert.summarise_ratios(dnorm).summary("lip_neural_D_")}


def instance_quantities(mdp: Any, pi: np.ndarray, V: np.ndarray, Phi: np.ndarray, d: np.ndarray,
                        pairs: tuple[np.ndarray, ...]) -> dict[str, float]:
    """Every measured quantity of one instance ``(MDP, π, Φ, d)``.

    ``pairs = (U, W, B*U, B*W)``: random pairs and their images under ``B*``, shared by every
    weighting of the MDP (``Π_D B*`` only re-projects them).
    """
    proj = weighted_least_squares(Phi, d)
    c = cert.certify(ProjectedBellman(mdp, proj, pi))
    td = cert.td_fixed_point_bound(mdp, pi, Phi, d, values=V, projection=proj)
    U, W, BU, BW = pairs
    out = {"B_inf": c.B_inf, "B_D": c.B_D, "PiB_inf": c.PiB_inf, "PiB_D": c.PiB_D,
           "spectral_radius": c.spectral_radius, "A_max_real": float(c.A_eigenvalues.real.max()),
           "hurwitz": float(c.hurwitz),
           "td_error": td.error, "td_bound": td.bound, "td_ratio": td.ratio}
    b_inf, b_d = cert.ratios_of(BU, BW, U, W, ["inf", d])
    pb_inf, pb_d = cert.ratios_of(proj(BU), proj(BW), U, W, ["inf", d])
    for prefix, ratios in (("lip_Bstar_inf_", b_inf), ("lip_Bstar_D_", b_d), ("lip_PiBstar_inf_", pb_inf),
                           ("lip_PiBstar_D_", pb_d)):
        out.update(cert.summarise_ratios(ratios, (0.5,)).summary(prefix))
    return out


def _rows(quantities: dict[str, float], **labels: Any) -> pd.DataFrame:
    """One row per quantity (``step`` is 0: certificates are static)."""
    return tidy([0], {q: [v] for q, v in quantities.items()}, **labels)


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """All MDPs × weightings of one feature set: tidy rows, the MDP instance in column ``mdp``."""
    p = dict(run.params)
    kind = p["features"]
    progress.total(p["mdps"])
    frames: list[pd.DataFrame] = []
    for i in range(p["mdps"]):
        mdp = zoo.garnet(S=p["states"], A=p["actions"], b=p["branching"], seed=_seed(p["seed"], i, 0),
                         gamma=p["gamma"], sparse=False).mdp
        rng = np.random.default_rng([p["seed"], i, 0])
        pi = rng.dirichlet(np.ones(mdp.A), size=mdp.S)
        nu = np.eye(mdp.A)[rng.integers(0, mdp.A, size=mdp.S)]
        tv = 0.5 * float(np.abs(pi - nu).sum(axis=1).mean())
        V = evaluate_policy(mdp, pi)
        d_on = ops.stationary_distribution(mdp, pi)
        weightings = [("on-policy", 0.0, 0.0, d_on), ("uniform", math.nan, math.nan, np.full(mdp.S, 1.0 / mdp.S))]
        weightings += [(f"behaviour:{e:g}", e, e * tv, ops.stationary_distribution(mdp, mixture_policy(pi, nu, e)))
                       for e in p["epsilons"]]
        if kind == "neural":
            Phi, neural = _neural(p, i, mdp.S, V, d_on)
        else:
            Phi, neural = _features(kind, p, i, mdp.S), {}
        U, W = cert.random_pairs(np.random.default_rng([p["seed"], i, 4]), mdp.S, p["pairs"], 1.0 + np.abs(V).max())
        pairs = (U, W, *ops.bellman_optimality_v(mdp, np.stack([U, W])))
        for name, eps, distance, d in weightings:
            frames.append(_rows(instance_quantities(mdp, pi, V, Phi, d, pairs), mdp=i, features=kind, weighting=name,
                                epsilon=eps, distance=distance))
        if neural:
            frames.append(_rows(neural, mdp=i, features=kind, weighting="on-policy", epsilon=0.0, distance=0.0))
        progress.advance()
    return pd.concat(frames, ignore_index=True)
