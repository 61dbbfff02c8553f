"""The unimodal sweep: one run for the true Q, then one per method × seed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from triad.errors import SpecError
from triad.experiment import Run

METHODS = ("naf", "qtopt", "cem-q", "shooting-q", "ddpg")
"""Algorithms of ``triad train`` the sweep can run (ddpg: the learned maximiser, for comparison)."""

DEFAULTS: dict[str, Any] = {
    "methods": ("naf", "qtopt", "shooting-q", "ddpg"),
    "seeds": 5,
    "steps": 4000,
    "learning_starts": 500,
    "batch_size": 64,
    "hidden": (64, 64),
    "gamma": 1.0,
    "tolerance": 0.05,
    "grid": 41,
    "starts": 5,
}

QUICK: dict[str, Any] = {"methods": ("naf", "qtopt"), "seeds": 1, "steps": 400, "learning_starts": 100,
                         "batch_size": 32, "hidden": (32, 32), "grid": 21, "starts": 3}

DOCS = {
    "methods": f"algorithms, subset of {', '.join(METHODS)}",
    "seeds": "training seeds per method (seed 0 … seeds − 1)",
    "steps": "env steps per run (each episode is two steps)",
    "learning_starts": "env steps of uniformly random actions before the first gradient step",
    "batch_size": "transitions per gradient step",
    "hidden": "hidden widths of every network",
    "gamma": "discount of the agents and of the true Q (1: every episode ends after two steps)",
    "tolerance": "a run succeeds if the regret V*(s_0) − Q*(s_0, a_0) of its greedy first action is below this",
    "grid": "points per axis of the action-plane grid of the learned and true Q",
    "starts": "the greedy policy's regret is averaged over a starts × starts grid of start states",
}


def sweep(params: Mapping[str, Any]) -> list[Run]:
    """``unimodal/truth``, then ``unimodal/method=M/seed=S``."""
    unknown = [m for m in params["methods"] if m not in METHODS]
    if unknown:
        raise SpecError(f"unimodal: unknown methods {unknown} (choose from {', '.join(METHODS)})")
    for key in ("seeds", "steps", "batch_size", "starts"):
        if params[key] < 1:
            raise SpecError(f"unimodal: {key} = {params[key]} must be at least 1")
    if params["grid"] < 3:
        raise SpecError(f"unimodal: grid = {params['grid']} must be at least 3")
    if not 0.0 <= params["gamma"] <= 1.0:
        raise SpecError(f"unimodal: gamma = {params['gamma']} must be in [0, 1]")
    runs = [Run("unimodal/truth", {"kind": "truth", **{k: params[k] for k in ("gamma", "grid")}})]
    shared = {k: params[k] for k in ("steps", "learning_starts", "batch_size", "hidden", "gamma", "grid", "starts")}
    runs += [Run(f"unimodal/method={method}/seed={seed}", {"kind": "train", "method": method, "seed": seed, **shared})
             for method in params["methods"] for seed in range(params["seeds"])]
    return runs
