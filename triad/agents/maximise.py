"""``max_a Q(s, a)`` over a box of continuous actions: one interface, four maximisers.

The seed notes list three ways to take the max of Q-learning's target when actions are
continuous; all four maximisers below answer the same call::

    best = maximise(q_fn, states, maximiser, generator)   # best.action (B, d), best.value (B,)

with ``q_fn(states (N, obs_dim), actions (N, d)) -> (N,)`` any critic, batched over the ``B``
states in torch. The same call gives the target's max (on a target critic, under
``torch.no_grad``) and the acting policy (on the online critic, then :func:`explore`).

* :class:`RandomShooting` — ``N`` actions drawn uniformly in the box, the best one kept: simple,
  and in ``d`` dimensions its error shrinks only like ``N^{−2/d}`` near a smooth maximum.
* :class:`CrossEntropy` — the cross-entropy method (Rubinstein 1999; Rubinstein & Kroese 2004):
  sample, keep the best ``elites``, refit a diagonal Gaussian to them (its σ held above a floor),
  sample again, ``iterations`` times. QT-Opt's settings (Kalashnikov et al. 2018, §4.2): 2
  iterations of 64 samples, refit to the best 6.
* :class:`Analytic` — a critic whose maximiser is known in closed form (NAF's
  ``Q = V − ½(a − μ)ᵀP(a − μ)``: the argmax is ``μ(s)``, the max ``V(s)``; Gu et al. 2016).
* :class:`LearnedActor` — DDPG's approximate maximiser ``μ_θ(s) ≈ argmax_a Q(s, a)``, a network
  trained by the deterministic policy gradient (Lillicrap et al. 2016; the seed notes: "DDPG is
  approximate Q-learning").

The sampling maximisers are deterministic given the ``torch.Generator`` and return the best
*evaluated* action (never a refitted mean that was not evaluated), so their value is a true value
of ``q_fn`` and more samples or iterations never lower it for the same draws. Their search runs
without gradients; :class:`Analytic` and :class:`LearnedActor` evaluate ``q_fn`` at their action
in the caller's grad mode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import torch

from triad.errors import ValidationError

QFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``q_fn(states (N, obs_dim), actions (N, d)) -> (N,)``."""


@dataclasses.dataclass(frozen=True)
class Argmax:
    """What a maximiser returns for ``B`` states: ``action (B, d)`` and ``value = q_fn(s, action)`` ``(B,)``."""

    action: torch.Tensor
    value: torch.Tensor


class Maximiser(Protocol):
    """``maximiser(q_fn, states, generator, low, high) -> Argmax`` for ``states (B, obs_dim)`` in the box ``[low, high]``."""

    def __call__(self, q_fn: QFn, states: torch.Tensor, generator: torch.Generator | None,
                 low: torch.Tensor, high: torch.Tensor) -> Argmax: ...


def _bounds(low: torch.Tensor | float, high: torch.Tensor | float, d: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The box as ``(d,)`` float32 vectors; scalars without ``d`` stay scalars (a maximiser that samples refuses them)."""
    lo, hi = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
    if d is not None:
        lo, hi = lo.expand(d).clone(), hi.expand(d).clone()
    if lo.shape != hi.shape or lo.dim() > 1:
        raise ValidationError(f"maximise: low and high must be (d,) vectors of one shape, got {tuple(lo.shape)} "
                              f"and {tuple(hi.shape)}")
    if not bool(torch.all(torch.isfinite(lo) & torch.isfinite(hi) & (lo < hi))):
        raise ValidationError(f"maximise: the box needs finite low < high, got low = {lo.tolist()}, "
                              f"high = {hi.tolist()}")
    return lo, hi


def maximise(q_fn: QFn, states: torch.Tensor, maximiser: Maximiser, generator: torch.Generator | None = None, *,
             low: torch.Tensor | float = -1.0, high: torch.Tensor | float = 1.0, dim: int | None = None) -> Argmax:
    """``argmax_{a ∈ [low, high]} q_fn(s, a)`` and its value for every state of the batch.

    Args:
        q_fn: ``(N, obs_dim), (N, d) -> (N,)``.
        states: ``(B, obs_dim)``.
        maximiser: :class:`RandomShooting`, :class:`CrossEntropy`, :class:`Analytic` or :class:`LearnedActor`.
        generator: the only random source (sampling maximisers need one).
        low, high: the action box, ``(d,)`` or scalars (then ``dim`` gives ``d``); default ``[−1, 1]``,
            the normalised actions of :mod:`triad.agents.offpolicy`.
    Returns:
        :class:`Argmax` with ``action (B, d)`` inside the box and ``value (B,)``.
    """
    if states.dim() != 2:
        raise ValidationError(f"maximise: states must be (B, obs_dim), got shape {tuple(states.shape)}")
    lo, hi = _bounds(low, high, dim)
    return maximiser(q_fn, states, generator, lo, hi)


def candidates_value(q_fn: QFn, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``q_fn`` at ``K`` candidate actions per state: ``states (B, obs_dim)``, ``actions (B, K, d)`` → ``(B, K)``."""
    B, K, d = actions.shape
    return q_fn(states.repeat_interleave(K, dim=0), actions.reshape(B * K, d)).reshape(B, K)


def _best(values: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(value (B,), action (B, d))`` of the best of ``K`` candidates (ties: the first)."""
    value, k = values.max(dim=1)
    return value, actions[torch.arange(actions.shape[0]), k]


def _uniform(generator: torch.Generator | None, shape: tuple[int, ...], lo: torch.Tensor,
             hi: torch.Tensor) -> torch.Tensor:
    if generator is None:
        raise ValidationError("maximise: a sampling maximiser needs a torch.Generator")
    return lo + (hi - lo) * torch.rand(shape, generator=generator)


def _dim(low: torch.Tensor) -> int:
    if low.dim() != 1:
        raise ValidationError("maximise: a sampling maximiser needs the action dimension: (d,) bounds or dim=d")
    return int(low.shape[0])


@dataclasses.dataclass(frozen=True)
class RandomShooting:
    """``argmax`` over ``samples`` actions drawn uniformly in the box for each state (the seed notes' "random sampling")."""

    samples: int = 128

    def __post_init__(self):
        if self.samples < 1:
            raise ValidationError(f"RandomShooting: samples = {self.samples} must be at least 1")

    def __call__(self, q_fn: QFn, states: torch.Tensor, generator: torch.Generator | None, low: torch.Tensor,
                 high: torch.Tensor) -> Argmax:
        B, d = states.shape[0], _dim(low)
        with torch.no_grad():
            actions = _uniform(generator, (B, self.samples, d), low, high)
            value, action = _best(candidates_value(q_fn, states, actions), actions)
        return Argmax(action, value)


@dataclasses.dataclass(frozen=True)
class CrossEntropy:
    """The cross-entropy method over the action box, batched over states (Rubinstein 1999).

    Iteration 1 draws ``samples`` actions uniformly in the box (the broadest start, so no mode is
    missed for want of initial spread); each later one draws them from ``N(m, diag σ²)`` clipped
    to the box, where ``m`` and ``σ`` are the mean and standard deviation of the previous
    iteration's ``elites`` best samples, ``σ`` raised to at least ``min_std`` times the box's
    half-width (a floor, so that the search keeps exploring and never collapses onto one sample;
    Rubinstein & Kroese 2004, §3.4 discuss such degeneracy). The returned action is the best
    sample of all iterations. Defaults: QT-Opt (Kalashnikov et al. 2018, §4.2 / appendix: 2
    iterations, 64 samples, the best 6 refit).
    """

    samples: int = 64
    elites: int = 6
    iterations: int = 2
    min_std: float = 0.05

    def __post_init__(self):
        if self.iterations < 1 or self.samples < 1:
            raise ValidationError(f"CrossEntropy: iterations = {self.iterations} and samples = {self.samples} "
                                  "must be at least 1")
        if not 1 <= self.elites <= self.samples:
            raise ValidationError(f"CrossEntropy: elites = {self.elites} must be in [1, samples = {self.samples}]")
        if not self.min_std >= 0:
            raise ValidationError(f"CrossEntropy: min_std = {self.min_std} must be ≥ 0")

    def __call__(self, q_fn: QFn, states: torch.Tensor, generator: torch.Generator | None, low: torch.Tensor,
                 high: torch.Tensor) -> Argmax:
        B, d, K = states.shape[0], _dim(low), self.samples
        floor = self.min_std * (high - low) / 2.0
        with torch.no_grad():
            actions = _uniform(generator, (B, K, d), low, high)
            values = candidates_value(q_fn, states, actions)
            best_value, best_action = _best(values, actions)
            for _ in range(self.iterations - 1):
                top = values.topk(self.elites, dim=1).indices
                elite = actions.gather(1, top[..., None].expand(B, self.elites, d))
                mean, std = elite.mean(1, keepdim=True), torch.maximum(elite.std(1, correction=0, keepdim=True), floor)
                noise = torch.randn((B, K, d), generator=generator)
                actions = torch.maximum(torch.minimum(mean + std * noise, high), low)
                values = candidates_value(q_fn, states, actions)
                value, action = _best(values, actions)
                better = value > best_value
                best_value = torch.where(better, value, best_value)
                best_action = torch.where(better[:, None], action, best_action)
        return Argmax(best_action, best_value)


@dataclasses.dataclass(frozen=True)
class Analytic:
    """The closed-form maximiser of a critic that has one: ``q_fn.argmax(states) -> (B, d)`` (NAF's ``μ(s)``).

    ``q_fn`` must be such a critic (e.g. :class:`triad.agents.continuous_q.NAFCritic`); its argmax
    must lie in the box (NAF squashes ``μ`` with tanh, so it does by construction).
    """

    def __call__(self, q_fn: QFn, states: torch.Tensor, generator: torch.Generator | None, low: torch.Tensor,
                 high: torch.Tensor) -> Argmax:
        argmax = getattr(q_fn, "argmax", None)
        if argmax is None:
            raise ValidationError(f"Analytic: {type(q_fn).__name__} has no closed-form argmax (a NAF critic has one)")
        action = argmax(states)
        return Argmax(action, q_fn(states, action))


@dataclasses.dataclass(frozen=True, eq=False)
class LearnedActor:
    """DDPG's learned maximiser: ``argmax_a Q(s, a) ≈ actor(s)`` for an actor trained on ``−Q(s, actor(s))``.

    ``actor(states (B, obs_dim)) -> (B, d)`` in the box (e.g. :class:`triad.agents.nets.DeterministicActor`,
    tanh-squashed to ``[−1, 1]^d``). The approximation is only as good as the actor's last
    gradient steps: it follows ``∇_a Q`` uphill and can stop at any local maximum.
    """

    actor: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, q_fn: QFn, states: torch.Tensor, generator: torch.Generator | None, low: torch.Tensor,
                 high: torch.Tensor) -> Argmax:
        action = self.actor(states)
        return Argmax(action, q_fn(states, action))


def explore(generator: torch.Generator, actions: torch.Tensor, noise: float = 0.1, epsilon: float = 0.0,
            low: torch.Tensor | float = -1.0, high: torch.Tensor | float = 1.0) -> torch.Tensor:
    """The acting policy around a maximiser's actions ``(B, d)``: ``clip(a + N(0, (noise·h)²))`` with ``h`` the box's
    half-width, replaced with probability ``epsilon`` by an action uniform in the box.

    Gaussian exploration noise as in TD3 (Fujimoto et al. 2018: N(0, 0.1) on [−1, 1] actions);
    the uniform replacement is ε-greedy exploration carried over to a box (QT-Opt explores by
    mixing the greedy CEM policy with random actions, Kalashnikov et al. 2018).
    """
    lo, hi = _bounds(low, high, actions.shape[1])
    out = actions
    if noise > 0:
        out = out + noise * (hi - lo) / 2.0 * torch.randn(actions.shape, generator=generator)
    out = torch.maximum(torch.minimum(out, hi), lo)
    if epsilon > 0:
        coin = torch.rand(actions.shape[0], generator=generator) < epsilon
        out = torch.where(coin[:, None], _uniform(generator, tuple(actions.shape), lo, hi), out)
    return out
