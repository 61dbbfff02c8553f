"""The deadly triad, certified: which ingredients a linear learning problem has, and whether it diverges.

Sutton & Barto (2018, §11.3) name three ingredients — function approximation, bootstrapping and
off-policy training — and claim that instability arises when all three are combined, while any
two are safe. This module decides it for one *cell*: a problem (MDP, features ``Φ``, target ``π``,
behaviour ``μ``) and a rule (:class:`triad.linear.Rule`), exactly, from the expected update.

**The expected update.** Data come from ``μ``'s stream, whose state law is ``d``
(:func:`triad.linear.behaviour_distribution`); ``D = diag(d)``, ``Γ = γP^π`` with the bootstrap
cut at terminal states, ``C = ΦᵀDΦ``. Every semi-gradient TD rule follows in expectation
``w ← w + α(Aw + b)`` with ``A = ΦᵀD(M − I)Φ``, where ``M`` is the linear part of the target the
rule bootstraps from:

* n-step TD: ``M = Γⁿ`` — given ``S_t``, the importance ratios ``ρ_{t:t+n−1}`` turn ``μ``'s paths
  into ``π``'s, so ``E[ρ_{t:t+n−1}(G_{t:t+n} − v(S_t)) | S_t] = Σ_{k<n} Γᵏ δ̄ = (Γⁿ − I)Φw + …``
  (Sutton & Barto 2018 eq. 7.9, §11.1; the n-step Bellman operator ``(B^π)ⁿ`` has linear part ``Γⁿ``);
* TD(λ) with per-decision importance-sampled traces: ``M = (1 − λ)(I − λΓ)⁻¹Γ``, so
  ``A = ΦᵀD(I − λΓ)⁻¹(Γ − I)Φ`` (Sutton, Mahmood & White 2016, §2; Tsitsiklis & Van Roy 1997 on-policy);
* ``n = ∞`` (λ = 1, Monte-Carlo: no bootstrapping): ``M = 0`` and ``A = −C``, negative definite;
* emphatic TD(0): ``A = ΦᵀF(Γ − I)Φ`` with the follow-on weighting ``f = (I − Γᵀ)⁻¹(d ∘ i)``,
  positive definite in the sense ``−A ≻ 0`` (Sutton, Mahmood & White 2016, Thm 1);
* TDC and GTD2 move ``(w, h)`` jointly: with ``η = β/α`` and ``E = ΦᵀΓᵀDΦ``,
  TDC ``G = [[A, −E], [ηA, −ηC]]``, GTD2 ``G = [[0, −Aᵀ], [ηA, −ηC]]`` (Sutton et al. 2009, §4;
  Maei 2011, ch. 5);
* a target network copied every ``K`` steps regresses on a frozen bootstrap ``w̄``: over one period
  ``w̄ ← M_K w̄ + c`` with ``X = I − αC``, ``M_K = Xᴷ + C⁻¹(I − Xᴷ)ΦᵀDΓΦ`` (``K → ∞``: projected
  value iteration; ``K = 1``: TD(0)); with Polyak averaging ``w̄ ← τw + (1 − τ)w̄`` the pair ``(w, w̄)``
  iterates ``[[X, αΦᵀDΓΦ], [τX, (1 − τ)I + ταΦᵀDΓΦ]]``.

Everything is computed on the states ``d`` weights and on the weight directions those states'
features span (other directions never move), so dependent features (Baird's 8 for 7 states) and
unvisited states add no spurious zero eigenvalue.

**The numbers** of a :class:`Certificate`: ``abscissa`` = max Re λ(G) (``A`` Hurwitz iff < 0: the
ODE ``ẇ = Gw + b`` is stable, Borkar & Meyn 2000); ``radius`` = spectral radius of the expected
iteration at the given step sizes, per step (its ``K``-th root for a target period); ``alpha_max`` =
the largest α for which the expected iteration converges, ``min_λ −2 Re λ/|λ|²``; ``PiM_D`` =
``‖Π_D M‖_D``, which below 1 makes ``−A`` positive definite for every feature scaling (a sufficient
condition: Tsitsiklis & Van Roy 1997, Lemma 1 and Thm 1); ``kappa`` = the growth factor of the
second moment of the importance-weighted trace, ``λ² ρ(Γ₂)`` for TD(λ) and ``ρ(Γ₂)`` for the
emphatic follow-on trace, ``Γ₂(s, s') = γ² Σ_a π(a|s)²/μ(a|s) P(s'|s, a)`` (derived from the trace
recursion ``z_t = ρ_t(γλz_{t−1} + x_t)``: ``E[ρ_t²|S_t = s] = Σ_a π²/μ``; infinite variance iff
``kappa ≥ 1``, cf. Yu 2012, §3; Sutton & Barto 2018 §11.9); ``ms_radius`` = the mean-square radius
``ρ(E[J_t ⊗ J_t])`` of the random iteration ``w ← J_t w + …`` when transitions are drawn i.i.d. from
``d`` (below 1 iff ``E[w wᵀ]`` stays bounded; for TD(0), n-step TD, TDC and GTD2), which measures
what the importance weights' variance does at the given step size.

**Verdicts** (:data:`VERDICTS`), for the given step sizes:

* ``diverges in expectation``: ``radius > 1``: ``E[w_t]`` grows without bound from every start
  outside a proper subspace — for every step size when ``A`` is not Hurwitz, else because α > α_max;
* ``can diverge``: ``E[w_t]`` converges (``radius < 1``) but the sampled weights need not: the
  importance-weighted trace has infinite variance (``kappa ≥ 1``) or the second moment grows
  (``ms_radius ≥ 1``), or the iteration is marginal (``radius = 1``);
* ``stable``: ``radius < 1``, ``kappa < 1`` and ``ms_radius < 1`` (where defined): the expected
  iteration converges from every start and, under i.i.d. sampling, so does the second moment.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from triad import linear
from triad.analysis.contraction import complex_pairs, induced_weighted_norm
from triad.errors import ValidationError
from triad.linear import Rule
from triad.zoo import Problem

VERDICTS = ("stable", "can diverge", "diverges in expectation")
"""The three verdicts of :func:`certify` (module docstring)."""

TOL = 1e-10
"""Tolerance on eigenvalues, radii and distances (relative to the matrix scale for eigenvalues)."""

NEIGHBOUR_PERIOD = 100
"""Target-network period of the ``target-network`` neighbour."""

NEIGHBOUR_N = (3, 10)
"""n-step depths tried as neighbours (those larger than the cell's)."""

NEIGHBOUR_LAM = (0.5, 0.8, 0.9, 0.95, 0.99)
"""λ values tried as neighbours (those larger than the cell's)."""


def depth_label(rule: Rule) -> str:
    """``n=1``, ``n=3``, ``lam=0.9``, ``n=inf`` (λ = 1): the bootstrap depth of a rule."""
    if rule.lam >= 1.0:
        return "n=inf"
    if rule.lam > 0:
        return f"lam={rule.lam:g}"
    return f"n={int(rule.n)}"


# ------------------------------------------------------------------------------------- the system
class TriadSystem:
    """The expected-update ingredients of one problem, computed once for every rule run on it.

    Args:
        problem: MDP, features, target and behaviour policies (``behaviour`` defaults to the target).
        weighting: the state law ``d`` of the data (default :func:`triad.linear.behaviour_distribution`).
    """

    def __init__(self, problem: Problem, weighting: np.ndarray | None = None):
        st = linear._setting(problem, None, None)
        self.problem, self.setting = problem, st
        d = linear.behaviour_distribution(problem) if weighting is None else np.asarray(weighting, float)
        if d.shape != (problem.mdp.S,) or not np.all(np.isfinite(d)) or np.any(d < 0) or not d.sum() > 0:
            raise ValidationError(f"weighting must be a non-negative ({problem.mdp.S},) vector with positive sum")
        d = d / d.sum()
        self.weighting = d
        self.support = np.flatnonzero(d > 1e-12 * d.max())
        sup = self.support
        self.d = d[sup] / d[sup].sum()
        Gamma = linear._discounted(st)
        self.Gamma = Gamma[np.ix_(sup, sup)]
        self.Phi = st.Phi[sup]
        root = np.sqrt(self.d)
        _, sv, Vt = np.linalg.svd(root[:, None] * self.Phi, full_matrices=False)
        r = int((sv > max(sv[0] * 1e-10, np.finfo(float).tiny)).sum()) if sv.size else 0
        if r == 0:
            raise ValidationError("the features are zero on every state the data visit: nothing can be learned")
        self.basis = Vt[:r].T  # (d, r): the weight directions the visited states' features span
        self.Phi_r = self.Phi @ self.basis
        self.C = self.Phi_r.T @ (self.d[:, None] * self.Phi_r)
        self.DPhi = self.d[:, None] * self.Phi_r
        rho2 = np.divide(st.target ** 2, st.behaviour, out=np.zeros_like(st.target), where=st.behaviour > 0)
        P = st.mdp.to_dense().P
        live = ~st.terminal
        Gamma2 = st.gamma ** 2 * np.einsum("sa,sat->st", rho2, P) * live[None, :]
        self.Gamma2 = Gamma2[np.ix_(sup, sup)]
        self._rho2, self._P, self._live = rho2, P, live

    @property
    def rank(self) -> int:
        """The rank of the features on the visited states."""
        return self.basis.shape[1]

    def bootstrap_matrix(self, rule: Rule) -> np.ndarray:
        """``M``, the linear part of the rule's target on the visited states: ``Γⁿ``, ``(1 − λ)(I − λΓ)⁻¹Γ`` or 0."""
        k = self.Gamma.shape[0]
        if rule.lam >= 1.0:
            return np.zeros((k, k))
        if rule.lam > 0:
            return (1.0 - rule.lam) * np.linalg.solve(np.eye(k) - rule.lam * self.Gamma, self.Gamma)
        return np.linalg.matrix_power(self.Gamma, int(rule.n))

    def td_matrix(self, rule: Rule) -> np.ndarray:
        """``A = ΦᵀD(M − I)Φ`` in the visited weight directions: ``(r, r)``."""
        M = self.bootstrap_matrix(rule)
        return self.DPhi.T @ (M @ self.Phi_r - self.Phi_r)

    def follow_on(self, rule: Rule) -> np.ndarray:
        """The emphatic weighting ``f = (I − Γᵀ)⁻¹(d ∘ i)`` on the visited states."""
        interest = np.broadcast_to(np.asarray(rule.interest, dtype=np.float64), (self.problem.mdp.S,))[self.support]
        try:
            f = np.linalg.solve(np.eye(self.d.size) - self.Gamma.T, self.d * interest)
        except np.linalg.LinAlgError:
            f = np.full(self.d.size, np.nan)
        if not np.all(np.isfinite(f)):
            raise ValidationError("emphatic TD's follow-on weighting (I − Γᵀ)⁻¹(d ∘ i) does not exist: with γ = 1 "
                                  "every episode must terminate")
        return f

    def update_matrix(self, rule: Rule) -> np.ndarray:
        """``G``, the expected update per unit step size (module docstring): ``(r, r)`` or ``(2r, 2r)``."""
        alg = rule.algorithm
        if alg in ("semi-gradient-td", "target-network"):
            return self.td_matrix(rule if alg == "semi-gradient-td" else Rule("semi-gradient-td", alpha=rule.alpha))
        if alg == "etd":
            FPhi = self.follow_on(rule)[:, None] * self.Phi_r
            return FPhi.T @ (self.Gamma @ self.Phi_r - self.Phi_r)
        if alg in ("tdc", "gtd2"):
            A = self.td_matrix(Rule("semi-gradient-td", alpha=rule.alpha))
            E = self.Phi_r.T @ self.Gamma.T @ self.DPhi
            eta = rule.beta / rule.alpha
            top = np.hstack([A, -E]) if alg == "tdc" else np.hstack([np.zeros_like(A), -A.T])
            return np.vstack([top, np.hstack([eta * A, -eta * self.C])])
        raise ValidationError(f"no expected-update certificate for {alg} (use one of semi-gradient-td, tdc, gtd2, "
                              f"etd, target-network)")

    def iteration_radius(self, rule: Rule) -> float:
        """Spectral radius of the expected iteration at the rule's step sizes, per step."""
        if rule.algorithm != "target-network":
            G = self.update_matrix(rule)
            return _radius(np.eye(G.shape[0]) + rule.alpha * G)
        r = self.rank
        X = np.eye(r) - rule.alpha * self.C
        boot = self.DPhi.T @ self.Gamma @ self.Phi_r  # ΦᵀDΓΦ
        if rule.tau > 0:
            J = np.block([[X, rule.alpha * boot], [rule.tau * X, (1.0 - rule.tau) * np.eye(r) + rule.tau * rule.alpha * boot]])
            return _radius(J)
        K = int(rule.target_period)
        XK = np.linalg.matrix_power(X, K)
        M_K = XK + np.linalg.solve(self.C, (np.eye(r) - XK) @ boot)
        return _radius(M_K) ** (1.0 / K)

    def kappa(self, rule: Rule) -> float:
        """Second-moment growth of the importance-weighted trace (NaN for rules without one)."""
        if rule.algorithm == "etd":
            return _radius(self.Gamma2)
        if rule.algorithm == "semi-gradient-td" and rule.lam > 0:
            return rule.lam ** 2 * _radius(self.Gamma2)
        return math.nan

    def is_moment(self, rule: Rule) -> float:
        """``max_s E_μ[ρ²_{t:t+n−1} | S_t = s]`` over visited states: the second moment of one update's weight.

        ``m_1(s) = Σ_a π²/μ``, ``m_{k+1}(s) = Σ_a (π²/μ)(s, a) Σ_s' P(s'|s, a) m_k(s')`` (1 after a
        termination, where the product stops). Finite for every n, but it grows like ``ρ(Γ₂/γ²)ⁿ``.
        """
        n = int(rule.n) if rule.algorithm == "semi-gradient-td" and rule.lam == 0 else 1
        m = np.ones(self.problem.mdp.S)
        for _ in range(n):
            nxt = np.where(self._live, m, 1.0)
            m = np.einsum("sa,sat,t->s", self._rho2, self._P, nxt)
        return float(m[self.support].max())

    def ms_radius(self, rule: Rule) -> float:
        """Mean-square radius: ``ρ(E[J_t ⊗ J_t])`` for the random iteration matrix ``J_t`` of one update.

        With transitions drawn i.i.d. (``S ~ d``, the n steps after it from ``μ``), the second moment
        ``E[w wᵀ]`` of the weights (and of ``(w, h)`` for TDC/GTD2) evolves by ``E[J_t ⊗ J_t]``; it stays
        bounded iff this radius is below 1 (Costa, Fragoso & Marques 2005, Thm 3.9, for i.i.d. jumps).
        Semi-gradient n-step TD: ``J_t = I + αρ_{t:t+n−1} x_t yᵀ`` with ``y = γⁿx_{t+n} − x_t`` (``−x_t`` after a
        termination); TDC/GTD2 the pair's matrix. NaN for rules whose updates carry a trace or a frozen
        target (TD(λ), emphatic TD, target networks): their updates are not independent from step to step.
        """
        alg = rule.algorithm
        if alg not in ("semi-gradient-td", "tdc", "gtd2") or rule.lam > 0:
            return math.nan
        n = int(rule.n) if alg == "semi-gradient-td" else 1
        Q, ends = self._ratio_paths(n)   # (k, k) to live states and (k,) to "ended", ρ²-weighted
        x = self.Phi_r
        r = x.shape[1]
        g_n = self.setting.gamma ** n
        if alg == "semi-gradient-td":
            xx = np.einsum("si,sj->sij", x, x).reshape(x.shape[0], -1)           # x ⊗ x
            y = g_n * x[None, :, :] - x[:, None, :]                              # (s, s'', r)
            yy = np.einsum("sti,stj->stij", y, y).reshape(*y.shape[:2], -1)
            yy_end = np.einsum("si,sj->sij", x, x).reshape(x.shape[0], -1)       # y = −x after a termination
            E = (np.einsum("s,st,si,stj->ij", self.d, Q, xx, yy)
                 + np.einsum("s,s,si,sj->ij", self.d, ends, xx, yy_end))
            A = self.td_matrix(rule)
            eye = np.eye(r)
            L = np.eye(r * r) + rule.alpha * (np.kron(eye, A) + np.kron(A, eye)) + rule.alpha ** 2 * E
            return _symmetric_radius(L, r)
        # TDC / GTD2: one step, (w, h) jointly; U depends on (s, s') only.
        k = x.shape[0]
        scale = np.r_[np.full(r, rule.alpha), np.full(r, rule.beta)][:, None]
        E = np.zeros((4 * r * r, 4 * r * r))
        for s_ in range(k):
            for t_ in range(k):
                weight = self.d[s_] * Q[s_, t_]
                if weight == 0.0:
                    continue
                U = scale * self._gradient_matrix(alg, x[s_], self.setting.gamma, x[t_])  # Q: live successors
                E += weight * np.kron(U, U)
            if ends[s_] > 0:
                U = scale * self._gradient_matrix(alg, x[s_], 0.0, np.zeros(r))
                E += self.d[s_] * ends[s_] * np.kron(U, U)
        G = rule.alpha * self.update_matrix(rule)   # diag(α, β)·E[ρU] per step
        eye = np.eye(2 * r)
        L = np.eye(4 * r * r) + np.kron(eye, G) + np.kron(G, eye) + E
        return _symmetric_radius(L, 2 * r)

    @staticmethod
    def _gradient_matrix(alg: str, x: np.ndarray, discount: float, x_next: np.ndarray) -> np.ndarray:
        """The homogeneous part of TDC's / GTD2's update of ``(w, h)`` for one transition, before ρ and step sizes."""
        y = discount * x_next - x
        top = (np.hstack([np.outer(x, y), -discount * np.outer(x_next, x)]) if alg == "tdc"
               else np.hstack([np.zeros((x.size, x.size)), -np.outer(y, x)]))
        return np.vstack([top, np.hstack([np.outer(x, y), -np.outer(x, x)])])

    def _ratio_paths(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``Q(s, s'') = E_μ[ρ²_{t:t+n−1}; S_{t+n} = s'' live | S_t = s]`` and the mass that ended first.

        After a termination the ratios stop (the window's product of :func:`triad.linear.sampled`), so
        the ended mass carries weight 1 onwards.
        """
        if not hasattr(self, "_P2_live"):
            sup = self.support
            P2 = np.einsum("sa,sat->st", self._rho2, self._P)
            self._P2_live = (P2 * self._live[None, :])[np.ix_(sup, sup)]
            self._P2_end = (P2 * ~self._live[None, :]).sum(axis=1)[sup]
        Q = np.eye(self.support.size)
        ended = np.zeros(self.support.size)
        for _ in range(n):
            ended = ended + Q @ self._P2_end
            Q = Q @ self._P2_live
        return Q, ended

    def PiM_D(self, rule: Rule) -> float:
        """``‖Π_D M‖_D`` for the rule's bootstrap target (one step for all but semi-gradient TD)."""
        depth = rule if rule.algorithm == "semi-gradient-td" else Rule("semi-gradient-td", alpha=rule.alpha)
        Pi = self.Phi_r @ np.linalg.solve(self.C, self.DPhi.T)
        return float(induced_weighted_norm(Pi @ self.bootstrap_matrix(depth), self.d))

    def certificate(self, rule: Rule) -> Certificate:
        """The :class:`Certificate` of ``rule`` on this problem."""
        G = self.update_matrix(rule)
        eig = np.linalg.eigvals(G)
        eig = eig[np.lexsort((-eig.imag, -eig.real))]
        scale = max(1.0, float(np.abs(G).max()))
        abscissa = float(eig.real.max())
        hurwitz = abscissa < -TOL * scale
        if rule.algorithm == "target-network" or not hurwitz:
            alpha_max = math.nan if rule.algorithm == "target-network" else 0.0
        else:
            alpha_max = float(np.min(-2.0 * eig.real / np.abs(eig) ** 2))
        radius = self.iteration_radius(rule)
        kappa = self.kappa(rule)
        ms = self.ms_radius(rule)
        verdict, reason = _verdict(rule, radius, hurwitz, abscissa, alpha_max, kappa, ms)
        return Certificate(rule=rule.algorithm, depth=depth_label(rule), abscissa=abscissa, hurwitz=hurwitz,
                           radius=radius, alpha_max=alpha_max, PiM_D=self.PiM_D(rule), kappa=kappa,
                           is_moment=self.is_moment(rule), ms_radius=ms, verdict=verdict, reason=reason, eigenvalues=eig)


def _radius(M: np.ndarray) -> float:
    return float(np.abs(np.linalg.eigvals(M)).max())


def _symmetric_basis(m: int) -> np.ndarray:
    """``(m², m(m+1)/2)`` orthonormal basis of the vectorised symmetric ``m × m`` matrices."""
    i, j = np.triu_indices(m)
    B = np.zeros((m * m, i.size))
    cols = np.arange(i.size)
    B[i * m + j, cols] = np.where(i == j, 1.0, np.sqrt(0.5))
    B[j * m + i, cols] = np.where(i == j, 1.0, np.sqrt(0.5))
    return B


def _symmetric_radius(L: np.ndarray, m: int) -> float:
    """Spectral radius of ``X ↦ E[J X Jᵀ]`` (matrix ``L`` on ``vec X``) on the symmetric matrices.

    The map keeps symmetric matrices symmetric and the PSD cone in itself, so its spectral radius is
    attained on them (Krein–Rutman): the restriction gives the same radius at a quarter of the cost.
    """
    B = _symmetric_basis(m)
    return _radius(B.T @ L @ B)


def format_radius(radius: float) -> str:
    """A per-step radius readably: ``0.9983``, or ``1 − 2.4e-07`` / ``1 + 2.4e-07`` when it is that close to 1."""
    if abs(radius - 1.0) >= 1e-4 or not math.isfinite(radius):
        return f"{radius:.6g}"
    return f"1 {'−' if radius < 1 else '+'} {abs(1.0 - radius):.3g}"


def _verdict(rule: Rule, radius: float, hurwitz: bool, abscissa: float, alpha_max: float,
             kappa: float, ms: float) -> tuple[str, str]:
    if radius > 1.0 + TOL:
        if rule.algorithm == "target-network":
            return VERDICTS[2], f"the expected iteration over a target period expands ({format_radius(radius)} per step)"
        if not hurwitz:
            return VERDICTS[2], f"G is not Hurwitz (max Re λ = {abscissa:.4g}): E[w] diverges for every step size"
        return VERDICTS[2], f"G is Hurwitz, but α = {rule.alpha:g} exceeds α_max = {alpha_max:.4g}"
    if radius >= 1.0 - TOL:
        return VERDICTS[1], "the expected iteration is marginal (radius 1): the weights drift along a neutral direction"
    if kappa >= 1.0:
        return VERDICTS[1], (f"E[w] converges, but the importance-weighted trace has infinite variance "
                             f"(κ = {kappa:.4g} ≥ 1)")
    if ms >= 1.0:
        return VERDICTS[1], (f"E[w] converges, but E[‖w‖²] grows: the mean-square radius is "
                             f"{format_radius(ms)} ≥ 1 (the importance-weighted updates are too noisy for α)")
    return VERDICTS[0], f"the expected iteration contracts ({format_radius(radius)} per step) and the updates have finite variance"


@dataclasses.dataclass(frozen=True)
class Certificate:
    """The exact certificate of one rule on one problem (module docstring for each number).

    Attributes:
        rule: the algorithm.
        depth: ``n=…``, ``lam=…`` or ``n=inf``.
        abscissa: max Re λ of the expected update ``G`` per unit step size.
        hurwitz: ``abscissa < 0`` (beyond round-off).
        radius: spectral radius of the expected iteration at the step sizes, per step.
        alpha_max: largest α with a convergent expected iteration (0 if not Hurwitz; NaN for target networks).
        PiM_D: ``‖Π_D M‖_D`` of the bootstrap target.
        kappa: second-moment growth of the importance-weighted trace (NaN without a trace).
        is_moment: ``max_s E[ρ²_{t:t+n−1} | S_t = s]``, the second moment of one update's importance weight
            (n = 1 for all but n-step TD): finite, but sampled updates are that much noisier than expected ones.
        ms_radius: mean-square radius of the iteration under i.i.d. sampling (NaN for trace and target rules).
        verdict: one of :data:`VERDICTS`.
        reason: the verdict's cause in one line.
        eigenvalues: eigenvalues of ``G``, by decreasing real part.
    """

    rule: str
    depth: str
    abscissa: float
    hurwitz: bool
    radius: float
    alpha_max: float
    PiM_D: float
    kappa: float
    is_moment: float
    ms_radius: float
    verdict: str
    reason: str
    eigenvalues: np.ndarray

    def numbers(self) -> dict[str, float]:
        """The scalar certificate numbers (for tidy rows)."""
        return {"abscissa": self.abscissa, "hurwitz": float(self.hurwitz), "radius": self.radius,
                "alpha_max": self.alpha_max, "PiM_D": self.PiM_D, "kappa": self.kappa, "is_moment": self.is_moment,
                "ms_radius": self.ms_radius,
                "verdict": float(VERDICTS.index(self.verdict))}

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["eigenvalues"] = complex_pairs(self.eigenvalues)
        return out


def certify(rule: Rule, problem: Problem, weighting: np.ndarray | None = None) -> Certificate:
    """The :class:`Certificate` of ``rule`` on ``problem`` (one-off; see :class:`TriadSystem` for many rules)."""
    return TriadSystem(problem, weighting).certificate(rule)


# -------------------------------------------------------------------------------- the ingredients
@dataclasses.dataclass(frozen=True)
class Ingredients:
    """Which of the three ingredients a cell has.

    Attributes:
        function_approximation: the features generalise: two visited states have non-orthogonal
            feature vectors (``ΦΦᵀ`` is not diagonal), so an update at one moves the other's value.
        rank: rank of ``Φ`` on the visited states; ``states``: how many states the data visit
            (``rank < states``: not every value function is representable).
        bootstrapping: the target bootstraps (``n < ∞`` and ``λ < 1``).
        off_policy: ``μ ≠ π`` on a visited state.
        policy_distance: ``max_s TV(π(·|s), μ(·|s))`` over visited states.
        weighting_distance: ``TV(d_μ, d_π)``, from the on-policy state law.
    """

    function_approximation: bool
    rank: int
    states: int
    bootstrapping: bool
    off_policy: bool
    policy_distance: float
    weighting_distance: float

    @property
    def count(self) -> int:
        """How many of the three are present."""
        return int(self.function_approximation) + int(self.bootstrapping) + int(self.off_policy)


def ingredients(system: TriadSystem, rule: Rule) -> Ingredients:
    """The :class:`Ingredients` of ``rule`` on the system's problem."""
    st, sup = system.setting, system.support
    gram = system.Phi @ system.Phi.T
    off_diagonal = np.abs(gram - np.diag(np.diag(gram))).max(initial=0.0)
    generalises = bool(off_diagonal > 1e-12 * max(1.0, float(np.abs(gram).max())))
    tv = 0.5 * np.abs(st.target[sup] - st.behaviour[sup]).sum(axis=1).max()
    try:
        d_pi = linear.behaviour_distribution(Problem(st.mdp, features=st.Phi, target=st.target, behaviour=st.target))
        distance = float(0.5 * np.abs(system.weighting - d_pi).sum())
    except ValidationError:  # the on-policy chain has several closed classes: no single on-policy law
        distance = math.nan
    return Ingredients(function_approximation=generalises, rank=system.rank, states=int(sup.size),
                       bootstrapping=bool(rule.lam < 1.0), off_policy=bool(tv > TOL), policy_distance=float(tv),
                       weighting_distance=distance)


# -------------------------------------------------------------------------------- the neighbours
@dataclasses.dataclass(frozen=True)
class Neighbour:
    """A cell one change away, and its certificate."""

    change: str
    kind: str
    certificate: Certificate


def neighbours(problem: Problem, rule: Rule) -> list[Neighbour]:
    """The cell's neighbours, in order of the size of the change (the order a fix is chosen in).

    1. smaller step sizes (α/2, α/10; TDC/GTD2 keep β/α);
    2. data closer to the target: ``μ' = (1 − t)μ + tπ`` for t = ¼, ½, ¾, and on-policy (t = 1);
    3. deeper bootstrapping: larger n (:data:`NEIGHBOUR_N`) or λ (:data:`NEIGHBOUR_LAM`), then n = ∞
       (semi-gradient TD only);
    4. another rule at the same step size: TDC and GTD2 (β = 10α), emphatic TD (α(1 − γ)), a
       target network (period :data:`NEIGHBOUR_PERIOD`);
    5. tabular features.
    """
    st = linear._setting(problem, None, None)
    behaviour = st.behaviour
    out: list[Neighbour] = []
    system = TriadSystem(problem)

    def add(change: str, kind: str, new_rule: Rule, new_problem: Problem | None = None) -> None:
        sys_ = system if new_problem is None else TriadSystem(new_problem)
        out.append(Neighbour(change, kind, sys_.certificate(new_rule)))

    for factor in (2, 10):
        add(f"step size α/{factor} = {rule.alpha / factor:g}", "step size",
            dataclasses.replace(rule, alpha=rule.alpha / factor, beta=rule.beta / factor))
    if np.any(behaviour != st.target):
        for t in (0.25, 0.5, 0.75, 1.0):
            mixed = (1.0 - t) * behaviour + t * st.target
            label = "on-policy data (μ = π)" if t == 1.0 else f"behaviour {t:g} of the way to π"
            add(label, "off-policy", rule, dataclasses.replace(problem, behaviour=mixed))
    if rule.algorithm == "semi-gradient-td":
        if rule.lam > 0:
            for lam in (x for x in NEIGHBOUR_LAM if rule.lam < x < 1.0):
                add(f"λ = {lam:g}", "bootstrap depth", dataclasses.replace(rule, lam=lam))
        else:
            for n in (x for x in NEIGHBOUR_N if x > rule.n):
                add(f"n = {n}", "bootstrap depth", dataclasses.replace(rule, n=n))
        if rule.lam < 1.0:
            add("n = ∞ (λ = 1: Monte-Carlo, no bootstrapping)", "bootstrap depth",
                dataclasses.replace(rule, n=1, lam=1.0))
    one_step = {"alpha": rule.alpha}
    for name, extra in (("tdc", {"beta": 10 * rule.alpha}), ("gtd2", {"beta": 10 * rule.alpha}),
                        ("etd", {"alpha": rule.alpha * max(1.0 - st.gamma, 1e-3)}),
                        ("target-network", {"target_period": NEIGHBOUR_PERIOD})):
        if name != rule.algorithm:
            params = {**one_step, **extra}
            label = {"tdc": "TDC", "gtd2": "GTD2", "etd": "emphatic TD", "target-network": "a target network"}[name]
            names = {"alpha": "α", "beta": "β", "target_period": "period"}
            shown = ", ".join(f"{names[k]} = {v:g}" for k, v in params.items())
            add(f"{label} ({shown})", "rule", Rule(name, **params))
    if ingredients(system, rule).function_approximation or st.Phi.shape[1] != problem.mdp.S:
        tabular = np.eye(problem.mdp.S)
        tabular[st.terminal] = 0.0
        add("tabular features", "function approximation", rule,
            dataclasses.replace(problem, features=tabular, w0=None))
    return out


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """Everything ``triad diagnose`` reports for one cell."""

    ingredients: Ingredients
    certificate: Certificate
    neighbours: list[Neighbour]

    @property
    def fix(self) -> Neighbour | None:
        """The first stable neighbour in :func:`neighbours`' order (``None`` if the cell is stable or none is)."""
        if self.certificate.verdict == VERDICTS[0]:
            return None
        return next((n for n in self.neighbours if n.certificate.verdict == VERDICTS[0]), None)

    def to_json(self) -> dict[str, Any]:
        fix = self.fix
        return {"ingredients": dataclasses.asdict(self.ingredients), "certificate": self.certificate.to_json(),
                "verdict": self.certificate.verdict,
                "fix": None if fix is None else {"change": fix.change, "kind": fix.kind,
                                                  "certificate": fix.certificate.to_json()},
                "neighbours": [{"change": n.change, "kind": n.kind, "verdict": n.certificate.verdict,
                                "radius": n.certificate.radius, "abscissa": n.certificate.abscissa,
                                "kappa": n.certificate.kappa} for n in self.neighbours]}


def diagnose(problem: Problem, rule: Rule) -> Diagnosis:
    """Ingredients, certificate and neighbours of ``rule`` on ``problem``."""
    system = TriadSystem(problem)
    return Diagnosis(ingredients(system, rule), system.certificate(rule), neighbours(problem, rule))


# ---------------------------------------------------------------------------- from the command line
def rule_from_options(algorithm: str = "semi-gradient-td", alpha: float = 0.01, beta: float | None = None,
                      n: str | int | None = None, lam: float | None = None, period: int = NEIGHBOUR_PERIOD,
                      tau: float = 0.0) -> Rule:
    """The :class:`Rule` of ``triad diagnose``'s options.

    ``n`` is an integer ≥ 1 or ``inf``/``∞`` (λ = 1); ``n`` and ``lam`` exclude each other and apply
    to semi-gradient TD only; ``beta`` defaults to 10α for TDC and GTD2 (Sutton & Barto 2018 Figure 11.5's
    ratio).
    """
    if n is not None and lam is not None:
        raise ValidationError("give --n or --lam, not both")
    steps, trace = 1, 0.0
    if n is not None:
        text = str(n).strip().lower()
        if text in ("inf", "∞", "infinity"):
            trace = 1.0
        else:
            try:
                steps = int(text)
            except ValueError:
                raise ValidationError(f"--n {n!r} must be an integer ≥ 1 or inf") from None
    if lam is not None:
        trace = float(lam)
    if (steps > 1 or trace > 0) and algorithm != "semi-gradient-td":
        raise ValidationError(f"--n and --lam set the bootstrap depth of semi-gradient-td, not of {algorithm}")
    if beta is None:
        beta = 10.0 * alpha if algorithm in ("tdc", "gtd2") else 0.0
    return Rule(algorithm, alpha=alpha, beta=beta, n=steps, lam=trace, target_period=period, tau=tau)


def problem_from_specs(spec: str, features: str | None, target: str | None, behaviour: str | None,
                       gamma: float | None = None) -> tuple[Problem, dict[str, str]]:
    """A problem from ``triad diagnose``'s strings, and the names of what was chosen.

    ``spec``: a zoo spec or an ``.npz`` file (:func:`triad.zoo.make`); ``features``: any form of
    :func:`triad.projections.features_from_spec` (default: the problem's own, if it prescribes them;
    generated features — tabular, random, aggregate — are zero on terminal states, which are worth 0);
    ``target``/``behaviour``: any form of :meth:`triad.zoo.Problem.policy` (default: the problem's own;
    the behaviour defaults to the target when the problem prescribes none, i.e. on-policy).
    """
    from triad import zoo
    from triad.projections import features_from_spec

    base = zoo.make(spec)
    mdp = base.mdp if gamma is None else base.mdp.with_gamma(gamma)
    base = dataclasses.replace(base, mdp=mdp)
    if features is None:
        if base.features is None:
            raise ValidationError(f"{mdp.name or spec} prescribes no features: give --features (tabular, random:K, "
                                  f"aggregate:K or an (S, d) .npy file)")
        features = "problem"
    if target is None:
        if base.target is None:
            raise ValidationError(f"{mdp.name or spec} prescribes no target policy: give --target (uniform or an "
                                  f"(S, A) .npy file)")
        target = "target"
    if behaviour is None:
        behaviour = "behaviour" if base.behaviour is not None else target
    Phi = features_from_spec(features, mdp, base.features)
    generated = not features.strip().endswith(".npy") and features.strip() not in ("problem", "baird")
    if generated and mdp.terminal is not None:
        Phi = Phi.copy()
        Phi[mdp.terminal] = 0.0  # a terminal state is worth 0: generated features leave it out
    pi, mu = base.policy(target), base.policy(behaviour)
    problem = Problem(mdp, features=Phi, target=pi, behaviour=mu, source=base.source)
    return problem, {"features": features, "target": target, "behaviour": behaviour}
