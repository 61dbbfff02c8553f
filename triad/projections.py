"""Projections Π onto a representable set of value functions, and the composite operators ΠB.

A *projection* here is any map from value functions to the values a function approximator can
represent. Each acts on a batch: ``V: (..., n)`` with ``n = S`` for state values or ``n = S·A`` for
action values (a ``Q: (..., S, A)`` is accepted too and keeps its shape).

* :func:`weighted_least_squares`: ``Π_D = Φ(ΦᵀDΦ)⁺ΦᵀD``, the D-orthogonal projection onto
  span(Φ) (Tsitsiklis & Van Roy 1997, §IV; Sutton & Barto 2018, §9.4, §11.4).
* :func:`aggregation` and :func:`tabular`: the special cases of one-hot features.
* :func:`averager` and :func:`kernel_averager`: Gordon's (1995) averagers ``V ↦ WV`` with a fixed
  row-stochastic ``W``; they never expand ``‖·‖∞``, so ``ΠB`` stays a γ-contraction.
* :class:`NeuralProjection`: fit a small MLP by weighted regression for a fixed budget of steps
  from a seeded initialisation: a deterministic, repeatable (and non-linear) map; its
  :meth:`~NeuralProjection.last_layer` is the linear projection onto the learned features.

:class:`ProjectedBellman` composes a projection with ``B^π`` or ``B*`` (on V or Q) and can be
applied and, when linear, written as ``MX + c`` for the certificates in
:mod:`triad.analysis.contraction`. :func:`projected_value_iteration` iterates one or a batch of
them (projected / fitted value iteration), recording divergence per stream as :mod:`triad.record`
does; :func:`triad.linear.projected_value_iteration` is the same iteration for linear problems.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from triad import operators as ops
from triad.errors import SpecError, ValidationError
from triad.mdp import FiniteMDP, check_distribution_rows, check_finite, load_npy, uniform_policy, validate_policy
from triad.progress import Progress, advance
from triad.record import Curve, Recorder
from triad.spec import options


# ------------------------------------------------------------------------------------ validation
def check_weighting(weighting: np.ndarray, n: int, name: str = "weighting") -> np.ndarray:
    """Return ``weighting`` as a float ``(n,)`` probability vector, or raise naming the fault."""
    w = np.asarray(weighting, dtype=np.float64)
    if w.shape != (n,):
        raise ValidationError(f"{name} has shape {w.shape}, expected ({n},)")
    check_distribution_rows(w, name)
    return w


def check_features(features: np.ndarray, n: int, name: str = "features") -> np.ndarray:
    """Return ``features`` as a finite float ``(n, d)`` array with ``d ≥ 1``, or raise."""
    try:
        Phi = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} is not a numeric array ({exc})") from None
    if Phi.ndim != 2 or Phi.shape[0] != n or Phi.shape[1] < 1:
        raise ValidationError(f"{name} have shape {Phi.shape}, expected ({n}, d) with d ≥ 1 "
                              f"(one row per state, or per state-action pair for Q)")
    check_finite(Phi, name)
    return Phi


def _rows(x: np.ndarray) -> int:
    return int(np.shape(x)[0]) if np.ndim(x) else 0


def _as_points(values: np.ndarray, n: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(..., n)`` or ``(..., S, A)`` with ``S·A = n`` → a ``(m, n)`` matrix and the original shape."""
    X = np.asarray(values, dtype=np.float64)
    if X.ndim >= 1 and X.shape[-1] == n:
        return X.reshape(-1, n), X.shape
    if X.ndim >= 2 and X.shape[-2] * X.shape[-1] == n:
        return X.reshape(-1, n), X.shape
    raise ValidationError(f"values have shape {X.shape}, expected (..., {n}) or (..., S, A) with S·A = {n}")


# -------------------------------------------------------------------------------- linear maps
@dataclasses.dataclass(frozen=True, eq=False)
class LinearProjection:
    """A linear approximator ``X ↦ ΠX`` given by its ``(n, n)`` matrix.

    Least-squares projections are idempotent (``Π² = Π``); averagers in general are not, but are
    still linear maps onto what they can represent, so the same certificates apply.

    Attributes:
        matrix: ``Π``, ``(n, n)``.
        kind: ``"least-squares"``, ``"aggregation"``, ``"tabular"`` or ``"averager"``.
        features: ``Φ: (n, d)`` when Π projects onto span(Φ).
        weighting: ``D`` as an ``(n,)`` distribution when Π depends on one.
        coefficient_map: ``(d, n)`` matrix ``(ΦᵀDΦ)⁺ΦᵀD`` giving the weights ``θ`` with ``ΠX = Φθ``.
    """

    matrix: np.ndarray
    kind: str
    features: np.ndarray | None = None
    weighting: np.ndarray | None = None
    coefficient_map: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Size of the space Π acts on (S, or S·A for action values)."""
        return int(self.matrix.shape[0])

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``ΠX`` for a batch ``X: (..., n)`` (or ``(..., S, A)``); same shape out."""
        X, shape = _as_points(values, self.n)
        return (X @ self.matrix.T).reshape(shape)

    def coefficients(self, values: np.ndarray) -> np.ndarray:
        """The weights ``θ: (..., d)`` with ``ΠX = Φθ`` (minimum-norm when Φ is rank-deficient)."""
        if self.coefficient_map is None:
            raise ValidationError(f"a {self.kind} projection has no feature weights")
        X, shape = _as_points(values, self.n)
        batch = shape[:-1] if shape[-1] == self.n else shape[:-2]
        return (X @ self.coefficient_map.T).reshape(*batch, -1)


def weighted_least_squares(features: np.ndarray, weighting: np.ndarray) -> LinearProjection:
    """The D-orthogonal projection ``Π_D = Φ(ΦᵀDΦ)⁺ΦᵀD`` onto span(Φ).

    ``Π_D X`` minimises ``‖Φθ − X‖_D = (Σ_s d(s)(Φθ − X)(s)²)^½``. Computed from the SVD of
    ``D^½Φ`` (so a rank-deficient Φ, e.g. with duplicated columns, gives the same projection as its
    independent columns). States with zero weight are allowed as long as the weighted states still
    determine every function in span(Φ); otherwise the least-squares fit is not unique there.

    Args:
        features: ``Φ: (n, d)``.
        weighting: ``(n,)`` probability vector ``d`` with ``D = diag(d)``.

    Raises:
        ValidationError: features of the wrong shape, a weighting that is not a distribution, or
            zero weight on states where span(Φ) needs it (naming them).
    """
    n = _rows(weighting if np.ndim(weighting) == 1 else features)
    Phi = check_features(features, n)
    d = check_weighting(weighting, n)
    root = np.sqrt(d)
    U, s, Vt = np.linalg.svd(root[:, None] * Phi, full_matrices=False)
    # Directions with relative singular value below 1e-10 cannot be resolved in float64 (their
    # coefficients would carry errors of eps/1e-10 ≈ 1e-6), nor can subnormal ones be inverted:
    # treat them as dependent.
    tol = max(s[0] * 1e-10, np.finfo(float).tiny) if s.size else 0.0
    r = int((s > tol).sum())
    basis = Vt[:r].T
    # Directions of span(Φ) invisible to the weighted fit: they live only on zero-weight states.
    unseen = Phi - (Phi @ basis) @ basis.T
    scale = max(1.0, float(np.abs(Phi).max()))
    if np.abs(unseen).max() > 1e-8 * scale:
        rank = np.linalg.matrix_rank(Phi)
        states = np.flatnonzero(np.abs(unseen).max(axis=1) > 1e-8 * scale)
        shown = ", ".join(str(int(x)) for x in states[:8]) + (", …" if states.size > 8 else "")
        raise ValidationError(f"weighting puts (near) zero mass on state(s) {shown} where the features need it: "
                              f"the weighted states determine only rank {r} of the rank-{rank} feature span")
    coefficient_map = (basis / s[:r]) @ U[:, :r].T * root[None, :]
    matrix = Phi @ coefficient_map
    # On weighted rows Π_D = D^-½ U_r U_rᵀ D^½ exactly: an orthogonal projector conjugated by D^½,
    # which stays idempotent and D-self-adjoint to round-off even when Φ is badly conditioned.
    seen = d > 0
    matrix[seen] = (U[seen, :r] / root[seen, None]) @ (U[:, :r].T * root[None, :])
    return LinearProjection(matrix=matrix, kind="least-squares", features=Phi, weighting=d,
                            coefficient_map=coefficient_map)


def aggregation(groups: np.ndarray, weighting: np.ndarray) -> LinearProjection:
    """State aggregation: ``(ΠX)(s)`` is the D-weighted average of ``X`` over the group of ``s``.

    The least-squares projection onto one-hot group features; every row of Π is a distribution,
    so it is also an averager (Gordon 1995). Each group needs positive total weight.

    Args:
        groups: ``(n,)`` integer group labels ``0 … k−1``.
        weighting: ``(n,)`` distribution.
    """
    g = np.asarray(groups)
    if g.ndim != 1 or not np.issubdtype(g.dtype, np.integer) or (g.size and g.min() < 0):
        raise ValidationError(f"groups must be a 1-D array of non-negative integer labels, got shape {g.shape} "
                              f"and dtype {g.dtype}")
    labels, index = np.unique(g, return_inverse=True)
    onehot = np.eye(labels.size)[index]
    d = check_weighting(weighting, g.size)
    mass = onehot.T @ d
    if (mass <= 0).any():
        empty = int(labels[np.argmax(mass <= 0)])
        raise ValidationError(f"weighting puts zero mass on every state of group {empty}")
    proj = weighted_least_squares(onehot, d)
    return dataclasses.replace(proj, kind="aggregation")


def tabular(n: int) -> LinearProjection:
    """The identity: a lookup table represents every function (features ``Φ = I``)."""
    if n < 1:
        raise ValidationError(f"tabular projection needs n ≥ 1, got {n}")
    eye = np.eye(n)
    return LinearProjection(matrix=eye, kind="tabular", features=eye, coefficient_map=eye)


def averager(weights: np.ndarray) -> LinearProjection:
    """Gordon's (1995) averager ``(ΠX)(s) = Σ_s' W(s, s') X(s')`` with fixed stochastic ``W: (n, n)``.

    Since every row of ``W`` is a distribution, ``‖WU − WV‖∞ ≤ ‖U − V‖∞``: Π is a max-norm
    non-expansion and ``ΠB`` a γ-contraction in ‖·‖∞ (Gordon 1995, Thm 4.1).
    """
    W = np.asarray(weights, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValidationError(f"averager weights have shape {W.shape}, expected (n, n)")
    check_distribution_rows(W, "averager weights")
    return LinearProjection(matrix=W, kind="averager")


def kernel_averager(coordinates: np.ndarray, bandwidth: float) -> LinearProjection:
    """A Gaussian-kernel averager: ``W(s, s') ∝ exp(−‖x_s − x_s'‖² / (2h²))`` over state coordinates.

    Args:
        coordinates: ``(n, k)`` positions of the states (e.g. grid cells).
        bandwidth: ``h > 0``.
    """
    x = check_features(coordinates, _rows(coordinates), "coordinates")
    if not (bandwidth > 0 and math.isfinite(bandwidth)):
        raise ValidationError(f"bandwidth = {bandwidth!r} must be a positive number")
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1)
    logits = -sq / (2.0 * bandwidth**2)
    W = np.exp(logits - logits.max(axis=1, keepdims=True))
    return averager(W / W.sum(axis=1, keepdims=True))


# ----------------------------------------------------------------------------------- features
def random_features(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Gaussian random features ``Φ: (n, k)`` with i.i.d. N(0, 1) entries."""
    if k < 1 or n < 1:
        raise ValidationError(f"random features need n ≥ 1 and k ≥ 1, got n = {n}, k = {k}")
    return rng.standard_normal((n, k))


def random_partition(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Labels ``(n,)`` of a random partition of ``n`` states into ``k`` non-empty groups of near-equal size."""
    if not 1 <= k <= n:
        raise ValidationError(f"a partition into k groups needs 1 ≤ k ≤ n, got n = {n}, k = {k}")
    return rng.permutation(n) % k


# ------------------------------------------------------------------------------------- neural
@contextlib.contextmanager
def _one_torch_thread(torch: Any) -> Iterator[None]:
    """Run torch single-threaded, restoring the caller's setting afterwards.

    The matrices here are tiny, so a second intra-op thread only adds synchronisation (10–30×
    slower on a loaded machine), and one thread makes every reduction order, hence every bit of
    the result, independent of the machine's core count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _adam(torch: Any, params: list[Any], loss: Callable[[], Any], steps: int, learning_rate: float) -> None:
    """``steps`` steps of torch.optim's Adam on ``params`` (in place), minimising ``loss()``.

    Adam of Kingma & Ba (2015), Algorithm 1, with torch's defaults β = (0.9, 0.999), ε = 1e-8, run
    through :func:`torch.optim.adam.adam`, the function ``torch.optim.Adam(params, lr).step()`` calls,
    with the arguments that step passes on CPU tensors: the same arithmetic bit for bit
    (tests/test_projections.py checks). Constructing the ``Adam`` class would also import
    torch._dynamo and sympy, seconds of start-up per process (tests/benchmarks/README.md).
    Parameters of many targets stacked along a leading axis are one set: Adam acts elementwise.
    """
    from torch.optim.adam import adam

    exp_avgs = [torch.zeros_like(p) for p in params]
    exp_avg_sqs = [torch.zeros_like(p) for p in params]
    state_steps = [torch.tensor(0.0) for _ in params]
    for _ in range(steps):
        with torch.enable_grad():
            grads = list(torch.autograd.grad(loss(), params))
        with torch.no_grad():
            adam(params, grads, exp_avgs, exp_avg_sqs, [], state_steps, foreach=False, capturable=False,
                 differentiable=False, fused=None, has_complex=False, amsgrad=False, beta1=0.9, beta2=0.999,
                 lr=learning_rate, weight_decay=0.0, eps=1e-8, maximize=False)


@dataclasses.dataclass(frozen=True)
class NeuralFit:
    """What fitting the network to a batch of targets produced.

    Attributes:
        predictions: ``(..., n)`` fitted values (the projection of the targets).
        features: ``(..., n, h)`` last hidden layer's activations on every point.
        loss: ``(...,)`` final weighted mean squared error, in the targets' units.
    """

    predictions: np.ndarray
    features: np.ndarray
    loss: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class NeuralProjection:
    """Fit a small tanh MLP by weighted least squares for a fixed budget: a repeatable map ``X ↦ ΠX``.

    Every target in a batch is fitted by its own copy of the same network, starting from the same
    seeded initialisation and trained with full-batch Adam (torch.optim's) for exactly ``steps`` steps on
    ``Σ_s d(s)(f(x_s) − X(s))²``. No randomness enters after the seed, so ``Π`` is a deterministic
    function of ``X``: the same seed gives bit-identical output. Targets are standardised by their
    D-weighted mean and standard deviation before fitting, so ``Π(aX + c) = aΠ(X) + c`` for ``a > 0``
    and a constant target is returned unchanged. Unlike a linear projection, Π is neither linear
    nor a non-expansion in general: the experiment measures its Lipschitz ratios.

    Attributes:
        inputs: ``(n, k)`` network input for each point (a state embedding).
        weighting: ``(n,)`` distribution ``d`` weighting the regression.
        hidden: hidden layer widths.
        steps: Adam steps per fit.
        learning_rate: Adam step size.
        seed: seeds the initial weights (torch generator).
    """

    inputs: np.ndarray
    weighting: np.ndarray
    hidden: tuple[int, ...] = (16,)
    steps: int = 300
    learning_rate: float = 0.02
    seed: int = 0
    kind: str = dataclasses.field(default="neural", init=False)

    def __post_init__(self) -> None:
        x = check_features(self.inputs, _rows(self.inputs), "inputs")
        object.__setattr__(self, "inputs", x)
        object.__setattr__(self, "weighting", check_weighting(self.weighting, x.shape[0]))
        hidden = tuple(int(h) for h in self.hidden)
        if not hidden or min(hidden) < 1:
            raise ValidationError(f"hidden = {self.hidden!r} must list at least one positive layer width")
        object.__setattr__(self, "hidden", hidden)
        if self.steps < 0:
            raise ValidationError(f"steps = {self.steps} must be non-negative")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValidationError(f"learning_rate = {self.learning_rate!r} must be a positive number")

    @property
    def n(self) -> int:
        """Number of points (S, or S·A)."""
        return int(self.inputs.shape[0])

    def fit(self, values: np.ndarray) -> NeuralFit:
        """Fit one network per target in the batch ``X: (..., n)``; see :class:`NeuralFit`."""
        import torch

        X, shape = _as_points(values, self.n)
        batch = shape[:-1] if shape[-1] == self.n else shape[:-2]
        m = X.shape[0]
        d = self.weighting
        mean = X @ d
        std = np.sqrt(np.maximum(((X - mean[:, None]) ** 2) @ d, 0.0))
        constant = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
        scale = np.where(constant, 1.0, std)
        target = torch.tensor((X - mean[:, None]) / scale[:, None])
        weight = torch.tensor(d)
        x = torch.tensor(self.inputs)
        gen = torch.Generator().manual_seed(int(self.seed))
        sizes = (self.inputs.shape[1], *self.hidden, 1)
        params = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            bound = 1.0 / math.sqrt(fan_in)
            W0 = (2 * torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float64) - 1) * bound
            b0 = (2 * torch.rand(1, fan_out, generator=gen, dtype=torch.float64) - 1) * bound
            # One copy per target, all from the same initialisation: Π(X) cannot depend on the batch.
            params += [W0.expand(m, fan_in, fan_out).clone().requires_grad_(),
                       b0.expand(m, 1, fan_out).clone().requires_grad_()]

        def forward() -> tuple[torch.Tensor, torch.Tensor]:
            h = x
            for W, b in zip(params[0:-2:2], params[1:-2:2]):
                h = torch.tanh(h @ W + b)
            return (h @ params[-2] + params[-1])[..., 0], h

        def loss() -> torch.Tensor:
            out, _ = forward()
            return (((out - target) ** 2) @ weight).sum()

        with _one_torch_thread(torch):
            _adam(torch, params, loss, self.steps, self.learning_rate)
        with torch.no_grad(), _one_torch_thread(torch):
            out, h = forward()
            fitted = out.numpy()
            loss = (((out - target) ** 2) @ weight).numpy() * scale**2
            feats = h.numpy()
        predictions = np.where(constant[:, None], X, mean[:, None] + scale[:, None] * fitted)
        return NeuralFit(predictions=predictions.reshape(shape), features=feats.reshape(*batch, self.n, -1),
                         loss=np.where(constant, 0.0, loss).reshape(batch))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``ΠX``: the fitted network's values, same shape as ``X``."""
        return self.fit(values).predictions

    def last_layer(self, values: np.ndarray) -> LinearProjection:
        """The linear projection onto the features the network learned fitting ``X: (n,)``.

        Features are the last hidden layer's activations plus a constant column (the output bias),
        projected by :func:`weighted_least_squares` under this projection's weighting.
        """
        X = np.asarray(values, dtype=np.float64)
        if X.shape != (self.n,):
            raise ValidationError(f"last_layer fits one target of shape ({self.n},), got {X.shape}")
        return self.feature_projection(self.fit(X).features)

    def feature_projection(self, features: np.ndarray) -> LinearProjection:
        """Least squares under this weighting onto ``[features, 1]`` (``features: (n, h)`` from :meth:`fit`)."""
        feats = check_features(features, self.n)
        return weighted_least_squares(np.column_stack([feats, np.ones(self.n)]), self.weighting)


Projection = LinearProjection | NeuralProjection
"""Anything with ``n`` and ``__call__(X: (..., n)) -> (..., n)``."""


# -------------------------------------------------------------------------------- composites
@dataclasses.dataclass(frozen=True)
class Iteration(Curve):
    """The record of projected value iteration ``X_{k+1} = ΠB X_k`` on a batch of streams.

    A :class:`triad.record.Curve` — ``steps``, the recorded iterates ``w``, ``diverged_at`` (per
    stream, the first sweep whose iterate was not finite or larger than ``threshold``; NaN where
    that never happened; diverged streams carry on) and ``threshold`` — plus how it converged.

    Attributes:
        steps: ``(K,)`` sweeps at which iterates were recorded: 0 (the start), every
            ``record_every``-th and the last one done.
        w: ``(K, *start.shape)`` the recorded iterates: values ``X``, or with ``coefficients=True``
            the feature weights ``θ`` of ``X = Φθ`` (also as :attr:`history`).
        diverged_at: batch shape (``()`` for one start ``X0``, ``(B,)`` for ``B`` streams).
        changes: ``(sweeps,)`` ``‖X_{k+1} − X_k‖∞`` over the whole batch (inf once a stream is not finite).
        converged: batch shape: whether the stream's last change was at most ``tol`` (without
            ``tol``: never).
    """

    changes: np.ndarray
    converged: np.ndarray

    @property
    def history(self) -> np.ndarray:
        """``w``: all recorded iterates, ``(K, *start.shape)``."""
        return self.w

    @property
    def values(self) -> np.ndarray:
        """The last iterate, shape of ``start`` (:attr:`final`)."""
        return self.final

    @property
    def sweeps(self) -> int:
        """Number of sweeps done."""
        return int(self.steps[-1])


@dataclasses.dataclass(frozen=True, eq=False)
class ProjectedBellman:
    """The composite ``ΠB^π`` (``policy`` given) or ``ΠB*`` (``policy=None``), on V or on Q.

    Attributes:
        mdp: the MDP.
        projection: a :data:`Projection` on ``n = S`` points (``on="v"``) or ``S·A`` (``on="q"``).
        policy: ``(S, A)`` policy to evaluate, or ``None`` for the optimality operator.
        on: ``"v"`` (state values) or ``"q"`` (action values: fitted Q iteration).
    """

    mdp: FiniteMDP
    projection: Projection
    policy: np.ndarray | None = None
    on: str = "v"

    def __post_init__(self) -> None:
        if self.on not in ("v", "q"):
            raise ValidationError(f"on = {self.on!r} must be 'v' or 'q'")
        if self.policy is not None:
            object.__setattr__(self, "policy", validate_policy(self.policy, self.mdp))
        n = self.mdp.S if self.on == "v" else self.mdp.S * self.mdp.A
        if self.projection.n != n:
            raise ValidationError(f"the projection acts on {self.projection.n} points but ΠB on {self.on.upper()} "
                                  f"of this MDP needs {n}")

    @property
    def n(self) -> int:
        """Dimension of the space the operator acts on."""
        return self.projection.n

    @property
    def linear(self) -> bool:
        """Whether ``ΠB`` is affine (a linear Π and a fixed policy)."""
        return self.policy is not None and isinstance(self.projection, LinearProjection)

    def bellman(self, values: np.ndarray) -> np.ndarray:
        """``BX`` without projection: ``(..., n)`` (or ``(..., S, A)`` on Q) in, same shape out."""
        X, shape = _as_points(values, self.n)
        if self.on == "v":
            out = ops.bellman_v(self.mdp, X, self.policy) if self.policy is not None else \
                ops.bellman_optimality_v(self.mdp, X)
        else:
            Q = X.reshape(-1, self.mdp.S, self.mdp.A)
            out = ops.bellman_q(self.mdp, Q, self.policy) if self.policy is not None else \
                ops.bellman_optimality_q(self.mdp, Q)
        return out.reshape(shape)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``ΠBX``, same shape as ``X``."""
        return self.projection(self.bellman(values))

    def linear_part(self, project: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(M, c)`` with ``ΠB^π X = MX + c`` (``project=False``: of ``B^π`` alone).

        On V, ``M = γΠP^π`` and ``c = Πr^π``; on Q, ``M = γΠPΠ_π`` with ``(PΠ_π)((s, a), (s', a')) =
        P(s'|s, a)π(a'|s')`` and ``c = ΠR``. Dense ``(n, n)`` and ``(n,)``.

        Raises:
            ValidationError: for ``B*`` or a non-linear projection.
        """
        if self.policy is None:
            raise ValidationError("ΠB* is not affine: the max makes it piecewise linear (use the empirical "
                                  "Lipschitz ratio instead)")
        if project and not isinstance(self.projection, LinearProjection):
            raise ValidationError(f"a {self.projection.kind} projection is not linear")
        mdp, pi = self.mdp, self.policy
        if self.on == "v":
            P_pi = ops.policy_transition(mdp, pi)
            M = mdp.gamma * (P_pi.toarray() if sp.issparse(P_pi) else np.asarray(P_pi))
            c = ops.policy_reward(mdp, pi)
        else:
            P = mdp.P_flat.toarray() if mdp.sparse else np.asarray(mdp.P_flat)
            M = mdp.gamma * (P[:, :, None] * pi[None, :, :]).reshape(mdp.S * mdp.A, mdp.S * mdp.A)
            c = mdp.R.ravel().copy()
        if project:
            Pi = self.projection.matrix
            return Pi @ M, Pi @ c
        return M, c

    def fixed_point(self) -> np.ndarray:
        """The fixed point of the affine ``ΠB^π``: solves ``(I − M)X = c``, ``(n,)``.

        For ``Π = Π_D`` this is ``Φθ*``, the TD(0) / LSTD solution (Tsitsiklis & Van Roy 1997).

        Raises:
            ValidationError: if ``I − M`` is singular (1 is an eigenvalue of ``γΠP^π``).
        """
        M, c = self.linear_part()
        try:
            return np.linalg.solve(np.eye(self.n) - M, c)
        except np.linalg.LinAlgError:
            raise ValidationError("ΠB^π has no unique fixed point: I − γΠP^π is singular") from None


def projected_value_iteration(operator: ProjectedBellman | Sequence[ProjectedBellman], start: np.ndarray, sweeps: int,
                              *, tol: float | None = None, threshold: float | None = None, record_every: int = 1,
                              coefficients: bool = False, progress: Progress | None = None) -> Iteration:
    """Projected (fitted) value iteration ``X_{k+1} = ΠB X_k`` on a batch of streams; divergence is recorded, not raised.

    With a least-squares Π and a fixed policy this is the projected value iteration of Sutton &
    Barto (2018) Example 11.1 (``w_{k+1} = argmin_w ‖Φw − B^π Φw_k‖_D``); with ``B*`` and a table,
    value iteration; on Q with a regression Π, fitted Q iteration (Ernst, Geurts & Wehenkel 2005).
    A sequence of operators runs one per stream (e.g. one MDP per cell of a (γ, ε) grid); when all
    are affine (:attr:`ProjectedBellman.linear`) every sweep is the one batched product
    ``X_b ← M_b X_b + c_b`` with ``(M_b, c_b)`` from :meth:`ProjectedBellman.linear_part`.

    Args:
        operator: ``ΠB`` applied to every stream, or a sequence of ``B`` of them on the same
            number of points ``n``, stream ``b`` iterating the ``b``-th.
        start: ``X0``: ``(..., n)``, or ``(..., S, A)`` on Q; for ``B`` operators ``(B, n)`` or one
            ``(n,)`` shared by all. With ``coefficients``, the feature weights ``θ0``: ``(..., d)``.
        sweeps: number of sweeps, ``≥ 0``.
        tol: stop once every stream's change ``‖X_{k+1} − X_k‖∞`` is at most ``tol`` (default:
            run every sweep).
        threshold: a stream diverges when its size (``‖X‖∞``, or ``‖θ‖₂`` with ``coefficients``)
            exceeds ``threshold`` or is not finite (default ``1e6·(‖X0‖∞ + max|R|/(1 − γ) + 1)``,
            far beyond the fixed point of any stable ``ΠB``).
        record_every: keep every ``record_every``-th iterate (and the start and the last).
        coefficients: start from and record the weights ``θ`` with ``X = Φθ`` (minimum-norm,
            :meth:`LinearProjection.coefficients`) instead of ``X``; needs projections with features.
        progress: advanced by one per sweep.
    Returns:
        An :class:`Iteration`.
    """
    ops_ = [operator] if isinstance(operator, ProjectedBellman) else list(operator)
    if not ops_:
        raise ValidationError("projected value iteration needs at least one operator")
    n = ops_[0].n
    if any(op.n != n for op in ops_):
        raise ValidationError(f"the operators act on {sorted({op.n for op in ops_})} points: a batch needs one n")
    if int(sweeps) != sweeps or sweeps < 0:
        raise ValidationError(f"sweeps = {sweeps} must be a non-negative integer")
    sweeps = int(sweeps)
    if coefficients:
        Phi, fit = _feature_maps(ops_)
        theta = np.array(start, dtype=np.float64)
        if theta.ndim < 1 or theta.shape[-1] != Phi.shape[-1]:
            raise ValidationError(f"start has shape {theta.shape}, expected (..., {Phi.shape[-1]}) feature weights")
        batch = theta.shape[:-1]
    else:
        X, shape = _as_points(start, n)
        batch = shape[:-1] if shape[-1] == n else shape[:-2]
    if len(ops_) > 1:
        if batch not in ((), (len(ops_),)):
            raise ValidationError(f"start has batch shape {batch} for {len(ops_)} operators: give ({len(ops_)}, …) "
                                  f"or one start shared by all")
        batch = (len(ops_),)
    if coefficients:
        theta = np.broadcast_to(theta, (*batch, theta.shape[-1])).reshape(-1, theta.shape[-1])
        X = np.einsum("bnd,bd->bn", Phi, theta) if len(ops_) > 1 else theta @ Phi[0].T
        shape = (*batch, theta.shape[-1])
    else:
        X = np.broadcast_to(X, (math.prod(batch), n)).copy()
        shape = (*batch, *shape[len(shape) - (1 if shape[-1] == n else 2):])
    if threshold is None:
        horizon = max(np.abs(op.mdp.R).max() / (1.0 - op.mdp.gamma) if op.mdp.gamma < 1 else math.inf for op in ops_)
        threshold = 1e6 * (np.abs(X).max(initial=0.0) + horizon + 1.0)
    step = _stepper(ops_)

    def record(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if not coefficients:
            return x, np.abs(x).max(axis=1, initial=0.0)
        return (np.einsum("bdn,bn->bd", fit, x) if len(ops_) > 1 else x @ fit[0].T), None

    recorder = Recorder(sweeps, record_every, theta if coefficients else X, threshold, record(X)[1])
    changes: list[float] = []
    last = np.full(X.shape[0], math.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, sweeps + 1):
            nxt = step(X)
            last = np.abs(nxt - X).max(axis=1, initial=0.0)
            changes.append(float(last.max(initial=0.0)) if np.all(np.isfinite(last)) else math.inf)
            X = nxt
            recorded, size = record(X)
            recorder(recorded, k, size)
            advance(progress, 1)
            if tol is not None and np.all(last <= tol):
                recorder.stop(recorded, k)
                break
    converged = (last <= tol) & np.isnan(recorder.diverged_at) if tol is not None else np.zeros(X.shape[0], bool)
    return Iteration(steps=recorder.steps, w=recorder.w.reshape(len(recorder.steps), *shape),
                     diverged_at=recorder.diverged_at.reshape(batch), threshold=recorder.threshold,
                     changes=np.asarray(changes), converged=converged.reshape(batch))


def _stepper(ops_: list[ProjectedBellman]) -> Callable[[np.ndarray], np.ndarray]:
    """``X: (m, n) ↦ ΠB X`` for one operator on every row, or operator ``b`` on row ``b``."""
    if len(ops_) == 1:
        return ops_[0]
    if all(op.linear for op in ops_):
        parts = [op.linear_part() for op in ops_]
        M, c = np.stack([p[0] for p in parts]), np.stack([p[1] for p in parts])
        return lambda X: np.einsum("bij,bj->bi", M, X) + c
    return lambda X: np.stack([op(x) for op, x in zip(ops_, X)])


def _feature_maps(ops_: list[ProjectedBellman]) -> tuple[np.ndarray, np.ndarray]:
    """``Φ: (B, n, d)`` and ``(ΦᵀDΦ)⁺ΦᵀD: (B, d, n)`` of each operator's projection (one shared ``d``)."""
    for op in ops_:
        proj = op.projection
        if not isinstance(proj, LinearProjection) or proj.features is None or proj.coefficient_map is None:
            raise ValidationError(f"coefficients=True needs projections onto features; a {proj.kind} projection has "
                                  f"no feature weights")
    dims = {op.projection.features.shape[1] for op in ops_}
    if len(dims) > 1:
        raise ValidationError(f"the projections have {sorted(dims)} features: a batch needs one number")
    return (np.stack([op.projection.features for op in ops_]),
            np.stack([op.projection.coefficient_map for op in ops_]))


# -------------------------------------------------------------------------------- from specs
FEATURE_SPECS = "tabular, random:K[,seed=N], aggregate:K[,seed=N], baird (also: problem) or a path to an .npy file"
"""The feature specs :func:`features_from_spec` accepts."""

WEIGHTING_SPECS = "visitation, on-policy, uniform, behaviour, behaviour:EPS or a path to an .npy file"
"""The weighting specs :func:`weighting_from_spec` accepts."""


def _no_options(name: str, rest: str, where: str) -> None:
    if rest.strip():
        raise SpecError(f"{where}: {name} takes no parameters")


def features_from_spec(spec: str, mdp: FiniteMDP, prescribed: np.ndarray | None = None) -> np.ndarray:
    """Features ``Φ: (S, d)`` named by a string (used by ``triad contraction --features``).

    * ``tabular``: ``Φ = I``;
    * ``random:K[,seed=N]``: i.i.d. N(0, 1) features of dimension K (also ``random:K=4,seed=0``);
    * ``aggregate:K[,seed=N]``: one-hot features of a random partition into K groups;
    * ``baird`` or ``problem``: the features the problem prescribes (``prescribed``);
    * a path to an ``(S, d)`` ``.npy`` array.

    Options are read by :func:`triad.spec.options`; ``seed`` defaults to 0.
    """
    where = f"features {spec!r}"
    if spec.strip().endswith(".npy"):
        path = Path(spec.strip())
        return check_features(load_npy(path, "features"), mdp.S, f"features in {path.name}")
    name, _, rest = (part.strip() for part in spec.partition(":"))
    if name in ("random", "aggregate"):
        given = options(rest, {"K": 1, "seed": 0}, where, positional="K", ignore_case=True)
        if "K" not in given:
            raise SpecError(f"{where}: give the dimension, e.g. {name}:4,seed=0")
        if given.get("seed", 0) < 0:
            raise SpecError(f"{where}: seed = {given['seed']} must be non-negative")
        rng = np.random.default_rng(given.get("seed", 0))
        if name == "random":
            return random_features(rng, mdp.S, given["K"])
        return np.eye(given["K"])[random_partition(rng, mdp.S, given["K"])]
    if name == "tabular":
        _no_options(name, rest, where)
        return np.eye(mdp.S)
    if name in ("baird", "problem"):
        _no_options(name, rest, where)
        if prescribed is None:
            raise ValidationError(f"{mdp.name or 'this MDP'} prescribes no features (use tabular, random:K, "
                                  f"aggregate:K or an .npy file)")
        return check_features(prescribed, mdp.S)
    raise SpecError(f"unknown features {spec!r} (use {FEATURE_SPECS})")


def mixture_policy(pi: np.ndarray, other: np.ndarray, epsilon: float) -> np.ndarray:
    """``μ = (1 − ε)π + ε·other``: a behaviour policy at distance ``ε·TV(π, other)`` from ``π``."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValidationError(f"epsilon = {epsilon:g} is outside [0, 1]")
    return (1.0 - epsilon) * np.asarray(pi) + epsilon * np.asarray(other)


def reachable_states(mdp: FiniteMDP, pi: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``(S,)`` bool: the states the chain of ``π`` can reach (in any number of steps ≥ 0) from ``start``.

    A graph search on the non-zero pattern of ``P^π``, so the answer is exact (no threshold on
    probabilities). ``start``: ``(S,)`` bool.
    """
    P_pi = ops.policy_transition(mdp, validate_policy(pi, mdp))
    graph = sp.csr_array(P_pi if sp.issparse(P_pi) else np.asarray(P_pi))
    graph.eliminate_zeros()
    seen = np.asarray(start, dtype=bool).copy()
    frontier = np.flatnonzero(seen)
    while frontier.size:
        hit = np.unique(graph[frontier].indices)
        frontier = hit[~seen[hit]]
        seen[frontier] = True
    return seen


def visitation_weighting(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """The discounted visitation ``d^π_μ = (1 − γ) Σ_t γ^t μᵀ(P^π)^t`` from ``mdp.initial``: ``(S,)``.

    :func:`triad.operators.discounted_visitation`, exactly zero on the states ``π`` never reaches
    from ``μ`` (:func:`reachable_states`) and, for ``γ > 0``, positive on all others (for ``γ = 0``
    it is ``μ``). Since
    ``d P^π = (d − (1 − γ)μ)/γ ≤ d/γ``, Jensen's inequality gives ``‖P^π V‖²_D ≤ ‖V‖²_D / γ``:
    ``B^π``, and ``Π_D B^π`` for any ``D``-orthogonal ``Π_D``, is a ``√γ``-contraction in ``‖·‖_D``
    (the on-policy argument of Tsitsiklis & Van Roy 1997, Lemma 1, with the restart term).

    At ``γ = 1`` (an episodic MDP and a proper ``π``) the visits per episode leave out the terminal
    states the episodes end in; here each terminal state also gets its visit, the probability that
    an episode ends there, so the weighting stays positive on everything ``π`` reaches (no
    contraction factor below 1 is claimed at ``γ = 1``).
    """
    d = ops.discounted_visitation(mdp, pi)
    if mdp.gamma == 1.0 and mdp.terminal is not None and mdp.terminal.any():
        P_pi = ops.policy_transition(mdp, pi)
        arrivals = np.asarray(P_pi.T @ np.where(mdp.terminal, 0.0, d)).ravel()
        d = np.where(mdp.terminal, arrivals, d)
    d = np.where(reachable_states(mdp, pi, mdp.initial > 0), d, 0.0)
    return d / d.sum()


def _without_round_off(d: np.ndarray) -> np.ndarray:
    """A computed law with entries below ``1e-12`` of its largest set to exactly zero (round-off of the solve)."""
    d = np.where(d > 1e-12 * d.max(), d, 0.0)
    return d / d.sum()


def weighting_from_spec(spec: str, mdp: FiniteMDP, pi: np.ndarray, behaviour: np.ndarray | None = None) -> np.ndarray:
    """A state weighting ``d: (S,)`` named by a string (used by ``triad contraction --weighting``).

    * ``visitation``: the discounted visitation ``d^π_μ`` of the evaluated policy ``π`` from the
      initial distribution (:func:`visitation_weighting`), positive exactly on the states ``π``
      reaches from it (for ``γ > 0``);
    * ``on-policy``: the stationary distribution of ``π`` (the weighting of on-policy TD;
      Tsitsiklis–Van Roy's ``‖γΠ_D P^π‖_D ≤ γ`` holds for it);
    * ``uniform``: ``1/S`` everywhere;
    * ``behaviour``: the stationary distribution of the problem's behaviour policy (off-policy TD
      from that policy's data);
    * ``behaviour:EPS`` (also ``behaviour:epsilon=EPS``): the stationary distribution of
      ``(1 − EPS)π + EPS·uniform``;
    * a path to an ``(S,)`` ``.npy`` distribution.

    Stationary laws are returned with their round-off (entries below ``1e-12`` of the largest) set
    to exactly zero, so their support is the chain's recurrent class.
    """
    where = f"weighting {spec!r}"
    if spec.strip().endswith(".npy"):
        path = Path(spec.strip())
        return check_weighting(load_npy(path, "weighting"), mdp.S, f"weighting in {path.name}")
    name, _, rest = (part.strip() for part in spec.partition(":"))
    if name == "behaviour":
        given = options(rest, {"epsilon": 0.0}, where, positional="epsilon", ignore_case=True)
        if "epsilon" in given:
            return _without_round_off(ops.stationary_distribution(
                mdp, mixture_policy(pi, uniform_policy(mdp), given["epsilon"])))
        if behaviour is None:
            raise ValidationError(f"{mdp.name or 'this MDP'} defines no behaviour policy (use behaviour:EPS)")
        return _without_round_off(ops.stationary_distribution(mdp, behaviour))
    laws = {"visitation": lambda: visitation_weighting(mdp, pi),
            "on-policy": lambda: _without_round_off(ops.stationary_distribution(mdp, pi)),
            "uniform": lambda: np.full(mdp.S, 1.0 / mdp.S)}
    if name in laws:
        _no_options(name, rest, where)
        return laws[name]()
    raise SpecError(f"unknown weighting {spec!r} (use {WEIGHTING_SPECS})")
