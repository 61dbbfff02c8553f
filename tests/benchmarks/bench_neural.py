"""Benchmark: the Adam loop of ``NeuralProjection.fit`` — written out, ``torch.optim.Adam``, or its functional form.

Three ways to run the same Adam steps (Kingma & Ba 2015, Algorithm 1; β = (0.9, 0.999), ε = 1e-8)
on the same stacked parameters, swapped in for ``triad.projections._adam``:

* ``written-out``: the loop triad carried before (moments updated by hand);
* ``Adam class``: one ``torch.optim.Adam`` over the stacked parameters, ``loss.backward()`` and ``step()``;
* ``functional``: ``torch.optim.adam.adam``, the function the class's ``step`` calls (triad's choice).

Start-up is measured in fresh child processes (``import torch``, then what the first use of each
form adds: the class imports torch._dynamo and sympy); per-fit time in this process, best of
``--repeat``, on the contraction experiment's fit (30 states, 4 inputs, 5 tanh units, 150 steps,
33 targets) and on a larger one. Run from the repository root::

    python tests/benchmarks/bench_neural.py [--repeat 5] [--children 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from triad import projections

STARTUP = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
if sys.argv[1] == "class":
    opt = torch.optim.Adam([p], lr=0.1)
    p.sum().backward()
    opt.step()
else:
    from torch.optim.adam import adam
    with torch.no_grad():
        adam([p], [torch.ones_like(p)], [torch.zeros_like(p)], [torch.zeros_like(p)], [], [torch.tensor(0.0)],
             foreach=False, amsgrad=False, beta1=0.9, beta2=0.999, lr=0.1, weight_decay=0.0, eps=1e-8,
             maximize=False)
t2 = time.perf_counter()
print(json.dumps({"import_torch": t1 - t0, "first_adam": t2 - t1, "dynamo": "torch._dynamo" in sys.modules,
                  "sympy": "sympy" in sys.modules}))
"""


def written_out(torch: Any, params: list[Any], loss: Callable[[], Any], steps: int, learning_rate: float) -> None:
    """The hand-written Adam that ``NeuralProjection.fit`` used before (the baseline)."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    first = [torch.zeros_like(w) for w in params]
    second = [torch.zeros_like(w) for w in params]
    for t in range(1, steps + 1):
        with torch.enable_grad():
            grads = torch.autograd.grad(loss(), params)
        with torch.no_grad():
            for w, g, m1, m2 in zip(params, grads, first, second):
                m1.mul_(beta1).add_(g, alpha=1 - beta1)
                m2.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                w.sub_(learning_rate * (m1 / (1 - beta1**t)) / ((m2 / (1 - beta2**t)).sqrt() + eps))


def adam_class(torch: Any, params: list[Any], loss: Callable[[], Any], steps: int, learning_rate: float) -> None:
    """One ``torch.optim.Adam`` over the stacked parameters."""
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    for _ in range(steps):
        optimizer.zero_grad()
        with torch.enable_grad():
            loss().backward()
        optimizer.step()


VARIANTS = {"written-out": written_out, "Adam class": adam_class, "functional": projections._adam}


def fit_with(variant: str, net: projections.NeuralProjection, X: np.ndarray) -> tuple[float, np.ndarray]:
    original = projections._adam
    projections._adam = VARIANTS[variant]
    try:
        start = time.perf_counter()
        out = net(X)
        return time.perf_counter() - start, out
    finally:
        projections._adam = original


def startup(children: int) -> dict[str, list[dict[str, Any]]]:
    return {form: [json.loads(subprocess.run([sys.executable, "-c", STARTUP, form], capture_output=True, text=True,
                                             check=True).stdout) for _ in range(children)]
            for form in ("class", "functional")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--children", type=int, default=3)
    args = parser.parse_args()

    print("start-up in fresh processes (seconds; min … max over children)")
    for form, runs in startup(args.children).items():
        imp, first = [r["import_torch"] for r in runs], [r["first_adam"] for r in runs]
        print(f"  {form:10s}  import torch {min(imp):.2f} … {max(imp):.2f}   first Adam step adds "
              f"{min(first):.3f} … {max(first):.3f}   torch._dynamo loaded: {runs[0]['dynamo']}, "
              f"sympy loaded: {runs[0]['sympy']}")

    rng = np.random.default_rng(0)
    cases = {"contraction fit (n=30, 4→5→1, 150 steps, 33 targets)": (30, 4, (5,), 150, 33),
             "larger fit (n=200, 8→32→1, 300 steps, 64 targets)": (200, 8, (32,), 300, 64)}
    for name, (n, k, hidden, steps, targets) in cases.items():
        net = projections.NeuralProjection(inputs=rng.standard_normal((n, k)), weighting=np.full(n, 1 / n),
                                           hidden=hidden, steps=steps, seed=1)
        X = rng.standard_normal((targets, n))
        fit_with("Adam class", net, X)  # pay the class's one-time imports before timing
        best, outputs = {}, {}
        for variant in VARIANTS:
            times = []
            for _ in range(args.repeat):
                seconds, outputs[variant] = fit_with(variant, net, X)
                times.append(seconds)
            best[variant] = min(times)
        print(f"{name}: best of {args.repeat}")
        for variant in VARIANTS:
            print(f"  {variant:12s} {1e3 * best[variant]:8.1f} ms   ({best[variant] / best['written-out']:.2f}× "
                  f"written-out)")
        same = np.array_equal(outputs["functional"], outputs["Adam class"])
        gap = float(np.abs(outputs["functional"] - outputs["written-out"]).max())
        print(f"  functional == Adam class bit for bit: {same}; max |functional − written-out| = {gap:.2e}")


if __name__ == "__main__":
    main()
