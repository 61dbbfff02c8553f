"""Progress reporting: the one protocol every long computation in triad reports through.

A computation that takes a ``progress`` argument calls ``progress.total(n)`` once it knows how
much work there is (steps, sweeps, iterations, instances) and ``progress.advance(k, **status)``
as work gets done, where ``status`` carries what a user may want to watch (a solver's error
bound, an agent's recent return). ``progress=None`` means silence. The CLI and the experiment
runner draw it as a rich progress bar; tests can collect it with a :class:`Progress` of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Update = Callable[[float, "float | None", dict[str, Any]], None]
"""``update(done, total, status)``: ``done`` units more (0 when only ``total`` is announced)."""


class Progress:
    """Forwards ``total`` and ``advance`` to an ``update`` function (or to nothing).

    Args:
        update: called as ``update(n, None, status)`` on ``advance(n, **status)`` and as
            ``update(0, n, {})`` on ``total(n)``; ``None`` ignores everything.
    """

    def __init__(self, update: Update | None = None):
        self._update = update

    def total(self, n: float) -> None:
        """Announce that the computation will take ``n`` units of work."""
        if self._update is not None:
            self._update(0.0, float(n), {})

    def advance(self, n: float = 1.0, **status: Any) -> None:
        """Report ``n`` more units done, with optional named status values."""
        if self._update is not None:
            self._update(float(n), None, status)


def advance(progress: Progress | None, n: float = 1.0, **status: Any) -> None:
    """``progress.advance(n, **status)`` unless ``progress`` is ``None``."""
    if progress is not None:
        progress.advance(n, **status)


def total(progress: Progress | None, n: float) -> None:
    """``progress.total(n)`` unless ``progress`` is ``None``."""
    if progress is not None:
        progress.total(n)
