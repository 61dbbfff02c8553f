"""Sweeps on Ray: the cells of an experiment as Ray tasks (``triad run EXPERIMENT --workers N``).

:func:`triad.experiment.execute` decides which cells are cached and stores every finished one;
this module only computes the others. A task gets the experiment and one :class:`Run` (its
parameters: nothing large crosses to a worker) and returns the tidy rows as a DataFrame, which the
driver writes atomically to ``runs/`` exactly as a serial run does, as soon as the cell finishes.
So a sweep killed mid-way keeps every finished cell, and the same command run again computes only
the others; because a cell's rows depend on its parameters alone, the resumed sweep's files are
byte for byte those of an uninterrupted (or serial) one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import pandas as pd

from triad.distributed.cluster import DistributedError, as_completed, attempt, require_ray, session, task
from triad.progress import Progress


class Cell(NamedTuple):
    """What a cell's task sends back: its rows, the warnings it raised, the code it ran, its attempt."""

    rows: pd.DataFrame
    warnings: list[tuple[type[Warning], str]]
    code: str
    attempt: int


def compute_cell(experiment: Any, run: Any) -> Cell:
    """One cell, inside a Ray worker: ``experiment.run(run)`` with its warnings recorded.

    The worker's code fingerprint goes back with the rows: a cluster node with other triad sources
    than the driver's would otherwise store results under the wrong fingerprint.
    """
    from triad.experiment import code_fingerprint

    with warnings.catch_warnings(record=True) as caught:
        rows = experiment.run(run, Progress())
    return Cell(rows=rows, warnings=[(w.category, str(w.message)) for w in caught],
                code=code_fingerprint(experiment), attempt=attempt() or 0)


def run_cells(experiment: Any, runs: Sequence[Any], code: str, workers: int, address: str | None = None,
              started: Callable[[Any], None] | None = None) -> Iterator[tuple[Any, pd.DataFrame, int]]:
    """Compute ``runs`` as Ray tasks, ``workers`` at a time; ``(run, rows, attempt)`` as each finishes.

    Ray runs within a :func:`~triad.distributed.session` (a local instance of ``workers`` CPUs, or
    the cluster at ``address``) that ends with the iteration. Warnings a cell raised are raised
    again here; a cell whose worker died and that Ray ran again (``attempt > 0``) is reported with
    a warning.

    Args:
        code: the driver's :func:`~triad.experiment.code_fingerprint`; a worker that ran other code
            is an error.
        started: called with each run as it is handed to Ray (for a progress display).
    Raises:
        TriadError: raised by a cell (the same one-line error a serial run gives).
        DistributedError: a cell's worker died more often than Ray retries it, or ran other code.
    """
    with session(workers, address, what=f"workers={workers}"):
        ray = require_ray()
        remote = task(compute_cell, num_cpus=1)
        shared = ray.put(experiment)
        cells = as_completed(lambda i: remote.remote(shared, runs[i]), len(runs), workers,
                             label=lambda i: f"run {runs[i].id}",
                             started=None if started is None else (lambda i: started(runs[i])))
        for i, cell in cells:
            run = runs[i]
            if cell.code != code:
                raise DistributedError(f"run {run.id} ran on a Ray worker with other triad sources (code "
                                       f"{cell.code}, here {code}): install the same triad on every node")
            for category, message in cell.warnings:
                warnings.warn(message, category, stacklevel=2)
            if cell.attempt:
                warnings.warn(f"run {run.id}: its Ray worker died; Ray ran the cell again (attempt "
                              f"{cell.attempt + 1}) and it finished", RuntimeWarning, stacklevel=2)
            yield run, cell.rows, cell.attempt
