"""Contraction certificates: in which norm, under which weighting, is ΠB a contraction?

Exact certificates for the affine ``ΠB^π X = MX + c`` with ``M = γΠP^π``:

* ``‖M‖∞``, the induced sup-norm (max absolute row sum). ``B`` alone gives ``‖γP^π‖∞ = γ``
  (Puterman 1994, Prop. 6.2.4); a least-squares Π can push it above 1.
* ``‖M‖_D = ‖D^½MD^-½‖₂``, the norm induced by ``‖V‖_D = (Σ_s d(s)V(s)²)^½``. With ``d`` the
  stationary distribution of π and ``Π = Π_D``, ``‖M‖_D ≤ γ`` (Tsitsiklis & Van Roy 1997, Lemma 1
  and Thm 1); off-policy weightings can exceed 1.
* ``ρ(M)``, the spectral radius: projected value iteration ``X ← MX + c`` converges from every
  start iff ``ρ(M) < 1`` — an expansion in some norm need not diverge.
* the weight-space view: semi-gradient TD(0) follows ``w ← w + α(Aw + b)`` with
  ``A = ΦᵀD(γP^π − I)Φ`` (:func:`triad.operators.td_system`) and is stable for small α iff ``A`` is
  Hurwitz (every eigenvalue has negative real part). On Baird's example Φ spans every function,
  so ``Π = I``, yet ``A`` is not Hurwitz under the behaviour weighting and the weights diverge.

A weighting with zeros makes ``‖·‖_D`` a seminorm; when ``π`` never leaves the weighted states,
:func:`restrict_to_support` gives the operator on them, where it is a norm again.

Empirical certificates: the Lipschitz ratio ``‖TU − TV‖ / ‖U − V‖`` over many random pairs,
computed for a whole batch of pairs in one call of ``T`` (for ``B*``, ``ΠB*`` and neural Π, which
have no matrix).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from triad import operators as ops
from triad.errors import ValidationError
from triad.mdp import FiniteMDP, validate_policy
from triad.projections import (
    LinearProjection,
    ProjectedBellman,
    check_features,
    check_weighting,
    weighted_least_squares,
)
from triad.solvers import evaluate_policy


# ------------------------------------------------------------------------------------- norms
def induced_inf_norm(M: np.ndarray) -> np.ndarray | float:
    """``‖M‖∞ = max_i Σ_j |M_ij|`` of ``M: (..., n, n)``; ``(...)``."""
    out = np.abs(np.asarray(M, dtype=np.float64)).sum(axis=-1).max(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def _positive_weighting(weighting: np.ndarray, n: int) -> np.ndarray:
    d = np.asarray(weighting, dtype=np.float64)
    if d.shape[-1:] != (n,):
        raise ValidationError(f"weighting has shape {d.shape}, expected (..., {n})")
    for idx in np.ndindex(d.shape[:-1]):
        check_weighting(d[idx], n)
    if (d <= 0).any():
        s = int(np.argwhere(d <= 0)[0][-1])
        raise ValidationError(f"the D-norm needs positive weights, but weighting[{s}] = 0: ‖·‖_D is then only a "
                              f"seminorm and the induced norm is undefined")
    return d


def induced_weighted_norm(M: np.ndarray, weighting: np.ndarray) -> np.ndarray | float:
    """``‖M‖_D = ‖D^½ M D^-½‖₂`` (largest singular value) of ``M: (..., n, n)``, ``weighting: (..., n)``.

    Raises:
        ValidationError: if the weighting is not a distribution or has a zero entry.
    """
    M = np.asarray(M, dtype=np.float64)
    root = np.sqrt(_positive_weighting(weighting, M.shape[-1]))
    scaled = root[..., :, None] * M / root[..., None, :]
    out = np.linalg.norm(scaled, ord=2, axis=(-2, -1))
    return float(out) if np.ndim(out) == 0 else out


def spectral_radius(M: np.ndarray) -> np.ndarray | float:
    """``ρ(M) = max |λ|`` over the eigenvalues of ``M: (..., n, n)``; ``(...)``."""
    out = np.abs(np.linalg.eigvals(np.asarray(M, dtype=np.float64))).max(axis=-1)
    return float(out) if np.ndim(out) == 0 else out


def vector_norm(X: np.ndarray, norm: Any = "inf") -> np.ndarray:
    """``‖X‖∞`` or ``‖X‖_D`` along the last axis of ``X: (..., n)``; ``(...)``."""
    X = np.asarray(X, dtype=np.float64)
    if isinstance(norm, str):
        if norm != "inf":
            raise ValidationError(f"norm {norm!r} must be 'inf' or a weighting array")
        return np.abs(X).max(axis=-1)
    d = check_weighting(norm, X.shape[-1])
    return np.sqrt((X**2) @ d)


# ------------------------------------------------------------------------------- weight space
@dataclasses.dataclass(frozen=True)
class TDStability:
    """Eigenvalues of ``A = ΦᵀD(γP^π − I)Φ`` and whether semi-gradient TD(0) is stable.

    Attributes:
        eigenvalues: ``(d,)`` complex, sorted by decreasing real part.
        hurwitz: every real part is below ``−tol`` (a zero eigenvalue, e.g. from linearly
            dependent features, leaves the weights drifting, so it counts as not Hurwitz).
        tol: the tolerance, ``1e-10·max(1, ‖A‖₂)``.
    """

    eigenvalues: np.ndarray
    hurwitz: bool
    tol: float


def td_stability(mdp: FiniteMDP, pi: np.ndarray, features: np.ndarray, weighting: np.ndarray) -> TDStability:
    """Eigenvalues of the expected TD(0) matrix ``A`` (from :func:`triad.operators.td_system`)."""
    Phi = check_features(features, mdp.S)
    d = check_weighting(weighting, mdp.S)
    A, _ = ops.td_system(mdp, pi, Phi, d)
    eig = np.linalg.eigvals(A)
    eig = eig[np.lexsort((-eig.imag, -eig.real))]
    tol = 1e-10 * max(1.0, float(np.linalg.norm(A, 2)))
    return TDStability(eigenvalues=eig, hurwitz=bool(eig.real.max() < -tol), tol=tol)


def complex_pairs(z: np.ndarray) -> list[list[float]]:
    """Complex numbers as ``[re, im]`` pairs: the JSON form of eigenvalues throughout triad."""
    return [[float(x.real), float(x.imag)] for x in np.asarray(z, dtype=complex).ravel()]


# ------------------------------------------------------------------------------- certificates
@dataclasses.dataclass(frozen=True)
class Certificate:
    """Exact contraction certificate of ``ΠB^π`` on state values.

    Attributes:
        gamma: the discount.
        B_inf: ``‖γP^π‖∞`` (equals γ: ``B^π`` is a γ-contraction in ‖·‖∞).
        B_D: ``‖γP^π‖_D`` (≤ γ when ``D`` is stationary for π; may exceed 1 otherwise).
        PiB_inf: ``‖γΠP^π‖∞``.
        PiB_D: ``‖γΠP^π‖_D``.
        spectral_radius: ``ρ(γΠP^π)``: projected value iteration converges iff it is < 1.
        A_eigenvalues: ``(d,)`` complex eigenvalues of ``A`` (empty if Π has no features).
        hurwitz: whether ``A`` is Hurwitz (``None`` if Π has no features).
    """

    gamma: float
    B_inf: float
    B_D: float
    PiB_inf: float
    PiB_D: float
    spectral_radius: float
    A_eigenvalues: np.ndarray
    hurwitz: bool | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; each eigenvalue is a ``[re, im]`` pair (see :func:`complex_pairs`)."""
        out = dataclasses.asdict(self)
        out["A_eigenvalues"] = complex_pairs(self.A_eigenvalues)
        return out


def certify(operator: ProjectedBellman, weighting: np.ndarray | None = None) -> Certificate:
    """Exact norms, spectral radius and TD eigenvalues of an affine ``ΠB^π`` on V.

    Args:
        operator: ``ProjectedBellman(mdp, projection, policy)`` with a linear projection, ``on="v"``.
        weighting: ``d`` for ``‖·‖_D`` and for ``A``; defaults to the projection's own weighting.
    """
    if operator.on != "v":
        raise ValidationError("certify analyses ΠB^π on state values (on='v'); for Q use linear_part() and the "
                              "norm functions directly")
    proj = operator.projection
    if weighting is None:
        weighting = proj.weighting if isinstance(proj, LinearProjection) else None
        if weighting is None:
            raise ValidationError(f"a {proj.kind} projection has no weighting of its own: pass one for ‖·‖_D")
    d = check_weighting(weighting, operator.n)
    M_B, _ = operator.linear_part(project=False)
    M, _ = operator.linear_part()
    features = proj.features if isinstance(proj, LinearProjection) else None
    if features is not None:
        td = td_stability(operator.mdp, operator.policy, features, d)
        eig, hurwitz = td.eigenvalues, td.hurwitz
    else:
        eig, hurwitz = np.zeros(0, complex), None
    return Certificate(gamma=operator.mdp.gamma, B_inf=induced_inf_norm(M_B), B_D=induced_weighted_norm(M_B, d),
                       PiB_inf=induced_inf_norm(M), PiB_D=induced_weighted_norm(M, d),
                       spectral_radius=spectral_radius(M), A_eigenvalues=eig, hurwitz=hurwitz)


# ------------------------------------------------------------------------------------ support
@dataclasses.dataclass(frozen=True)
class Support:
    """``ΠB^π`` on the states a weighting sees: what :func:`certify` can certify when ``d`` has zeros.

    Attributes:
        states: ``(k,)`` indices of the states with ``d > 0``, in order.
        mdp: the MDP itself when ``k = S``; otherwise the Markov reward process of ``π`` on those
            states (one action, ``P^π`` and ``r^π`` restricted, original state names).
        policy: ``π`` when ``k = S``, else the ``(k, 1)`` policy of that single action.
        weighting: ``(k,)`` ``d`` on the states, a distribution.
    """

    states: np.ndarray
    mdp: FiniteMDP
    policy: np.ndarray
    weighting: np.ndarray

    def restrict(self, values: np.ndarray) -> np.ndarray:
        """Rows of ``values: (S, ...)`` (features, a value function) on the support: ``(k, ...)``."""
        return np.asarray(values)[self.states]


def restrict_to_support(mdp: FiniteMDP, pi: np.ndarray, weighting: np.ndarray) -> Support:
    """``B^π`` restricted to ``{s : d(s) > 0}``, provided ``π`` never leaves that set.

    ``‖·‖_D`` ignores states with ``d(s) = 0`` (it is only a seminorm on all of ``R^S``), and so does
    the ``D``-weighted least-squares fit. When moreover ``P^π(s, s') = 0`` for every weighted ``s``
    and unweighted ``s'``, ``B^π`` maps functions on the weighted states to functions on them, and
    every certificate of ``ΠB^π`` in ``‖·‖_D`` is a certificate of the restricted operator, where
    ``‖·‖_D`` is a norm. The stationary law of ``π`` (its support is closed) and the discounted
    visitation of ``π`` (positive on everything it reaches) always pass, and with ``γ = 0`` (no
    next state is read) every weighting does.

    Raises:
        ValidationError: ``π`` leads from a weighted state to an unweighted one (naming them).
    """
    pi = validate_policy(pi, mdp)
    d = check_weighting(weighting, mdp.S)
    seen = d > 0
    if seen.all():
        return Support(states=np.arange(mdp.S), mdp=mdp, policy=pi, weighting=d)
    P_pi = ops.policy_transition(mdp, pi)
    P_pi = P_pi.toarray() if hasattr(P_pi, "toarray") else np.asarray(P_pi)
    P_in = P_pi[np.ix_(seen, seen)]
    leak = 1.0 - P_in.sum(axis=1)
    if mdp.gamma == 0:  # B^π V = r^π reads no next state: any chain on the support serves
        P_in, leak = np.eye(seen.sum()), np.zeros(seen.sum())
    if (leak > 1e-12).any():
        s = int(np.flatnonzero(seen)[np.argmax(leak > 1e-12)])
        out = np.flatnonzero(~seen & (P_pi[s] > 0))
        shown = ", ".join(str(int(x)) for x in out[:8]) + (", …" if out.size > 8 else "")
        raise ValidationError(f"the weighting is zero on state(s) {shown}, which π reaches from state {s} where it "
                              f"is positive: ‖·‖_D is only a seminorm there, and Π_D B^π does not stay on the "
                              f"weighted states")
    states = np.flatnonzero(seen)
    names = None if mdp.state_names is None else [mdp.state_names[i] for i in states]
    terminal = None if mdp.terminal is None else mdp.terminal[states]
    chain = FiniteMDP(P=(P_in / P_in.sum(axis=1, keepdims=True))[:, None, :],
                      R=ops.policy_reward(mdp, pi)[states][:, None], gamma=mdp.gamma, state_names=names,
                      terminal=terminal, name=f"{mdp.name or 'MDP'} on {states.size} of {mdp.S} states")
    return Support(states=states, mdp=chain, policy=np.ones((states.size, 1)), weighting=d[states] / d[states].sum())


# -------------------------------------------------------------------------------- TD fixed point
@dataclasses.dataclass(frozen=True)
class TDBound:
    """Tsitsiklis & Van Roy's (1997, Thm 1) bound on the TD(0) fixed point, checked exactly.

    For on-policy ``d``: ``‖Φθ* − V^π‖_D ≤ ‖Π_D V^π − V^π‖_D / √(1 − γ²)``.

    Attributes:
        error: ``‖Φθ* − V^π‖_D`` (``nan`` if ``Aθ = −b`` has no solution).
        projection_error: ``‖Π_D V^π − V^π‖_D``, the best the features can do.
        bound: ``projection_error / √(1 − γ²)``.
        ratio: ``error / bound`` (≤ 1 whenever the theorem applies; 0 if both vanish).
        theta: ``(d,)`` the TD fixed point (minimum-norm if ``A`` is singular).
    """

    error: float
    projection_error: float
    bound: float
    ratio: float
    theta: np.ndarray


def td_fixed_point_bound(mdp: FiniteMDP, pi: np.ndarray, features: np.ndarray, weighting: np.ndarray,
                         values: np.ndarray | None = None, projection: LinearProjection | None = None) -> TDBound:
    """Solve ``Aθ* = −b`` (:func:`triad.operators.td_system`) and compare ``Φθ*`` with ``V^π``.

    Args:
        values: ``V^π`` if already known (default: :func:`triad.solvers.evaluate_policy`).
        projection: ``Π_D`` for these features and weighting if already built.
    """
    Phi = check_features(features, mdp.S)
    d = check_weighting(weighting, mdp.S)
    V = evaluate_policy(mdp, pi) if values is None else np.asarray(values, dtype=np.float64)
    A, b = ops.td_system(mdp, pi, Phi, d)
    # Truncate A's singular values relative to the Gram matrix ΦᵀDΦ, A's natural scale: an A that is
    # singular up to round-off must not yield a huge θ that "solves" Aθ = −b to round-off.
    ref = float(np.linalg.norm(Phi.T @ (d[:, None] * Phi), 2)) or 1.0
    U, s, Vt = np.linalg.svd(A)
    keep = s > 1e-10 * ref
    theta = Vt[keep].T @ ((U[:, keep].T @ -b) / s[keep])
    scale = max(float(np.abs(b).max(initial=0.0)), ref * float(np.abs(theta).max(initial=0.0)), 1e-300)
    solved = np.abs(A @ theta + b).max(initial=0.0) <= 1e-8 * scale
    def norm(x: np.ndarray) -> float:
        return float(vector_norm(x, d))

    error = norm(Phi @ theta - V) if solved else math.nan
    projection = weighted_least_squares(Phi, d) if projection is None else projection
    projection_error = norm(projection(V) - V)
    bound = projection_error / math.sqrt(1.0 - mdp.gamma**2)
    tiny = 1e-9 * max(1.0, float(np.abs(V).max()))
    if math.isnan(error):
        ratio = math.nan
    elif bound > tiny:
        ratio = error / bound
    else:
        ratio = 0.0 if error <= tiny else math.inf
    return TDBound(error=error, projection_error=projection_error, bound=bound, ratio=ratio, theta=theta)


# ---------------------------------------------------------------------------------- Lipschitz
@dataclasses.dataclass(frozen=True)
class LipschitzEstimate:
    """Empirical Lipschitz ratios ``‖TU − TV‖ / ‖U − V‖`` of an operator over random pairs.

    Attributes:
        ratios: ``(K,)`` one ratio per pair.
        max: the largest ratio (a lower bound on the Lipschitz constant).
        quantiles: ``{q: value}`` of the ratios.
    """

    ratios: np.ndarray
    max: float
    quantiles: dict[float, float]

    def summary(self, prefix: str = "") -> dict[str, float]:
        """``{prefix + "max": …, prefix + "q50": …}`` for tidy tables and JSON."""
        out = {f"{prefix}max": self.max}
        out.update({f"{prefix}q{100 * q:g}": v for q, v in self.quantiles.items()})
        return out


def random_pairs(rng: np.random.Generator, n: int, pairs: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(U, V)``, each ``(pairs, n)``, spread over both large and local differences.

    ``U ~ scale·N(0, I)``; ``V = U + r·δ`` with ``r`` log-uniform in ``[10⁻³, 1]·scale`` and the
    direction ``δ`` Gaussian for half the pairs and a random sign vector for the other half (sign
    vectors are where ``‖M‖∞`` is attained).
    """
    if pairs < 1 or n < 1:
        raise ValidationError(f"random pairs need pairs ≥ 1 and n ≥ 1, got pairs = {pairs}, n = {n}")
    U = scale * rng.standard_normal((pairs, n))
    gauss = rng.standard_normal((pairs, n))
    signs = rng.choice([-1.0, 1.0], size=(pairs, n))
    direction = np.where((np.arange(pairs) % 2 == 0)[:, None], gauss, signs)
    radius = scale * 10.0 ** rng.uniform(-3.0, 0.0, size=(pairs, 1))
    return U, U + radius * direction


def lipschitz_ratios(operator: Callable[[np.ndarray], np.ndarray], U: np.ndarray, V: np.ndarray,
                     norm: Any = "inf") -> np.ndarray:
    """``‖TU_k − TV_k‖ / ‖U_k − V_k‖`` for every pair, with one call of ``T`` on the stacked batch.

    Args:
        operator: ``T``, mapping ``(m, n)`` to ``(m, n)``.
        U, V: ``(K, n)``.
        norm: ``"inf"``, a weighting ``d`` for ``‖·‖_D``, or a list of these (then the result is
            ``(len(norm), K)``, still from a single call of ``T``).
    Returns:
        ``(K,)`` ratios (or ``(len(norm), K)``).
    """
    U, V = np.asarray(U, dtype=np.float64), np.asarray(V, dtype=np.float64)
    if U.shape != V.shape or U.ndim != 2:
        raise ValidationError(f"pairs must be two (K, n) arrays of one shape, got {U.shape} and {V.shape}")
    out = np.asarray(operator(np.concatenate([U, V])), dtype=np.float64).reshape(2, *U.shape)
    return ratios_of(out[0], out[1], U, V, norm)


def ratios_of(TU: np.ndarray, TV: np.ndarray, U: np.ndarray, V: np.ndarray, norm: Any = "inf") -> np.ndarray:
    """``‖TU − TV‖ / ‖U − V‖`` row by row from outputs already computed (``(K, n)`` each).

    Lets one evaluation of ``B*`` on a set of pairs serve several projections and weightings.
    ``norm`` as in :func:`lipschitz_ratios`.
    """
    if isinstance(norm, list):
        return np.stack([ratios_of(TU, TV, U, V, m) for m in norm])
    return vector_norm(np.asarray(TU) - TV, norm) / vector_norm(np.asarray(U) - V, norm)


def summarise_ratios(ratios: np.ndarray, quantiles: Sequence[float] = (0.5, 0.9, 0.99)) -> LipschitzEstimate:
    """Max and quantiles of a batch of ratios."""
    r = np.asarray(ratios, dtype=np.float64)
    values = np.quantile(r, list(quantiles))
    return LipschitzEstimate(ratios=r, max=float(r.max()),
                             quantiles={float(q): float(v) for q, v in zip(quantiles, values)})


def empirical_lipschitz(rng: np.random.Generator, operator: Callable[[np.ndarray], np.ndarray], n: int,
                        pairs: int = 1000, norm: Any = "inf", scale: float = 1.0,
                        quantiles: Sequence[float] = (0.5, 0.9, 0.99)) -> LipschitzEstimate:
    """Lipschitz ratios of ``operator`` over ``pairs`` :func:`random_pairs` in ``‖·‖∞`` or ``‖·‖_D``.

    The maximum is a lower bound on the true Lipschitz constant, so for a linear ``M`` it never
    exceeds the exact induced norm.
    """
    U, V = random_pairs(rng, n, pairs, scale)
    return summarise_ratios(lipschitz_ratios(operator, U, V, norm), quantiles)

