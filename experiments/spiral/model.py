"""Tsitsiklis & Van Roy's (1997) spiral: TD(0) with a smooth nonlinear approximator can diverge.

Three states with ``P`` rows ``(½, 0, ½), (½, ½, 0), (0, ½, ½)``, rewards 0 (so ``v_π = 0``),
stationary distribution uniform. One parameter θ moves the value function along a spiral,

    V(θ) = e^{εθ} (a cos(λ̂θ) + b sin(λ̂θ)),   b = (P − Pᵀ) a / λ̂,

where ``±iλ̂`` are the non-zero eigenvalues of the skew-symmetric ``Q = P − Pᵀ`` and ``a ⊥ 1``.
Then ``V(θ) = e^{(Q + εI)θ} a``, i.e. ``dV/dθ = (Q + εI) V``: this ODE is what makes the
construction work, and :meth:`Spiral.consistency_error` checks it. Expected TD(0) follows
``θ̇ = ∇V(θ)ᵀ D (γP − I) V(θ) = Vᵀ(Q + εI)ᵀ D (γP − I) V``, positive for small ε, so θ → ∞ and
``‖V‖ = ‖a‖ e^{εθ}`` explodes.

Published constants (Bhatnagar, Precup, Silver, Sutton, Maei & Szepesvári 2009, the spiral
experiment): γ = 0.9, ε = 0.05, λ̂ = 0.866, a = (100, −70, −30), b = (23.094, −98.15, 75.056), with
the family written ``e^{εθ}(a cos λ̂θ − b sin λ̂θ)`` (the same family as above with ``b`` negated).
The printed ``b`` is neither ``(P − Pᵀ)a/λ̂`` nor its negative for these ``P`` and ``a``: it is not
even orthogonal to ``a`` (a·b ≈ 6928, while ``Qa ⊥ a`` for skew ``Q``), so its ``V(θ)`` does not
satisfy the ODE. triad therefore builds ``b`` from the construction, which gives (23.094, 75.056,
−98.150) — the printed entries with the last two swapped — and reports the consistency error of
both. The sign matters: with ``b = (Pᵀ − P)a/λ̂`` in the form above, expected TD(0) converges.
The nonlinear TDC with its Hessian correction term is from the same paper; TD(0) and TDC reuse
the direction functions of :mod:`triad.linear` with ``x = ∇V(θ)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from triad import linear, multistep
from triad.errors import ValidationError
from triad.mdp import FiniteMDP
from triad.sampling import RandomSource, rollout

P_SPIRAL = np.array([[0.5, 0.0, 0.5], [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
A_PUBLISHED = np.array([100.0, -70.0, -30.0])
B_PUBLISHED = np.array([23.094, -98.15, 75.056])
LAMBDA_PUBLISHED = 0.866
EPSILON_PUBLISHED = 0.05
GAMMA_PUBLISHED = 0.9


@dataclasses.dataclass(frozen=True)
class Spiral:
    """The spiral family ``V(θ) = e^{εθ}(a cos λ̂θ + b sin λ̂θ)`` on a three-state chain ``P``."""

    P: np.ndarray
    a: np.ndarray
    b: np.ndarray
    lam: float
    epsilon: float

    @classmethod
    def construct(cls, P: np.ndarray = P_SPIRAL, a: np.ndarray = A_PUBLISHED,
                  epsilon: float = EPSILON_PUBLISHED) -> Spiral:
        """``λ̂`` from the spectrum of ``Q = P − Pᵀ`` and ``b = Q a / λ̂``, as the construction requires."""
        Q = P - P.T
        lam = float(np.abs(np.linalg.eigvals(Q).imag).max())
        if lam == 0:
            raise ValidationError("P − Pᵀ has no rotation (P is symmetric): no spiral")
        return cls(P=P, a=np.asarray(a, float), b=Q @ a / lam, lam=lam, epsilon=float(epsilon))

    @classmethod
    def published(cls) -> Spiral:
        """The constants exactly as printed by Bhatnagar et al. (2009)."""
        return cls(P=P_SPIRAL, a=A_PUBLISHED, b=B_PUBLISHED, lam=LAMBDA_PUBLISHED, epsilon=EPSILON_PUBLISHED)

    def derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``V``, ``dV/dθ`` and ``d²V/dθ²``, each ``(...) → (..., 3)``, from one evaluation of the spiral.

        With ``u = e^{εθ}(a cos λ̂θ + b sin λ̂θ)`` and ``u⊥ = e^{εθ}(b cos λ̂θ − a sin λ̂θ)``:
        ``V = u``, ``V' = εu + λ̂u⊥``, ``V'' = (ε² − λ̂²)u + 2ελ̂u⊥``.
        """
        th = np.asarray(theta, dtype=np.float64)[..., None]
        grow, c, s = np.exp(self.epsilon * th), np.cos(self.lam * th), np.sin(self.lam * th)
        u, u_perp = grow * (self.a * c + self.b * s), grow * (self.b * c - self.a * s)
        eps, lam = self.epsilon, self.lam
        return u, eps * u + lam * u_perp, (eps * eps - lam * lam) * u + 2 * eps * lam * u_perp

    def value(self, theta: np.ndarray) -> np.ndarray:
        """``V(θ)``: ``(...) → (..., 3)``."""
        return self.derivatives(theta)[0]

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """``dV/dθ``: ``(...) → (..., 3)``."""
        return self.derivatives(theta)[1]

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """``d²V/dθ²``: ``(...) → (..., 3)``."""
        return self.derivatives(theta)[2]

    def consistency_error(self, theta: np.ndarray) -> float:
        """``max |dV/dθ − (Q + εI)V| / max |V|`` over ``theta``: ≈ 1e-16 iff the family solves its ODE."""
        Q = self.P - self.P.T + self.epsilon * np.eye(len(self.a))
        V = self.value(theta)
        return float(np.abs(self.gradient(theta) - V @ Q.T).max() / np.abs(V).max())

    def chain(self, gamma: float) -> FiniteMDP:
        """The Markov chain as a one-action MDP with zero rewards (for sampling)."""
        return FiniteMDP(self.P[:, None, :], np.zeros((len(self.a), 1)), gamma, name="spiral")


ALGORITHMS = ("td", "tdc")


def mspbe(spiral: Spiral, theta: np.ndarray, gamma: float) -> np.ndarray:
    """Nonlinear MSPBE ``E[δφ]ᵀ E[φφᵀ]⁻¹ E[δφ]`` with ``φ = ∇V(θ)``, states uniform: ``(...) → (...)``.

    (the objective J(θ) of Bhatnagar et al. 2009; a scalar θ makes ``E[φφᵀ]`` a number.)
    """
    d = np.full(len(spiral.a), 1.0 / len(spiral.a))
    V, phi = spiral.value(theta), spiral.gradient(theta)
    bellman = gamma * V @ spiral.P.T - V
    return np.einsum("s,...s->...", d, bellman * phi) ** 2 / np.einsum("s,...s->...", d, phi * phi)


def learn(rng: RandomSource | None, spiral: Spiral, algorithm: str, alpha: float, beta: float, steps: int,
          gamma: float, form: str = "expected", streams: int = 1, theta0: float = 0.0, threshold: float = 1e4,
          record_every: int = 1) -> linear.Curve:
    """TD(0) or nonlinear TDC on the spiral; the curve records ``(θ, w)`` per stream, ``(K, B, 2)``.

    ``form="expected"`` sums each update over ``(s, s')`` weighted by ``d(s)P(s, s')`` (one stream;
    ``rng`` may be ``None``); ``"sampled"`` draws one transition per stream per step from the chain,
    for ``streams`` independent streams (``rng`` a Generator, or a :class:`triad.sampling.StreamRNG`
    of ``streams`` streams). TD(0): ``θ ← θ + α δ ∇V(s)``. TDC:
    ``θ ← θ + α[δφ − γφ'(φw) − (δ − φw)∇²V(s) w]``, ``w ← w + β(δ − φw)φ`` (Bhatnagar et al. 2009).
    Divergence: ``‖V(θ)‖₂`` above ``threshold`` or not finite.
    """
    if algorithm not in ALGORITHMS:
        raise ValidationError(f"unknown spiral algorithm {algorithm!r} (choose from {', '.join(ALGORITHMS)})")
    if alpha <= 0 or beta < 0:
        raise ValidationError(f"step sizes must be positive: alpha = {alpha:g}, beta = {beta:g}")
    if form not in ("expected", "sampled"):
        raise ValidationError(f"unknown form {form!r} (expected or sampled)")
    B = streams if form == "sampled" else 1
    params = np.tile([theta0, 0.0], (B, 1))
    size = np.linalg.norm(spiral.value(params[:, 0]), axis=-1)
    recorder = linear.Recorder(steps, record_every, params, threshold, size)
    S = len(spiral.a)
    if form == "expected":
        s, s_next = (idx.ravel() for idx in np.indices((S, S)))
        p = (spiral.P / S).ravel()
    else:
        if rng is None:
            raise ValidationError("the sampled form needs a random source (rng)")
        traj = rollout(rng, spiral.chain(gamma), np.ones((S, 1)), steps, B)
        p = np.ones(1)
    rows = np.arange(B)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            if form == "sampled":
                s, s_next = traj.s_t[t - 1][:, None], traj.next_s_t[t - 1][:, None]
            theta, w = params[:, 0], params[:, 1:]
            V, phi, hess = spiral.derivatives(theta)
            # (B, n) per transition: all n = S² pairs (expected) or the one sampled pair per stream.
            delta = multistep.td_error(V[rows, s], 0.0, gamma, V[rows, s_next])
            x, x_next, rho = phi[rows, s][..., None], phi[rows, s_next][..., None], np.ones_like(delta)
            if algorithm == "td":
                d_theta, d_w = linear.semi_gradient_td(delta, rho, x)[..., 0], np.zeros_like(delta)
            else:
                d_theta, d_w = linear.tdc(delta, rho, x, np.full_like(delta, gamma), x_next, w[:, None, :])
                correction = (delta - x[..., 0] * w) * hess[rows, s] * w
                d_theta, d_w = d_theta[..., 0] - correction, d_w[..., 0]
            params = params + np.stack([alpha * (d_theta * p).sum(-1), beta * (d_w * p).sum(-1)], axis=-1)
            recorder(params, t, np.linalg.norm(spiral.value(params[:, 0]), axis=-1))
    return recorder.curve()
