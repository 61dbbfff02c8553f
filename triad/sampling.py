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
from typing import NamedTuple

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
        self._mu_cdf = np.cumsum(mdp.initial)

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
        """``s_0 ~ mu`` (uniform if the MDP has none).

        The draws of ``sample_actions`` with ``mu`` for every row, found by binary search in the
        cumulative ``mu`` (``#{k: cdf_k ≤ u}``) instead of by comparing each draw with all ``S`` entries.
        """
        u = rng.random(shape) * self._mu_cdf[-1]
        return np.minimum(np.searchsorted(self._mu_cdf, u, side="right"), self.mdp.S - 1)


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """``T`` steps of ``B`` parallel streams, time on axis 0.

    ``s_t, a_t, r_t``: state, action taken in it, reward of step t; ``next_s_t``: the state the
    transition reached (a terminal state when ``terminated_t``); ``terminated_t``: the episode
    ended in a terminal state (no bootstrap); ``truncated_t``: the episode was cut by the time
    limit (bootstrap from ``next_s_t``). After either, the stream restarts from ``mu``, so
    ``s_t[t + 1]`` is ``next_s_t[t]`` only while the episode goes on.

    Row t follows the time-index convention of :mod:`triad.multistep`, so the arrays feed its
    targets as stored, with no shift by one step. With ``d = γ·(1 − terminated_t)``, a table or
    network ``Q``/``V``, target policy ``pi`` and behaviour ``mu``::

        off_policy_targets(r_t, d, Q[next_s_t], a_t, "retrace", pi_t=pi[next_s_t],
                           mu_t=mu[s_t, a_t], truncated_t=truncated_t)      # targets for Q(s_t, a_t)
        vtrace(r_t, d, V[vstack([s_t, next_s_t[-1:]])], pi[s_t, a_t] / mu[s_t, a_t],
               truncated_t=truncated_t, bootstrap_t=V[next_s_t])            # targets for V(s_t)
    """

    s_t: np.ndarray
    a_t: np.ndarray
    r_t: np.ndarray
    next_s_t: np.ndarray
    terminated_t: np.ndarray
    truncated_t: np.ndarray


class StreamStep(NamedTuple):
    """One step of every stream, as :func:`step_streams` returns it (all arrays of the streams' shape).

    ``r_t``: the reward; ``next_s_t``: the state the transition reached; ``terminated_t``: it is a
    terminal state; ``truncated_t``: the episode reached the time limit in a non-terminal state;
    ``s_tp1``: the state the stream continues from — ``next_s_t``, or a fresh draw from ``mu``
    where the episode ended; ``age_tp1``: the number of steps of the episode ``s_tp1`` is in.
    """

    r_t: np.ndarray
    next_s_t: np.ndarray
    terminated_t: np.ndarray
    truncated_t: np.ndarray
    s_tp1: np.ndarray
    age_tp1: np.ndarray


def step_streams(rng: RandomSource, sampler: Sampler, s_t: np.ndarray, a_t: np.ndarray, age_t: np.ndarray,
                 max_episode_steps: int | None = None) -> StreamStep:
    """Advance every stream one step: ``r_t = R(s_t, a_t) + σ(s_t, a_t)·ε``, ``s' ~ P(·|s_t, a_t)``.

    ``terminated_t = terminal[s']``; ``truncated_t = ¬terminated_t ∧ (age_t + 1 ≥ max_episode_steps)``
    (a terminal arrival at the limit counts as a termination); where either holds the stream
    restarts from ``s_{t+1} ~ mu`` with age 0, otherwise ``s_{t+1} = s'`` and the age grows by one.
    Draws, in this order: the reward noise (only if ``mdp.reward_std`` is set), one uniform per
    stream for ``s'``, one uniform per stream for the restart state — the same count every step,
    whether or not an episode ends, so a stream's numbers do not depend on the others' episodes.
    This is the body of :func:`rollout` and of ``triad.envs.FiniteEnv.step``.

    Shapes: ``s_t, a_t, age_t``: integer arrays of one shape ``(B,)`` (``age_t``: steps taken in the
    current episode).
    """
    r_t = sampler.rewards(rng, s_t, a_t)
    next_s_t = sampler.next_states(rng, s_t, a_t)
    age = age_t + 1
    terminal = sampler.mdp.terminal
    terminated_t = terminal[next_s_t] if terminal is not None else np.zeros(next_s_t.shape, bool)
    if max_episode_steps is None:
        truncated_t = np.zeros(next_s_t.shape, bool)
    else:
        truncated_t = ~terminated_t & (age >= max_episode_steps)
    done = terminated_t | truncated_t
    s_tp1 = np.where(done, sampler.initial_states(rng, next_s_t.shape), next_s_t)
    return StreamStep(r_t, next_s_t, terminated_t, truncated_t, s_tp1, np.where(done, 0, age))


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
    s = sampler.initial_states(rng, (streams,)) if s0 is None else np.asarray(s0, dtype=np.int64).copy()
    age = np.zeros(streams, dtype=np.int64)
    out = {k: np.empty((steps, streams), dtype=d) for k, d in
           (("s", np.int64), ("a", np.int64), ("r", np.float64), ("n", np.int64), ("term", bool), ("trunc", bool))}
    for t in range(steps):
        a = sample_actions(rng, pi, s)
        step = step_streams(rng, sampler, s, a, age, max_episode_steps)
        out["s"][t], out["a"][t], out["r"][t], out["n"][t], out["term"][t], out["trunc"][t] = (
            s, a, step.r_t, step.next_s_t, step.terminated_t, step.truncated_t)
        s, age = step.s_tp1, step.age_tp1
    return Trajectory(out["s"], out["a"], out["r"], out["n"], out["term"], out["trunc"])
