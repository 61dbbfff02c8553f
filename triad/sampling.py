"""Vectorised sampling from finite MDPs: many independent streams advance in one numpy call.

Randomness comes only from the random source passed in — a ``numpy.random.Generator``, or a
:class:`StreamRNG` when each stream must be reproducible on its own — so the same seed gives
bit-identical samples. Conventions shared by every sampler in triad: the random source is the
first positional parameter, ``rng``; the number of independent streams is ``streams``, and arrays
carry the streams on their first axis after time (``(steps, streams)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from triad.errors import ValidationError
from triad.mdp import FiniteMDP


class StreamRNG:
    """One random generator per stream: stream ``i`` draws from ``Generator(SeedSequence([key, i]))``.

    A vectorised sampler draws for all streams at once; from a single Generator, stream ``i``
    would get numbers that depend on the number of streams. Here stream 3 of a 10-stream run is
    stream 3 of a 1,000-stream run. Provides the two methods triad's samplers use, ``random(size)`` and
    ``standard_normal(size)``, where ``size[0]`` is the number of streams; each stream's numbers
    come from its own Generator in the order they are requested, buffered ``chunk`` at a time.

    Args:
        streams: the number of streams (ids ``0 … n−1``) or their ids.
        key: a base seed shared by all streams.
    """

    def __init__(self, streams: int | Iterable[int], key: int = 0, chunk: int = 4096):
        ids = range(streams) if isinstance(streams, int) else list(streams)
        self._generators = [np.random.default_rng([int(key), int(i)]) for i in ids]
        if not self._generators:
            raise ValidationError("StreamRNG needs at least one stream")
        self._chunk = int(chunk)
        self._buffers: dict[str, tuple[np.ndarray, int]] = {}

    def __len__(self) -> int:
        return len(self._generators)

    def _draw(self, kind: str, size: int | tuple[int, ...]) -> np.ndarray:
        shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
        if not shape or shape[0] != len(self):
            raise ValidationError(f"StreamRNG with {len(self)} streams cannot draw an array of shape {shape}: "
                                  f"its first axis must be the streams")
        k = int(np.prod(shape[1:]))
        buffer, pos = self._buffers.get(kind, (np.empty((len(self), 0)), 0))
        if pos + k > buffer.shape[1]:
            fresh = np.stack([getattr(g, kind)(max(self._chunk, k)) for g in self._generators])
            buffer, pos = np.concatenate([buffer[:, pos:], fresh], axis=1), 0
        self._buffers[kind] = (buffer, pos + k)
        return buffer[:, pos:pos + k].reshape(shape)

    def random(self, size: int | tuple[int, ...]) -> np.ndarray:
        """Uniform ``[0, 1)`` numbers of shape ``size``; row ``i`` from stream ``i``."""
        return self._draw("random", size)

    def standard_normal(self, size: int | tuple[int, ...]) -> np.ndarray:
        """Standard normal numbers of shape ``size``; row ``i`` from stream ``i``."""
        return self._draw("standard_normal", size)


RandomSource = np.random.Generator | StreamRNG
"""What the samplers draw from."""


def sample_actions(rng: RandomSource, pi: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Draw ``a ~ π(·|s)`` for every entry of the integer array ``s``; ``pi: (S, A)``."""
    s = np.asarray(s)
    cdf = np.cumsum(pi[s], axis=-1)
    u = rng.random(s.shape)[..., None] * cdf[..., -1:]
    return np.minimum((u >= cdf).sum(axis=-1), pi.shape[1] - 1)


class Sampler:
    """Draws next states and rewards of an MDP; built once, then ``O(log nnz)`` per sample.

    The transition rows are laid end to end as cumulative probabilities shifted by their row
    number, so one ``searchsorted`` over the whole table samples every stream at once.
    """

    def __init__(self, mdp: FiniteMDP):
        self.mdp = mdp
        P = sp.csr_array(mdp.P_flat, copy=True)
        P.eliminate_zeros()
        counts = np.diff(P.indptr)
        row = np.repeat(np.arange(P.shape[0]), counts)
        cum = np.cumsum(P.data)
        before = np.concatenate(([0.0], cum))[P.indptr[:-1]]
        within = cum - np.repeat(before, counts)
        last = P.indptr[1:] - 1
        within /= np.repeat(within[last], counts)
        within[last] = 1.0
        self._keys = row + within
        self._next = P.indices.astype(np.int64)
        self._last = last

    def next_states(self, rng: RandomSource, s: np.ndarray, a: np.ndarray) -> np.ndarray:
        """``s' ~ P(·|s, a)`` elementwise for integer arrays ``s`` and ``a`` of one shape."""
        row = np.asarray(s) * self.mdp.A + np.asarray(a)
        j = np.searchsorted(self._keys, row + rng.random(row.shape), side="right")
        return self._next[np.minimum(j, self._last[row])]

    def rewards(self, rng: RandomSource, s: np.ndarray, a: np.ndarray) -> np.ndarray:
        """``R(s, a)`` plus Gaussian noise of standard deviation ``reward_std(s, a)`` where defined."""
        r = self.mdp.R[s, a]
        if self.mdp.reward_std is not None:
            r = r + self.mdp.reward_std[s, a] * rng.standard_normal(np.shape(r))
        return r

    def initial_states(self, rng: RandomSource, shape: tuple[int, ...]) -> np.ndarray:
        """``s_0 ~ mu`` (uniform if the MDP has none)."""
        return sample_actions(rng, self.mdp.initial[None, :], np.zeros(shape, dtype=np.int64))


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """``T`` steps of ``B`` parallel streams, time on axis 0.

    ``s_t, a_t, r_t``: state, action, reward of step t; ``next_s_t``: the state the transition
    reached (a terminal state when ``terminated_t``); ``terminated_t``: the episode ended in a
    terminal state (no bootstrap); ``truncated_t``: the episode was cut by the time limit
    (bootstrap from ``next_s_t``). After either, the stream restarts from ``mu``.
    """

    s_t: np.ndarray
    a_t: np.ndarray
    r_t: np.ndarray
    next_s_t: np.ndarray
    terminated_t: np.ndarray
    truncated_t: np.ndarray


def rollout(rng: RandomSource, mdp: FiniteMDP, pi: np.ndarray, steps: int, streams: int = 1,
            s0: np.ndarray | None = None, max_episode_steps: int | None = None,
            sampler: Sampler | None = None) -> Trajectory:
    """Run ``streams`` independent streams of ``pi`` for ``steps`` steps, restarting episodes from ``mu``.

    Args:
        rng: the random source; a :class:`StreamRNG` must have ``streams`` streams.
        s0: ``(streams,)`` start states (default: drawn from ``mu``).
        max_episode_steps: time limit after which an episode is truncated (``None``: no limit).
    Returns:
        A :class:`Trajectory` with arrays of shape ``(steps, streams)``.
    """
    if steps < 1 or streams < 1:
        raise ValidationError(f"rollout needs steps ≥ 1 and streams ≥ 1, got steps={steps}, streams={streams}")
    sampler = sampler or Sampler(mdp)
    terminal = mdp.terminal if mdp.terminal is not None else np.zeros(mdp.S, bool)
    s = sampler.initial_states(rng, (streams,)) if s0 is None else np.asarray(s0, dtype=np.int64).copy()
    age = np.zeros(streams, dtype=np.int64)
    out = {k: np.empty((steps, streams), dtype=d) for k, d in
           (("s", np.int64), ("a", np.int64), ("r", np.float64), ("n", np.int64), ("term", bool), ("trunc", bool))}
    for t in range(steps):
        a = sample_actions(rng, pi, s)
        r = sampler.rewards(rng, s, a)
        nxt = sampler.next_states(rng, s, a)
        age += 1
        term = terminal[nxt]
        trunc = ~term & (age >= max_episode_steps) if max_episode_steps is not None else np.zeros(streams, bool)
        out["s"][t], out["a"][t], out["r"][t], out["n"][t], out["term"][t], out["trunc"][t] = s, a, r, nxt, term, trunc
        done = term | trunc
        s = np.where(done, sampler.initial_states(rng, (streams,)), nxt)
        age[done] = 0
    return Trajectory(out["s"], out["a"], out["r"], out["n"], out["term"], out["trunc"])
