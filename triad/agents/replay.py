"""Replay storage for off-policy agents: what happened, sampled uniformly or by priority.

:class:`ReplayBuffer` is a fixed-capacity FIFO ring of transitions ``s_t → s_{t+1}`` from ``B``
vectorised environments (``streams``); :class:`PrioritisedReplay` samples it in proportion to
priorities kept in a :class:`triad.agents.sumtree.SumTree`. Like the on-policy
:class:`~triad.agents.storage.RolloutBuffer`, neither computes a return: targets come from
:mod:`triad.multistep`, fed by :func:`multistep_inputs` with the arrays exactly as stored.

What a row holds
----------------
Row ``t`` of a stream is one valid step (the ignored reset step of a NEXT_STEP vector env is
skipped): ``obs`` (s_t), ``action`` (a_t), ``reward`` (r_t), ``terminated`` and ``truncated``
*separately* (a terminal end has ``discount_t = 0``; a time-limit end keeps ``γ`` and bootstraps
from the truncated state), ``next_obs`` (the true s_{t+1}, the final observation at an episode
end) and the declared *extras*, e.g. ``mu`` = μ(a_t|s_t) or ``logp`` = log μ(a_t|s_t) for
off-policy corrections, or a recurrent state. Row t is the multistep module's row t, so a sampled
sequence goes to :func:`triad.multistep.off_policy_targets` without shifting anything.

``next_obs`` is stored, not rebuilt from the next row's ``obs``: the two differ at every episode
end (the next row starts the next episode) and for a stream's newest row (no next row yet), and
keeping those exceptions in a second, variable-size store would cost more code than the memory it
saves for the small observations these agents use. So observations take twice their size; see
:attr:`ReplayBuffer.bytes_per_transition`.

Ring and streams
----------------
Transitions get consecutive *keys* ``0, 1, 2, …`` in insertion order (within one ``add`` in the
order of the batch) and live in slot ``key mod capacity``; the ``capacity`` most recent are
kept (FIFO). Every slot also records its stream, its position in that stream (``seq``) and the
slot of the stream's next step. Because eviction is FIFO, the live steps of a stream are always
its most recent ones, so a sequence starting at a live step of stream ``b`` whose ``L − 1``
successors have been written is entirely live: sequences follow one stream, may run through
episode ends (their ``terminated``/``truncated`` flags cut the targets), and never reach the
write position or a stream's unwritten steps. Keys also let a priority update made after newer
transitions arrived (Ape-X's shards) recognise and drop the ones whose slots were overwritten.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from triad.errors import ValidationError

FIELDS = ("obs", "action", "reward", "terminated", "truncated", "next_obs")
"""Arrays every added step provides (leading axis ``B``); ``valid`` is optional (default all)."""

RESERVED = (*FIELDS, "valid", "key", "weight")
"""Names extras may not take."""

_BOOKKEEPING = np.dtype(np.int32).itemsize * 2 + np.dtype(np.int64).itemsize
"""Bytes per slot beyond the stored fields: stream (int32), next slot (int32), seq (int64)."""


def _get(step: Any, name: str) -> Any:
    """``step[name]`` of a mapping, else the attribute or the entry of ``step.extras`` (a loop ``Step``)."""
    if isinstance(step, Mapping):
        return step.get(name)
    if hasattr(step, name):
        return getattr(step, name)
    return (getattr(step, "extras", None) or {}).get(name)


class ReplayBuffer:
    """A FIFO ring of ``capacity`` transitions from vectorised environments (module docstring).

    Args:
        capacity: transitions kept (the oldest is evicted first); ``1 ≤ capacity < 2³¹``.
        obs_shape, obs_dtype: one observation (``obs`` and ``next_obs``).
        action_shape, action_dtype: one action (``()`` and an integer dtype for discrete actions).
        extras: ``{name: (shape, dtype)}`` of further per-step arrays to store, such as the
            behaviour's probability ``mu`` or log-probability ``logp`` of the action, or a
            recurrent state. ``reward`` is stored as float64, the flags as bool.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: Any, action_shape: tuple[int, ...],
                 action_dtype: Any, *, extras: Mapping[str, tuple[tuple[int, ...], Any]] | None = None):
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or not 1 <= capacity < 2**31:
            raise ValidationError(f"{type(self).__name__}: capacity = {capacity!r} must be an integer in [1, 2³¹)")
        self.capacity = int(capacity)
        spec: dict[str, tuple[tuple[int, ...], np.dtype]] = {
            "obs": (tuple(obs_shape), np.dtype(obs_dtype)),
            "action": (tuple(action_shape), np.dtype(action_dtype)),
            "reward": ((), np.dtype(np.float64)),
            "terminated": ((), np.dtype(bool)),
            "truncated": ((), np.dtype(bool)),
            "next_obs": (tuple(obs_shape), np.dtype(obs_dtype)),
        }
        for name, value in (extras or {}).items():
            if name in RESERVED:
                raise ValidationError(f"{type(self).__name__}: extra {name!r} clashes with a stored field "
                                      f"({', '.join(RESERVED)})")
            try:
                shape, dtype = value
                spec[name] = (tuple(shape), np.dtype(dtype))
            except (TypeError, ValueError):
                raise ValidationError(f"{type(self).__name__}: extra {name!r} must be (shape, dtype), "
                                      f"got {value!r}") from None
        self.spec = spec
        self.data = {name: np.zeros((self.capacity, *shape), dtype) for name, (shape, dtype) in spec.items()}
        self._stream = np.zeros(self.capacity, np.int32)
        self._next = np.full(self.capacity, -1, np.int32)
        self._seq = np.zeros(self.capacity, np.int64)
        self.added = 0
        self._count = np.zeros(0, np.int64)  # per stream: steps ever stored
        self._live = np.zeros(0, np.int64)  # per stream: steps currently in the ring
        self._last = np.zeros(0, np.int64)  # per stream: key of its newest step (−1: none)

    # ------------------------------------------------------------------------------ size
    def __len__(self) -> int:
        return min(self.added, self.capacity)

    @property
    def streams(self) -> int:
        """Number of streams seen so far (stream ids are ``0 … streams − 1``)."""
        return int(self._count.shape[0])

    @property
    def bytes_per_transition(self) -> int:
        """Bytes one slot takes: every stored field (``obs`` twice, as ``obs`` and ``next_obs``) plus 16
        bytes of stream bookkeeping."""
        return sum(math.prod(shape) * dtype.itemsize for shape, dtype in self.spec.values()) + _BOOKKEEPING

    @property
    def nbytes(self) -> int:
        """Bytes allocated for the ring (``capacity × bytes_per_transition``; pages are touched as they fill)."""
        return self.capacity * self.bytes_per_transition

    def keys(self, slots: np.ndarray) -> np.ndarray:
        """Keys (insertion numbers) of the transitions now in ``slots``."""
        base = self.added - len(self)
        return base + (np.asarray(slots, np.int64) - base) % self.capacity

    # ------------------------------------------------------------------------------ writing
    def _grow_streams(self, n: int) -> None:
        extra = n - self.streams
        self._count = np.concatenate([self._count, np.zeros(extra, np.int64)])
        self._live = np.concatenate([self._live, np.zeros(extra, np.int64)])
        self._last = np.concatenate([self._last, np.full(extra, -1, np.int64)])

    def add(self, step: Any, stream: np.ndarray | None = None) -> None:
        """Store the valid transitions of one vector step.

        Args:
            step: a mapping (or a :class:`triad.agents.loop.Step`, whose extras are read from
                ``step.extras``) with ``obs, action, reward, terminated, truncated, next_obs``, every
                declared extra, and optionally ``valid``; each an array with leading axis ``B``.
                Steps with ``valid`` False are skipped; other entries are ignored.
            stream: ``(B,)`` distinct stream ids ≥ 0 of the rows (default ``0 … B − 1``: row ``i``
                of every call is environment ``i``). Sequences follow a stream id.
        """
        name = type(self).__name__
        arrays = {}
        for field in self.spec:
            value = _get(step, field)
            if value is None:
                raise ValidationError(f"{name}.add: the step has no {field!r}")
            arrays[field] = np.asarray(value)
        B = arrays["obs"].shape[0] if arrays["obs"].ndim else -1
        for field, (shape, _) in self.spec.items():
            value = arrays[field]
            if value.shape != (B, *shape):
                raise ValidationError(f"{name}.add: {field} has shape {value.shape}, expected (B, *{shape}) "
                                      f"with B = {B} rows like obs")
        valid = _get(step, "valid")
        valid = np.ones(B, bool) if valid is None else np.asarray(valid, bool)
        if valid.shape != (B,):
            raise ValidationError(f"{name}.add: valid has shape {valid.shape}, expected ({B},)")
        if stream is None:
            ids = np.arange(B, dtype=np.int64)
        else:
            ids = np.asarray(stream)
            if ids.shape != (B,) or not np.issubdtype(ids.dtype, np.integer) or (B and ids.min() < 0):
                raise ValidationError(f"{name}.add: stream must be ({B},) integer ids ≥ 0, got {stream!r}")
            if np.unique(ids).size != B:
                raise ValidationError(f"{name}.add: stream ids repeat within one step: {ids.tolist()}")
            ids = ids.astype(np.int64)
        if B and ids.max() >= self.streams:
            self._grow_streams(int(ids.max()) + 1)
        rows = np.flatnonzero(valid)
        for start in range(0, rows.size, self.capacity):
            chunk = rows[start: start + self.capacity]
            self._write({field: value[chunk] for field, value in arrays.items()}, ids[chunk], chunk)

    def _write(self, arrays: dict[str, np.ndarray], ids: np.ndarray, rows: np.ndarray) -> None:
        """Write ``m ≤ capacity`` rows of distinct streams into the next ``m`` slots."""
        m = ids.size
        keys = self.added + np.arange(m, dtype=np.int64)
        slots = keys % self.capacity
        evicted = slots[keys >= self.capacity]
        np.subtract.at(self._live, self._stream[evicted], 1)
        for field, value in arrays.items():
            self.data[field][slots] = value
        seqs = self._count[ids]
        self._stream[slots] = ids
        self._seq[slots] = seqs
        self._next[slots] = -1
        added = self.added + m
        prev = self._last[ids]
        linked = prev >= max(0, added - self.capacity)  # the stream's previous step is still in the ring
        self._next[prev[linked] % self.capacity] = slots[linked]
        self._last[ids] = keys
        self._count[ids] += 1
        self._live[ids] += 1
        self.added = added
        self._written(slots, keys, ids, seqs, rows)

    def _written(self, slots: np.ndarray, keys: np.ndarray, ids: np.ndarray, seqs: np.ndarray,
                 rows: np.ndarray) -> None:
        """Hook after a write (``rows``: the rows of the added step that went into ``slots``)."""

    def seam(self) -> None:
        """Cut every stream after its newest stored step: mark that step truncated unless it terminated.

        For a run resumed with a rebuilt env (one that could not be saved): the next step a stream
        stores starts a new episode, so its previous step is a time-limit-like end — it still
        bootstraps from its own ``next_obs``, and no multi-step return runs on past it.
        """
        keys = self._last[self._last >= self.added - len(self)]
        slots = keys % self.capacity
        self.data["truncated"][slots] |= ~self.data["terminated"][slots]

    # ------------------------------------------------------------------------------ sampling
    def _gather(self, slots: np.ndarray) -> dict[str, np.ndarray]:
        batch = {field: arr[slots] for field, arr in self.data.items()}
        batch["key"] = self.keys(slots)
        return batch

    def _batch_size(self, fn: str, batch_size: int) -> int:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValidationError(f"{type(self).__name__}.{fn}: batch_size = {batch_size!r} must be an integer ≥ 1")
        return int(batch_size)

    def _nonempty(self, fn: str, batch_size: int) -> int:
        """The checked batch size of a transition sample (sequences check their length instead)."""
        k = self._batch_size(fn, batch_size)
        if not len(self):
            raise ValidationError(f"{type(self).__name__}.{fn}: the buffer is empty")
        return k

    def sample(self, rng: np.random.Generator, batch_size: int) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn uniformly with replacement.

        Returns every stored field and extra with leading axis ``batch_size``, plus ``key``
        ``(batch_size,)`` int64, the transitions' keys.
        """
        batch_size = self._nonempty("sample", batch_size)
        return self._gather(rng.integers(0, len(self), batch_size))

    def _startable(self, slots: np.ndarray, length: int) -> np.ndarray:
        """Whether the ``length − 1`` steps of its stream after each (live) slot have been written."""
        return self._count[self._stream[slots]] - self._seq[slots] >= length

    def sequence_starts(self, length: int) -> int:
        """Number of live steps a sequence of ``length`` consecutive steps of one stream can start at."""
        return int(np.maximum(self._live - (length - 1), 0).sum())

    def _length(self, fn: str, length: int) -> int:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise ValidationError(f"{type(self).__name__}.{fn}: length = {length!r} must be an integer ≥ 1")
        if not self.sequence_starts(length):
            raise ValidationError(f"{type(self).__name__}.{fn}: no stream has {length} consecutive steps in the "
                                  f"buffer yet ({len(self)} transitions over {self.streams} streams)")
        return int(length)

    def _follow(self, starts: np.ndarray, length: int) -> np.ndarray:
        """``(length, k)`` slots: each start and the next ``length − 1`` steps of its stream."""
        slots = np.empty((length, starts.size), np.int64)
        slots[0] = starts
        for i in range(1, length):
            slots[i] = self._next[slots[i - 1]]
        return slots

    def sample_sequences(self, rng: np.random.Generator, batch_size: int, length: int) -> dict[str, np.ndarray]:
        """``batch_size`` runs of ``length`` consecutive steps of one stream, starts uniform with replacement.

        Every live step with ``length − 1`` written successors is an equally likely start. Returns
        every field with leading axes ``(length, batch_size)`` (time first, as :mod:`triad.multistep`
        takes them) and ``key`` ``(length, batch_size)``; ``key[0]`` identifies the sequence.
        Sequences may run through episode ends: see :func:`multistep_inputs`.
        """
        k = self._batch_size("sample_sequences", batch_size)
        length = self._length("sample_sequences", length)
        size = len(self)
        n = self.sequence_starts(length)
        if 2 * n >= size:  # rejection: at least half the draws are kept, in draw order
            starts = np.empty(0, np.int64)
            while starts.size < k:
                draw = rng.integers(0, size, k - starts.size)
                starts = np.concatenate([starts, draw[self._startable(draw, length)]])
        else:
            allowed = np.flatnonzero(self._startable(np.arange(size), length))
            starts = allowed[rng.integers(0, allowed.size, k)]
        return self._gather(self._follow(starts, length))

    def live(self, keys: np.ndarray) -> np.ndarray:
        """Whether each of ``keys`` is still stored (not yet overwritten): a bool array like ``keys``."""
        keys = np.asarray(keys, np.int64)
        return (keys >= self.added - len(self)) & (keys < self.added)

    def startable(self, keys: np.ndarray, length: int) -> np.ndarray:
        """Whether a sequence of ``length`` steps can start at each of ``keys`` now: the transition is live and
        the ``length − 1`` steps of its stream after it have been written (e.g. an actor sends only those)."""
        keys = np.asarray(keys, np.int64)
        live = self.live(keys)
        out = np.zeros(keys.shape, bool)
        out[live] = self._startable(keys[live] % self.capacity, length)
        return out

    def streams_of(self, keys: np.ndarray) -> np.ndarray:
        """The stream id of each of the live transitions ``keys``."""
        return self._stream[np.asarray(keys, np.int64) % self.capacity].astype(np.int64)

    def sequences_at(self, keys: np.ndarray, length: int) -> dict[str, np.ndarray]:
        """The runs of ``length`` steps of one stream starting at the transitions ``keys`` (all
        :meth:`startable`), laid out as :meth:`sample_sequences` returns them: ``(length, len(keys))``."""
        keys = np.asarray(keys, np.int64).reshape(-1)
        if not np.all(self.startable(keys, length)):
            raise ValidationError(f"{type(self).__name__}.sequences_at: every key must start a written sequence of "
                                  f"{length} steps")
        return self._gather(self._follow(keys % self.capacity, length))

    # ------------------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs: the filled part of the ring and the stream bookkeeping (numpy copies)."""
        n = len(self)
        return {"capacity": self.capacity, "added": self.added,
                "spec": {field: (shape, dtype.str) for field, (shape, dtype) in self.spec.items()},
                "data": {field: arr[:n].copy() for field, arr in self.data.items()},
                "stream": self._stream[:n].copy(), "next": self._next[:n].copy(), "seq": self._seq[:n].copy(),
                "count": self._count.copy(), "live": self._live.copy(), "last": self._last.copy()}

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` into a buffer built with the same capacity, shapes and extras."""
        spec = {field: (tuple(shape), np.dtype(dtype).str) for field, (shape, dtype) in d["spec"].items()}
        mine = {field: (shape, dtype.str) for field, (shape, dtype) in self.spec.items()}
        if int(d["capacity"]) != self.capacity or spec != mine:
            raise ValidationError(f"{type(self).__name__}.load_state_dict: the checkpoint holds capacity "
                                  f"{int(d['capacity'])} and fields {spec}; this buffer has {self.capacity} and {mine}")
        self.added = int(d["added"])
        n = len(self)
        for field, arr in self.data.items():
            arr[:n] = d["data"][field]
        self._stream[:n], self._next[:n], self._seq[:n] = d["stream"], d["next"], d["seq"]
        self._count = np.array(d["count"], np.int64)
        self._live = np.array(d["live"], np.int64)
        self._last = np.array(d["last"], np.int64)


# ---------------------------------------------------------------------------------- priorities
class PrioritisedReplay(ReplayBuffer):
    """Proportional prioritised replay: entry ``i`` is drawn with ``P(i) = p_i / Σ_k p_k``.

    ``p_i = (|δ_i| + ε)^α`` from the last TD error reported for ``i``; a new entry gets the largest
    priority seen so far (1 before any update), so it is replayed at least once soon. Samples carry
    importance weights ``w_i = (N·P(i))^{−β} / max_j w_j`` (``max_j`` over the batch, so weights
    only scale updates down), ``N`` the number of entries that can be drawn; anneal β to 1 with
    :func:`beta_schedule`. Source: Schaul, Quan, Antonoglou & Silver (2016), eq. 1 and §3.3–3.4,
    Algorithm 1 (defaults α = 0.6, β₀ = 0.4: their proportional variant).

    With ``sequence_length = L`` the entries are sequences instead (R2D2): entry ``i`` is the run of
    ``L`` steps of one stream starting at slot ``i``. Its priority is 0 until its last step has been
    written; it then gets the maximal priority, and :func:`sequence_priority` turns a sequence's TD
    errors into the ``|δ|`` that :meth:`update_priorities` takes. :meth:`sample` draws transitions
    (``L`` unset), :meth:`sample_sequences` sequences (``L`` set). An overwritten slot's old priority
    is gone: the new transition's (or 0 for a sequence start not yet complete) replaces it.

    Args:
        capacity, obs_shape, obs_dtype, action_shape, action_dtype, extras: as :class:`ReplayBuffer`.
        alpha: priority exponent α ≥ 0 (0: uniform).
        epsilon: ε > 0 keeping every entry drawable once its TD error is 0.
        sequence_length: ``L ≥ 1`` for sequence replay, ``None`` for transitions.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: Any, action_shape: tuple[int, ...],
                 action_dtype: Any, *, extras: Mapping[str, tuple[tuple[int, ...], Any]] | None = None,
                 alpha: float = 0.6, epsilon: float = 1e-6, sequence_length: int | None = None):
        super().__init__(capacity, obs_shape, obs_dtype, action_shape, action_dtype, extras=extras)
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ValidationError(f"PrioritisedReplay: alpha = {alpha!r} must be ≥ 0")
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise ValidationError(f"PrioritisedReplay: epsilon = {epsilon!r} must be > 0")
        if sequence_length is not None and (isinstance(sequence_length, bool)
                                            or not isinstance(sequence_length, (int, np.integer))
                                            or sequence_length < 1):
            raise ValidationError(f"PrioritisedReplay: sequence_length = {sequence_length!r} must be an integer ≥ 1")
        self.alpha, self.epsilon = float(alpha), float(epsilon)
        self.sequence_length = None if sequence_length is None else int(sequence_length)
        from triad.agents.sumtree import SumTree  # numba: imported when priorities are first needed

        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0
        self._initial: np.ndarray | None = None
        L = self.sequence_length or 1
        self._recent = np.full((0, L), -1, np.int64)  # per stream: keys of its last L steps, by seq mod L

    def priority(self, td_errors: np.ndarray) -> np.ndarray:
        """``(|δ| + ε)^α``, elementwise."""
        return (np.abs(np.asarray(td_errors, np.float64)) + self.epsilon) ** self.alpha

    def _grow_streams(self, n: int) -> None:
        extra = n - self.streams
        super()._grow_streams(n)
        self._recent = np.concatenate([self._recent, np.full((extra, self._recent.shape[1]), -1, np.int64)])

    def add(self, step: Any, stream: np.ndarray | None = None, td_errors: np.ndarray | None = None) -> None:
        """As :meth:`ReplayBuffer.add`; ``td_errors`` ``(B,)`` optionally sets the new transitions' initial
        priorities (Ape-X's actors compute them), instead of the maximal priority. Transitions only."""
        if td_errors is not None:
            if self.sequence_length is not None:
                raise ValidationError("PrioritisedReplay.add: td_errors set transition priorities; with "
                                      "sequence_length a sequence gets its priority when complete")
            p = self.priority(td_errors)
            B = np.shape(_get(step, "obs"))[:1]
            if p.shape != B or not np.all(np.isfinite(p)):
                raise ValidationError(f"PrioritisedReplay.add: td_errors must be {B} finite values")
            self._initial = p
        try:
            super().add(step, stream)
        finally:
            self._initial = None

    def _written(self, slots: np.ndarray, keys: np.ndarray, ids: np.ndarray, seqs: np.ndarray,
                 rows: np.ndarray) -> None:
        L = self.sequence_length
        if L is None:
            p = np.full(slots.size, self.max_priority) if self._initial is None else self._initial[rows]
            self.tree.update(slots, p)
            return
        # Step seq s of a stream completes the sequence starting at its step s − L + 1.
        starts = keys if L == 1 else self._recent[ids, (seqs + 1) % L]
        self._recent[ids, seqs % L] = keys
        complete = (seqs >= L - 1) & (starts >= max(0, self.added - self.capacity))
        self.tree.update(np.concatenate([slots, starts[complete] % self.capacity]),
                         np.concatenate([np.zeros(slots.size), np.full(int(complete.sum()), self.max_priority)]))

    def entries(self) -> int:
        """``N``: entries with a positive priority (stored transitions, or complete sequences)."""
        return len(self) if self.sequence_length is None else self.sequence_starts(self.sequence_length)

    def _draw(self, rng: np.random.Generator, batch_size: int, beta: float) -> tuple[np.ndarray, np.ndarray]:
        """Slots by stratified sampling of the sum-tree and their importance weights."""
        if not (np.isfinite(beta) and beta >= 0):
            raise ValidationError(f"PrioritisedReplay: beta = {beta!r} must be ≥ 0")
        slots = self.tree.sample(rng, batch_size)
        prob = self.tree[slots] / self.tree.total
        w = (self.entries() * prob) ** -float(beta)
        return slots, w / w.max()

    def sample(self, rng: np.random.Generator, batch_size: int, beta: float = 0.4) -> dict[str, np.ndarray]:
        """``batch_size`` transitions drawn with probability ``P(i)`` (segment sampling of the sum-tree).

        Returns the fields of :meth:`ReplayBuffer.sample` plus ``weight`` ``(batch_size,)``, the
        importance weights ``(N·P(i))^{−β} / max_j w_j``.
        """
        if self.sequence_length is not None:
            raise ValidationError("PrioritisedReplay.sample: this buffer prioritises sequences "
                                  f"(sequence_length = {self.sequence_length}); use sample_sequences")
        slots, w = self._draw(rng, self._nonempty("sample", batch_size), beta)
        batch = self._gather(slots)
        batch["weight"] = w
        return batch

    def sample_sequences(self, rng: np.random.Generator, batch_size: int, length: int | None = None,
                         beta: float = 0.4) -> dict[str, np.ndarray]:
        """``batch_size`` sequences of ``sequence_length`` steps drawn in proportion to their priorities.

        Returns the fields of :meth:`ReplayBuffer.sample_sequences` plus ``weight`` ``(batch_size,)``,
        one importance weight per sequence (R2D2 itself does not use them: β = 0 gives 1).
        """
        L = self.sequence_length
        if L is None or length not in (None, L):
            raise ValidationError(f"PrioritisedReplay.sample_sequences: this buffer prioritises "
                                  f"{'transitions' if L is None else f'sequences of length {L}'}; "
                                  f"length = {length!r}")
        k = self._batch_size("sample_sequences", batch_size)
        self._length("sample_sequences", L)
        starts, w = self._draw(rng, k, beta)
        batch = self._gather(self._follow(starts, L))
        batch["weight"] = w
        return batch

    def update_priorities(self, keys: np.ndarray, td_errors: np.ndarray) -> None:
        """Set ``p = (|δ| + ε)^α`` for the sampled entries ``keys`` (``batch["key"]``, or ``batch["key"][0]``
        for sequences; ``td_errors`` then from :func:`sequence_priority`).

        Entries overwritten since they were sampled are skipped (their slot holds a newer
        transition). Of repeated keys the last wins.
        """
        keys = np.asarray(keys, np.int64).reshape(-1)
        p = self.priority(td_errors).reshape(-1)
        if p.shape != keys.shape or not np.all(np.isfinite(p)):
            raise ValidationError(f"PrioritisedReplay.update_priorities: td_errors must be {keys.size} finite "
                                  f"values, one per key")
        if keys.size and (keys.min() < 0 or keys.max() >= self.added):
            raise ValidationError(f"PrioritisedReplay.update_priorities: keys must lie in [0, {self.added}), "
                                  f"got {keys.min()} … {keys.max()}")
        live = keys >= self.added - len(self)
        keys, p = keys[live], p[live]
        slots = keys % self.capacity
        if self.sequence_length is not None and not np.all(self._startable(slots, self.sequence_length)):
            raise ValidationError("PrioritisedReplay.update_priorities: a key is not the start of a complete "
                                  "sequence (pass batch['key'][0] of sample_sequences)")
        if p.size:
            self.tree.update(slots, p)
            self.max_priority = max(self.max_priority, float(p.max()))

    def state_dict(self) -> dict[str, Any]:
        d = super().state_dict()
        d.update(priorities=self.tree.state_dict()["priorities"], max_priority=self.max_priority,
                 recent=self._recent.copy(), alpha=self.alpha, epsilon=self.epsilon,
                 sequence_length=self.sequence_length)
        return d

    def load_state_dict(self, d: Mapping[str, Any]) -> None:
        if d.get("sequence_length") != self.sequence_length:
            raise ValidationError(f"PrioritisedReplay.load_state_dict: checkpoint has sequence_length "
                                  f"{d.get('sequence_length')}, this buffer {self.sequence_length}")
        super().load_state_dict(d)
        self.tree.load_state_dict({"capacity": self.capacity, "priorities": d["priorities"]})
        self.max_priority = float(d["max_priority"])
        self._recent = np.array(d["recent"], np.int64)


def sequence_priority(td_errors: np.ndarray, eta: float = 0.9, axis: int = 0) -> np.ndarray:
    """A sequence's priority ``η·max_t |δ_t| + (1 − η)·mean_t |δ_t|`` over the time ``axis``.

    Mixing in the max keeps long sequences' large errors from being averaged away. Shapes:
    ``td_errors (T, B)`` → ``(B,)`` (slice off a burn-in first). Source: Kapturowski, Ostrovski,
    Quan, Munos & Dabney (2019), "Recurrent Experience Replay in Distributed Reinforcement
    Learning" (R2D2), §2.3: η = 0.9 (with priority exponent α = 0.9).
    """
    if not 0.0 <= eta <= 1.0:
        raise ValidationError(f"sequence_priority: eta = {eta!r} must lie in [0, 1]")
    d = np.abs(np.asarray(td_errors, np.float64))
    return eta * d.max(axis=axis) + (1.0 - eta) * d.mean(axis=axis)


def beta_schedule(step: int, steps: int, beta0: float = 0.4, beta1: float = 1.0) -> float:
    """β annealed linearly from ``beta0`` at step 0 to ``beta1`` at ``steps`` (constant after).

    Source: Schaul et al. (2016), §3.4 (β₀ = 0.4 for the proportional variant, annealed to 1 by the
    end of learning).
    """
    if steps <= 0:
        return float(beta1)
    return float(beta0 + (beta1 - beta0) * min(1.0, max(0.0, step / steps)))


# -------------------------------------------------------------------------- to multistep targets
class MultistepInputs(NamedTuple):
    """Rows of a sampled batch, named as :mod:`triad.multistep` takes them (time on axis 0 for sequences)."""

    r_t: np.ndarray
    """Rewards of steps ``s_t → s_{t+1}``, float64."""
    discount_t: np.ndarray
    """``γ·(1 − terminated_t)``, float64: 0 after a terminal step, γ after a truncated one."""
    truncated_t: np.ndarray
    """Time-limit ends: the return stops there and bootstraps from ``next_obs``'s value."""
    a_t: np.ndarray
    """The action taken in ``s_t``."""
    mu_t: np.ndarray | None
    """``μ(a_t|s_t)``, the behaviour's probability of ``a_t`` (``None`` if not requested)."""
    next_obs: np.ndarray
    """``s_{t+1}``: evaluate ``q_t = Q(s_{t+1}, ·)``, ``v_t``, ``pi_t`` on these."""


def multistep_inputs(batch: Mapping[str, np.ndarray], gamma: float, *, mu: str | None = None,
                     logp: str | None = None) -> MultistepInputs:
    """The arguments of :func:`triad.multistep.off_policy_targets` / :func:`~triad.multistep.n_step_returns`
    from a sampled batch or sequence, as stored (no target is computed and nothing is shifted).

    ``discount_t = γ·(1 − terminated_t)``; ``mu_t`` is ``batch[mu]``, or ``exp(batch[logp])`` when
    the behaviour's log-probability was stored (at most one of the two). For a sequence
    ``(T, B, ...)`` from :meth:`ReplayBuffer.sample_sequences`::

        x = multistep_inputs(seq, gamma, mu="mu")
        q_t = target_q(x.next_obs)                                   # (T, B, A)
        G = off_policy_targets(x.r_t, x.discount_t, q_t, x.a_t, "retrace", mu_t=x.mu_t,
                               truncated_t=x.truncated_t)            # targets for Q(s_t, a_t)
        G_n = n_step_returns(x.r_t, x.discount_t, v_t, n, truncated_t=x.truncated_t)

    A terminated step cuts the return (discount 0), a truncated one bootstraps from the value of its
    ``next_obs`` (the true final observation), and the last row bootstraps, so episode ends inside a
    sequence need nothing else.
    """
    if mu is not None and logp is not None:
        raise ValidationError("multistep_inputs: give the behaviour's probability as mu= or logp=, not both")
    for name in (mu, logp):
        if name is not None and name not in batch:
            raise ValidationError(f"multistep_inputs: the batch has no {name!r} (fields: {', '.join(batch)})")
    mu_t = None if mu is None and logp is None else (
        np.asarray(batch[mu], np.float64) if mu is not None else np.exp(np.asarray(batch[logp], np.float64)))
    terminated = np.asarray(batch["terminated"], bool)
    return MultistepInputs(r_t=np.asarray(batch["reward"], np.float64),
                           discount_t=float(gamma) * (1.0 - terminated),
                           truncated_t=np.asarray(batch["truncated"], bool), a_t=batch["action"], mu_t=mu_t,
                           next_obs=batch["next_obs"])
