"""Check anyone's return or advantage estimator for bias against exact expectations on random MDPs.

:func:`check_estimator` draws episodic MDPs, policies and critics with hypothesis strategies
(seeded: the same call gives the same verdict), samples buffers laid out as a vectorised
environment fills them, applies ``fn`` and tests, at every *start*, whether the mean of its output
is the exact expectation of what it claims to estimate. A significant bias is shrunk by hypothesis
to a small counterexample: the MDP, the policy, the critic and a trajectory.

The buffer
----------
``streams`` columns ``b`` of ``steps`` steps ``t`` (``T × B``), several episodes per column, each
reset in place; the buffer begins mid-episode (a warm-up of ``limit`` steps, or ``steps // 4``
without truncations, is dropped). Step ``t`` is the transition ``s_t → next_s_t``; an episode ends by a *termination*
(``next_s_t`` terminal, ``discount_t = 0``) or by a *time-limit truncation* after ``limit`` steps
(``truncated_t``, ``discount_t = γ``). ``fn`` is called on

* ``r_t, discount_t``: ``(T, B)``, ``discount_t = γ·(1 − terminated_t)``;
* ``v_t``: ``(T, B)`` the critic's value ``V̂(next_s_t)`` of the state each step reached (the
  truncated state's at a truncation) — the *v_t layout* of :func:`triad.multistep.lambda_returns`;
  or ``values``: ``(T + 1, B)``, ``V̂(s_0) … V̂(s_T)`` — the *values layout* of
  :func:`triad.multistep.gae`, with ``bootstrap_t = V̂(next_s_t)`` for the truncated steps;
* ``truncated_t``: ``(T, B)`` flags — only if ``fn`` has a ``truncated_t`` parameter; a function
  without one is given buffers whose episodes end only by termination and at the buffer end.

Supported signatures (further parameters are passed from ``kwargs``)::

    fn(r_t, discount_t, v_t)                                      # v_t layout
    fn(r_t, discount_t, v_t, truncated_t=...)                     # v_t layout, truncations
    fn(r_t, discount_t, values)                                   # values layout
    fn(r_t, discount_t, values, truncated_t=..., bootstrap_t=...) # values layout, truncations

The third parameter is read as ``values`` when it is so named (or with ``layout="values"``). It
returns ``(T, B)``: the estimate made at each step. ``v_pi``, ``q_pi``, ``mc``, ``nstep`` and
``lambda-return`` take either layout; ``advantage`` and ``gae`` need the values layout, the only
one that carries the baseline ``V̂(s_t)``. Off-policy targets (``q_t``, ``a_t``, ``pi_t``,
``mu_t`` arguments) are not covered. With ``torch=True`` the arrays are float64
torch tensors; a tensor result is converted back either way.

What is compared, and why it is exact
-------------------------------------
Let ``L_t = min(T − t, limit − age_t)`` be the number of steps from ``t`` to the point where its
episode is cut (by the buffer end or the time limit) if it does not terminate first; it is fixed
by time ``t``. An estimator that reads only its own episode has, given everything up to step ``t``,
a known conditional mean ``e_t``:

* ``"v_pi"``: ``V^π(s_t)``; ``"q_pi"``: ``Q^π(s_t, a_t)``; ``"advantage"``: ``A^π(s_t, a_t)``; the
  critic is then ``V̂ = V^π``, and a return cut at a time fixed in advance and bootstrapped from
  ``V^π`` keeps the mean ``V^π`` (the Markov property), so ``e_t`` does not depend on ``L_t``;
* a named estimator — ``"mc"`` (:func:`~triad.multistep.discounted_returns` bootstrapping
  at the cut), ``"nstep:n"``, ``"lambda-return:λ"``, ``"gae:λ"`` — with any critic: the exact mean
  of that estimator *cut after* ``L_t`` steps and bootstrapping ``V̂`` there
  (:func:`truncated_moments`: the recursion of :mod:`triad.analysis.moments` run ``L_t`` times),
  not its uncut mean, which differs from it when ``V̂ ≠ V^π``.

So every step of the buffer is a sample with an exactly known mean and nothing is approximated
by a horizon. The time limit is short (drawn in ``1 … steps // 2``), so episode ends, where bugs
live, are everywhere in the buffer.

The test
--------
A *start* is a state (``v_pi`` and the value estimators) or a state-action pair (``q_pi``,
``advantage``, ``gae``) together with its distance to the cut: 1 … ``R − 1`` steps to a time limit,
1 … ``R − 1`` steps to the buffer end (with no truncation there), or at least ``R`` steps
(``R = ROOM_CLASSES``): a misread episode end biases the steps next to it, and pooling them with
steps far from any end would dilute that bias. Steps of one column are dependent, columns are
independent: per start, the column sums ``D_b = Σ_t 𝟙[start_t](X_t − e_t)`` and counts ``N_b`` give
the bias ``θ̂ = Σ_b D_b / Σ_b N_b`` with the cluster (delta-method) standard error
``se = sd_b(D_b − θ̂·N_b) / (√B · N̄)`` (Liang & Zeger 1986) and a Student-t interval on ``B − 1``
degrees of freedom. With no bias ``E[D_b] = 0`` exactly, since each term has conditional mean 0
given the past; the interval is normal-approximate in ``B``. The drawn MDPs and policies have no
probability below ``1/(2n)`` (``n`` outcomes), so no event is too rare for a few hundred visits
to show; tiny probabilities would make a zero sample variance look exact. Measured coverage
(slow test, GAE(0.9), 1,024 columns): 0.904 at nominal 0.90, 0.991 at 0.99. A bias below
``numerical_tolerance`` (rounding in ``fn``) is never flagged.

Multiple testing: weighted Bonferroni (Dunn 1961). Each of the ``examples`` draws gets
``α / examples``, split equally over the ``m`` starts it tests (those visited in at least
``min_columns`` columns): every test has level ``α / (examples · m)``, so the intervals hold
simultaneously and an unbiased estimator is flagged with probability at most ``α`` (up to the
normal approximation). Holm rejects more, but yields no simultaneous intervals and needs every
p-value before deciding, while the search stops at the first biased draw.

Counterexamples: the check is a hypothesis search (``hypothesis.find``) for a draw with a
significant bias; hypothesis then shrinks it (fewer states and actions, simpler numbers). The
samples of a draw are a fixed function of the draw and the seed, so hypothesis sees a
deterministic predicate. The shrunk draw is re-sampled with fresh randomness, and the report
shows those statistics (at level ``α / m``) rather than the ones its selection favoured.

Where triad has the exact variance (the named targets) the report gives it beside the sample
variance: per start, ``E[(X_t − e_t)²]`` averaged over its visits, against the mean of the exact
``Var[X | s_t, L_t]``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import math
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from scipy import special

from triad.analysis.moments import _Dynamics
from triad.errors import SpecError, ValidationError
from triad.mdp import FiniteMDP
from triad.operators import state_values
from triad.progress import Progress, advance, total
from triad.sampling import rollout
from triad.solvers import evaluate_policy, evaluate_q
from triad.testing import DISCOUNTS

ROOM_CLASSES = 4
"""``R``: starts are split by distance to the cut, 1 … R − 1 steps (per kind of cut) or ≥ R."""

VALUE_TARGETS = ("v_pi", "q_pi", "advantage")
"""Targets compared with exact values; the critic is then ``V^π``."""

NAMED_TARGETS = ("mc", "nstep:N", "lambda-return:LAM", "gae:LAM")
"""Targets that are a triad estimator's exact expectation with a given critic."""

CRITICS = ("exact", "zeros", "random")
"""``V̂``: ``V^π``; zero; ``V^π`` plus a drawn offset of up to ``1 + max|V^π|`` per state."""

# ------------------------------------------------------------------------------------- targets
@dataclasses.dataclass(frozen=True)
class Target:
    """What an estimator claims to estimate.

    Attributes:
        name: as given, e.g. ``"lambda-return:0.9"``.
        kind: ``v_pi``, ``q_pi``, ``advantage``, ``mc``, ``nstep``, ``lambda`` or ``gae``.
        n, lam: the named estimator's parameter.
    """

    name: str
    kind: str
    n: int = 1
    lam: float = 1.0

    @property
    def by_pair(self) -> bool:
        """Whether starts are state-action pairs (the estimate is of ``Q`` or ``A``)."""
        return self.kind in ("q_pi", "advantage", "gae")

    @property
    def named(self) -> bool:
        """Whether the target is a named estimator's expectation (any critic)."""
        return self.kind not in VALUE_TARGETS

    def describe(self) -> str:
        return {"v_pi": "V^π(s_t)", "q_pi": "Q^π(s_t, a_t)", "advantage": "A^π(s_t, a_t)",
                "mc": "E[discounted return bootstrapped at the cut | s_t]",
                "nstep": f"E[{self.n}-step return | s_t]", "lambda": f"E[λ-return, λ = {self.lam:g} | s_t]",
                "gae": f"E[GAE(λ = {self.lam:g}) | s_t, a_t]"}[self.kind]


def parse_target(text: str) -> Target:
    """``"v_pi"``, ``"q_pi"``, ``"advantage"``, ``"mc"``, ``"nstep:3"``, ``"lambda-return:0.9"``, ``"gae:0.95"``.

    Raises:
        SpecError: an unknown name or a bad parameter.
    """
    text = str(text).strip()
    name, _, arg = (part.strip() for part in text.partition(":"))
    choices = ", ".join((*VALUE_TARGETS, *NAMED_TARGETS))
    if name in (*VALUE_TARGETS, "mc"):
        if arg:
            raise SpecError(f"target {text!r}: {name} takes no parameter")
        return Target(text, name)
    if name == "nstep":
        try:
            n = int(arg)
        except ValueError:
            raise SpecError(f"target {text!r}: expected nstep:N with an integer N ≥ 1") from None
        if n < 1:
            raise SpecError(f"target {text!r}: N = {n} must be ≥ 1")
        return Target(text, "nstep", n=n)
    if name in ("lambda-return", "lambda", "gae"):
        try:
            lam = float(arg)
        except ValueError:
            raise SpecError(f"target {text!r}: expected {name}:LAM with LAM in [0, 1]") from None
        if not 0.0 <= lam <= 1.0:
            raise SpecError(f"target {text!r}: λ = {lam:g} is outside [0, 1]")
        return Target(text, "gae" if name == "gae" else "lambda", lam=lam)
    raise SpecError(f"unknown target {text!r} (choose from {choices})")


# ----------------------------------------------------------------------------------- signature
@dataclasses.dataclass(frozen=True)
class Signature:
    """How the kit calls ``fn``: the layout of its third argument and whether it sees truncations."""

    layout: str
    truncations: bool
    kwargs: dict
    text: str


def _describe(fn: Callable) -> str:
    if isinstance(fn, functools.partial):
        return f"partial({_describe(fn.func)})"
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}" if module and module != "__main__" else name


def inspect_signature(fn: Callable, kwargs: dict | None = None, layout: str | None = None) -> Signature:
    """Read how to call ``fn`` from its parameters (see the module docstring).

    Raises:
        ValidationError: one line naming what does not fit: too few positional parameters, a
            required parameter the kit cannot fill, a keyword ``fn`` does not take.
    """
    name = _describe(fn)
    kwargs = dict(kwargs or {})
    if not callable(fn):
        raise ValidationError(f"{name} is not callable")
    if layout not in (None, "v_t", "values"):
        raise ValidationError(f"layout = {layout!r}: expected 'v_t' or 'values'")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: assume the plainest form
        return Signature(layout or "v_t", False, kwargs, f"{name}(r_t, discount_t, {layout or 'v_t'})")
    P = inspect.Parameter
    positional = [p for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind == P.VAR_POSITIONAL for p in params)
    named = {p.name: p for p in params if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
    varkw = any(p.kind == P.VAR_KEYWORD for p in params)
    shown = f"{name}({', '.join(str(p.replace(annotation=P.empty)) for p in params)})"
    if len(positional) < 3 and not varargs:
        raise ValidationError(f"{shown} does not fit: the kit calls fn(r_t, discount_t, v_t or values, ...) "
                              f"with three positional arrays")
    third = positional[2].name if len(positional) >= 3 else "v_t"
    layout = layout or ("values" if third == "values" else "v_t")
    truncations = "truncated_t" in named
    if layout == "values" and truncations and "bootstrap_t" not in named and not varkw:
        raise ValidationError(f"{shown} takes truncated_t but not bootstrap_t: with the values layout the value of "
                              f"a truncated state comes in bootstrap_t (see triad.multistep.gae)")
    supplied = {"truncated_t", "bootstrap_t"} if truncations else set()
    for key in kwargs:
        if key not in named and not varkw:
            raise ValidationError(f"{shown} has no parameter {key!r} (given in kwargs)")
        if key in supplied or (key in named and named[key] in positional[:3]):
            raise ValidationError(f"{shown}: {key!r} is filled in by the kit; do not pass it in kwargs")
    for p in positional[3:] + [p for p in params if p.kind == P.KEYWORD_ONLY]:
        if p.default is P.empty and p.name not in kwargs and p.name not in supplied:
            raise ValidationError(f"{shown} needs {p.name!r}: pass it in kwargs (CLI: --set {p.name}=...)")
    extra = ", ".join([*(["truncated_t=…"] if truncations else []),
                       *(["bootstrap_t=…"] if truncations and layout == "values" else []),
                       *(f"{k}={v!r}" for k, v in kwargs.items())])
    return Signature(layout, truncations, kwargs, f"{name}(r_t, discount_t, {layout}{', ' + extra if extra else ''})")


# -------------------------------------------------------------------------------------- draws
@dataclasses.dataclass(frozen=True, eq=False)
class Case:
    """One draw: an episodic MDP, a policy, a critic and a time limit.

    Attributes:
        mdp: its last state is terminal; episodes start uniformly in the others.
        pi: ``(S, A)`` policy.
        critic: how the critic is made (:data:`CRITICS`).
        offsets: ``(S,)`` in [−1, 1]: the ``random`` critic is ``V^π + offsets·(1 + max|V^π|)``.
        limit: time limit (``None``: no truncations).
    """

    mdp: FiniteMDP
    pi: np.ndarray
    critic: str
    offsets: np.ndarray
    limit: int | None

    @functools.cached_property
    def v_pi(self) -> np.ndarray:
        """``(S,)`` exact ``V^π``."""
        return evaluate_policy(self.mdp, self.pi)

    @functools.cached_property
    def v_hat(self) -> np.ndarray:
        """``(S,)`` the critic ``V̂`` the buffer's values come from."""
        if self.critic == "exact":
            return self.v_pi
        if self.critic == "zeros":
            return np.zeros(self.mdp.S)
        return self.v_pi + self.offsets * (1.0 + np.abs(self.v_pi).max())

    @functools.cached_property
    def key(self) -> bytes:
        """A digest of the draw: what its samples are seeded from."""
        h = hashlib.blake2b(digest_size=16)
        mdp = self.mdp
        for x in (mdp.P, mdp.R, mdp.terminal, mdp.reward_std, self.pi, self.offsets):
            h.update(np.ascontiguousarray(x).tobytes())
            h.update(str(np.shape(x)).encode())
        h.update(repr((mdp.gamma, self.limit, self.critic)).encode())
        return h.digest()


_ENDS = (0.0, 0.25, 0.1, 0.5)
_NOISES = (0.0, 1.0, 3.0)


@functools.cache
def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


def _coarse(codes: list[int], n: int, keep: int) -> np.ndarray:
    """Distributions over ``keep ≤ n`` outcomes from integers in ``[0, 3ⁿ)``: base-3 digits as weights.

    The first ``keep`` of the ``n`` digits are weights 0, 1 or 2 (all 0: weight on outcome 0), so
    every positive probability is at least ``1/(2·keep)``: no event is so rare that a sample of a
    few hundred visits misses it (which would make a sample variance of zero look exact).
    """
    w = ((np.asarray(codes)[:, None] // 3 ** np.arange(n)[None, :]) % 3)[:, :keep].astype(np.float64)
    w[w.sum(axis=1) == 0, 0] = 1.0
    return w / w.sum(axis=1, keepdims=True)


@st.composite
def episodic_mdps(draw: st.DrawFn, max_states: int = 4, max_actions: int = 2, reward_scale: float = 10.0) -> FiniteMDP:
    """A random MDP with one terminal state, reward noise and no rare events.

    ``S ≤ max_states`` ordinary states and a terminal one (the last, index ``S``), ``A ≤
    max_actions`` actions; transition rows with some zeros and every positive probability at least
    ``1/(2S)``; each pair ``(s, a)`` moves to the terminal state with a drawn probability (0, 1/10,
    1/4 or 1/2); rewards are multiples of 1/4 in ``[−scale, scale]`` (readable when shrunk) with
    Gaussian noise of drawn standard deviation (0, 1 or 3); γ from :data:`triad.testing.DISCOUNTS`;
    episodes start uniformly in the ordinary states.

    Every pair of the largest MDP is drawn (three choices each), then ``S`` and ``A`` pick a
    corner: dropping a state does not move the choices of the others, so hypothesis shrinks
    counterexamples to few states.
    """
    S = draw(_ints(1, max_states))
    A = draw(_ints(1, max_actions))
    gamma = draw(DISCOUNTS)
    quarters = int(4 * reward_scale)
    R, end, std = (np.zeros((max_states, max_actions)) for _ in range(3))
    codes = []
    for s in range(max_states):
        for a in range(max_actions):
            R[s, a] = draw(_ints(-quarters, quarters)) / 4.0
            k = draw(_ints(0, len(_ENDS) * len(_NOISES) - 1))
            end[s, a], std[s, a] = _ENDS[k % len(_ENDS)], _NOISES[k // len(_ENDS)]
            codes.append(draw(_ints(0, 3**max_states - 1)))
    P = np.zeros((S + 1, A, S + 1))
    rows = _coarse(codes, max_states, S).reshape(max_states, max_actions, S)[:S, :A]
    P[:S, :, :S] = rows * (1.0 - end[:S, :A])[..., None]
    P[:S, :, S] = end[:S, :A]
    P[S, :, S] = 1.0
    R, std = np.vstack([R[:S, :A], np.zeros((1, A))]), np.vstack([std[:S, :A], np.zeros((1, A))])
    mu = np.append(np.full(S, 1.0 / S), 0.0)
    return FiniteMDP(P, R, gamma, mu=mu, terminal=np.arange(S + 1) == S, reward_std=std)


@st.composite
def coarse_policies(draw: st.DrawFn, mdp: FiniteMDP, max_states: int | None = None,
                    max_actions: int | None = None) -> np.ndarray:
    """A deterministic policy, or a stochastic one whose positive probabilities are at least 1/(2A).

    Draws for ``max_states`` states and ``max_actions`` actions (default: the MDP's) and keeps the
    corner the MDP has, so the choices stay aligned when hypothesis drops states or actions.
    """
    S, A = max(max_states or 0, mdp.S), max(max_actions or 0, mdp.A)
    deterministic = draw(st.booleans())
    actions = np.array([draw(_ints(0, A - 1)) for _ in range(S)])[: mdp.S] % mdp.A
    rows = _coarse([draw(_ints(0, 3**A - 1)) for _ in range(S)], A, mdp.A)[: mdp.S]
    return np.eye(mdp.A)[actions] if deterministic else rows


_offset = st.floats(-1.0, 1.0, allow_subnormal=False)


@st.composite
def cases(draw: st.DrawFn, critic: str = "random", truncations: bool = True, steps: int = 16,
          max_states: int = 4, max_actions: int = 2) -> Case:
    """Draws :class:`Case`: an :func:`episodic_mdps` MDP, a policy, a critic and a time limit in 1 … steps // 2."""
    if critic not in CRITICS:
        raise ValidationError(f"critic = {critic!r}: choose from {', '.join(CRITICS)}")
    mdp = draw(episodic_mdps(max_states, max_actions))
    pi = draw(coarse_policies(mdp, max_states + 1, max_actions))
    offsets = np.zeros(mdp.S)
    if critic == "random":
        offsets = np.array([draw(_offset) for _ in range(max_states + 1)])[: mdp.S]
    limit = draw(_ints(1, max(1, steps // 2))) if truncations else None
    return Case(mdp, pi, critic, offsets, limit)


# ------------------------------------------------------------------------------------- buffers
@dataclasses.dataclass(frozen=True, eq=False)
class Buffer:
    """``T × B`` steps of a vectorised environment, time on axis 0 (see the module docstring).

    Attributes:
        s_t, a_t, r_t, next_s_t: state, action, reward and reached state of each step.
        discount_t: ``γ·(1 − terminated_t)``.
        terminated_t, truncated_t: how the step's episode ended there, if it did.
        v_t: ``V̂(next_s_t)``, the bootstrap of each step.
        values: ``(T + 1, B)`` ``V̂(s_0) … V̂(s_T)`` (``s_T``: the environment's state after the
            buffer, a new episode's first state if the last step ended one).
        bootstrap_t: ``V̂(next_s_t)``, read at truncations by the values layout.
        room_t: steps to the cut, ``min(T − t, limit − age_t)``.
        cut_by_limit_t: whether that cut is a time limit (else the buffer end).
        case: the draw the buffer was sampled from.
    """

    s_t: np.ndarray
    a_t: np.ndarray
    r_t: np.ndarray
    next_s_t: np.ndarray
    discount_t: np.ndarray
    terminated_t: np.ndarray
    truncated_t: np.ndarray
    v_t: np.ndarray
    values: np.ndarray
    bootstrap_t: np.ndarray
    room_t: np.ndarray
    cut_by_limit_t: np.ndarray
    case: Case


def sample_buffer(rng: np.random.Generator, case: Case, steps: int, streams: int) -> Buffer:
    """Sample a :class:`Buffer` of ``steps × streams`` from a draw.

    Runs :func:`triad.sampling.rollout` for a warm-up (the time limit, after which every column
    has reset at least once, or ``steps // 4`` without one), the buffer, and one step more (for
    ``s_T``), with the draw's time limit; episodes restart from ``mu``.
    """
    if steps < 1 or streams < 1:
        raise ValidationError(f"steps = {steps} and streams = {streams} must be ≥ 1")
    warm = case.limit if case.limit is not None else steps // 4
    traj = rollout(rng, case.mdp, case.pi, warm + steps + 1, streams=streams, max_episode_steps=case.limit)
    done = traj.terminated_t | traj.truncated_t
    age = np.zeros((warm + steps, streams), dtype=np.int64)
    for t in range(1, warm + steps):
        age[t] = np.where(done[t - 1], 0, age[t - 1] + 1)
    age = age[warm:]
    buf = slice(warm, warm + steps)
    to_end = (steps - np.arange(steps))[:, None]
    to_limit = case.limit - age if case.limit is not None else np.full_like(age, steps + 1)
    v_hat = case.v_hat
    s, nxt = traj.s_t[buf], traj.next_s_t[buf]
    terminated, truncated = traj.terminated_t[buf], traj.truncated_t[buf]
    return Buffer(s, traj.a_t[buf], traj.r_t[buf], nxt, case.mdp.gamma * (1.0 - terminated), terminated,
                  truncated, v_hat[nxt], v_hat[np.vstack([s, traj.s_t[warm + steps][None]])], v_hat[nxt],
                  np.minimum(to_end, to_limit), to_limit <= to_end, case)


@st.composite
def buffers(draw: st.DrawFn, steps: int = 16, streams: int = 8, critic: str = "random", truncations: bool = True,
            max_states: int = 4, max_actions: int = 2) -> Buffer:
    """Hypothesis strategy for :class:`Buffer`: arrays with terminations and truncations inside.

    For property tests of your own estimator, e.g. that it matches a reference::

        @given(buffers())
        def test_matches_triad(buf):
            mine = my_lambda_returns(buf.r_t, buf.discount_t, buf.v_t, 0.9, buf.truncated_t)
            ref = multistep.lambda_returns(buf.r_t, buf.discount_t, buf.v_t, 0.9, truncated_t=buf.truncated_t)
            np.testing.assert_allclose(mine, ref)

    The draw (MDP, policy, critic, time limit) shrinks; the sampling seed is drawn too.
    """
    case = draw(cases(critic, truncations, steps, max_states, max_actions))
    seed = draw(st.integers(0, 2**32 - 1))
    return sample_buffer(np.random.default_rng(seed), case, steps, streams)


# ---------------------------------------------------------------------------------- exact means
def truncated_moments(mdp: FiniteMDP, pi: np.ndarray, estimator: str, v_hat: np.ndarray, horizon: int,
                      n: int = 1, lam: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and variance of an estimator cut after ``L = 1 … horizon`` steps, from each pair.

    ``G_L`` is the estimator with ``L`` steps of room before its episode is cut (the last one
    bootstraps ``V̂``): with ``G_0 = V̂``, ``G_L = r + γ'(s')·((1 − λ)·V̂(s') + λ·G_{L−1}(s'))`` —
    ``λ = 1`` for ``mc``, and ``nstep`` is ``λ = 1`` for ``L ≤ n`` and ``G_n`` after. Each step is
    one backup of :class:`triad.analysis.moments` (law of total variance); as ``L → ∞`` the moments
    approach :func:`~triad.analysis.moments.value_moments`'s. GAE(λ) is ``G_L − V̂(s)``.

    Args:
        estimator: ``mc``, ``nstep``, ``lambda`` or ``gae``.
        v_hat: ``(S,)`` the critic.
    Returns:
        ``(mean, variance)``, each ``(horizon, S, A)``: entry ``[L − 1, s, a]`` given the first
        action ``a`` (use :func:`triad.operators.state_values` for ``a ~ π``).
    """
    if estimator not in ("mc", "nstep", "lambda", "gae"):
        raise ValidationError(f"unknown estimator {estimator!r} (choose from mc, nstep, lambda, gae)")
    dyn = _Dynamics(mdp, pi)
    v_hat = np.asarray(v_hat, dtype=np.float64)
    mean_sa, var_sa = np.empty((horizon, mdp.S, mdp.A)), np.empty((horizon, mdp.S, mdp.A))
    mean, var = v_hat, np.zeros(mdp.S)
    lam = lam if estimator in ("lambda", "gae") else 1.0
    for k in range(horizon):
        if estimator == "nstep" and k >= n:
            mean_sa[k], var_sa[k] = mean_sa[n - 1], var_sa[n - 1]
            continue
        mean_sa[k], var_sa[k] = dyn.one_step((1.0 - lam) * v_hat + lam * mean, lam**2 * var)
        mean, var = dyn.over_actions(mean_sa[k], var_sa[k])
    return mean_sa, var_sa


def _exact_tables(case: Case, target: Target, steps: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``e`` and the exact variance (or None) by room and start: ``(steps, S)`` or ``(steps, S, A)``."""
    mdp, pi = case.mdp, case.pi
    if not target.named:
        q = evaluate_q(mdp, pi)
        table = {"v_pi": case.v_pi, "q_pi": q, "advantage": q - case.v_pi[:, None]}[target.kind]
        return np.broadcast_to(table, (steps, *table.shape)), None
    mean_sa, var_sa = truncated_moments(mdp, pi, target.kind, case.v_hat, steps, target.n, target.lam)
    if target.by_pair:
        return mean_sa - case.v_hat[None, :, None], var_sa
    mean = state_values(mean_sa, pi)
    return mean, state_values(var_sa + (mean_sa - mean[..., None]) ** 2, pi)


# ---------------------------------------------------------------------------------- statistics
@dataclasses.dataclass(frozen=True, eq=False)
class Draw:
    """The statistics of one draw, per tested start (arrays of length ``m``).

    ``labels`` name the starts, ``cells`` index them; ``target`` is the mean exact expectation over
    the visits, ``mean`` the mean output, ``bias = mean − target`` with standard error ``se`` and
    the interval ``bias ± quantile·se`` at the per-test ``level``; ``untested``: starts visited in
    fewer than ``min_columns`` columns; ``buffer`` and ``output``: the sample and ``fn``'s output.
    """

    case: Case
    labels: list[str]
    cells: np.ndarray
    visits: np.ndarray
    columns: np.ndarray
    target: np.ndarray
    mean: np.ndarray
    bias: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p: np.ndarray
    sample_variance: np.ndarray
    exact_variance: np.ndarray | None
    level: float
    quantile: float
    tolerance: float
    untested: int
    buffer: Buffer
    output: np.ndarray

    @property
    def significant(self) -> np.ndarray:
        return (self.p < self.level) & (np.abs(self.bias) > self.tolerance)

    @property
    def biased(self) -> bool:
        return bool(self.significant.any())

    @property
    def worst(self) -> int:
        """Index of the start with the largest ``|z|`` (significant ones first)."""
        score = np.where(self.significant, np.inf, 0.0) + np.nan_to_num(np.abs(self.z))
        return int(np.argmax(score)) if len(score) else -1

    def rows(self) -> list[dict]:
        half = self.quantile * self.se
        return [{"start": self.labels[i], "visits": int(self.visits[i]), "columns": int(self.columns[i]),
                 "target": float(self.target[i]), "mean": float(self.mean[i]), "bias": float(self.bias[i]),
                 "ci": [float(self.bias[i] - half[i]), float(self.bias[i] + half[i])], "z": float(self.z[i]),
                 "p": float(self.p[i]), "significant": bool(self.significant[i]),
                 "sample_variance": float(self.sample_variance[i]),
                 "exact_variance": None if self.exact_variance is None else float(self.exact_variance[i])}
                for i in range(len(self.labels))]


def _room_class(room: np.ndarray, by_limit: np.ndarray) -> np.ndarray:
    """0 … R−2: 1 … R−1 steps to the buffer end; R−1 … 2R−3: to a time limit; 2R−2: ≥ R steps."""
    R = ROOM_CLASSES
    return np.where(room >= R, 2 * R - 2, room - 1 + (R - 1) * by_limit)


def _room_label(c: int) -> str:
    R = ROOM_CLASSES
    if c == 2 * R - 2:
        return f"≥{R} steps to a cut"
    k = c % (R - 1) + 1
    return f"{k} step{'s' if k > 1 else ''} to {'a time limit' if c >= R - 1 else 'the buffer end'}"


def _start_label(j: int, A: int, by_pair: bool) -> str:
    return f"s={j // A}, a={j % A}" if by_pair else f"s={j}"


def _statistics(case: Case, buf: Buffer, out: np.ndarray, target: Target, alpha_draw: float,
                min_columns: int, rtol: float) -> Draw:
    T, B = out.shape
    mdp = case.mdp
    mean_table, var_table = _exact_tables(case, target, T)
    room = buf.room_t - 1
    if target.by_pair:
        e = mean_table[room, buf.s_t, buf.a_t]
        start = buf.s_t * mdp.A + buf.a_t
        starts = mdp.S * mdp.A
    else:
        e = mean_table[room, buf.s_t]
        start = buf.s_t
        starts = mdp.S
    C = 2 * ROOM_CLASSES - 1
    cell = start * C + _room_class(buf.room_t, buf.cut_by_limit_t)
    K = starts * C
    res = out - e
    idx = (cell * B + np.arange(B)[None, :]).ravel()

    def per_column(weights: np.ndarray | None) -> np.ndarray:
        return np.bincount(idx, weights=weights, minlength=K * B).reshape(K, B)

    N = per_column(None)
    D = per_column(res.ravel())
    visits = N.sum(axis=1)
    columns = (N > 0).sum(axis=1)
    tested = np.flatnonzero(columns >= min_columns)
    N, D, visits, columns = N[tested], D[tested], visits[tested], columns[tested]
    bias = D.sum(axis=1) / visits
    nbar = visits / B
    dev = D - bias[:, None] * N
    se = np.sqrt((dev**2).sum(axis=1) / (B * (B - 1))) / nbar
    tolerance = rtol * (1.0 + float(np.abs(e).max()))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, bias / se, np.where(np.abs(bias) > tolerance, np.inf, 0.0))
    m = max(len(tested), 1)
    level = alpha_draw / m
    p = 2.0 * special.stdtr(B - 1, -np.abs(z))  # two-sided Student-t p-value
    quantile = float(-special.stdtrit(B - 1, level / 2.0))
    target_mean = per_column(e.ravel())[tested].sum(axis=1) / visits
    sample_var = per_column((res**2).ravel())[tested].sum(axis=1) / visits
    exact_var = None
    if var_table is not None:
        v = var_table[room, buf.s_t, buf.a_t] if target.by_pair else var_table[room, buf.s_t]
        exact_var = per_column(v.ravel())[tested].sum(axis=1) / visits
    labels = [f"{_start_label(c // C, mdp.A, target.by_pair)}, {_room_label(c % C)}" for c in tested]
    return Draw(case, labels, tested, visits, columns, target_mean, target_mean + bias, bias, se, z, p, sample_var,
                exact_var, level, quantile, tolerance, K - len(tested), buf, out)


# ------------------------------------------------------------------------------------- calling
def _as_numpy(x: Any) -> np.ndarray:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _call(fn: Callable, sig: Signature, buf: Buffer, use_torch: bool) -> tuple[np.ndarray, bool]:
    """``fn``'s output on a buffer as a float64 array, and whether it came in single precision."""
    third = buf.values if sig.layout == "values" else buf.v_t
    args: list[Any] = [buf.r_t, buf.discount_t, third]
    extra: dict[str, Any] = {}
    if sig.truncations:
        extra["truncated_t"] = buf.truncated_t
        if sig.layout == "values":
            extra["bootstrap_t"] = buf.bootstrap_t
    if use_torch:
        import torch

        args = [torch.as_tensor(a, dtype=torch.float64) for a in args]
        extra = {k: torch.as_tensor(v) if k == "truncated_t" else torch.as_tensor(v, dtype=torch.float64)
                 for k, v in extra.items()}
    out = fn(*args, **extra, **sig.kwargs)
    single = str(getattr(out, "dtype", "")).endswith(("float32", "float16", "bfloat16"))
    return _as_numpy(out), single


def _checked_call(fn: Callable, sig: Signature, buf: Buffer, use_torch: bool) -> tuple[np.ndarray, bool]:
    shape = buf.r_t.shape
    try:
        out, single = _call(fn, sig, buf, use_torch)
    except Exception as exc:  # the first call decides whether fn fits: say so in one line
        message = " ".join(str(exc).split())
        raise ValidationError(f"{sig.text} raised {type(exc).__name__} on a {shape} buffer: {message}") from exc
    if out.shape != shape:
        raise ValidationError(f"{sig.text} returned shape {out.shape}; expected {shape}, one estimate per step")
    bad = ~np.isfinite(out)
    if bad.any():
        t, b = (int(i) for i in np.argwhere(bad)[0])
        raise ValidationError(f"{sig.text} returned {out[t, b]} at step {t}, column {b} of a {shape} buffer")
    return out, single


def _probe_case(truncations: bool) -> Case:
    """A fixed small draw to check ``fn``'s signature on before searching."""
    P = np.zeros((3, 2, 3))
    P[0, 0] = [0.5, 0.3, 0.2]
    P[0, 1] = [0.0, 0.9, 0.1]
    P[1, :] = [0.6, 0.2, 0.2]
    P[2, :, 2] = 1.0
    mdp = FiniteMDP(P, [[1.0, -1.0], [0.5, 2.0], [0.0, 0.0]], 0.9, mu=[0.5, 0.5, 0.0],
                    terminal=[False, False, True])
    return Case(mdp, np.full((3, 2), 0.5), "random", np.array([0.5, -0.5, 1.0]), 2 if truncations else None)


def _draw_statistics(rng: np.random.Generator, fn: Callable, sig: Signature, case: Case, target: Target, steps: int,
                     streams: int, alpha: float, use_torch: bool, min_columns: int, tolerance: float) -> Draw:
    buf = sample_buffer(rng, case, steps, streams)
    out, single = _checked_call(fn, sig, buf, use_torch)
    rtol = max(tolerance, 1e-5 if single else 0.0)
    return _statistics(case, buf, out, target, alpha, min_columns, rtol)


def draw_statistics(rng: np.random.Generator, fn: Callable, case: Case, target: str = "v_pi", *, steps: int = 16,
                    streams: int = 2048, alpha: float = 1e-3, kwargs: dict | None = None, layout: str | None = None,
                    torch: bool = False, min_columns: int = 200, numerical_tolerance: float = 1e-8) -> Draw:
    """The test of :func:`check_estimator` on one given draw: sample a buffer, apply ``fn``, compare.

    ``alpha`` is the family-wise level over this draw's starts (each test at ``alpha / m``); the
    other arguments are those of :func:`check_estimator`. Use it to study one MDP of your own
    (build a :class:`Case`) or to measure the intervals' coverage.
    """
    tgt = parse_target(target)
    sig = inspect_signature(fn, kwargs, layout)
    return _draw_statistics(rng, fn, sig, case, tgt, steps, streams, alpha, torch, min_columns, numerical_tolerance)


# --------------------------------------------------------------------------------------- report
@dataclasses.dataclass(frozen=True, eq=False)
class CheckReport:
    """The verdict of :func:`check_estimator`; ``str(report)`` is the human-readable report.

    Attributes:
        passed: no significant bias in any draw.
        estimator, target, critic, signature: what was checked, and how ``fn`` was called.
        truncations: whether the buffers had time-limit truncations.
        examples, tests: draws searched and starts tested before the verdict.
        alpha: family-wise level over all tests (weighted Bonferroni).
        seed, steps, streams: the sampling design.
        rows: per-start statistics of the draw shown (the counterexample, re-sampled; or, on a
            pass, the draw with the largest ``|z|``), dicts with ``start, visits, columns, target,
            mean, bias, ci, z, p, significant, sample_variance, exact_variance``.
        level: the per-test level of ``rows``.
        counterexample: ``None`` on a pass; else the MDP, policy, critic, time limit, a
            trajectory excerpt, ``evaluations`` spent shrinking and ``confirmed`` (whether the
            fresh draws are significant too).
        seconds: wall time.
    """

    passed: bool
    estimator: str
    target: str
    critic: str
    signature: str
    truncations: bool
    examples: int
    tests: int
    alpha: float
    seed: int
    steps: int
    streams: int
    rows: list[dict]
    level: float
    largest_z: float
    counterexample: dict | None
    seconds: float

    def to_dict(self) -> dict:
        """JSON-ready dict of every field, with ``correction: "bonferroni"``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["correction"] = "bonferroni"
        return out

    def __str__(self) -> str:
        return _format(self)


def _fmt(x: float | None) -> str:
    return "—" if x is None else (f"{x:.4g}" if math.isfinite(x) else str(x))


def _vector(x: Any) -> str:
    return "[" + ", ".join(_fmt(float(v)) for v in np.ravel(x)) + "]"


def _rows_table(rows: list[dict], limit: int) -> list[str]:
    shown = sorted(rows, key=lambda r: (not r["significant"], -abs(r["z"])))[:limit]
    width = max([len(r["start"]) for r in shown] + [5]) + 2
    lines = [(f"  {'start':<{width}}{'visits':>7}{'target':>10}{'mean':>10}{'bias':>11}  {'interval':<22}{'z':>7}"
             f"{'var':>10}{'exact var':>10}")]
    for r in shown:
        ci = f"[{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}]"
        lines.append(f"{'*' if r['significant'] else ' '} {r['start']:<{width}}{r['visits']:>7}{_fmt(r['target']):>10}"
                     f"{_fmt(r['mean']):>10}{_fmt(r['bias']):>11}  {ci:<22}{_fmt(r['z']):>7}"
                     f"{_fmt(r['sample_variance']):>10}{_fmt(r['exact_variance']):>10}")
    if len(rows) > len(shown):
        lines.append(f"  … {len(rows) - len(shown)} more starts (all in the JSON report)")
    return lines


def _format(rep: CheckReport) -> str:
    cut = "terminations and time-limit truncations" if rep.truncations else "terminations (fn takes no truncated_t)"
    searched = (f"{rep.examples} random MDPs, {rep.tests} tests" if rep.passed
                else f"biased in random MDP {rep.examples}, after {rep.tests} tests")
    lines = [f"{'PASSED' if rep.passed else 'BIASED'}: {rep.estimator} against target {rep.target}, critic {rep.critic}",
             f"  called as {rep.signature} on {rep.steps} × {rep.streams} buffers with {cut}",
             f"  {searched}; Bonferroni, family-wise α = {rep.alpha:g}; seed {rep.seed}; {rep.seconds:.1f} s"]
    if rep.passed:
        lines.append(f"  no significant bias; largest |z| = {_fmt(rep.largest_z)}, in this MDP "
                     f"(intervals at level {rep.level:.2g}):")
        return "\n".join(lines + _rows_table(rep.rows, 4))
    cx = rep.counterexample
    S, A = cx["S"], cx["A"]
    again = "significant again" if cx["confirmed"] else "NOT significant again: a weak bias, try more streams"
    lines += [f"counterexample, shrunk in {cx['evaluations']} evaluations; statistics from fresh samples ({again}):",
              (f"  S = {S} states (state {S - 1} terminal; episodes start uniformly in the others), A = {A}, "
              f"γ = {cx['gamma']:g}, time limit {cx['limit'] if cx['limit'] is not None else 'none'}")]
    for s in range(S - 1):
        for a in range(A):
            lines.append(f"  s={s}, a={a}: π = {_fmt(float(cx['pi'][s][a]))}, R = {_fmt(float(cx['R'][s][a]))} "
                         f"± {_fmt(float(cx['reward_std'][s][a]))}, P(·|s, a) = {_vector(cx['P'][s][a])}")
    lines.append(f"  critic V̂ = {_vector(cx['v_hat'])}, V^π = {_vector(cx['v_pi'])}")
    lines.append(f"  biased starts (*; intervals at level {rep.level:.2g}):")
    lines += _rows_table(rep.rows, 6)
    traj = cx["trajectory"]
    lines.append(f"  trajectory: column {traj['column']}, steps {traj['rows'][0]['t']}–{traj['rows'][-1]['t']} "
                 f"(start '{traj['start']}' at step {traj['step']})")
    keys = list(traj["rows"][0])
    lines.append("  " + "".join(f"{k:>12}" for k in keys))
    for row in traj["rows"]:
        lines.append("  " + "".join(f"{_fmt(v) if isinstance(v, float) else str(v):>12}" for v in row.values()))
    return "\n".join(lines)


def _trajectory(draw: Draw, target: Target, layout: str) -> dict:
    """One column's steps around the first visit of the draw's worst start."""
    buf, out = draw.buffer, draw.output
    i = draw.worst
    C = 2 * ROOM_CLASSES - 1
    mdp = draw.case.mdp
    start = buf.s_t * mdp.A + buf.a_t if target.by_pair else buf.s_t
    cell = start * C + _room_class(buf.room_t, buf.cut_by_limit_t)
    t, b = (int(x) for x in np.argwhere(cell == draw.cells[i])[0])
    # From the step before to two steps past the cut: what an estimator reading across it would see.
    lo, hi = max(0, t - 1), min(len(out) - 1, t + int(buf.room_t[t, b]) + 1, t + 6)
    mean_table, _ = _exact_tables(draw.case, target, len(out))
    rows = []
    for k in range(lo, hi + 1):
        e = (mean_table[buf.room_t[k, b] - 1, buf.s_t[k, b], buf.a_t[k, b]] if target.by_pair
             else mean_table[buf.room_t[k, b] - 1, buf.s_t[k, b]])
        row = {"t": k, "s_t": int(buf.s_t[k, b]), "a_t": int(buf.a_t[k, b]), "r_t": float(buf.r_t[k, b]),
               "discount_t": float(buf.discount_t[k, b]), "truncated_t": bool(buf.truncated_t[k, b])}
        if layout == "values":
            row["values[t]"] = float(buf.values[k, b])
            row["values[t+1]"] = float(buf.values[k + 1, b])
            row["bootstrap_t"] = float(buf.bootstrap_t[k, b])
        else:
            row["v_t"] = float(buf.v_t[k, b])
        row["fn output"] = float(out[k, b])
        row["exact mean"] = float(e)
        rows.append(row)
    return {"column": b, "step": t, "start": draw.labels[i], "rows": rows}


# ------------------------------------------------------------------------------------------ API
class _StopSearch(BaseException):
    """Ends hypothesis's search or shrinking (a BaseException, which hypothesis does not take for a failure)."""


def check_estimator(fn: Callable, target: str = "v_pi", *, critic: str | None = None, examples: int = 20,
                    steps: int = 16, streams: int = 2048, seed: int = 0, alpha: float = 1e-3,
                    kwargs: dict | None = None, layout: str | None = None, torch: bool = False,
                    max_states: int = 4, max_actions: int = 2, min_columns: int = 200, shrink_budget: int = 60,
                    shrink_streams: int | None = None,
                    numerical_tolerance: float = 1e-8, progress: Progress | None = None) -> CheckReport:
    """Test whether ``fn`` estimates ``target`` without bias, on random MDPs; report and counterexample.

    See the module docstring for the buffers, the supported signatures and the statistics.

    Args:
        fn: the estimator, ``fn(r_t, discount_t, v_t or values, ...) -> (T, B)``.
        target: ``"v_pi"``, ``"q_pi"``, ``"advantage"`` (critic ``V^π``) or a named estimator's
            expectation: ``"mc"``, ``"nstep:N"``, ``"lambda-return:LAM"``, ``"gae:LAM"``.
        critic: ``"exact"``, ``"zeros"`` or ``"random"`` (default: exact for the value targets,
            random for the named ones).
        examples: distinct draws to search.
        steps, streams: buffer shape ``T × B``; the columns are the independent units.
        seed: seeds hypothesis and the sampling: the same arguments give the same report.
        alpha: family-wise error rate over all tests of all draws.
        kwargs: further keyword arguments of ``fn`` (e.g. ``{"lam": 0.9}``).
        layout: ``"v_t"`` or ``"values"``, overriding the guess from the third parameter's name.
        torch: pass float64 torch tensors instead of numpy arrays.
        max_states, max_actions: of the drawn MDPs (before the terminal state is added).
        min_columns: a start is tested if visited in at least this many columns.
        shrink_budget: evaluations of new draws while shrinking a counterexample.
        shrink_streams: columns sampled while shrinking (default ``streams // 2``, at least
            ``min_columns``): cheaper, and a shrink is kept only where the bias stays clear.
        numerical_tolerance: biases below ``numerical_tolerance · (1 + max|target|)`` are rounding.
        progress: ``total(examples)``, then ``advance(1, draw=i, largest_z=…)`` per searched draw.
    Returns:
        A :class:`CheckReport`.
    Raises:
        ValidationError: ``fn`` does not fit the signatures (one line), or bad options.
        SpecError: an unknown target.
    """
    begin = time.perf_counter()
    tgt = parse_target(target)
    critic = critic or ("random" if tgt.named else "exact")
    if critic not in CRITICS:
        raise ValidationError(f"critic = {critic!r}: choose from {', '.join(CRITICS)}")
    if not tgt.named and critic != "exact":
        raise ValidationError(f"target {tgt.name} is compared with exact values, which a bootstrapping estimator "
                              f"only estimates without bias from the exact critic: use critic='exact' (or name the "
                              f"estimator, e.g. target='lambda-return:0.9')")
    for name, value, low in (("examples", examples, 1), ("steps", steps, 2), ("streams", streams, 2),
                             ("min_columns", min_columns, 2), ("shrink_budget", shrink_budget, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValidationError(f"{name} = {value!r} must be an integer ≥ {low}")
    if not 0.0 < alpha < 1.0:
        raise ValidationError(f"alpha = {alpha!r} must be in (0, 1)")
    sig = inspect_signature(fn, kwargs, layout)
    if tgt.by_pair and tgt.kind != "q_pi" and sig.layout != "values":
        raise ValidationError(f"{sig.text}: an advantage estimate needs the baseline V̂(s_t), which only the values "
                              f"layout fn(r_t, discount_t, values, ...) provides")
    _checked_call(fn, sig, sample_buffer(np.random.default_rng(0), _probe_case(sig.truncations), steps, 3), torch)

    shrink_streams = max(streams // 2, min_columns) if shrink_streams is None else shrink_streams
    alpha_draw = alpha / examples
    search = {"draws": 0, "tests": 0, "first": None, "smallest": None, "shrinks": 0, "worst": None, "error": None}
    cache: dict[bytes, bool] = {}

    def evaluate(case: Case, salt: int, level: float, columns: int = streams) -> Draw:
        rng = np.random.default_rng([int(seed), salt, *map(int, np.frombuffer(case.key, dtype=np.uint32))])
        return _draw_statistics(rng, fn, sig, case, tgt, steps, columns, level, torch, min_columns,
                                numerical_tolerance)

    def biased(case: Case) -> bool:
        if case.key in cache:
            return cache[case.key]
        shrinking = search["first"] is not None
        if shrinking:
            if search["shrinks"] >= shrink_budget:
                raise _StopSearch
            search["shrinks"] += 1
        elif search["draws"] >= examples:
            raise _StopSearch
        try:
            draw = evaluate(case, 0, alpha_draw, shrink_streams if shrinking else streams)
        except ValidationError as exc:  # fn failed on this draw: report it as it is, without shrinking
            search["error"] = exc
            raise _StopSearch from None
        cache[case.key] = draw.biased
        if not shrinking:
            search["draws"] += 1
            search["tests"] += len(draw.labels)
            z = float(np.abs(draw.z).max()) if len(draw.z) else 0.0
            if search["worst"] is None or z > search["worst"][0]:
                search["worst"] = (z, case)
            advance(progress, 1, draw=search["draws"], largest_z=z)
        if draw.biased:
            search["first"] = search["first"] or case
            search["smallest"] = case  # hypothesis only tries draws simpler than its current one
        return draw.biased

    total(progress, examples)
    # Draws that differ only in choices a smaller MDP ignores are one draw to the kit (the cache):
    # let hypothesis generate more and stop after `examples` distinct ones.
    config = settings(max_examples=4 * examples, derandomize=False, database=None, deadline=None,
                      phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck),
                      verbosity=Verbosity.quiet, print_blob=False, report_multiple_bugs=False)
    strategy = cases(critic, sig.truncations, steps, max_states, max_actions)
    try:
        found = find(strategy, biased, settings=config, random=random.Random(seed))
    except NoSuchExample:
        found = None
    except _StopSearch:  # enough distinct draws searched, the shrink budget spent, or fn failed
        if search["error"] is not None:
            raise search["error"]
        found = search["smallest"]
    common = {"estimator": _describe(fn), "target": tgt.name, "critic": critic, "signature": sig.text,
              "truncations": sig.truncations, "examples": search["draws"], "tests": search["tests"],
              "alpha": alpha, "seed": seed, "steps": steps, "streams": streams}
    if found is None:
        z, case = search["worst"]
        draw = evaluate(case, 0, alpha_draw)
        return CheckReport(True, **common, rows=draw.rows(), level=draw.level, largest_z=z, counterexample=None,
                           seconds=time.perf_counter() - begin)
    draw = evaluate(found, 1, alpha)  # fresh samples, one family: level α / m
    mdp = found.mdp
    counterexample = {"S": mdp.S, "A": mdp.A, "gamma": mdp.gamma, "limit": found.limit, "P": mdp.P, "R": mdp.R,
                      "reward_std": mdp.reward_std, "pi": found.pi, "v_hat": found.v_hat, "v_pi": found.v_pi,
                      "trajectory": _trajectory(draw, tgt, sig.layout),
                      "evaluations": search["shrinks"], "confirmed": draw.biased}
    return CheckReport(False, **common, rows=draw.rows(), level=draw.level,
                       largest_z=float(np.abs(draw.z).max()) if len(draw.z) else 0.0,
                       counterexample=counterexample, seconds=time.perf_counter() - begin)


def assert_unbiased(fn: Callable, target: str = "v_pi", **options: Any) -> CheckReport:
    """:func:`check_estimator` for pytest: raise ``AssertionError`` with the report if ``fn`` is biased.

    Keyword options are those of :func:`check_estimator`. Do not call it inside a hypothesis
    ``@given`` test: the kit runs its own search. Returns the report on a pass.
    """
    report = check_estimator(fn, target, **options)
    if not report.passed:
        raise AssertionError("\n" + str(report))
    return report
