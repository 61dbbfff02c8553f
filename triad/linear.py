"""Linear value learning with off-policy data: the deadly triad, in expectation and sampled.

Every learning rule is written once, as a pure *direction* function of per-transition arrays with
any leading batch axes (rlax style: ``x_tm1`` are the features of the state being updated, ``r_t``,
``discount_t = γ(1 − terminated_t)`` and ``x_t`` describe the transition out of it, ``rho_tm1 =
π(a|s)/b(a|s)`` is its importance ratio). Two runners apply the same functions:

* :func:`expected` — the expected update of Sutton & Barto (2018) §11.2: the transitions are every
  ``(s, a, s')`` of the MDP, weighted by ``d(s) b(a|s) P(s'|s, a)`` and summed, so one sweep is the
  expectation of one sampled update under the state weighting ``d``. Quantities carried along a
  trajectory (eligibility traces, the emphatic follow-on trace) are replaced by their conditional
  expectations given the state, which start at zero and evolve sweep by sweep (given the state they
  are independent of the transition out of it, so the expected update for the current weights is
  exact).
* :func:`sampled` — transitions of the behaviour policy (drawn with :mod:`triad.sampling`), one per
  stream, for ``streams`` independent streams at once: weights are ``(streams, d)``.

Divergence is a result, not an error: each run returns a :class:`triad.record.Curve` that records,
per stream, the first step at which ``‖w‖₂`` exceeds a threshold or stops being finite (NaN where
never), and carries on with the others. :func:`projected_value_iteration` is
:func:`triad.projections.projected_value_iteration` in weights; sampled n-step TD takes its returns
from :func:`triad.multistep.n_step_returns`.

Conventions: ``Phi: (S, d)`` features, zero on terminal states (a terminal state is worth 0);
weights ``w: (B, d)``; ``Γ(s, s') = γ Σ_a π(a|s) P(s'|s, a) [s' not terminal]`` is the discounted
target-policy transition matrix; episodic problems may use γ = 1 when the target policy is proper
(every episode terminates), as :class:`~triad.mdp.FiniteMDP` itself allows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from triad import projections as pj
from triad.errors import SpecError, ValidationError
from triad.mdp import FiniteMDP
from triad.multistep import n_step_returns, td_error
from triad.operators import policy_reward, policy_transition, stationary_distribution, td_system
from triad.progress import Progress, advance
from triad.projections import LinearProjection, ProjectedBellman, weighted_least_squares
from triad.record import Curve, Recorder
from triad.sampling import RandomSource, Sampler, rollout, sample_actions
from triad.solvers import evaluate_policy
from triad.zoo import Problem

ALGORITHMS = ("semi-gradient-td", "semi-gradient-dp", "tdc", "gtd2", "etd", "residual-gradient",
              "target-network", "lstd")
"""Names accepted by :class:`Rule` (and ``triad run baird --algorithm``)."""

DIVERGENCE_THRESHOLD = 1e4
"""Default ``‖w‖₂`` beyond which a run counts as diverged."""


# ------------------------------------------------------------------------------ update directions
def semi_gradient_td(delta_t: np.ndarray, rho_tm1: np.ndarray, e_tm1: np.ndarray) -> np.ndarray:
    """Semi-gradient TD direction ``ρ δ e``: ``(...), (...), (..., d) → (..., d)``.

    ``e_tm1`` is the eligibility trace before the importance ratio: the features ``x_tm1`` for
    TD(0), ``γ_t λ z_{t−1} + x_t`` for TD(λ), where the off-policy trace is ``z_t = ρ_t(γ_t λ z_{t−1}
    + x_t)`` and the update ``w ← w + α δ_t z_t`` (Sutton & Barto 2018, eq. 11.2 and §12.9). With
    the bootstrap value taken from frozen weights it is semi-gradient TD with a target network
    (Mnih et al. 2015).
    """
    return (rho_tm1 * delta_t)[..., None] * e_tm1


def _secondary(delta_t: np.ndarray, rho_tm1: np.ndarray, x_tm1: np.ndarray, xh: np.ndarray) -> np.ndarray:
    """``ρ (δ − xᵀh) x``: the LMS update of the auxiliary weights ``h ≈ E[x xᵀ]⁻¹ E[ρ δ x]``."""
    return (rho_tm1 * (delta_t - xh))[..., None] * x_tm1


def tdc(delta_t: np.ndarray, rho_tm1: np.ndarray, x_tm1: np.ndarray, discount_t: np.ndarray, x_t: np.ndarray,
        h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TDC (TD with gradient correction) directions for ``(w, h)``, each ``(..., d)``.

    ``Δw = ρ (δ x − γ' x' (xᵀh))``, ``Δh = ρ (δ − xᵀh) x`` with step sizes α and β (Sutton et al.
    2009, "Fast gradient-descent methods for TD learning"; Sutton & Barto 2018 §11.7).
    """
    xh = np.einsum("...d,...d->...", x_tm1, h)
    dw = rho_tm1[..., None] * (delta_t[..., None] * x_tm1 - (discount_t * xh)[..., None] * x_t)
    return dw, _secondary(delta_t, rho_tm1, x_tm1, xh)


def gtd2(delta_t: np.ndarray, rho_tm1: np.ndarray, x_tm1: np.ndarray, discount_t: np.ndarray, x_t: np.ndarray,
         h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GTD2 directions for ``(w, h)``: ``Δw = ρ (x − γ' x') (xᵀh)``, ``Δh = ρ (δ − xᵀh) x``.

    Source: Sutton et al. (2009); Sutton & Barto (2018) §11.7.
    """
    xh = np.einsum("...d,...d->...", x_tm1, h)
    dw = (rho_tm1 * xh)[..., None] * (x_tm1 - discount_t[..., None] * x_t)
    return dw, _secondary(delta_t, rho_tm1, x_tm1, xh)


def emphatic_td(delta_t: np.ndarray, rho_tm1: np.ndarray, m_tm1: np.ndarray, x_tm1: np.ndarray) -> np.ndarray:
    """One-step emphatic TD direction ``M ρ δ x``.

    The emphasis of one-step ETD is the follow-on trace ``M_t = γ_t ρ_{t−1} M_{t−1} + I_t`` with
    interest ``I`` (Sutton, Mahmood & White 2016; Sutton & Barto 2018 §11.8).
    """
    return semi_gradient_td(delta_t, m_tm1 * rho_tm1, x_tm1)


def residual_gradient(delta_t: np.ndarray, rho_tm1: np.ndarray, x_tm1: np.ndarray, discount_t: np.ndarray,
                      x_t: np.ndarray) -> np.ndarray:
    """Residual-gradient direction ``ρ δ (x − γ' x')`` (Baird 1995; Sutton & Barto 2018 §11.5).

    With ``(discount_t, x_t)`` of the transition that produced ``δ`` this is the *naive* residual
    gradient, which descends the mean squared TD error. With an independent second sample of the
    next state (its importance ratio folded into ``discount_t``) it is Baird's double-sampled
    residual gradient, which descends the Bellman error.
    """
    return (rho_tm1 * delta_t)[..., None] * (x_tm1 - discount_t[..., None] * x_t)


# ------------------------------------------------------------------------------------- the rules
@dataclasses.dataclass(frozen=True)
class Rule:
    """A learning rule and its hyper-parameters.

    Attributes:
        algorithm: one of :data:`ALGORITHMS`.
        alpha: step size of the weights ``w``.
        beta: step size of the auxiliary weights ``h`` (``tdc``, ``gtd2``).
        lam: trace decay λ of ``semi-gradient-td`` (0: TD(0)).
        n: steps before ``semi-gradient-td`` bootstraps (n-step semi-gradient TD; 1: TD(0)).
        interest: ``I(s)`` of ``etd``, a scalar or ``(S,)``.
        double_sample: ``residual-gradient`` with an independent second next state (Bellman-error
            gradient) instead of the naive one (TD-error gradient).
        target_period: ``target-network`` copies ``w`` into the frozen weights every this many steps.
        tau: if positive, ``target-network`` uses Polyak averaging ``w̄ ← τw + (1 − τ)w̄`` every step instead.
    """

    algorithm: str
    alpha: float
    beta: float = 0.0
    lam: float = 0.0
    n: int = 1
    interest: float | np.ndarray = 1.0
    double_sample: bool = False
    target_period: int = 1
    tau: float = 0.0

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise SpecError(f"unknown algorithm {self.algorithm!r} (choose from {', '.join(ALGORITHMS)})")
        for name in ("alpha", "beta", "tau"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValidationError(f"{self.algorithm}: step size {name} = {value:g} must be a finite number ≥ 0")
        if self.algorithm != "lstd" and not self.alpha > 0:
            raise ValidationError(f"{self.algorithm}: step size alpha must be positive, got {self.alpha:g}")
        if not 0.0 <= self.lam <= 1.0:
            raise ValidationError(f"{self.algorithm}: lam = {self.lam:g} is outside [0, 1]")
        if self.lam > 0 and self.algorithm != "semi-gradient-td":
            raise ValidationError(f"{self.algorithm}: eligibility traces (lam = {self.lam:g}) are for semi-gradient-td")
        if int(self.n) != self.n or self.n < 1:
            raise ValidationError(f"{self.algorithm}: n = {self.n} must be an integer ≥ 1")
        if self.n > 1 and (self.algorithm != "semi-gradient-td" or self.lam > 0):
            raise ValidationError(f"{self.algorithm}: n-step returns (n = {self.n}) are for semi-gradient-td "
                                  f"with lam = 0")
        if self.tau > 1.0:
            raise ValidationError(f"{self.algorithm}: tau = {self.tau:g} is outside [0, 1]")
        if int(self.target_period) != self.target_period or self.target_period < 1:
            raise ValidationError(f"{self.algorithm}: target_period = {self.target_period} must be an integer ≥ 1")
        interest = np.asarray(self.interest, dtype=np.float64)
        if not np.all(np.isfinite(interest)) or np.any(interest < 0):
            raise ValidationError(f"{self.algorithm}: interest must be finite and non-negative")


# ---------------------------------------------------------------------------------- the problem
@dataclasses.dataclass(frozen=True)
class _Setting:
    """A problem's arrays, checked once."""

    mdp: FiniteMDP
    Phi: np.ndarray
    target: np.ndarray
    behaviour: np.ndarray
    w0: np.ndarray
    gamma: float
    terminal: np.ndarray


def _setting(problem: Problem, gamma: float | None, w0: np.ndarray | None) -> _Setting:
    mdp = problem.mdp
    if problem.features is None:
        raise ValidationError(f"{mdp.name or 'the problem'} has no features: linear learning needs Phi (S, d)")
    if problem.target is None:
        raise ValidationError(f"{mdp.name or 'the problem'} has no target policy to evaluate")
    Phi = problem.features
    terminal = mdp.terminal if mdp.terminal is not None else np.zeros(mdp.S, bool)
    nonzero = terminal & np.any(Phi != 0, axis=1)
    if nonzero.any():
        raise ValidationError(f"features of terminal state {int(np.argmax(nonzero))} must be zero "
                              f"(a terminal state is worth 0)")
    behaviour = problem.behaviour if problem.behaviour is not None else problem.target
    if np.any((problem.target > 0) & (behaviour == 0)):
        s, a = np.argwhere((problem.target > 0) & (behaviour == 0))[0]
        raise ValidationError(f"the behaviour policy never takes action {a} in state {s}, which the target "
                              f"policy takes: importance ratios are undefined")
    w = w0 if w0 is not None else problem.w0 if problem.w0 is not None else np.zeros(Phi.shape[1])
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (Phi.shape[1],):
        raise ValidationError(f"w0 has shape {w.shape}, expected ({Phi.shape[1]},) to match features {Phi.shape}")
    if not np.all(np.isfinite(w)):
        raise ValidationError("w0 has non-finite entries")
    g = mdp.gamma if gamma is None else float(gamma)
    if not 0.0 <= g <= 1.0:
        raise ValidationError(f"gamma = {g:g} is outside [0, 1]")
    return _Setting(mdp, Phi, problem.target, behaviour, w, g, terminal)


def importance_ratios(target: np.ndarray, behaviour: np.ndarray) -> np.ndarray:
    """``ρ(s, a) = π(a|s) / b(a|s)``, 0 where ``b(a|s) = 0``: ``(S, A)``."""
    return np.divide(target, behaviour, out=np.zeros_like(target, dtype=np.float64), where=behaviour > 0)


def discounted_transition(problem: Problem, gamma: float | None = None) -> np.ndarray:
    """``Γ(s, s') = γ P^π(s, s') [s' not terminal]`` for the target policy: dense ``(S, S)``."""
    st = _setting(problem, gamma, None)
    return _discounted(st)


def _discounted(st: _Setting) -> np.ndarray:
    P = policy_transition(st.mdp, st.target)
    P = P.toarray() if hasattr(P, "toarray") else np.asarray(P)
    return st.gamma * np.where(st.terminal[None, :], 0.0, P)


def behaviour_distribution(problem: Problem) -> np.ndarray:
    """The state distribution of the behaviour policy's stream: ``(S,)``.

    The stationary law of the chain ``b`` induces, with episodes restarted from ``mu`` when they
    terminate — exactly the stream :func:`triad.sampling.rollout` produces, so it is the ``d`` of
    the expected update that matches :func:`sampled` (for episodic problems, the on-policy
    distribution of Sutton & Barto 2018 §9.2).
    """
    mdp = problem.mdp
    b = problem.behaviour if problem.behaviour is not None else problem.target
    if b is None:
        raise ValidationError(f"{mdp.name or 'the problem'} has no behaviour or target policy")
    P = policy_transition(mdp, b)
    P = P.toarray() if hasattr(P, "toarray") else np.array(P)
    if mdp.terminal is not None and mdp.terminal.any():
        into = P[:, mdp.terminal].sum(axis=1)
        P[:, mdp.terminal] = 0.0
        P += into[:, None] * mdp.initial[None, :]
    chain = FiniteMDP(P[:, None, :], np.zeros((mdp.S, 1)), 0.0)
    return stationary_distribution(chain, np.ones((mdp.S, 1)))


def uniform_weighting(problem: Problem) -> np.ndarray:
    """Equal weight on every non-terminal state (the sweep of semi-gradient DP, S&B eq. 11.9): ``(S,)``."""
    mdp = problem.mdp
    live = ~mdp.terminal if mdp.terminal is not None else np.ones(mdp.S, bool)
    return live / live.sum()


def _weighting(problem: Problem, rule_algorithm: str, weighting: np.ndarray | None) -> np.ndarray:
    S = problem.mdp.S
    if weighting is None:
        return uniform_weighting(problem) if rule_algorithm == "semi-gradient-dp" else behaviour_distribution(problem)
    d = np.asarray(weighting, dtype=np.float64)
    if d.shape != (S,):
        raise ValidationError(f"weighting has shape {d.shape}, expected ({S},)")
    if not np.all(np.isfinite(d)) or np.any(d < 0) or not d.sum() > 0:
        raise ValidationError("weighting must be finite, non-negative and not all zero")
    return d / d.sum()


# -------------------------------------------------------------------------------- shared stepping
@dataclasses.dataclass
class _State:
    """Everything a rule carries between steps: weights, auxiliary weights, frozen weights."""

    w: np.ndarray
    h: np.ndarray
    w_target: np.ndarray
    steps: int = 0


def _init_state(w0: np.ndarray, batch: int) -> _State:
    w = np.tile(w0, (batch, 1))
    return _State(w=w, h=np.zeros_like(w), w_target=w.copy())


def _identity(x: np.ndarray) -> np.ndarray:
    """The ``reduce`` of sampled streams: each stream's transition is its own update."""
    return x


def _apply(rule: Rule, state: _State, x_tm1: np.ndarray, r_t: np.ndarray, discount_t: np.ndarray,
           x_t: np.ndarray, rho_tm1: np.ndarray, trace: np.ndarray, emphasis: np.ndarray,
           other: tuple[np.ndarray, np.ndarray], reduce: Callable[[np.ndarray], np.ndarray]) -> None:
    """One update of ``state`` from per-transition arrays; ``reduce`` sums an expectation (or is the identity).

    ``w`` broadcasts against the transitions (``(B, 1, d)`` for expected tables of ``n`` transitions,
    ``(B, d)`` for sampled streams).
    """
    alg = rule.algorithm
    expand = (lambda a: a[:, None, :]) if x_tm1.ndim == 3 else (lambda a: a)
    w = expand(state.w)
    boot = expand(state.w_target) if alg == "target-network" else w
    delta = td_error(np.einsum("...d,...d->...", x_tm1, w), r_t, discount_t, np.einsum("...d,...d->...", x_t, boot))
    dh = None
    if alg in ("semi-gradient-td", "semi-gradient-dp", "target-network"):
        dw = semi_gradient_td(delta, rho_tm1, trace)
    elif alg == "tdc":
        dw, dh = tdc(delta, rho_tm1, x_tm1, discount_t, x_t, expand(state.h))
    elif alg == "gtd2":
        dw, dh = gtd2(delta, rho_tm1, x_tm1, discount_t, x_t, expand(state.h))
    elif alg == "etd":
        dw = emphatic_td(delta, rho_tm1, emphasis, x_tm1)
    else:
        dw = residual_gradient(delta, rho_tm1, x_tm1, *other)
    state.w = state.w + rule.alpha * reduce(dw)
    if dh is not None:
        state.h = state.h + rule.beta * reduce(dh)
    state.steps += 1
    if alg == "target-network":
        if rule.tau > 0:
            state.w_target = rule.tau * state.w + (1.0 - rule.tau) * state.w_target
        elif state.steps % rule.target_period == 0:
            state.w_target = state.w.copy()


# ------------------------------------------------------------------------------ expected updates
@dataclasses.dataclass(frozen=True)
class _Table:
    """Every transition ``(s, a, s')`` of a batch of ``B`` problems, ``n`` transitions each."""

    s: np.ndarray           # (n,) the state each transition leaves
    x_tm1: np.ndarray       # (B, n, d)
    r_t: np.ndarray         # (B, n)
    discount_t: np.ndarray  # (B, n)
    x_t: np.ndarray         # (B, n, d)
    rho_tm1: np.ndarray     # (B, n)
    p: np.ndarray           # (B, n) probability weights d(s) b(a|s) P(s'|s, a)
    other_discount: np.ndarray  # (B, n)
    other_x: np.ndarray     # (B, n, d)


def _table(settings: list[_Setting], weightings: list[np.ndarray], double_sample: bool = False) -> _Table:
    first = settings[0]
    S, A = first.mdp.S, first.mdp.A
    for st in settings[1:]:
        if (st.mdp.S, st.mdp.A, st.Phi.shape) != (S, A, first.Phi.shape):
            raise ValidationError("a batch of problems must share the numbers of states, actions and features")
    s, a, s_next = (idx.ravel() for idx in np.indices((S, A, S)))
    cols: dict[str, list[np.ndarray]] = {k: [] for k in _Table.__dataclass_fields__ if k != "s"}
    for st, d in zip(settings, weightings):
        P = st.mdp.to_dense().P
        rho = importance_ratios(st.target, st.behaviour)
        cols["x_tm1"].append(st.Phi[s])
        cols["r_t"].append(st.mdp.R[s, a])
        cols["discount_t"].append(st.gamma * (~st.terminal[s_next]))
        cols["x_t"].append(st.Phi[s_next])
        cols["rho_tm1"].append(rho[s, a])
        cols["p"].append(d[s] * st.behaviour[s, a] * P[s, a, s_next])
        if double_sample:
            # E[ρ'' γ'' x(S'') | s] for an independent second next state: (ΓΦ)(s).
            cols["other_discount"].append(np.ones(len(s)))
            cols["other_x"].append((_discounted(st) @ st.Phi)[s])
        else:
            cols["other_discount"].append(cols["discount_t"][-1])
            cols["other_x"].append(cols["x_t"][-1])
    keep = np.any(np.array(cols["p"]) > 0, axis=0)
    return _Table(s=s[keep], **{k: np.stack(v)[:, keep] for k, v in cols.items()})


class _ExpectedTraces:
    """``E[e_k | S_k = s]`` (pre-ρ eligibility trace) and ``E[M_k | S_k = s]`` (follow-on) at sweep ``k``.

    For a stream whose states follow the stationary law ``d`` and whose traces start at zero,
    ``d ∘ ē_k = d ∘ Φ + λ Γᵀ (d ∘ ē_{k−1})`` and ``f_k = d ∘ i + Γᵀ f_{k−1}`` (Sutton, Mahmood &
    White 2016); they converge to the stationary ``(I − λΓᵀ)⁻¹(d ∘ Φ)`` and follow-on weighting
    ``(I − Γᵀ)⁻¹(d ∘ i)``. The trace is independent of the transition out of ``s`` given ``s``, so
    using its conditional expectation keeps the expected update exact.
    """

    def __init__(self, rule: Rule, settings: list[_Setting], weightings: list[np.ndarray]):
        self.lam = rule.lam
        self.emphatic = rule.algorithm == "etd"
        self.d = np.stack(weightings)
        self.safe_d = np.where(self.d > 0, self.d, 1.0)
        self.Phi = np.stack([st.Phi for st in settings])
        self.Gamma_t = np.stack([_discounted(st).T for st in settings])
        self.interest = np.broadcast_to(np.asarray(rule.interest, dtype=np.float64), self.d.shape)
        self.dE = np.zeros_like(self.Phi)
        self.f = np.zeros_like(self.d)

    def advance(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-state trace ``(B, S, d)`` and emphasis ``(B, S)`` of the next sweep."""
        trace, emphasis = self.Phi, np.ones_like(self.d)
        if self.lam > 0:
            self.dE = self.d[..., None] * self.Phi + self.lam * np.einsum("bst,btd->bsd", self.Gamma_t, self.dE)
            trace = np.where(self.d[..., None] > 0, self.dE / self.safe_d[..., None], self.Phi)
        if self.emphatic:
            self.f = self.d * self.interest + np.einsum("bst,bt->bs", self.Gamma_t, self.f)
            emphasis = self.f / self.safe_d
        return trace, emphasis


def expected(rule: Rule, problem: Problem | Sequence[Problem], sweeps: int, weighting: np.ndarray | None = None,
             w0: np.ndarray | None = None, gamma: float | Sequence[float] | None = None,
             threshold: float = DIVERGENCE_THRESHOLD,
             record_every: int = 1, progress: Progress | None = None) -> Curve:
    """Iterate the expected update of ``rule`` for ``sweeps`` sweeps.

    One sweep is ``w ← w + α Σ_{s,a,s'} d(s) b(a|s) P(s'|s, a) Δ(s, a, s')`` with ``Δ`` the rule's
    direction (and likewise ``h`` with β), i.e. the expectation of one sampled update when states
    come from ``d`` and actions from the behaviour policy. For semi-gradient TD(0) this is
    ``w ← w + α(Aw + b)`` with ``(A, b) = td_system(mdp, π, Φ, d)``; with ``d`` uniform it is the
    semi-gradient DP of Sutton & Barto (2018) eq. 11.9. Traces (TD(λ), the emphatic follow-on)
    enter through their expectations given the state at sweep ``k`` for a stream started in ``d``
    with zero traces, as in the expected trajectories of Sutton & Barto (2018) Figure 11.6.

    Args:
        problem: a problem with features and target (and behaviour) policies, or a sequence of
            problems of the same shape, run side by side as a batch.
        weighting: the state weighting ``d`` ``(S,)`` (default: uniform over non-terminal states
            for ``semi-gradient-dp``, :func:`behaviour_distribution` otherwise).
        w0: initial weights ``(d,)`` (default: the problem's, else zeros).
        gamma: discount override (``1`` allowed for episodic problems whose episodes all terminate),
            or one per problem of a batch.
        progress: advanced by one per sweep.
    Returns:
        A :class:`Curve` with one stream per problem.
    """
    if rule.algorithm == "lstd":
        raise ValidationError("lstd is a closed-form solution: use triad.linear.lstd")
    problems, settings = _batch(problem, gamma, w0)
    weightings = [_weighting(p, rule.algorithm, weighting) for p in problems]
    table = _table(settings, weightings, rule.double_sample)
    traces = _ExpectedTraces(rule, settings, weightings)
    state = _State(w=np.stack([st.w0 for st in settings]), h=np.zeros((len(settings), settings[0].Phi.shape[1])),
                   w_target=np.stack([st.w0 for st in settings]))
    recorder = Recorder(_check_count(sweeps, "sweeps"), record_every, state.w, threshold)

    def reduce(x: np.ndarray) -> np.ndarray:
        return np.einsum("bn,bnd->bd", table.p, x)

    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(1, sweeps + 1):
            if rule.n > 1:
                state.w = state.w + rule.alpha * _expected_n_step(rule.n, state.w, settings, weightings)
            else:
                trace, emphasis = traces.advance()
                _apply(rule, state, table.x_tm1, table.r_t, table.discount_t, table.x_t, table.rho_tm1,
                       trace[:, table.s], emphasis[:, table.s], (table.other_discount, table.other_x), reduce)
            recorder(state.w, k)
            advance(progress, 1)
    return recorder.curve()


def _expected_n_step(n: int, w: np.ndarray, settings: list[_Setting], weightings: list[np.ndarray]) -> np.ndarray:
    """``E_d[ρ_{t:t+n−1} (G_{t:t+n} − v(S_t)) x_t] = ΦᵀD Σ_{k<n} Γ^k δ̄`` per problem: ``(B, d)``.

    Given ``S_t = s`` the importance ratios turn the behaviour's n-step paths into the target's,
    so the expected n-step error is ``Σ_k (Γ^k δ̄)(s)`` with ``δ̄ = r^π + ΓΦw − Φw`` (and ``E_b[ρ] = 1``
    for the ratios after a termination).
    """
    steps = []
    for st, d, w_b in zip(settings, weightings, w):
        Gamma = _discounted(st)
        V = st.Phi @ w_b
        mean_delta = policy_reward(st.mdp, st.target) + Gamma @ V - V
        error, term = mean_delta.copy(), mean_delta
        for _ in range(n - 1):
            term = Gamma @ term
            error += term
        steps.append(np.einsum("s,sd->d", d, semi_gradient_td(error, np.ones_like(error), st.Phi)))
    return np.stack(steps)


def _batch(problem: Problem | Sequence[Problem], gamma: float | Sequence[float] | None,
           w0: np.ndarray | None) -> tuple[list[Problem], list[_Setting]]:
    """A problem or a batch of problems, with one discount override each (or a shared one)."""
    problems = [problem] if isinstance(problem, Problem) else list(problem)
    if not problems:
        raise ValidationError("the batch of problems is empty")
    gammas = [gamma] * len(problems) if gamma is None or np.ndim(gamma) == 0 else list(gamma)
    if len(gammas) != len(problems):
        raise ValidationError(f"{len(gammas)} discount factors for {len(problems)} problems")
    return problems, [_setting(p, g, w0) for p, g in zip(problems, gammas)]


def _check_count(n: int, name: str) -> int:
    if int(n) != n or n < 1:
        raise ValidationError(f"{name} = {n} must be a positive integer")
    return int(n)


# ------------------------------------------------------------------------------- sampled updates
def sampled(rng: RandomSource, rule: Rule, problem: Problem, steps: int, streams: int = 1,
            w0: np.ndarray | None = None, gamma: float | None = None, threshold: float = DIVERGENCE_THRESHOLD,
            record_every: int = 1, progress: Progress | None = None) -> Curve:
    """Run ``rule`` on ``streams`` independent streams of behaviour-policy transitions, all at once.

    Each step draws one transition per stream (:func:`triad.sampling.rollout`, episodes restarting
    from ``mu``) and applies the same direction function as :func:`expected` to all streams in one
    vectorised operation. n-step TD updates the state of ``n − 1`` steps ago with
    ``α ρ_{t:t+n−1} (G_{t:t+n} − v(S_t)) x_t`` (Sutton & Barto 2018 §7.3 and §11.1), so the last ``n − 1``
    transitions of a run are not used. Eligibility and follow-on traces are reset at the start of each episode
    (after termination *or* truncation); at termination the bootstrap is cut (``discount = 0``).

    Args:
        rng: the only source of randomness; the same generator state gives bit-identical runs. With
            a :class:`triad.sampling.StreamRNG` of ``streams`` streams, stream ``i`` does not depend
            on how many streams run beside it.
        streams: number of independent streams ``B``; weights are ``(B, d)``.
        progress: advanced by the steps done.
    Returns:
        A :class:`Curve` of ``B`` streams.
    """
    if rule.algorithm == "lstd":
        raise ValidationError("lstd is a closed-form solution: use triad.linear.lstd")
    if rule.algorithm == "semi-gradient-dp":
        raise ValidationError("semi-gradient-dp is the expected (full-sweep) update; its sampled form is "
                              "semi-gradient-td")
    st = _setting(problem, gamma, w0)
    steps = _check_count(steps, "steps")
    B = _check_count(streams, "streams")
    Phi, mdp = st.Phi, st.mdp
    rho_table = importance_ratios(st.target, st.behaviour)
    interest = np.broadcast_to(np.asarray(rule.interest, dtype=np.float64), (mdp.S,))
    sampler = Sampler(mdp)
    state = _init_state(st.w0, B)
    recorder = Recorder(steps, record_every, state.w, threshold)
    z = np.zeros_like(state.w)      # ρ-weighted eligibility trace z_{t−1}
    rho_f = np.zeros(B)             # ρ_{t−1} M_{t−1} of the follow-on trace
    carry = np.zeros(B)             # discount into the current state; 0 at an episode's start
    window = _Window(rule.n, B, Phi.shape[1]) if rule.n > 1 else None
    # A fixed chunk: the order of draws within a stream must not depend on the batch size.
    chunk = min(steps, 128)
    s0 = None
    t = 0
    with np.errstate(over="ignore", invalid="ignore"):
        while t < steps:
            traj = rollout(rng, mdp, st.behaviour, min(chunk, steps - t), B, s0=s0, sampler=sampler)
            for k in range(traj.s_t.shape[0]):
                s, a, s_next = traj.s_t[k], traj.a_t[k], traj.next_s_t[k]
                x_tm1, x_t = Phi[s], Phi[s_next]
                rho = rho_table[s, a]
                discount = st.gamma * ~traj.terminated_t[k]
                trace = x_tm1
                if rule.lam > 0:
                    trace = (rule.lam * carry)[:, None] * z + x_tm1
                    z = rho[:, None] * trace
                emphasis = carry * rho_f + interest[s]
                rho_f = rho * emphasis
                if window is not None:
                    window.push(x_tm1, traj.r_t[k], discount, x_t, rho, traj.terminated_t[k], traj.truncated_t[k])
                    if window.full:
                        x_first, error, rho_prod = window.n_step(state.w)
                        state.w = state.w + rule.alpha * semi_gradient_td(error, rho_prod, x_first)
                    t += 1
                    recorder(state.w, t)
                    continue
                other = (discount, x_t)
                if rule.double_sample:
                    a2 = sample_actions(rng, st.behaviour, s)
                    s2 = sampler.next_states(rng, s, a2)
                    other = (rho_table[s, a2] * st.gamma * ~st.terminal[s2], Phi[s2])
                _apply(rule, state, x_tm1, traj.r_t[k], discount, x_t, rho, trace, emphasis, other, _identity)
                carry = np.where(traj.truncated_t[k], 0.0, discount)
                t += 1
                recorder(state.w, t)
            advance(progress, traj.s_t.shape[0])
            done = traj.terminated_t[-1] | traj.truncated_t[-1]
            s0 = np.where(done, sampler.initial_states(rng, (B,)), traj.next_s_t[-1])
    return recorder.curve()


class _Window:
    """The last ``n`` transitions of every stream, for sampled n-step TD (updates lag ``n − 1`` steps)."""

    def __init__(self, n: int, B: int, d: int):
        self.n, self.count = n, 0
        self.x, self.x_next = np.zeros((n, B, d)), np.zeros((n, B, d))
        self.r, self.discount, self.rho = (np.zeros((n, B)) for _ in range(3))
        self.truncated, self.ends = np.zeros((n, B), bool), np.zeros((n, B), bool)

    def push(self, x_tm1: np.ndarray, r_t: np.ndarray, discount_t: np.ndarray, x_t: np.ndarray, rho_tm1: np.ndarray,
             terminated_t: np.ndarray, truncated_t: np.ndarray) -> None:
        i = self.count % self.n
        self.x[i], self.r[i], self.discount[i], self.x_next[i] = x_tm1, r_t, discount_t, x_t
        self.rho[i], self.truncated[i], self.ends[i] = rho_tm1, truncated_t, terminated_t | truncated_t
        self.count += 1

    @property
    def full(self) -> bool:
        return self.count >= self.n

    def n_step(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features ``x_τ`` of the window's first state, its n-step TD error and ``ρ_{τ:τ+n−1}``: ``(B, d), (B,), (B,)``.

        The error is ``G_{τ:τ+n} − v(S_τ)`` with the n-step return of :func:`triad.multistep.n_step_returns`
        under the current weights: it stops at a termination (``discount = 0``: no bootstrap) and at a
        truncation (bootstrapping from the truncated state), so a later episode never enters; nor do
        its importance ratios.
        """
        order = (np.arange(self.n) + self.count) % self.n  # oldest first
        x = self.x[order]
        v_t = np.einsum("kbd,bd->kb", self.x_next[order], w)
        G = n_step_returns(self.r[order], self.discount[order], v_t, self.n, truncated_t=self.truncated[order])[0]
        ends = self.ends[order]
        reached = np.concatenate([np.ones_like(ends[:1]), ~np.logical_or.accumulate(ends[:-1], axis=0)])
        rho = np.where(reached, self.rho[order], 1.0).prod(axis=0)
        return x[0], G - np.einsum("bd,bd->b", x[0], w), rho


# --------------------------------------------------------------------------- closed form, errors
def lstd(problem: Problem, weighting: np.ndarray | None = None, gamma: float | None = None) -> np.ndarray:
    """Off-policy LSTD(0): the TD fixed point ``w`` with ``A w + b = 0``, ``(A, b) = td_system(...)``.

    ``A = ΦᵀD(γP^π − I)Φ`` and ``b = ΦᵀD r^π`` with ``D = diag(d)``, ``d`` the behaviour's state
    distribution by default (Bradtke & Barto 1996; Sutton & Barto 2018 §9.8, §11.2). When ``A`` is
    singular (features that are linearly dependent, as on Baird's counterexample) the minimum-norm
    least-squares solution is returned. Returns ``(d,)``.
    """
    st = _setting(problem, gamma, None)
    d = _weighting(problem, "lstd", weighting)
    mdp = st.mdp if gamma is None or gamma == st.mdp.gamma else st.mdp.with_gamma(st.gamma)
    A, b = td_system(mdp, st.target, st.Phi, d)
    return np.linalg.lstsq(A, -b, rcond=None)[0]


def true_values(problem: Problem, gamma: float | None = None) -> np.ndarray:
    """``v_π = (I − Γ)⁻¹ r^π`` of the target policy: ``(S,)``, by :func:`triad.solvers.evaluate_policy`
    (γ = 1 needs a proper target policy; the error names a closed class without terminal state)."""
    st = _setting(problem, gamma, None)
    return evaluate_policy(st.mdp if st.gamma == st.mdp.gamma else st.mdp.with_gamma(st.gamma), st.target)


def root_value_error(problem: Problem, w: np.ndarray, weighting: np.ndarray | None = None,
                     gamma: float | None = None) -> np.ndarray:
    """``√VE(w) = ‖Φw − v_π‖_d`` for weights ``(..., d)``: returns ``(...)`` (S&B eq. 9.1)."""
    st = _setting(problem, gamma, None)
    d = _weighting(problem, "", weighting)
    err = np.asarray(w) @ st.Phi.T - true_values(problem, gamma)
    return np.sqrt(np.einsum("...s,s->...", err * err, d))


def root_td_error(problem: Problem, w: np.ndarray, weighting: np.ndarray | None = None,
                  gamma: float | None = None) -> np.ndarray:
    """``√TDE(w)``, the root mean squared TD error ``E_b[ρ δ²]`` for weights ``(..., d)``: returns ``(...)``.

    States from ``d``, actions from the behaviour policy with importance ratio ρ, next states from
    ``P``, expected rewards (reward noise would add its variance). The naive residual gradient
    descends this objective (Sutton & Barto 2018 §11.5, Example 11.2).
    """
    st = _setting(problem, gamma, None)
    table = _table([st], [_weighting(problem, "", weighting)])
    w = np.asarray(w, dtype=np.float64)
    delta = td_error(w @ table.x_tm1[0].T, table.r_t[0], table.discount_t[0], w @ table.x_t[0].T)
    return np.sqrt(np.einsum("n,...n->...", table.p[0] * table.rho_tm1[0], delta * delta))


def root_projected_bellman_error(problem: Problem, w: np.ndarray, weighting: np.ndarray | None = None,
                                 gamma: float | None = None) -> np.ndarray:
    """``√PBE(w) = ‖Π_d δ̄_w‖_d`` for weights ``(..., d)``: returns ``(...)``.

    ``δ̄_w = r^π + ΓΦw − Φw`` is the Bellman error vector and ``Π_d`` the ``d``-weighted projection
    onto span(Φ) of :func:`triad.projections.weighted_least_squares` (Sutton et al. 2009; Sutton &
    Barto 2018 §11.4).
    """
    st = _setting(problem, gamma, None)
    d = _weighting(problem, "", weighting)
    V = np.asarray(w) @ st.Phi.T
    bellman = policy_reward(st.mdp, st.target) + V @ _discounted(st).T - V
    projected = weighted_least_squares(st.Phi, d)(bellman)
    return np.sqrt(np.einsum("s,...s->...", d, projected**2))


def projected_value_iteration(problem: Problem | Sequence[Problem], iterations: int,
                              weighting: np.ndarray | None = None, w0: np.ndarray | None = None,
                              gamma: float | Sequence[float] | None = None, threshold: float = DIVERGENCE_THRESHOLD,
                              record_every: int = 1, progress: Progress | None = None) -> pj.Iteration:
    """Least-squares projected value iteration ``w_{k+1} = argmin_w ‖Φw − B^π Φw_k‖²_d``, in weights.

    Each iteration applies the Bellman operator ``B^π v = r^π + Γv`` to the current estimate and
    projects the result back onto span(Φ) by ``d``-weighted least squares (Sutton & Barto 2018
    Example 11.1, uniform ``d`` over non-terminal states by default). The iteration is
    :func:`triad.projections.projected_value_iteration` of ``Π_d B^π`` for each problem, recording
    the weights (minimum-norm where Φ is rank-deficient); batched over problems (and discounts)
    like :func:`expected`, with a stream diverging once ``‖w‖₂ > threshold``. Returns its
    :class:`~triad.projections.Iteration`, a :class:`Curve` of weights ``(K, B, d)``.
    """
    problems, settings = _batch(problem, gamma, w0)
    projections: dict[int, LinearProjection] = {}  # problems of a batch often share features and weighting
    operators = []
    for p, st in zip(problems, settings):
        if weighting is not None or id(p) not in projections:
            d = uniform_weighting(p) if weighting is None else _weighting(p, "", weighting)
            projections[id(p)] = weighted_least_squares(st.Phi, d)
        mdp = st.mdp if st.gamma == st.mdp.gamma else st.mdp.with_gamma(st.gamma)
        operators.append(ProjectedBellman(mdp, projections[id(p)], st.target))
    return pj.projected_value_iteration(operators, np.stack([st.w0 for st in settings]),
                                        _check_count(iterations, "iterations"), threshold=threshold,
                                        record_every=record_every, coefficients=True, progress=progress)
