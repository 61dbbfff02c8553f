"""A small experiment for the tests of sweeps on Ray (tests/test_distributed.py), importable by Ray workers.

Cell ``i`` draws from ``Generator([seed, i])``, so its rows depend on its parameters alone. Options
make cells misbehave on purpose: wait at a gate (so a test can kill the sweep with some cells done
and others running), raise a user error, crash their worker process once, or warn.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from triad.errors import SpecError
from triad.experiment import Experiment, Run, tidy

DEFAULTS = {
    "cells": 6,
    "seed": 0,
    "steps": 50,
    "gate": "",        # a file: cells from `gated` on wait until it exists
    "gated": 3,
    "fail": -1,        # this cell raises a SpecError
    "crash": "",       # a file: the cell `crash_cell` kills its worker process unless the file exists (creating it)
    "crash_cell": 1,
    "warn": -1,        # this cell warns
}

GATE_TIMEOUT = 120.0
"""Seconds a gated cell waits at most (so a test that forgets to open the gate cannot hang a worker)."""


def sweep(params):
    return [Run(id=f"cells/i={i}", params={**params, "i": i}) for i in range(params["cells"])]


def run(run, progress):
    p = run.params
    i = p["i"]
    if p["gate"] and i >= p["gated"]:
        deadline = time.monotonic() + GATE_TIMEOUT
        while not Path(p["gate"]).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"cell {i}: gate {p['gate']} never opened")
            time.sleep(0.02)
    if i == p["fail"]:
        raise SpecError(f"cell {i}: a bad value for this cell")
    if p["crash"] and i == p["crash_cell"] and not Path(p["crash"]).exists():
        Path(p["crash"]).touch()
        os._exit(1)  # the worker process dies, as if killed
    if i == p["warn"]:
        warnings.warn(f"cell {i} warns", UserWarning, stacklevel=1)
    rng = np.random.default_rng([p["seed"], i])
    walk = np.cumsum(rng.normal(size=(p["steps"], 3)), axis=0) / 7.0
    return tidy(np.arange(p["steps"]), {"walk": walk, "square": walk**2}, i=i)


def summarise(results, params):
    last = results[results["step"] == results["step"].max()]
    return {"final_mean": float(last["value"].mean()), "rows": len(results)}


EXPERIMENT = Experiment(name="cells", description="test cells for sweeps on Ray", defaults=DEFAULTS, sweep=sweep,
                        run=run, summarise=summarise)
