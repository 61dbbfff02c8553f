"""The record of a batched run: parameters at chosen steps and, per stream, when it diverged.

Divergence is a result, not an error. Every batched run in triad (linear learning in
:mod:`triad.linear`, projected value iteration in :mod:`triad.projections`, the spiral) keeps
one record of it: ``diverged_at``, of shape ``(B,)`` for ``B`` streams, holds the first step at
which a stream's size exceeded the threshold or stopped being finite, and NaN where that never
happened. Streams carry on after diverging (so growth can still be measured); nothing is raised.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from triad.errors import ValidationError


@dataclasses.dataclass(frozen=True)
class Curve:
    """A batched run: recorded weights (or iterates) and, per stream, when it diverged.

    Learning runs of :mod:`triad.linear` and the spiral return it; projected value iteration
    returns a :class:`triad.projections.Iteration`, a ``Curve`` of its iterates.

    Attributes:
        steps: ``(K,)`` the steps (or sweeps) at which ``w`` was recorded; 0 is the initial weights.
        w: ``(K, B, d)`` recorded weights (``B`` streams, or ``B`` problems for expected runs).
        diverged_at: ``(B,)`` first step at which ``‖w‖₂ > threshold`` or ``w`` was not finite;
            NaN where that never happened.
        threshold: the divergence threshold used.
    """

    steps: np.ndarray
    w: np.ndarray
    diverged_at: np.ndarray
    threshold: float

    @property
    def final(self) -> np.ndarray:
        """``(B, d)`` weights after the last step."""
        return self.w[-1]

    @property
    def diverged(self) -> np.ndarray:
        """``(B,)`` whether each stream diverged."""
        return ~np.isnan(self.diverged_at)


class Recorder:
    """Stores parameters at every ``record_every``-th step (and the last) and watches for divergence.

    A stream diverges at the first step where its size (``‖w‖₂`` unless another size is given)
    exceeds ``threshold`` or is not finite; the step is recorded and nothing is raised.
    """

    def __init__(self, total: int, record_every: int, w: np.ndarray, threshold: float,
                 size: np.ndarray | None = None):
        if record_every < 1:
            raise ValidationError(f"record_every = {record_every} must be at least 1")
        if not threshold > 0:
            raise ValidationError(f"divergence threshold = {threshold:g} must be positive")
        steps = np.arange(0, total + 1, record_every)
        self.steps = steps if steps[-1] == total else np.append(steps, total)
        self.w = np.empty((len(self.steps), *w.shape))
        self.w[0] = w
        self.next = 1
        self.threshold = float(threshold)
        self.diverged_at = np.full(w.shape[0], np.nan)
        self._check(w, 0, size)

    def _check(self, w: np.ndarray, t: int, size: np.ndarray | None) -> None:
        if size is None:
            size = np.sqrt((w * w).reshape(len(w), -1).sum(axis=1))
        new = ~(np.isfinite(size) & (size <= self.threshold)) & np.isnan(self.diverged_at)
        if new.any():
            self.diverged_at[new] = t

    def __call__(self, w: np.ndarray, t: int, size: np.ndarray | None = None) -> None:
        """Record step ``t``: ``w`` is ``(B, ...)``, ``size`` an optional ``(B,)`` magnitude to test."""
        self._check(w, t, size)
        if self.next < len(self.steps) and self.steps[self.next] == t:
            self.w[self.next] = w
            self.next += 1

    def stop(self, w: np.ndarray, t: int) -> None:
        """End the run early at step ``t`` (already passed to ``__call__``), keeping ``w`` as its last record."""
        if self.steps[self.next - 1] != t:
            self.steps = self.steps.copy()
            self.steps[self.next] = t
            self.w[self.next] = w
            self.next += 1
        self.steps, self.w = self.steps[:self.next], self.w[:self.next]

    def curve(self) -> Curve:
        """The recorded run."""
        return Curve(self.steps, self.w, self.diverged_at, self.threshold)
