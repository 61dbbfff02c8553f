"""Return and target estimators: pure, vectorised functions of arrays.

Conventions (rlax-style): arrays are named by their time index (``r_t``, ``v_tm1``, ``q_t``);
time runs along axis 0 and any batch axes follow it; ``discount_t = γ·(1 − terminated_t)`` so a
terminal step cuts the return, while at a time-limit truncation the discount stays γ and the
bootstrap value is that of the truncated state. Each docstring states its recursion and source.
Agents and experiments take every target from this module; none keeps its own copy.

Step ``t`` of a buffer is the transition ``s_t → s_{t+1}``: ``r_t`` is its reward, ``discount_t``
its discount and ``v_t`` the value of the state it reached, ``s_{t+1}`` (the bootstrap for step t).

Episode ends inside a buffer (vectorised environments reset in place):

* a *terminated* step has ``discount_t = 0``, so nothing after it is read;
* a *truncated* step (``truncated_t`` true: a time limit, not the MDP, ended the episode) keeps
  ``discount_t = γ`` and bootstraps from ``v_t``, the truncated state's value, and the return
  does not run on into the next entry, which belongs to a new episode;
* the last step of the buffer is treated like a truncation.

Every estimator below is one backward recursion, the *general return*

    G_t = r_t + d_t · ( v_t                  if the return stops after step t,
                        u_t + c_t · G_{t+1}  otherwise ),

with a continuation (trace) coefficient ``c_t`` and an off-trajectory term ``u_t``: discounted
return ``u = 0, c = 1``; λ-return ``u = (1 − λ)·v, c = λ``; GAE the same recursion on TD errors;
off-policy Q targets ``u = v − c·q`` with ``c`` from the correction (Munos et al. 2016); n-step
versions run it for at most ``n`` steps from each ``t``.

Arrays may be numpy arrays or torch tensors: if any input is a tensor the result is a tensor of
its dtype and device (torch is never imported here; it is used only if the caller already has).
numpy results are float64. Buffers of at least :data:`NUMBA_MIN_STEPS` steps run a compiled loop
(bit-identical to the numpy loop; tensors that need no gradient go through it too, in float64,
and come back in their dtype and device); tensors that require a gradient use a differentiable
torch loop over time. None loops over the batch in Python.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from triad.errors import ValidationError

NUMBA_MIN_STEPS = 32
"""numpy buffers with at least this many steps use the compiled loop (shorter ones: numpy)."""

OFF_POLICY_METHODS = ("importance-sampling", "tree-backup", "retrace", "q-lambda", "ignore", "cut")
"""Names accepted by :func:`off_policy_targets` and :func:`trace_coefficients`."""

Array = Any
"""A numpy array or a torch tensor."""


# ------------------------------------------------------------------------------------ backends
class _Numpy:
    """Array operations on numpy, in float64."""

    torch = False

    @staticmethod
    def float(x: Any) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    @staticmethod
    def flags(x: Any) -> np.ndarray:
        return np.asarray(x, dtype=bool)

    @staticmethod
    def ints(x: Any) -> np.ndarray:
        return np.asarray(x)

    @staticmethod
    def numpy(x: np.ndarray) -> np.ndarray:
        return x

    where = staticmethod(np.where)

    @staticmethod
    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts, axis=0)

    @staticmethod
    def broadcast(x: Any, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=np.float64), shape)

    @staticmethod
    def take(q: np.ndarray, a: np.ndarray) -> np.ndarray:
        return np.take_along_axis(q, a[..., None], axis=-1)[..., 0]

    @staticmethod
    def amax(x: np.ndarray) -> np.ndarray:
        return x.max(axis=-1)

    @staticmethod
    def at_most_one(x: np.ndarray) -> np.ndarray:
        return np.minimum(x, 1.0)

    @staticmethod
    def one_hot_argmax(q: np.ndarray) -> np.ndarray:
        return np.eye(q.shape[-1])[np.argmax(q, axis=-1)]


class _Torch:
    """The same operations on torch tensors, keeping the autograd graph, dtype and device."""

    torch = True

    def __init__(self, like: Any):
        self.t = sys.modules["torch"]
        self.dtype = like.dtype if like.is_floating_point() else self.t.get_default_dtype()
        self.device = like.device

    def float(self, x: Any) -> Any:
        return self.t.as_tensor(x, dtype=self.dtype, device=self.device)

    def flags(self, x: Any) -> Any:
        return self.t.as_tensor(x, dtype=self.t.bool, device=self.device)

    def ints(self, x: Any) -> Any:
        return self.t.as_tensor(x, dtype=self.t.int64, device=self.device)

    @staticmethod
    def numpy(x: Any) -> np.ndarray:
        return x.detach().cpu().numpy()

    def needs_grad(self, *xs: Any) -> bool:
        """Whether autograd would record operations on any of ``xs``."""
        return self.t.is_grad_enabled() and any(getattr(x, "requires_grad", False) for x in xs)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.t.where(cond, a, b)

    def cat(self, parts: list[Any]) -> Any:
        return self.t.cat(parts, dim=0)

    def broadcast(self, x: Any, shape: tuple[int, ...]) -> Any:
        return self.t.broadcast_to(self.float(x), shape)

    def take(self, q: Any, a: Any) -> Any:
        return self.t.gather(q, -1, a.unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def amax(x: Any) -> Any:
        return x.amax(dim=-1)

    @staticmethod
    def at_most_one(x: Any) -> Any:
        return x.clamp(max=1.0)

    def one_hot_argmax(self, q: Any) -> Any:
        return self.t.nn.functional.one_hot(q.argmax(dim=-1), q.shape[-1]).to(q.dtype)


def _backend(*xs: Any) -> _Numpy | _Torch:
    """torch if any input is a tensor (and torch is already imported), else numpy."""
    torch = sys.modules.get("torch")
    if torch is not None:
        tensors = [x for x in xs if isinstance(x, torch.Tensor)]
        if tensors:
            floating = [x for x in tensors if x.is_floating_point()]
            return _Torch((floating or tensors)[0])
    return _Numpy()


# ---------------------------------------------------------------------------------- validation
def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in x.shape)


def _time_major(fn: str, r: Any) -> None:
    if r.ndim < 1 or r.shape[0] < 1:
        raise ValidationError(f"{fn}: r_t has shape {_shape(r)}; expected (T, ...) with T ≥ 1 steps on axis 0")


def _like(fn: str, name: str, x: Any, shape: tuple[int, ...], ref: str = "r_t") -> None:
    if _shape(x) != tuple(shape):
        raise ValidationError(f"{fn}: {name} has shape {_shape(x)}, expected {tuple(shape)} like {ref}")


def _first(xp: Any, mask: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(xp.numpy(mask))[0])


def _fraction(fn: str, name: str, xp: Any, x: Any, shape: tuple[int, ...]) -> float | Any:
    """A scalar in [0, 1] as a float, or an array of ``shape`` with entries in [0, 1]."""
    if np.ndim(x) == 0:
        value = float(x)
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            raise ValidationError(f"{fn}: {name} = {value:g} is outside [0, 1]")
        return value
    arr = xp.float(x)
    _like(fn, name, arr, shape)
    bad = ~((arr >= 0) & (arr <= 1))
    if bool(bad.any()):
        i = _first(xp, bad)
        raise ValidationError(f"{fn}: {name}[{', '.join(map(str, i))}] = {float(arr[i]):g} is outside [0, 1]")
    return arr


def _steps(fn: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValidationError(f"{fn}: n = {n!r} must be an integer ≥ 1")
    return int(n)


def _truncations(fn: str, xp: Any, truncated_t: Any, shape: tuple[int, ...]) -> Any:
    if truncated_t is None:
        return None
    flags = xp.flags(truncated_t)
    _like(fn, "truncated_t", flags, shape)
    return flags


# ---------------------------------------------------------------------------------------- core
def _general_return(xp: Any, r: Any, d: Any, u: float | Any, c: float | Any, v: float | Any,
                    stop: Any, n: int | None = None) -> Any:
    """The general return of the module docstring.

    ``r, d``: ``(T, ...)``; ``u, c, v``: scalars or ``(T, ...)``; ``stop``: ``(T, ...)`` flags
    or ``None``; ``n``: run the recursion for at most ``n`` steps from each ``t`` (``None``: to
    the end of the buffer).
    """
    T = r.shape[0]
    if n is not None and n < T:
        return _windowed(xp, r, d, u, c, v, stop, n)
    if T >= NUMBA_MIN_STEPS:
        if not xp.torch:
            return _compiled(r, d, u, c, v, stop)
        if not xp.needs_grad(r, d, u, c, v):
            # Targets are usually built from detached values: take the compiled loop, then hand
            # the result back in the caller's dtype and device.
            host = [x if isinstance(x, float) else xp.numpy(x) for x in (r, d, u, c, v)]
            return xp.float(_compiled(*host, None if stop is None else xp.numpy(stop)))
    parts: list[Any] = [None] * T
    g = r[T - 1] + d[T - 1] * _row(v, T - 1)
    parts[T - 1] = g
    for t in range(T - 2, -1, -1):
        nxt = _row(u, t) + _row(c, t) * g
        if stop is not None:
            nxt = xp.where(stop[t], _row(v, t), nxt)
        g = r[t] + d[t] * nxt
        parts[t] = g
    return xp.cat([p[None] for p in parts])


def _row(x: float | Any, t: Any) -> float | Any:
    return x if isinstance(x, float) else x[t]


def _windowed(xp: Any, r: Any, d: Any, u: float | Any, c: float | Any, v: float | Any, stop: Any, n: int) -> Any:
    """``H⁽¹⁾_t = r_t + d_t·v_t``; ``H⁽ᵏ⁾_t`` the general recursion continued into ``H⁽ᵏ⁻¹⁾_{t+1}``.

    ``n`` vectorised passes over the buffer; row ``T − 1`` never continues. Each pass performs
    the operations of the full recursion in the same order, so a window of ``n ≥ T`` would
    reproduce it bit for bit.
    """
    head = slice(0, -1)
    H = r + d * v
    for _ in range(n - 1):
        nxt = _row(u, head) + _row(c, head) * H[1:]
        if stop is not None:
            nxt = xp.where(stop[:-1], _row(v, head), nxt)
        H = xp.cat([r[:-1] + d[:-1] * nxt, H[-1:]])
    return H


def _compiled(r: np.ndarray, d: np.ndarray, u: float | np.ndarray, c: float | np.ndarray,
              v: float | np.ndarray, stop: np.ndarray | None) -> np.ndarray:
    from triad._multistep_kernels import backward_returns

    shape = r.shape
    T, B = shape[0], math.prod(shape[1:])

    def flat(x: float | np.ndarray, dtype: type = np.float64) -> np.ndarray:
        # Scalars become zero-stride views: no (T, B) array is allocated for them.
        if np.ndim(x) == 0:
            return np.broadcast_to(np.asarray(x, dtype=dtype), (T, B))
        return np.asarray(x, dtype=dtype).reshape(T, B)

    out = np.empty((T, B))
    backward_returns(flat(r), flat(d), flat(u), flat(c), flat(v), flat(False if stop is None else stop, bool), out)
    return out.reshape(shape)


def _prepare(fn: str, r_t: Any, discount_t: Any, *others: Any) -> tuple[Any, Any, Any]:
    xp = _backend(r_t, discount_t, *others)
    r, d = xp.float(r_t), xp.float(discount_t)
    _time_major(fn, r)
    _like(fn, "discount_t", d, _shape(r))
    return xp, r, d


# ------------------------------------------------------------------------------ on-policy returns
def discounted_returns(r_t: Array, discount_t: Array, bootstrap: Array, *, truncated_t: Array | None = None) -> Array:
    """Discounted reward-to-go ``G_t = r_t + discount_t · G_{t+1}``, ``G_T = bootstrap``.

    Args:
        r_t, discount_t: ``(T, ...)``; ``discount_t = γ·(1 − terminated_t)``.
        bootstrap: the value after the last step, of the batch shape ``(...)`` (or a scalar); or
            ``(T, ...)`` values ``v_t`` of the state reached after each step, read at the last
            step and at truncations (required with ``truncated_t``).
        truncated_t: optional ``(T, ...)`` flags of time-limit truncations inside the buffer;
            there ``G_t = r_t + discount_t · v_t``.
    Returns:
        ``(T, ...)`` returns. With ``bootstrap = 0`` and every episode terminated this is the
        Monte-Carlo return ``Σ_k γ^k r_{t+k}`` of Sutton & Barto (2018) eq. 3.8.
    """
    fn = "discounted_returns"
    xp, r, d = _prepare(fn, r_t, discount_t, bootstrap, truncated_t)
    b = xp.float(bootstrap)
    stop = _truncations(fn, xp, truncated_t, _shape(r))
    if b.ndim == r.ndim:
        _like(fn, "bootstrap", b, _shape(r))
        v = b
    else:
        if stop is not None:
            raise ValidationError(f"{fn}: with truncated_t, bootstrap must hold the value after every step, "
                                  f"shape {_shape(r)}; got {_shape(b)}")
        try:
            last = xp.broadcast(b, _shape(r)[1:])
        except (RuntimeError, ValueError):
            raise ValidationError(f"{fn}: bootstrap has shape {_shape(b)}, expected the batch shape "
                                  f"{_shape(r)[1:]} or {_shape(r)}") from None
        v = xp.cat([xp.broadcast(0.0, _shape(r[:-1])), last[None]])
    return _general_return(xp, r, d, 0.0, 1.0, v, stop)


def n_step_returns(r_t: Array, discount_t: Array, v_t: Array, n: int, *, truncated_t: Array | None = None) -> Array:
    """n-step returns ``G⁽ⁿ⁾_t = Σ_{k<n} (Π_{j<k} d_{t+j}) r_{t+k} + (Π_{j<n} d_{t+j}) v_{t+n−1}``.

    Recursively ``G⁽¹⁾_t = r_t + d_t v_t`` and ``G⁽ᵏ⁾_t = r_t + d_t G⁽ᵏ⁻¹⁾_{t+1}``. Windows that
    would pass the end of the buffer or a truncation are shortened and bootstrap there.

    Shapes: ``r_t, discount_t, v_t, truncated_t: (T, ...)``; ``n ≥ 1``. Returns ``(T, ...)``.
    Source: Sutton & Barto (2018) eq. 7.1; rlax ``n_step_bootstrapped_returns``.
    """
    fn = "n_step_returns"
    n = _steps(fn, n)
    xp, r, d = _prepare(fn, r_t, discount_t, v_t, truncated_t)
    v = xp.float(v_t)
    _like(fn, "v_t", v, _shape(r))
    return _general_return(xp, r, d, 0.0, 1.0, v, _truncations(fn, xp, truncated_t, _shape(r)), n)


def lambda_returns(r_t: Array, discount_t: Array, v_t: Array, lam: float | Array, *,
                   truncated_t: Array | None = None) -> Array:
    """λ-returns ``G^λ_t = r_t + discount_t · ((1 − λ_t) v_t + λ_t G^λ_{t+1})``, ``G^λ_{T−1} = r + d·v``.

    ``v_t`` is the value of the state reached after step t. λ = 0 gives the one-step TD target
    ``r_t + discount_t·v_t``, λ = 1 the discounted return bootstrapped at the end of the buffer.
    At a truncation the return stops and bootstraps from ``v_t``.

    Shapes: ``r_t, discount_t, v_t, truncated_t: (T, ...)``; ``lam`` a scalar or ``(T, ...)``
    in [0, 1]. Returns ``(T, ...)``. Source: Sutton & Barto (2018) eq. 12.18; Watkins (1989).
    """
    fn = "lambda_returns"
    xp, r, d = _prepare(fn, r_t, discount_t, v_t, lam, truncated_t)
    v = xp.float(v_t)
    _like(fn, "v_t", v, _shape(r))
    lam = _fraction(fn, "lam", xp, lam, _shape(r))
    return _general_return(xp, r, d, (1.0 - lam) * v, lam, v, _truncations(fn, xp, truncated_t, _shape(r)))


def gae(r_t: Array, discount_t: Array, values: Array, lam: float | Array, *,
        truncated_t: Array | None = None, bootstrap_t: Array | None = None) -> Array:
    """Generalised advantage estimates ``Â_t = δ_t + discount_t · λ_t · Â_{t+1}``.

    ``δ_t = r_t + discount_t · V(s_{t+1}) − V(s_t)`` is the TD error; unrolled,
    ``Â_t = Σ_l (Π_{j<l} d_{t+j} λ_{t+j}) δ_{t+l}``. λ = 0 gives ``δ_t``; λ = 1 gives the
    discounted return minus ``V(s_t)``; in general ``Â_t = G^λ_t − V(s_t)`` for the λ-return
    bootstrapping from the same values.

    Args:
        r_t, discount_t: ``(T, ...)``.
        values: ``(T + 1, ...)``: ``V(s_0) … V(s_T)``, the baseline of each step and, shifted by
            one, its bootstrap.
        lam: scalar or ``(T, ...)`` in [0, 1].
        truncated_t: optional ``(T, ...)`` flags of time-limit truncations inside the buffer.
        bootstrap_t: ``(T, ...)`` value of the state reached after step t, read where
            ``truncated_t`` (that state is not ``s_{t+1}`` of the buffer, which starts a new
            episode). Required with ``truncated_t``.
    Returns:
        ``(T, ...)`` advantages. Source: Schulman, Moritz, Levine, Jordan & Abbeel (2016), eq. 16.
    """
    fn = "gae"
    xp, r, d = _prepare(fn, r_t, discount_t, values, lam, truncated_t, bootstrap_t)
    vals = xp.float(values)
    T = _shape(r)[0]
    _like(fn, "values", vals, (T + 1, *_shape(r)[1:]), ref="r_t with T + 1 steps")
    lam = _fraction(fn, "lam", xp, lam, _shape(r))
    stop = _truncations(fn, xp, truncated_t, _shape(r))
    v_next = vals[1:]
    if stop is not None:
        if bootstrap_t is None:
            raise ValidationError(f"{fn}: truncated_t needs bootstrap_t, the values of the truncated states")
        boot = xp.float(bootstrap_t)
        _like(fn, "bootstrap_t", boot, _shape(r))
        v_next = xp.where(stop, boot, v_next)
    elif bootstrap_t is not None:
        raise ValidationError(f"{fn}: bootstrap_t is only read at truncations; pass truncated_t as well")
    return _general_return(xp, td_error(vals[:-1], r, d, v_next), d, 0.0, lam, 0.0, stop)


# ------------------------------------------------------------------------- off-policy Q targets
def general_off_policy_returns(r_t: Array, discount_t: Array, q_t: Array, v_t: Array, c_t: Array, *,
                               n: int | None = None, truncated_t: Array | None = None) -> Array:
    """The general off-policy return ``G_t = r_t + discount_t · (v_t + c_t · (G_{t+1} − q_t))``.

    Targets for ``Q(s_t, a_t)``, where ``q_t = Q(s_{t+1}, a_{t+1})`` is the value of the action
    the behaviour took next, ``v_t = Σ_a π(a|s_{t+1}) Q(s_{t+1}, a)`` its expectation under the
    target policy, and ``c_t`` the trace coefficient of ``a_{t+1}``. The last step of the buffer
    (or of the window, or a truncation) bootstraps: ``G_t = r_t + discount_t · v_t``. Choices of
    ``c`` give importance sampling, tree backup, Retrace and Q^π(λ) (:func:`trace_coefficients`).

    Shapes: all ``(T, ...)``; ``n``: optional window (n-step targets). Returns ``(T, ...)``.
    Source: Munos, Stepleton, Harutyunyan & Bellemare (2016), eq. 3 and Table 1;
    rlax ``general_off_policy_returns_from_q_and_v``.
    """
    fn = "general_off_policy_returns"
    if n is not None:
        n = _steps(fn, n)
    xp, r, d = _prepare(fn, r_t, discount_t, q_t, v_t, c_t, truncated_t)
    q, v, c = xp.float(q_t), xp.float(v_t), xp.float(c_t)
    for name, x in (("q_t", q), ("v_t", v), ("c_t", c)):
        _like(fn, name, x, _shape(r))
    return _general_return(xp, r, d, v - c * q, c, v, _truncations(fn, xp, truncated_t, _shape(r)), n)


def trace_coefficients(method: str, a_t: Array, pi_t: Array, mu_t: Array | None = None,
                       lam: float | Array = 1.0) -> Array:
    """Trace coefficient ``c_t`` of the next action ``a_t`` for each off-policy correction.

    With ``π = pi_t[..., a_t]`` the target's and ``μ = mu_t`` the behaviour's probability of it:

    * ``importance-sampling``: ``c = λ·π/μ`` (per-decision IS; Precup, Sutton & Singh 2000);
    * ``tree-backup``: ``c = λ·π`` (Precup et al. 2000);
    * ``retrace``: ``c = λ·min(1, π/μ)`` (Munos et al. 2016);
    * ``q-lambda``: ``c = λ`` (Q^π(λ), Harutyunyan, Bellemare, Stepleton & Munos 2016);
    * ``ignore``: ``c = λ`` and no correction: :func:`off_policy_targets` treats the behaviour's
      action as the target's (the uncorrected n-step target of Rainbow, Ape-X and R2D2 with a
      window ``n`` and λ = 1; Peng's Q(λ) with λ < 1);
    * ``cut``: ``c = λ·𝟙[a_t is the target's most probable action]``: the trace is cut at the
      first non-greedy action (Watkins's Q(λ); Sutton & Barto 2018 §12.10).

    Shapes: ``a_t: (T, ...)`` integer actions; ``pi_t: (T, ..., A)``; ``mu_t: (T, ...)``
    (needed by importance-sampling and retrace, entries > 0). Returns ``(T, ...)``.
    """
    fn = "trace_coefficients"
    if method not in OFF_POLICY_METHODS:
        raise ValidationError(f"{fn}: unknown method {method!r} (choose from {', '.join(OFF_POLICY_METHODS)})")
    xp = _backend(a_t, pi_t, mu_t, lam)
    pi, a = xp.float(pi_t), xp.ints(a_t)
    if pi.ndim < 2 or _shape(pi)[:-1] != _shape(a):
        raise ValidationError(f"{fn}: pi_t has shape {_shape(pi)}, expected {_shape(a)} + (A,) like a_t")
    if bool(((a < 0) | (a >= pi.shape[-1])).any()):
        raise ValidationError(f"{fn}: a_t[{', '.join(map(str, _first(xp, (a < 0) | (a >= pi.shape[-1]))))}] "
                              f"is not an action index in 0 … {pi.shape[-1] - 1}")
    lam = _fraction(fn, "lam", xp, lam, _shape(a))
    pi_a = xp.take(pi, a)
    if method in ("importance-sampling", "retrace"):
        if mu_t is None:
            raise ValidationError(f"{fn}: {method} needs mu_t, the behaviour's probability of a_t")
        mu = xp.float(mu_t)
        _like(fn, "mu_t", mu, _shape(a), ref="a_t")
        if bool((~(mu > 0)).any()):
            i = _first(xp, ~(mu > 0))
            raise ValidationError(f"{fn}: mu_t[{', '.join(map(str, i))}] = {float(mu[i]):g}, but the behaviour "
                                  f"took a_t there, so its probability must be > 0")
        ratio = pi_a / mu
        return lam * (ratio if method == "importance-sampling" else xp.at_most_one(ratio))
    if method == "tree-backup":
        return lam * pi_a
    if method == "cut":
        return lam * xp.float(pi_a >= xp.amax(pi))
    return lam * xp.broadcast(1.0, _shape(a))


def off_policy_targets(r_t: Array, discount_t: Array, q_t: Array, a_t: Array, method: str, *,
                       pi_t: Array | None = None, mu_t: Array | None = None, lam: float | Array = 1.0,
                       n: int | None = None, truncated_t: Array | None = None) -> Array:
    """Multi-step targets for ``Q(s_t, a_t)`` from behaviour data, corrected by ``method``.

    The general off-policy return (:func:`general_off_policy_returns`) with
    ``v_t = Σ_a π(a|s_{t+1}) q_t[a]``, ``q_t[a_t]`` and ``c_t`` from :func:`trace_coefficients`;
    for ``ignore`` the sampled action's value is replaced by ``v_t``, so the recursion is the
    uncorrected ``G_t = r_t + discount_t·((1 − λ)·v_t + λ·G_{t+1})``.

    Args:
        r_t, discount_t: ``(T, ...)`` rewards and discounts of steps ``s_t → s_{t+1}``.
        q_t: ``(T, ..., A)`` action values ``Q(s_{t+1}, ·)`` (e.g. from a target network).
        a_t: ``(T, ...)`` the action the behaviour took in ``s_{t+1}`` (unused after a terminal
            or truncated step and at the end of the buffer).
        method: one of :data:`OFF_POLICY_METHODS`.
        pi_t: ``(T, ..., A)`` target policy at ``s_{t+1}``; default greedy in ``q_t`` (Q-learning).
        mu_t: ``(T, ...)`` behaviour probability of ``a_t`` (importance-sampling, retrace).
        lam: trace decay λ, scalar or ``(T, ...)``.
        n: optional window: n-step targets (``ignore`` with ``n = 3``, λ = 1 is Rainbow's target).
        truncated_t: optional ``(T, ...)`` truncation flags.
    Returns:
        ``(T, ...)`` targets. Sources: as in :func:`trace_coefficients`; Hessel et al. (2018)
        Rainbow; Horgan et al. (2018) Ape-X; Kapturowski et al. (2019) R2D2.
    """
    fn = "off_policy_targets"
    xp = _backend(r_t, discount_t, q_t, a_t, pi_t, mu_t, lam, truncated_t)
    q_all = xp.float(q_t)
    a = xp.ints(a_t)
    if q_all.ndim < 2 or _shape(q_all)[:-1] != _shape(a):
        raise ValidationError(f"{fn}: q_t has shape {_shape(q_all)}, expected {_shape(a)} + (A,) like a_t")
    pi = xp.one_hot_argmax(q_all) if pi_t is None else xp.float(pi_t)
    _like(fn, "pi_t", pi, _shape(q_all), ref="q_t")
    c = trace_coefficients(method, a, pi, mu_t, lam)
    v = (pi * q_all).sum(-1)
    q = v if method == "ignore" else xp.take(q_all, a)
    return general_off_policy_returns(r_t, discount_t, q, v, c, n=n, truncated_t=truncated_t)


# ---------------------------------------------------------------------------- one-step targets
def td_error(v_tm1: Array, r_t: Array, discount_t: Array, v_t: Array) -> Array:
    """TD error ``δ_t = r_t + discount_t · v_t − v_tm1``, elementwise on numpy arrays or torch tensors.

    Source: Sutton & Barto (2018), eq. 6.5.
    """
    return r_t + discount_t * v_t - v_tm1


def q_learning_td(q_tm1: np.ndarray, a_tm1: np.ndarray, r_t: np.ndarray, discount_t: np.ndarray,
                  q_t: np.ndarray) -> np.ndarray:
    """Q-learning TD error ``δ = r_t + discount_t · max_a q_t[a] − q_tm1[a_tm1]``.

    Shapes: ``q_tm1, q_t: (B, A)``; ``a_tm1, r_t, discount_t: (B,)``. Returns ``(B,)``.
    Source: Watkins & Dayan (1992); Sutton & Barto (2018) eq. 6.8.
    """
    q_tm1, q_t = np.asarray(q_tm1), np.asarray(q_t)
    taken = np.take_along_axis(q_tm1, np.asarray(a_tm1)[..., None], axis=-1)[..., 0]
    return r_t + discount_t * q_t.max(axis=-1) - taken


def double_q_learning_td(q_tm1: np.ndarray, a_tm1: np.ndarray, r_t: np.ndarray, discount_t: np.ndarray,
                         q_t_value: np.ndarray, q_t_selector: np.ndarray) -> np.ndarray:
    """Double Q-learning TD error ``δ = r_t + discount_t · q_t_value[argmax_a q_t_selector[a]] − q_tm1[a_tm1]``.

    One estimate selects the action, the other evaluates it, which removes the upward bias of
    ``max`` over noisy estimates. Shapes as in :func:`q_learning_td`; ties in the selector go to
    the lowest index. Source: van Hasselt (2010); Sutton & Barto (2018) eq. 6.10.
    """
    q_tm1 = np.asarray(q_tm1)
    taken = np.take_along_axis(q_tm1, np.asarray(a_tm1)[..., None], axis=-1)[..., 0]
    best = np.argmax(np.asarray(q_t_selector), axis=-1)
    value = np.take_along_axis(np.asarray(q_t_value), best[..., None], axis=-1)[..., 0]
    return r_t + discount_t * value - taken
