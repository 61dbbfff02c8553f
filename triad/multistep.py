"""Return, advantage and target estimators: pure, vectorised functions of arrays.

Agents and experiments take every return, advantage and target from this module; none keeps its
own copy. Each docstring states its recursion and cites its source.

Conventions (every function follows them; check one against them)
-----------------------------------------------------------------
**Time index.** Time runs along axis 0; batch axes follow it. Row ``t`` of every argument
describes step ``t`` of the buffer, the transition ``s_t → s_{t+1}`` made by the action ``a_t``,
and arguments are named by that index (rlax style):

* the step's own data: ``r_t`` its reward, ``discount_t`` its discount, ``a_t`` the action taken
  in ``s_t``, ``mu_t = μ(a_t|s_t)`` the behaviour's probability of it (what a replay buffer
  stores with the transition), ``rho_t = π(a_t|s_t) / μ(a_t|s_t)``, ``truncated_t``;
* what the step bootstraps from, at the state it reached, ``s_{t+1}``: ``v_t = V(s_{t+1})``,
  ``q_t = Q(s_{t+1}, ·)``, ``pi_t = π(·|s_{t+1})``;
* what the step learns about, at the state it left, ``s_t``: ``v_tm1 = V(s_t)``,
  ``q_tm1 = Q(s_t, ·)`` (so ``td_error(v_tm1, r_t, discount_t, v_t)`` and
  ``q_learning_td(q_tm1, a_t, r_t, discount_t, q_t)`` read one step). Estimators that need both
  ends take ``values = V(s_0) … V(s_T)``, ``T + 1`` rows.

So a replayed :class:`triad.sampling.Trajectory` or a replay-buffer sequence is passed as it is
stored, without shifting anything by one step.

**Actions of the off-policy targets.** The target of row ``t`` (for ``Q(s_t, a_t)``) continues
into row ``t + 1`` with the action taken there, ``a_{t+1} = a_t[t + 1]``: the functions pair the
rows themselves. The last row of the buffer, a terminated and a truncated step stop the return,
so no action beyond the buffer is ever needed, and after an episode ends the next row's action
(the next episode's) does not enter the target. Worked example: one episode
``s_0 → s_1 → s_2 → s_3`` stored as three rows::

    row t | a_t  mu_t        r_t  discount_t  q_t        pi_t
    0     | a_0  μ(a_0|s_0)  r_0  γ           Q(s_1, ·)  π(·|s_1)
    1     | a_1  μ(a_1|s_1)  r_1  γ           Q(s_2, ·)  π(·|s_2)
    2     | a_2  μ(a_2|s_2)  r_2  γ           Q(s_3, ·)  π(·|s_3)

Retrace's target for ``Q(s_0, a_0)`` is
``G_0 = r_0 + γ·(Σ_a π(a|s_1) Q(s_1, a) + c·(G_1 − Q(s_1, a_1)))`` with
``c = λ·min(1, π(a_1|s_1)/μ(a_1|s_1))``, i.e. ``pi_t[0, a_t[1]] / mu_t[1]``: row 0's next state
with row 1's action. The last row bootstraps, ``G_2 = r_2 + γ·Σ_a π(a|s_3) Q(s_3, a)``.
``a_0`` and ``mu_t[0]`` name the value being learned but do not enter its target.

**Terminated and truncated steps.** ``discount_t = γ·(1 − terminated_t)``. Episode ends inside
a buffer (vectorised environments reset in place):

* a *terminated* step has ``discount_t = 0``, so nothing after it is read;
* a *truncated* step (``truncated_t`` true: a time limit, not the MDP, ended the episode) keeps
  ``discount_t = γ`` and bootstraps from the truncated state's value (``v_t``, ``q_t``; for the
  estimators taking ``values``, ``bootstrap_t``, because ``values[t + 1]`` is the first state of
  the next episode), and the return does not run on into the next row;
* the last row of the buffer is treated like a truncation.

**The general return.** Every estimator below is one backward recursion,

    G_t = r_t + d_t · ( v_t                  if the return stops after step t,
                        u_t + c_t · G_{t+1}  otherwise ),

(``d_t = discount_t``) with one per-step continuation (trace) coefficient ``c_t`` and an
off-trajectory term ``u_t``: discounted return ``u = 0, c = 1``; λ-return ``u = (1 − λ)·v, c = λ``; off-policy Q targets
``u = v − c·q`` with ``c`` from the correction (Munos et al. 2016); n-step versions run it for at
most ``n`` steps from each ``t``. The state-value estimators run it with ``r_t`` replaced by
weighted TD errors ``w_t·δ_t`` and ``u = v = 0``: GAE ``w = 1, c = λ``; importance-corrected TD
errors ``w = ρ_t, c = λ·ρ_t``; V-trace ``w = min(ρ̄, ρ_t), c = λ·min(c̄, ρ_t)``. ``c_t`` is not
restricted to [0, 1]: trace coefficients above 1 (per-decision importance sampling, V-trace with
``c̄ > 1``) enter through it and only through it (the weights ``w_t`` scale single TD errors);
``lam`` itself is checked to lie in [0, 1].

**Arrays and tensors.** Every array argument (``r_t, discount_t, v_t, values, q_t, q_tm1, a_t,
pi_t, mu_t, rho_t, c_t, lam, truncated_t, bootstrap_t``) may be a numpy array or a torch tensor;
``n``, ``method`` and the clipping thresholds are Python numbers. If any input is a tensor the
result is a tensor of its dtype and device (torch is never imported here; it is used only if the
caller already has); numpy results are float64. Results are differentiable in every float input
(detach what a target must not train), except the one-step TD errors :func:`q_learning_td` and
:func:`double_q_learning_td`, which stop the gradient at the bootstrap target, so the gradient
reaches only ``q_tm1``. Buffers of at least :data:`NUMBA_MIN_STEPS` steps run a compiled loop
(bit-identical to the numpy loop; tensors that need no gradient go through it too, in float64,
and come back in their dtype and device); tensors that require a gradient use a differentiable
torch loop over time. None loops over the batch in Python.
"""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple

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
    def argmax(x: np.ndarray) -> np.ndarray:
        return np.argmax(x, axis=-1)

    @staticmethod
    def at_most(x: np.ndarray, bound: float) -> np.ndarray:
        return np.minimum(x, bound)

    @staticmethod
    def one_hot_argmax(q: np.ndarray) -> np.ndarray:
        return np.eye(q.shape[-1])[np.argmax(q, axis=-1)]

    @staticmethod
    def stop_gradient(x: np.ndarray) -> np.ndarray:
        return x


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
    def argmax(x: Any) -> Any:
        return x.argmax(dim=-1)  # the first maximal index, like numpy

    @staticmethod
    def at_most(x: Any, bound: float) -> Any:
        return x.clamp(max=bound)

    def one_hot_argmax(self, q: Any) -> Any:
        return self.t.nn.functional.one_hot(q.argmax(dim=-1), q.shape[-1]).to(q.dtype)

    @staticmethod
    def stop_gradient(x: Any) -> Any:
        return x.detach()


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


def _entry(name: str, i: tuple[int, ...]) -> str:
    """``name[i, j]`` (or ``name`` for a 0-d array)."""
    return f"{name}[{', '.join(map(str, i))}]" if i else name


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
        raise ValidationError(f"{fn}: {_entry(name, i)} = {float(arr[i]):g} is outside [0, 1]")
    return arr


def _ratios(fn: str, xp: Any, rho_t: Any, shape: tuple[int, ...]) -> Any:
    """Importance ratios ``π(a_t|s_t)/μ(a_t|s_t)``: an array of ``shape`` with entries ≥ 0."""
    rho = xp.float(rho_t)
    _like(fn, "rho_t", rho, shape)
    bad = ~(rho >= 0)
    if bool(bad.any()):
        i = _first(xp, bad)
        raise ValidationError(f"{fn}: {_entry('rho_t', i)} = {float(rho[i]):g}, but an importance ratio "
                              f"π(a_t|s_t)/μ(a_t|s_t) is ≥ 0")
    return rho


def _threshold(fn: str, name: str, x: Any) -> float:
    """A clipping threshold: a number > 0 (``inf``: no clipping)."""
    value = float(x)
    if not value > 0:  # also rejects NaN
        raise ValidationError(f"{fn}: {name} = {value:g} must be > 0 (inf: no clipping)")
    return value


def _actions(fn: str, xp: Any, a: Any, table: Any, table_name: str, a_name: str) -> None:
    """``table`` has shape ``a.shape + (A,)`` and ``a`` holds action indices ``0 … A − 1``."""
    if table.ndim < 1 or _shape(table)[:-1] != _shape(a):
        raise ValidationError(f"{fn}: {table_name} has shape {_shape(table)}, expected {_shape(a)} + (A,) "
                              f"like {a_name}")
    bad = (a < 0) | (a >= table.shape[-1])
    if bool(bad.any()):
        raise ValidationError(f"{fn}: {_entry(a_name, _first(xp, bad))} is not an action index in "
                              f"0 … {table.shape[-1] - 1}")


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


def n_step_returns(r_t: Array, discount_t: Array, v_t: Array, n: int, *, lam: float | Array = 1.0,
                   truncated_t: Array | None = None) -> Array:
    """n-step returns ``G⁽ⁿ⁾_t = Σ_{k<n} (Π_{j<k} d_{t+j}) r_{t+k} + (Π_{j<n} d_{t+j}) v_{t+n−1}``.

    Recursively ``G⁽¹⁾_t = r_t + d_t v_t`` and ``G⁽ᵏ⁾_t = r_t + d_t G⁽ᵏ⁻¹⁾_{t+1}``. With ``lam``
    the windowed λ-return ``G⁽ᵏ⁾_t = r_t + d_t ((1 − λ_t) v_t + λ_t G⁽ᵏ⁻¹⁾_{t+1})``: the λ-return
    cut after ``n`` steps, where it bootstraps fully from ``v_{t+n−1}`` (``lam = 1``, the default:
    the plain n-step return; ``lam = 0``: the TD target ``r_t + d_t v_t``; ``n ≥ T``:
    :func:`lambda_returns`). Windows that would pass the end of the buffer or a truncation are
    shortened and bootstrap there.

    Shapes: ``r_t, discount_t, v_t, truncated_t: (T, ...)``; ``n ≥ 1``; ``lam`` a scalar or
    ``(T, ...)`` in [0, 1], ``λ_t`` weighing row t's continuation. Returns ``(T, ...)``.
    Source: Sutton & Barto (2018) eq. 7.1 and §12.3 (truncated λ-return);
    rlax ``n_step_bootstrapped_returns(..., lambda_t)``.
    """
    fn = "n_step_returns"
    n = _steps(fn, n)
    xp, r, d = _prepare(fn, r_t, discount_t, v_t, lam, truncated_t)
    v = xp.float(v_t)
    _like(fn, "v_t", v, _shape(r))
    lam = _fraction(fn, "lam", xp, lam, _shape(r))
    # λ = 1 runs exactly the plain n-step recursion (no 0·v term, so an infinite v stays a result).
    u, c = (0.0, 1.0) if isinstance(lam, float) and lam == 1.0 else ((1.0 - lam) * v, lam)
    return _general_return(xp, r, d, u, c, v, _truncations(fn, xp, truncated_t, _shape(r)), n)


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


# ----------------------------------------------------------------- state values: TD-error form
def _td_inputs(fn: str, r_t: Any, discount_t: Any, values: Any, others: tuple[Any, ...], truncated_t: Any,
               bootstrap_t: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
    """``xp, r, d``, the baselines ``V(s_t)``, the bootstraps ``V(s_{t+1})`` and the stop flags.

    ``values`` holds ``V(s_0) … V(s_T)``; at a truncation the bootstrap is ``bootstrap_t``, the
    truncated state's value, because ``values[t + 1]`` starts the next episode.
    """
    xp, r, d = _prepare(fn, r_t, discount_t, values, *others, truncated_t, bootstrap_t)
    vals = xp.float(values)
    T = _shape(r)[0]
    _like(fn, "values", vals, (T + 1, *_shape(r)[1:]), ref="r_t with T + 1 steps")
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
    return xp, r, d, vals[:-1], v_next, stop


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
    xp, r, d, base, v_next, stop = _td_inputs("gae", r_t, discount_t, values, (lam,), truncated_t, bootstrap_t)
    lam = _fraction("gae", "lam", xp, lam, _shape(r))
    return _general_return(xp, td_error(base, r, d, v_next), d, 0.0, lam, 0.0, stop)


def importance_corrected_td_errors(r_t: Array, discount_t: Array, values: Array, rho_t: Array,
                                   lam: float | Array = 1.0, *, truncated_t: Array | None = None,
                                   bootstrap_t: Array | None = None) -> Array:
    """Per-decision importance-sampled λ-return errors ``e_t = ρ_t · (δ_t + discount_t · λ_t · e_{t+1})``.

    Off-policy GAE: ``δ_t = r_t + discount_t · V(s_{t+1}) − V(s_t)``, and ``ρ_t`` is the ratio of
    the step's own action, ``π(a_t|s_t)/μ(a_t|s_t)`` (unclipped, so trace coefficients
    ``λ_t ρ_t`` may exceed 1). ``V(s_t) + e_t`` is the off-policy λ-return with control variates,
    ``G_t = ρ_t (r_t + d_t ((1 − λ_t) V(s_{t+1}) + λ_t G_{t+1})) + (1 − ρ_t) V(s_t)``, whose mean
    under μ is the λ-return of π; with ρ = 1 it is :func:`gae`. :func:`vtrace` clips these ratios.

    Args:
        r_t, discount_t, values, truncated_t, bootstrap_t: as in :func:`gae`.
        rho_t: ``(T, ...)`` importance ratios ``π(a_t|s_t)/μ(a_t|s_t)``, ≥ 0.
        lam: scalar or ``(T, ...)`` in [0, 1].
    Returns:
        ``(T, ...)`` errors ``e_t``. Sources: Precup, Sutton & Singh (2000); Sutton & Barto (2018)
        §12.9; rlax ``importance_corrected_td_errors``.
    """
    fn = "importance_corrected_td_errors"
    xp, r, d, base, v_next, stop = _td_inputs(fn, r_t, discount_t, values, (rho_t, lam), truncated_t, bootstrap_t)
    rho = _ratios(fn, xp, rho_t, _shape(r))
    lam = _fraction(fn, "lam", xp, lam, _shape(r))
    return _general_return(xp, rho * td_error(base, r, d, v_next), d, 0.0, lam * rho, 0.0, stop)


class VTrace(NamedTuple):
    """The outputs of :func:`vtrace`, both ``(T, ...)``."""

    v_s: Array
    """V-trace targets for ``V(s_t)`` (Espeholt et al. 2018, eq. 1)."""
    pg_advantage: Array
    """``min(ρ̄_pg, ρ_t) · (r_t + discount_t · vs_{t+1} − V(s_t))``, the policy-gradient advantage (§4.2)."""


def vtrace(r_t: Array, discount_t: Array, values: Array, rho_t: Array, *, lam: float | Array = 1.0,
           rho_bar: float = 1.0, c_bar: float = 1.0, pg_rho_bar: float = 1.0, truncated_t: Array | None = None,
           bootstrap_t: Array | None = None) -> VTrace:
    """V-trace targets and policy-gradient advantages of IMPALA.

    Writing ``vs_t`` for the target of ``V(s_t)`` (the paper's ``v_s`` at ``s = t``):
    ``vs_t − V(s_t) = ρ̃_t δ_t + discount_t · c_t · (vs_{t+1} − V(s_{t+1}))`` with
    ``δ_t = r_t + discount_t · V(s_{t+1}) − V(s_t)``, ``ρ̃_t = min(ρ̄, ρ_t)`` and
    ``c_t = λ_t · min(c̄, ρ_t)`` (eq. 1 and Remark 1; λ as in §4.1); unrolled,
    ``vs_t = V(s_t) + Σ_k (Π_{i<k} d_{t+i} c_{t+i}) ρ̃_{t+k} δ_{t+k}``. The advantage is
    ``min(ρ̄_pg, ρ_t) · (r_t + discount_t · vs_{t+1} − V(s_t))`` (§4.2), where after the last row
    or a truncation ``vs_{t+1}`` is the bootstrap value itself (no data follow it). With
    ``ρ̄ = c̄ = ∞`` the targets are ``V(s_t) +`` :func:`importance_corrected_td_errors`;
    on-policy (ρ = 1, any thresholds ≥ 1) they are the λ-returns. For λ < 1, rlax mixes
    ``(1 − λ)·V(s_{t+1})`` into the advantage's bootstrap; this function keeps the paper's
    ``vs_{t+1}``.

    Args:
        r_t, discount_t, values, truncated_t, bootstrap_t: as in :func:`gae`.
        rho_t: ``(T, ...)`` importance ratios ``π(a_t|s_t)/μ(a_t|s_t)`` of the step's own action, ≥ 0.
        lam: scalar or ``(T, ...)`` in [0, 1].
        rho_bar, c_bar: the clipping thresholds ρ̄ and c̄ (> 0; ``inf``: no clipping; IMPALA: 1, 1).
        pg_rho_bar: the advantage's own threshold (IMPALA uses ρ̄; rlax's default 1).
    Returns:
        :class:`VTrace` ``(v_s, pg_advantage)``. Source: Espeholt et al. (2018), "IMPALA", §4;
        rlax ``vtrace_td_error_and_advantage``.
    """
    fn = "vtrace"
    xp, r, d, base, v_next, stop = _td_inputs(fn, r_t, discount_t, values, (rho_t, lam), truncated_t, bootstrap_t)
    rho = _ratios(fn, xp, rho_t, _shape(r))
    lam = _fraction(fn, "lam", xp, lam, _shape(r))
    rho_bar, c_bar, pg_rho_bar = (_threshold(fn, k, x) for k, x in
                                  (("rho_bar", rho_bar), ("c_bar", c_bar), ("pg_rho_bar", pg_rho_bar)))
    weighted = xp.at_most(rho, rho_bar) * td_error(base, r, d, v_next)
    v_s = base + _general_return(xp, weighted, d, 0.0, lam * xp.at_most(rho, c_bar), 0.0, stop)
    v_s_next = xp.cat([v_s[1:], v_next[-1:]])
    if stop is not None:
        v_s_next = xp.where(stop, v_next, v_s_next)
    return VTrace(v_s, xp.at_most(rho, pg_rho_bar) * td_error(base, r, d, v_s_next))


# ------------------------------------------------------------------------- off-policy Q targets
def general_off_policy_returns(r_t: Array, discount_t: Array, q_t: Array, v_t: Array, c_t: Array, *,
                               n: int | None = None, truncated_t: Array | None = None) -> Array:
    """The general off-policy return ``G_t = r_t + discount_t · (v_t + c_t · (G_{t+1} − q_t))``.

    Targets for ``Q(s_t, a_t)``. Row t continues into row t + 1 through the action taken next,
    ``a_{t+1}``: ``q_t = Q(s_{t+1}, a_{t+1})`` is its value, ``c_t`` the trace coefficient of
    that continuation (:func:`trace_coefficients`), and ``v_t = Σ_a π(a|s_{t+1}) Q(s_{t+1}, a)``
    the target policy's expectation. ``c_t`` is any number ≥ 0 (importance ratios may exceed 1).
    The last row of the buffer (or of the window, or a truncation) bootstraps,
    ``G_t = r_t + discount_t · v_t``, and its ``q_t, c_t`` are not read. Choices of ``c`` give
    importance sampling, tree backup, Retrace and Q^π(λ).

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


def _next_rows(xp: Any, x: Any) -> Any:
    """Row ``t`` gets ``x[t + 1]``; the last row (never continued) repeats ``x[T − 1]`` as a placeholder."""
    return xp.cat([x[1:], x[-1:]])


def trace_coefficients(method: str, a_t: Array, pi_t: Array, mu_t: Array | None = None,
                       lam: float | Array = 1.0) -> Array:
    """Trace coefficients ``c_t`` of continuing row t into row t + 1, for each off-policy correction.

    The arguments are the rows of the buffer, as :func:`off_policy_targets` takes them: ``a_t`` the
    action taken in ``s_t``, ``pi_t = π(·|s_{t+1})``, ``mu_t = μ(a_t|s_t)``. Row t continues with
    the next action ``a_{t+1} = a_t[t + 1]``, taken in ``s_{t+1}``; with ``π = pi_t[t, a_{t+1}]``
    the target's and ``μ = mu_t[t + 1]`` the behaviour's probability of it:

    * ``importance-sampling``: ``c_t = λ_t·π/μ`` (per-decision IS; Precup, Sutton & Singh 2000);
    * ``tree-backup``: ``c_t = λ_t·π`` (Precup et al. 2000);
    * ``retrace``: ``c_t = λ_t·min(1, π/μ)`` (Munos et al. 2016);
    * ``q-lambda``: ``c_t = λ_t`` (Q^π(λ), Harutyunyan, Bellemare, Stepleton & Munos 2016);
    * ``ignore``: ``c_t = λ_t`` and no correction: :func:`off_policy_targets` treats the behaviour's
      action as the target's (the uncorrected n-step target of Rainbow, Ape-X and R2D2 with a
      window ``n`` and λ = 1; Peng's Q(λ) with λ < 1);
    * ``cut``: ``c_t = λ_t·𝟙[a_{t+1} is π's most probable action in s_{t+1}]``: the trace is cut
      at the first non-greedy action (Watkins's Q(λ); Sutton & Barto 2018 §12.10).

    The last row has no next action in the buffer, so ``c_{T−1} = 0``; rows after which the
    episode ended are computed from the next episode's first action and are never read.
    ``mu_t[0]`` is not read either (it belongs to the value being learned).

    Shapes: ``a_t: (T, ...)`` integer actions; ``pi_t: (T, ..., A)``; ``mu_t: (T, ...)``
    (needed by importance-sampling and retrace, entries > 0); ``lam`` scalar or ``(T, ...)``.
    Returns ``(T, ...)``.
    """
    fn = "trace_coefficients"
    if method not in OFF_POLICY_METHODS:
        raise ValidationError(f"{fn}: unknown method {method!r} (choose from {', '.join(OFF_POLICY_METHODS)})")
    xp = _backend(a_t, pi_t, mu_t, lam)
    pi, a = xp.float(pi_t), xp.ints(a_t)
    if a.ndim < 1 or a.shape[0] < 1:
        raise ValidationError(f"{fn}: a_t has shape {_shape(a)}; expected (T, ...) with T ≥ 1 steps on axis 0")
    _actions(fn, xp, a, pi, "pi_t", "a_t")
    lam = _fraction(fn, "lam", xp, lam, _shape(a))
    pi_next = xp.take(pi, _next_rows(xp, a))  # π(a_{t+1}|s_{t+1})
    if method in ("importance-sampling", "retrace"):
        if mu_t is None:
            raise ValidationError(f"{fn}: {method} needs mu_t, the behaviour's probability of a_t")
        mu = xp.float(mu_t)
        _like(fn, "mu_t", mu, _shape(a), ref="a_t")
        if bool((~(mu > 0)).any()):
            i = _first(xp, ~(mu > 0))
            raise ValidationError(f"{fn}: {_entry('mu_t', i)} = {float(mu[i]):g}, but the behaviour took a_t "
                                  f"there, so its probability must be > 0")
        ratio = pi_next / _next_rows(xp, mu)
        c = lam * (ratio if method == "importance-sampling" else xp.at_most(ratio, 1.0))
    elif method == "tree-backup":
        c = lam * pi_next
    elif method == "cut":
        c = lam * xp.float(pi_next >= xp.amax(pi))
    else:
        c = lam * xp.broadcast(1.0, _shape(a))
    return xp.cat([c[:-1], xp.broadcast(0.0, _shape(a)[1:])[None]])


def off_policy_targets(r_t: Array, discount_t: Array, q_t: Array, a_t: Array, method: str, *,
                       pi_t: Array | None = None, mu_t: Array | None = None, lam: float | Array = 1.0,
                       n: int | None = None, truncated_t: Array | None = None) -> Array:
    """Multi-step targets for ``Q(s_t, a_t)`` from behaviour data, corrected by ``method``.

    Every argument is the buffer's row t (the module's action convention: row t continues with
    ``a_t[t + 1]``, no shifting by the caller). The general off-policy return
    (:func:`general_off_policy_returns`) with ``v_t = Σ_a π(a|s_{t+1}) q_t[a]``, the next
    action's value ``q_t[t, a_t[t + 1]]`` and ``c_t`` from :func:`trace_coefficients`; for
    ``ignore`` the next action's value is replaced by ``v_t``, so the recursion is the uncorrected
    ``G_t = r_t + discount_t·((1 − λ)·v_t + λ·G_{t+1})``.

    Args:
        r_t, discount_t: ``(T, ...)`` rewards and discounts of steps ``s_t → s_{t+1}``.
        q_t: ``(T, ..., A)`` action values ``Q(s_{t+1}, ·)`` (e.g. from a target network).
        a_t: ``(T, ...)`` the action taken in ``s_t`` (``a_t[0]`` and ``mu_t[0]`` name the value
            being learned and do not enter the targets).
        method: one of :data:`OFF_POLICY_METHODS`.
        pi_t: ``(T, ..., A)`` target policy ``π(·|s_{t+1})``; default greedy in ``q_t`` (Q-learning).
        mu_t: ``(T, ...)`` ``μ(a_t|s_t)``, the behaviour's probability of the step's action, as a
            replay buffer stores it (importance-sampling, retrace).
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
    q = v if method == "ignore" else xp.take(q_all, _next_rows(xp, a))
    return general_off_policy_returns(r_t, discount_t, q, v, c, n=n, truncated_t=truncated_t)


# ---------------------------------------------------------------------------- one-step targets
def td_error(v_tm1: Array, r_t: Array, discount_t: Array, v_t: Array) -> Array:
    """TD error ``δ_t = r_t + discount_t · v_t − v_tm1``, elementwise on numpy arrays or torch tensors.

    ``v_tm1 = V(s_t)``, ``v_t = V(s_{t+1})``; differentiable in both (detach ``v_t`` for a
    semi-gradient). Source: Sutton & Barto (2018), eq. 6.5.
    """
    return r_t + discount_t * v_t - v_tm1


def _one_step(fn: str, q_tm1: Any, a_t: Any, r_t: Any, discount_t: Any, **q_next: Any) -> tuple[Any, ...]:
    """The backend, ``Q(s_t, a_t)``, ``r_t``, ``discount_t`` and the next-state tables, validated."""
    xp = _backend(q_tm1, a_t, r_t, discount_t, *q_next.values())
    q, a = xp.float(q_tm1), xp.ints(a_t)
    _actions(fn, xp, a, q, "q_tm1", "a_t")
    tables = []
    for name, x in q_next.items():
        table = xp.float(x)
        _like(fn, name, table, _shape(q), ref="q_tm1")
        tables.append(table)
    r, d = xp.float(r_t), xp.float(discount_t)
    for name, x in (("r_t", r), ("discount_t", d)):
        if x.ndim and _shape(x) != _shape(a):
            raise ValidationError(f"{fn}: {name} has shape {_shape(x)}, expected {_shape(a)} like a_t (or a scalar)")
    return xp, xp.take(q, a), r, d, *tables


def q_learning_td(q_tm1: Array, a_t: Array, r_t: Array, discount_t: Array, q_t: Array) -> Array:
    """Q-learning TD error ``δ_t = r_t + discount_t · max_a q_t[a] − q_tm1[a_t]``.

    A batch of single steps ``s_t → s_{t+1}``: ``q_tm1 = Q(s_t, ·)``, ``a_t`` the action taken in
    ``s_t``, ``q_t = Q(s_{t+1}, ·)``. The target ``r_t + discount_t · max_a q_t[a]`` is not
    differentiated (for tensors the gradient reaches only ``q_tm1[a_t]``, as rlax's
    ``stop_target_gradients``), so ``½δ²`` is the semi-gradient loss.

    Shapes: ``q_tm1, q_t: (B, A)``; ``a_t: (B,)``; ``r_t, discount_t: (B,)`` or scalars.
    Returns ``(B,)``. Source: Watkins & Dayan (1992); Sutton & Barto (2018) eq. 6.8.
    """
    xp, taken, r, d, q = _one_step("q_learning_td", q_tm1, a_t, r_t, discount_t, q_t=q_t)
    return xp.stop_gradient(r + d * xp.amax(q)) - taken


def double_q_learning_td(q_tm1: Array, a_t: Array, r_t: Array, discount_t: Array, q_t_value: Array,
                         q_t_selector: Array) -> Array:
    """Double Q-learning TD error ``δ_t = r_t + discount_t · q_t_value[argmax_a q_t_selector[a]] − q_tm1[a_t]``.

    One estimate selects the action, the other evaluates it, which removes the upward bias of
    ``max`` over noisy estimates. Arguments, shapes and gradients as in :func:`q_learning_td`
    (neither next-state table is differentiated); ties in the selector go to the lowest index.
    Source: van Hasselt (2010); Sutton & Barto (2018) eq. 6.10.
    """
    xp, taken, r, d, value, selector = _one_step("double_q_learning_td", q_tm1, a_t, r_t, discount_t,
                                                 q_t_value=q_t_value, q_t_selector=q_t_selector)
    return xp.stop_gradient(r + d * xp.take(value, xp.argmax(selector))) - taken
