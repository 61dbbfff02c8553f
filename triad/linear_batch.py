"""Sampled linear learning for a whole batch of problems ("cells") in one compiled call.

:func:`sampled_batch` runs, for every cell ``i`` of a batch, what
``triad.linear.sampled(rng[i], rule[i], problem[i], steps, streams)`` runs — and gives the same
weights and divergence steps **bit for bit**, on the same random streams. The cells may differ in
MDP, features (and their number), policies, discount, rule and hyper-parameters; one kernel call
(:mod:`triad._linear_batch_kernels`) advances every stream of every cell through all its steps.

How the identity is kept:

* **The same random numbers in the same order.** :func:`draws` pre-draws, for each cell, exactly
  the uniforms (and reward-noise normals) that ``sampled`` draws from its random source — one
  restart uniform per stream before the first chunk of 128 steps, three per step (action, next
  state, restart state), one more after each chunk — in bulk where the source allows it (a
  :class:`~triad.sampling.StreamRNG`, or a ``numpy.random.Generator`` on an MDP without reward
  noise, whose ``random`` calls chain into one sequence), and call by call otherwise.
* **The same sampling.** The kernel repeats :func:`triad.sampling.sample_actions` and
  :meth:`triad.sampling.Sampler.next_states` on the tables built by the same code.
* **The same arithmetic, in numpy's order** (the module docstring of the kernel); the order of
  numpy's einsum is that of its baseline x86 build (two 64-bit lanes, no fused multiply-add), which
  :func:`einsum_order_holds` checks on the running numpy.

Rules: ``semi-gradient-td`` (TD(0), n-step TD, TD(λ) with per-decision importance-sampled traces,
λ = 1 being the incremental off-policy Monte-Carlo), ``tdc``, ``gtd2``, ``etd`` and
``target-network`` (periodic or Polyak), as in :class:`triad.linear.Rule`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from triad import linear
from triad.errors import ValidationError
from triad.linear import DIVERGENCE_THRESHOLD, Rule
from triad.progress import Progress, advance
from triad.record import Curve
from triad.sampling import RandomSource, Sampler, StreamRNG
from triad.zoo import Problem

CHUNK = 128
"""Steps per :func:`triad.sampling.rollout` call in :func:`triad.linear.sampled` (its draw order depends on it)."""

KERNEL_RULES = {"semi-gradient-td": 0, "tdc": 1, "gtd2": 2, "etd": 3, "target-network": 4}
"""The rules the kernel runs, with its codes (:data:`triad._linear_batch_kernels.TD` …)."""

MAX_BATCH_BYTES = 128 * 2**20
"""Pre-drawn random numbers held at once; larger batches run in groups of cells."""


def draw_count(steps: int) -> int:
    """Uniforms per stream that :func:`triad.linear.sampled` draws in ``steps`` steps: ``1 + 3T + chunks``."""
    chunks = -(-steps // CHUNK)
    return 1 + 3 * steps + chunks


def draws(rng: RandomSource, streams: int, steps: int, noisy: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The random numbers ``sampled(rng, …, steps, streams)`` draws, per stream in the order drawn.

    Returns ``uniforms: (streams, draw_count(steps))`` and, when the MDP has reward noise,
    ``normals: (streams, steps)`` (else ``None``), possibly as views of the source's buffers.
    Afterwards ``rng`` is where ``sampled`` leaves it.
    """
    total = draw_count(steps)
    if not noisy:
        if isinstance(rng, StreamRNG):
            return rng.random((streams, total)), None
        if isinstance(rng, np.random.Generator):
            return rng.random(total * streams).reshape(total, streams).T, None
    # Reward noise draws normals between the uniforms (from the same generator): replay call by call.
    uniforms, normals = [rng.random((streams,))], []
    t = 0
    while t < steps:
        for _ in range(min(CHUNK, steps - t)):
            uniforms.append(rng.random((streams,)))
            if noisy:
                normals.append(rng.standard_normal((streams,)))
            uniforms.append(rng.random((streams,)))
            uniforms.append(rng.random((streams,)))
        uniforms.append(rng.random((streams,)))
        t += min(CHUNK, steps - t)
    return np.stack(uniforms, axis=1), (np.stack(normals, axis=1) if noisy else None)


def einsum_order_holds(rng: np.random.Generator | None = None, trials: int = 200) -> bool:
    """Whether numpy's ``einsum("bd,bd->b")`` and row sums add in the order the kernel assumes.

    Compares them with the kernel's compiled :func:`_dot` and pairwise sum on random rows of
    widely spread magnitudes (where any other order differs in the last bits).
    """
    from triad._linear_batch_kernels import _dot, _pairwise_squares

    rng = np.random.default_rng(0) if rng is None else rng
    for _ in range(trials):
        d = int(rng.integers(1, 40))
        x, w = (rng.standard_normal((2, d)) * 10.0 ** rng.uniform(-6, 6, (2, d)))
        if np.einsum("...d,...d->...", x[None], w[None])[0] != _dot(x, w, d):
            return False
        if (w * w)[None].sum(axis=1)[0] != 0.0 + _pairwise_squares(w, 0, d):
            return False
    return True


# ---------------------------------------------------------------------------------- the result
@dataclasses.dataclass(frozen=True)
class BatchCurve:
    """The record of a batch: per cell, what :func:`triad.linear.sampled`'s :class:`Curve` holds.

    Attributes:
        steps: ``(K,)`` recorded steps (0 is the initial weights).
        w: ``(C, K, B, d_max)`` recorded weights, cell ``i``'s in its first ``dims[i]`` columns.
        diverged_at: ``(C, B)`` first step at which ``‖w‖₂ > threshold`` or ``w`` was not finite; NaN where never.
        dims: ``(C,)`` the number of features of each cell.
        thresholds: ``(C,)`` the divergence threshold of each cell.
    """

    steps: np.ndarray
    w: np.ndarray
    diverged_at: np.ndarray
    dims: np.ndarray
    thresholds: np.ndarray

    def __len__(self) -> int:
        return self.w.shape[0]

    def curve(self, i: int) -> Curve:
        """Cell ``i`` as the :class:`Curve` that ``linear.sampled`` returns for it."""
        return Curve(self.steps, self.w[i, :, :, :self.dims[i]], self.diverged_at[i], float(self.thresholds[i]))

    @property
    def final(self) -> np.ndarray:
        """``(C, B, d_max)`` weights after the last step."""
        return self.w[:, -1]

    @property
    def diverged(self) -> np.ndarray:
        """``(C, B)`` whether each stream diverged."""
        return ~np.isnan(self.diverged_at)


# ----------------------------------------------------------------------------------- the cells
@dataclasses.dataclass(frozen=True)
class _Cell:
    """One problem and rule, checked and turned into the kernel's tables."""

    st: linear._Setting
    rule: Rule
    sampler: Sampler
    threshold: float

    @property
    def S(self) -> int:
        return self.st.mdp.S

    @property
    def A(self) -> int:
        return self.st.mdp.A

    @property
    def d(self) -> int:
        return self.st.Phi.shape[1]

    @property
    def noisy(self) -> bool:
        return self.st.mdp.reward_std is not None


def _cell(rule: Rule, problem: Problem, gamma: float | None, w0: np.ndarray | None, threshold: float) -> _Cell:
    if rule.algorithm not in KERNEL_RULES:
        raise ValidationError(f"the compiled kernel runs {', '.join(KERNEL_RULES)}; {rule.algorithm} runs in "
                              f"triad.linear.sampled")
    if not threshold > 0:
        raise ValidationError(f"divergence threshold = {threshold:g} must be positive")
    st = linear._setting(problem, gamma, w0)
    return _Cell(st, rule, Sampler(st.mdp), float(threshold))


class CellStreams(Sequence):
    """``StreamRNG(streams, key=keys[i])`` for cell ``i``, made when asked for.

    A batch of thousands of cells then holds the random buffers of one group of cells at a time,
    not of all of them.
    """

    def __init__(self, streams: int, keys: Sequence[int]):
        self.streams, self.keys = int(streams), [int(k) for k in keys]

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> StreamRNG:  # type: ignore[override]
        return StreamRNG(self.streams, key=self.keys[i])


def _broadcast(name: str, value: object, n: int, single: type) -> Sequence:
    if isinstance(value, single):
        return [value] * n
    items = value if isinstance(value, Sequence) else list(value)  # type: ignore[call-overload]
    if len(items) != n:
        raise ValidationError(f"{len(items)} {name} for {n} problems: give one, or one per problem")
    return items


def sampled_batch(rng: RandomSource | Sequence[RandomSource], rule: Rule | Sequence[Rule],
                  problem: Problem | Sequence[Problem], steps: int, streams: int = 1,
                  w0: np.ndarray | None = None, gamma: float | Sequence[float | None] | None = None,
                  threshold: float | Sequence[float] = DIVERGENCE_THRESHOLD, record_every: int | None = None,
                  progress: Progress | None = None, max_bytes: int = MAX_BATCH_BYTES) -> BatchCurve:
    """Run ``linear.sampled(rng[i], rule[i], problem[i], steps, streams)`` for every cell ``i`` at once.

    Args:
        rng: one random source per problem (a single one for a single problem), e.g. a
            :class:`CellStreams`; a :class:`~triad.sampling.StreamRNG` must have ``streams`` streams.
        rule, problem, gamma, threshold: one, or one per cell.
        w0: initial weights shared by the cells (default: each problem's, else zeros).
        record_every: record the weights every this many steps (and the last); default: only the
            initial and the final weights.
        progress: ``total`` is the number of cells, advanced as groups of cells finish.
        max_bytes: cells run in groups whose pre-drawn random numbers fit in this many bytes.
    Returns:
        A :class:`BatchCurve`; ``curve(i)`` equals ``linear.sampled``'s curve for cell ``i``.
    """
    problems = [problem] if isinstance(problem, Problem) else list(problem)
    if not problems:
        raise ValidationError("the batch of problems is empty")
    C = len(problems)
    if isinstance(rng, (np.random.Generator, StreamRNG)):
        if C > 1:
            raise ValidationError(f"one random source for {C} problems: give one per problem, so each cell's "
                                  f"streams are its own")
        rngs = [rng]
    else:
        rngs = _broadcast("random sources", rng, C, type(None))
    rules = _broadcast("rules", rule, C, Rule)
    gammas = _broadcast("discounts", gamma, C, (float, int, type(None)))
    thresholds = _broadcast("thresholds", threshold, C, (float, int))
    T = linear._check_count(steps, "steps")
    B = linear._check_count(streams, "streams")
    every = T if record_every is None else linear._check_count(record_every, "record_every")
    record = np.arange(0, T + 1, every)
    record = record if record[-1] == T else np.append(record, T)
    cells = [_cell(r, p, g, w0, th) for r, p, g, th in zip(rules, problems, gammas, thresholds)]
    dmax = max(c.d for c in cells)
    out_w = np.zeros((C, record.size, B, dmax))
    out_diverged = np.full((C, B), np.nan)
    noisy = any(c.noisy for c in cells)
    per_cell = 8 * B * (draw_count(T) + (T if noisy else 0))
    group = min(C, max(1, int(max_bytes // per_cell)))
    uniforms = np.empty((group, B, draw_count(T)))  # reused by every group
    normals = np.zeros((group, B, T if noisy else 0))
    if progress is not None:
        progress.total(C)
    for start in range(0, C, group):
        idx = range(start, min(C, start + group))
        n = len(idx)
        for k, i in enumerate(idx):
            source = rngs[i]
            if isinstance(source, StreamRNG) and len(source) != B:
                raise ValidationError(f"a StreamRNG of {len(source)} streams cannot drive {B} streams")
            uniforms[k], z = draws(source, B, T, cells[i].noisy)
            if z is not None:
                normals[k] = z
        _run_group([cells[i] for i in idx], uniforms[:n], normals[:n], T, record, out_w[idx.start:idx.stop],
                   out_diverged[idx.start:idx.stop])
        advance(progress, n)
    return BatchCurve(record, out_w, out_diverged, np.array([c.d for c in cells]), np.array([c.threshold for c in cells]))


def _run_group(cells: list[_Cell], uniforms: np.ndarray, normals: np.ndarray, T: int, record: np.ndarray,
               out_w: np.ndarray, out_diverged: np.ndarray) -> None:
    """Pack a group of cells into the kernel's padded tables and run them on their drawn numbers."""
    from triad._linear_batch_kernels import run_streams

    C = len(cells)
    S, A, d = max(c.S for c in cells), max(c.A for c in cells), out_w.shape[-1]
    tables = {name: np.zeros((C, S, A)) for name in ("cdf", "rho", "R", "std")}
    Phi, terminal = np.zeros((C, S, d)), np.zeros((C, S), bool)
    interest, mu_cdf = np.zeros((C, S)), np.ones((C, S))
    last = np.zeros((C, S * A), np.int64)
    keys, successors, ptr = [], [], [0]
    w0 = np.zeros((C, d))
    for i, cell in enumerate(cells):
        st, sampler = cell.st, cell.sampler
        s, a, k = cell.S, cell.A, cell.d
        tables["cdf"][i, :s, :a] = np.cumsum(st.behaviour, axis=-1)
        tables["rho"][i, :s, :a] = linear.importance_ratios(st.target, st.behaviour)
        tables["R"][i, :s, :a] = st.mdp.R
        if cell.noisy:
            tables["std"][i, :s, :a] = st.mdp.reward_std
        Phi[i, :s, :k] = st.Phi
        terminal[i, :s] = st.terminal
        interest[i, :s] = np.broadcast_to(np.asarray(cell.rule.interest, dtype=np.float64), (s,))
        mu_cdf[i, :s] = sampler._mu_cdf
        # last[row] indexes the cell's own keys; a row index s·A + a uses the cell's A.
        last[i, :s * a] = sampler._last
        keys.append(sampler._keys)
        successors.append(sampler._next)
        ptr.append(ptr[-1] + sampler._keys.size)
        w0[i, :k] = st.w0
    rules = [c.rule for c in cells]
    run_streams(uniforms, normals, T, CHUNK,
                np.array([c.S for c in cells]), np.array([c.A for c in cells]), np.array([c.d for c in cells]),
                Phi, tables["cdf"], tables["rho"], tables["R"], tables["std"], np.array([c.noisy for c in cells]),
                terminal, interest, np.concatenate(keys), np.array(ptr, np.int64), np.concatenate(successors), last,
                mu_cdf, np.array([c.st.gamma for c in cells]),
                np.array([KERNEL_RULES[r.algorithm] for r in rules]), np.array([r.alpha for r in rules]),
                np.array([r.beta for r in rules]), np.array([r.lam for r in rules]),
                np.array([int(r.n) for r in rules]), np.array([int(r.target_period) for r in rules]),
                np.array([r.tau for r in rules]), w0, np.array([c.threshold for c in cells]), record, out_w,
                out_diverged)
