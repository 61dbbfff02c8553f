"""Discount weighting in the policy gradient: the true ∇J against the update most code follows.

For a softmax policy ``π_θ(a|s) ∝ exp(logit_θ(s, a))`` on a finite MDP the discounted objective is
``J(θ) = Σ_s μ(s) V^π(s)`` and the policy-gradient theorem (Sutton, McAllester, Singh & Mansour
2000) gives its exact gradient

    ∇J(θ) = Σ_s ρ_γ(s) Σ_a ∇π(a|s) Q^π(s, a),      ρ_γᵀ = μᵀ (I − γP^π)⁻¹,

the *discounted* state weighting (``ρ_γ = d^π_μ / (1 − γ)``): a visit at time t counts γ^t. This is
"option 2" of the lecture notes, ``Σ_t γ^t ∇log π(a_t|s_t) G_t``. Nearly every implementation drops
the ``γ^t`` ("option 1": ``Σ_t ∇log π(a_t|s_t) G_t``, discounting only inside the return), so its
expected update weights states by the *undiscounted* on-policy visitation instead:

* episodic MDPs (some states flagged ``terminal``): ``η(s)``, the expected number of visits to ``s``
  per episode, ``ηᵀ = μᵀ (I − P^π_NN)⁻¹`` over the non-terminal states N — the expectation of the
  per-episode sum ``Σ_t ∇log π(a_t|s_t) G_t``;
* continuing MDPs (no terminal state): the stationary distribution ``d^π = d^π P^π`` — the
  per-step expectation of that update on a long run — scaled by ``1/(1 − γ)``, so that it has the
  same total mass as ``ρ_γ`` (``Σ_s ρ_γ(s) = 1/(1 − γ)``) and the two fields differ only in how
  they spread weight over states, not in overall scale.

Thomas (2014), "Bias in natural actor-critic algorithms" (ICML), first pointed out that the
resulting update is biased for the discounted objective; Nota & Thomas (2020), "Is the policy
gradient a gradient?" (AAMAS), proved it is not the gradient of *any* function and built an example
whose fixed point is pessimal. Here both fields are exact (linear solves, no sampling), so one can
measure the angle between them, follow each by gradient ascent, and test conservativeness: a
gradient field has a symmetric Jacobian and a zero integral around every closed loop.

Policies are parameterised either tabularly, ``theta: (S, A)`` with ``logit = theta``, or
log-linearly, ``theta: (d,)`` with ``features: (S, A, d)`` and ``logit(s, a) = features[s, a] · θ``;
shared features alias states, which is what lets the γ^t-dropped update settle on a bad policy
(the zoo's ``aliased-decision``, :func:`triad.zoo.aliased_decision`, carries such features as
``Problem.policy_features``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

from triad.errors import ValidationError
from triad.linalg import DENSE_LIMIT
from triad.mdp import FiniteMDP, check_finite
from triad.operators import (
    boltzmann,
    discounted_visitation,
    policy_transition,
    q_values,
    state_values,
    stationary_distribution,
)
from triad.solvers import evaluate_policy

FIELDS = ("true", "dropped")
"""Update directions :func:`field` knows: the exact gradient and the γ^t-dropped direction."""

Field = Callable[[np.ndarray], np.ndarray]
"""A vector field over parameters: ``theta -> direction`` of the same shape."""


# --------------------------------------------------------------------------------- policy
def _check_parameters(mdp: FiniteMDP, theta: np.ndarray, features: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    theta = np.asarray(theta, dtype=np.float64)
    if features is None:
        if theta.shape != (mdp.S, mdp.A):
            raise ValidationError(f"theta has shape {theta.shape}, expected (S, A) = ({mdp.S}, {mdp.A}) "
                                  f"for a tabular softmax policy")
    else:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 3 or features.shape[:2] != (mdp.S, mdp.A):
            raise ValidationError(f"features have shape {features.shape}, expected (S, A, d) with "
                                  f"(S, A) = ({mdp.S}, {mdp.A})")
        check_finite(features, "features")
        if theta.shape != features.shape[2:]:
            raise ValidationError(f"theta has shape {theta.shape}, expected ({features.shape[2]},) "
                                  f"to match features of shape {features.shape}")
    check_finite(theta, "theta")
    return theta, features


def _logits(theta: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    return theta if features is None else features @ theta


def softmax_policy(mdp: FiniteMDP, theta: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
    """``π_θ(a|s) ∝ exp(logit_θ(s, a))`` over the allowed actions: ``(S, A)``.

    Args:
        theta: ``(S, A)`` logits (tabular), or ``(d,)`` weights when ``features`` are given.
        features: optional ``(S, A, d)``; then ``logit(s, a) = features[s, a] · θ``.
    """
    theta, features = _check_parameters(mdp, theta, features)
    return boltzmann(_logits(theta, features), 1.0, mdp.allowed)


def objective(mdp: FiniteMDP, theta: np.ndarray, features: np.ndarray | None = None) -> float:
    """The discounted objective ``J(θ) = Σ_s μ(s) V^{π_θ}(s)`` (``μ = mdp.initial``)."""
    return float(mdp.initial @ evaluate_policy(mdp, softmax_policy(mdp, theta, features)))


# ------------------------------------------------------------------------------ weightings
def undiscounted_visitation(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """The state weighting of the γ^t-dropped update: ``(S,)``.

    Episodic MDPs (``mdp.terminal`` flags some state): the expected number of visits per episode,
    ``ηᵀ = μᵀ (I − P^π_NN)⁻¹`` on the non-terminal states N and 0 on terminal ones (Sutton & Barto
    2018, eq. 9.2 before normalisation). Continuing MDPs: ``d^π / (1 − γ)`` with ``d^π`` the
    stationary distribution of ``P^π``, the same total mass as the discounted weighting ``ρ_γ``.

    Raises:
        ValidationError: a non-terminal state cannot reach a terminal one under ``pi`` (its visit
            count would be infinite), or the continuing chain has no unique stationary law.
    """
    if mdp.terminal is None or not mdp.terminal.any():
        return stationary_distribution(mdp, pi) / (1.0 - mdp.gamma)
    P_pi = sp.csr_array(policy_transition(mdp, pi))
    live = ~mdp.terminal
    # Which states can reach a terminal one: search backwards from an extra node linked to all of them.
    S = mdp.S
    src, dst = (P_pi > 0).nonzero()
    ends = np.flatnonzero(mdp.terminal)
    back = sp.csr_array((np.ones(len(src) + len(ends)),
                         (np.concatenate([dst, np.full(len(ends), S)]), np.concatenate([src, ends]))),
                        shape=(S + 1, S + 1))
    reach = np.zeros(S + 1, bool)
    reach[csgraph.breadth_first_order(back, S, directed=True, return_predecessors=False)] = True
    if not reach[:S].all():
        s = int(np.flatnonzero(~reach[:S])[0])
        raise ValidationError(f"state {s} cannot reach a terminal state under the policy, so its expected "
                              f"number of visits per episode is infinite")
    idx = np.flatnonzero(live)
    M = P_pi[idx][:, idx]
    rhs = mdp.initial[idx]
    if len(idx) <= DENSE_LIMIT:
        eta_live = scipy.linalg.solve(np.eye(len(idx)) - M.toarray().T, rhs, check_finite=False)
    else:
        eta_live = spla.spsolve(sp.csc_array(sp.eye_array(len(idx)) - M.T), rhs)
    eta = np.zeros(mdp.S)
    eta[idx] = np.clip(eta_live, 0.0, None)
    return eta


def discounted_weighting(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """``ρ_γᵀ = μᵀ (I − γP^π)⁻¹``, the expected discounted visits ``Σ_t γ^t Pr(s_t = s)``: ``(S,)``."""
    return discounted_visitation(mdp, pi) / (1.0 - mdp.gamma)


# ---------------------------------------------------------------------------------- fields
@dataclasses.dataclass(frozen=True)
class _Evaluated:
    """A policy and its exact values, shared by J and both fields at one θ."""

    pi: np.ndarray
    V: np.ndarray
    advantage: np.ndarray


def _evaluate(mdp: FiniteMDP, theta: np.ndarray, features: np.ndarray | None) -> _Evaluated:
    pi = boltzmann(_logits(theta, features), 1.0, mdp.allowed)
    V = evaluate_policy(mdp, pi)
    Q = q_values(mdp, V)
    return _Evaluated(pi, V, Q - state_values(Q, pi)[:, None])


def _direction(mdp: FiniteMDP, ev: _Evaluated, features: np.ndarray | None,
               weighting: Callable[[FiniteMDP, np.ndarray], np.ndarray]) -> np.ndarray:
    """``Σ_s w(s) Σ_a ∇π(a|s) Q^π(s, a)`` for the state weighting ``w`` of the current policy.

    With ``∇π = π ∇log π`` and ``Σ_a π(a|s) ∇log π(a|s) = 0`` this is
    ``Σ_{s,a} w(s) π(a|s) A^π(s, a) ∇logit(s, a)``: for tabular logits the ``(s, a)`` entry is
    ``w(s) π(a|s) A^π(s, a)``.
    """
    # Forbidden actions have π = 0 and must contribute nothing whatever their Q.
    per_pair = weighting(mdp, ev.pi)[:, None] * np.where(ev.pi > 0, ev.pi * ev.advantage, 0.0)
    return per_pair if features is None else np.einsum("sa,sad->d", per_pair, features)


def policy_gradient(mdp: FiniteMDP, theta: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
    """The exact gradient ``∇J(θ)``, shaped like ``theta`` (policy-gradient theorem, module docstring)."""
    theta, features = _check_parameters(mdp, theta, features)
    return _direction(mdp, _evaluate(mdp, theta, features), features, discounted_weighting)


def dropped_discount_direction(mdp: FiniteMDP, theta: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
    """The expected γ^t-dropped update ``Σ_s η(s) Σ_a ∇π(a|s) Q^π(s, a)``, shaped like ``theta``.

    ``η`` is :func:`undiscounted_visitation` (visits per episode, or the stationary law for
    continuing MDPs); ``Q^π`` is still the discounted action value, as in Nota & Thomas (2020).
    """
    theta, features = _check_parameters(mdp, theta, features)
    return _direction(mdp, _evaluate(mdp, theta, features), features, undiscounted_visitation)


def field(mdp: FiniteMDP, name: str, features: np.ndarray | None = None) -> Field:
    """The vector field ``theta -> direction`` called ``name`` in :data:`FIELDS`."""
    if name == "true":
        return functools.partial(policy_gradient, mdp, features=features)
    if name == "dropped":
        return functools.partial(dropped_discount_direction, mdp, features=features)
    raise ValidationError(f"unknown field {name!r} (choose from {', '.join(FIELDS)})")


def angle(u: np.ndarray, v: np.ndarray) -> float:
    """The angle between two directions in degrees (0 when either is the zero vector)."""
    u, v = np.ravel(u), np.ravel(v)
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0.0 or nv == 0.0:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(u @ v / (nu * nv), -1.0, 1.0))))


# -------------------------------------------------------------------------- conservativeness
def jacobian(f: Field, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central-difference Jacobian ``∂F_i/∂θ_j`` of a field at ``theta`` (flattened): ``(n, n)``.

    Error ``O(h²)``; the fields here are exact, so no sampling noise enters.
    """
    theta = np.asarray(theta, dtype=np.float64)
    n = theta.size
    J = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = h
        J[:, j] = (np.ravel(f(theta + e.reshape(theta.shape))) - np.ravel(f(theta - e.reshape(theta.shape)))) / (2 * h)
    return J


def curl(f: Field, theta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """The antisymmetric part ``K = (DF − DFᵀ)/2`` of the field's Jacobian: ``(n, n)``.

    A continuously differentiable field is a gradient (on a simply connected domain) iff ``K = 0``
    everywhere; ``2 vᵀK u`` is the circulation density in the plane of ``u`` and ``v``.
    """
    D = jacobian(f, theta, h)
    return (D - D.T) / 2.0


def curl_plane(K: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The orthonormal ``(u, v)`` maximising the circulation density ``2 vᵀK u``, and that density.

    For antisymmetric ``K`` with top singular triple ``K a = σ b``, ``a ⟂ b`` and ``2 bᵀK a = 2σ``.
    """
    U, s, Vt = np.linalg.svd(K)
    return Vt[0], U[:, 0], 2.0 * float(s[0])


def loop_integral(f: Field, theta: np.ndarray, u: np.ndarray, v: np.ndarray, radius: float,
                  points: int = 64) -> float:
    """``∮ F · dθ`` around the circle ``θ(t) = θ0 + r(cos t · u + sin t · v)``, ``t ∈ [0, 2π)``.

    The trapezoid rule on a smooth periodic integrand converges geometrically in ``points``
    (Trefethen & Weideman 2014). It is 0 for a gradient field and, by Stokes, about
    ``π r² · 2 vᵀK u`` for a small circle (``K`` from :func:`curl`).
    """
    if points < 3:
        raise ValidationError(f"points = {points} must be at least 3")
    theta = np.asarray(theta, dtype=np.float64)
    u, v = np.ravel(u), np.ravel(v)
    total = 0.0
    for t in 2 * np.pi * np.arange(points) / points:
        where = theta + radius * (np.cos(t) * u + np.sin(t) * v).reshape(theta.shape)
        tangent = radius * (-np.sin(t) * u + np.cos(t) * v)
        total += float(np.ravel(f(where)) @ tangent)
    return total * 2 * np.pi / points


# ---------------------------------------------------------------------------------- ascent
@dataclasses.dataclass(frozen=True)
class Ascent:
    """A gradient-ascent path.

    Attributes:
        theta: ``(steps + 1, *theta.shape)`` iterates, the first being ``theta0``.
        J: ``(steps + 1,)`` the discounted objective at each iterate.
        angle: ``(steps + 1,)`` degrees between the true gradient and the γ^t-dropped direction
            at each iterate.
    """

    theta: np.ndarray
    J: np.ndarray
    angle: np.ndarray


def ascend(mdp: FiniteMDP, theta0: np.ndarray, follow: str, step_size: float, steps: int,
           features: np.ndarray | None = None) -> Ascent:
    """Follow ``θ ← θ + α F(θ)`` for ``steps`` steps, ``F`` the field ``follow`` in :data:`FIELDS`.

    Both fields are evaluated at every iterate (to record the angle between them); only ``follow``
    moves θ. The objective is bounded, so the path cannot diverge; with tabular logits θ may grow
    without bound as π approaches a deterministic policy (Mei et al. 2020), which is harmless.
    """
    if follow not in FIELDS:
        raise ValidationError(f"unknown field {follow!r} (choose from {', '.join(FIELDS)})")
    if not step_size > 0:
        raise ValidationError(f"step_size = {step_size!r} must be positive")
    if steps < 0:
        raise ValidationError(f"steps = {steps} must be non-negative")
    theta, features = _check_parameters(mdp, theta0, features)
    thetas = np.empty((steps + 1, *theta.shape))
    J = np.empty(steps + 1)
    angles = np.empty(steps + 1)
    for k in range(steps + 1):
        ev = _evaluate(mdp, theta, features)
        thetas[k] = theta
        J[k] = mdp.initial @ ev.V
        true = _direction(mdp, ev, features, discounted_weighting)
        dropped = _direction(mdp, ev, features, undiscounted_visitation)
        angles[k] = angle(true, dropped)
        theta = theta + step_size * (true if follow == "true" else dropped)
    return Ascent(theta=thetas, J=J, angle=angles)

