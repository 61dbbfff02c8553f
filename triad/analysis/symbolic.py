"""Exact divergence thresholds, derived with sympy from the definitions of the examples.

Each function builds its example's matrices with symbolic entries (the same construction that
builds the numeric MDP), lets sympy form the update and solve for the boundary, and returns a
:class:`Threshold`: the boundary as a sympy expression in the remaining parameters and its value
as a float. Nothing is typed in by hand except the example itself.

* :func:`td_fragment_threshold` — the w→2w TD(0) fragment diverges for γ > 1/2;
* :func:`projected_vi_threshold` — least-squares projected value iteration on the two-state
  example diverges for γ > 5/(6 − 4ε) (Sutton & Barto 2018 §11.2, Example 11.1);
* :func:`lstd_sign_threshold` — off-policy LSTD on the zoo's ``off-policy-two-state`` flips the sign of its
  solution at behaviour probability p* = (2γ − 1)/(3 − 2γ), exactly where the TD matrix ``A``
  stops being negative (expected TD(0) diverges for p < p*).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import sympy as sp

from triad.errors import ValidationError
from triad.zoo import off_policy_two_state_arrays

GAMMA = sp.Symbol("gamma", nonnegative=True)
EPSILON = sp.Symbol("epsilon", nonnegative=True)
ALPHA = sp.Symbol("alpha", positive=True)
P_BEHAVIOUR = sp.Symbol("p", nonnegative=True)
_W = sp.Symbol("w", nonzero=True)


@dataclasses.dataclass(frozen=True)
class Threshold:
    """A symbolic boundary and its numeric value.

    Attributes:
        expr: the boundary as a sympy expression in the example's free parameters.
        value: ``expr`` evaluated at the requested parameters.
        variable: the symbol the boundary applies to (γ or p).
        region: a sympy relation in ``variable`` describing where the example diverges (or, for
            LSTD, where its solution has the wrong sign), valid at the requested parameters.
        growth: the expression whose crossing defines the boundary (growth factor, rate or ``A``).
    """

    expr: sp.Expr
    value: float
    variable: sp.Symbol
    region: sp.Basic
    growth: sp.Expr


# ------------------------------------------------------------------------------- the examples
def w2w_arrays(epsilon: Any) -> tuple[list, list]:
    """The w→2w two-state example of Sutton & Barto (2018) §11.2 as nested lists.

    States 0 (feature 1) → 1 (feature 2), which stays with probability ``1 − ε`` and terminates
    into state 2 (feature 0) with probability ε; all rewards 0; one action. Entries are whatever
    ``epsilon`` is (a float or a sympy symbol). Returns ``(P, Phi)`` with ``P[s][0][s']`` and
    ``Phi[s][0]``; :func:`triad.zoo.two_state` builds the same MDP numerically.
    """
    P = [[[0, 1, 0]], [[0, 1 - epsilon, epsilon]], [[0, 0, 1]]]
    return P, [[1], [2], [0]]


def _matrix(nested: list, action: int | None = None) -> sp.Matrix:
    return sp.Matrix(nested if action is None else [[row[action][t] for t in range(len(row[action]))]
                                                      for row in nested])


# ----------------------------------------------------------------------------------- thresholds
@functools.cache
def td_fragment_threshold() -> Threshold:
    """γ above which the TD(0) update on the w→2w transition diverges for every small step size.

    The fragment is the single transition state 0 → state 1 of :func:`w2w_arrays` (reward 0,
    values ``w`` and ``2w``): ``w ← w + α φ₀ (γ φ₁ w − φ₀ w)``. Its growth factor is linear in α;
    the iteration diverges for all small α > 0 iff the factor's slope in α is positive.
    """
    _, Phi = w2w_arrays(EPSILON)
    phi0, phi1 = sp.Integer(Phi[0][0]), sp.Integer(Phi[1][0])
    delta = 0 + GAMMA * phi1 * _W - phi0 * _W
    factor = sp.simplify((_W + ALPHA * delta * phi0) / _W)
    rate = sp.diff(factor, ALPHA)
    (boundary,) = sp.solve(sp.Eq(rate, 0), GAMMA)
    region = sp.solve_univariate_inequality(rate > 0, GAMMA, relational=True)
    return Threshold(expr=boundary, value=float(boundary), variable=GAMMA, region=region, growth=factor)


@functools.cache
def _projected_vi_growth() -> tuple[sp.Expr, sp.Expr]:
    """``(κ(γ, ε), γ*(ε))``: the growth factor of projected VI on w→2w and the root of ``κ = 1``."""
    P, Phi = w2w_arrays(EPSILON)
    P_pi, X = _matrix(P, action=0), _matrix(Phi)
    D = sp.diag(1, 1, 0)  # the non-terminal states, equally weighted
    target = GAMMA * P_pi * X * _W
    w_next = ((X.T * D * X).inv() * X.T * D * target)[0, 0]
    kappa = sp.factor(sp.simplify(w_next / _W))
    (boundary,) = sp.solve(sp.Eq(kappa, 1), GAMMA)
    return kappa, sp.simplify(boundary)


def projected_vi_threshold(epsilon: float = 0.1) -> Threshold:
    """γ above which least-squares projected value iteration on the w→2w example diverges.

    ``w_{k+1} = argmin_w Σ_s (φ(s) w − E[γ φ(S') w_k | s])²`` over the two non-terminal states
    (Sutton & Barto 2018 Example 11.1, equal weights): sympy forms the normal equations from
    :func:`w2w_arrays`, simplifies the growth factor ``κ = w_{k+1}/w_k`` and solves ``κ = 1``.
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValidationError(f"epsilon = {epsilon:g} is outside [0, 1]")
    kappa, boundary = _projected_vi_growth()
    region = sp.solve_univariate_inequality((kappa > 1).subs(EPSILON, sp.nsimplify(epsilon)), GAMMA, relational=True)
    return Threshold(expr=boundary, value=float(boundary.subs(EPSILON, epsilon)), variable=GAMMA, region=region,
                     growth=kappa)


def lstd_sign_threshold(gamma: float = 0.9) -> Threshold:
    """Behaviour probability at which off-policy LSTD's solution changes sign on the two-state example.

    From :func:`triad.zoo.off_policy_two_state_arrays` (the arrays of the zoo's
    ``off-policy-two-state``), sympy finds the behaviour's stationary distribution
    ``d``, forms ``A = ΦᵀD(γP^π − I)Φ`` and ``b = ΦᵀD r^π`` (as :func:`triad.operators.td_system`
    does numerically) and the LSTD solution ``w* = −b/A``; the sign changes where ``A`` (the
    denominator) crosses zero in ``p``. ``region`` is where ``w*`` has the wrong sign (negative,
    though every true value is positive) — the same ``p`` for which ``A > 0`` and expected TD(0)
    diverges.
    """
    if not 0.0 <= gamma < 1.0:
        raise ValidationError(f"gamma = {gamma:g} is outside [0, 1)")
    P, R, Phi, target, behaviour = off_policy_two_state_arrays(P_BEHAVIOUR)
    S, A = len(P), len(P[0])
    pi, b = _matrix(target), _matrix(behaviour)
    P_of = [_matrix(P, action=a) for a in range(A)]
    P_pi = sp.zeros(S, S)
    P_b = sp.zeros(S, S)
    for s in range(S):
        for a in range(A):
            P_pi[s, :] += pi[s, a] * P_of[a][s, :]
            P_b[s, :] += b[s, a] * P_of[a][s, :]
    r_pi = sp.Matrix([sum(pi[s, a] * R[s][a] for a in range(A)) for s in range(S)])
    d = sp.Matrix(sp.symbols(f"d0:{S}"))
    solution = sp.solve(list(P_b.T * d - d) + [sum(d) - 1], list(d), dict=True)[0]
    D = sp.diag(*[sp.simplify(solution[x]) for x in d])
    X = _matrix(Phi)
    A_td = sp.simplify((X.T * D * (GAMMA * P_pi - sp.eye(S)) * X)[0, 0])
    b_td = sp.simplify((X.T * D * r_pi)[0, 0])
    w_star = sp.simplify(-b_td / A_td)
    g = sp.nsimplify(gamma)
    roots = [sp.simplify(root) for root in sp.solve(sp.Eq(A_td, 0), P_BEHAVIOUR)]
    inside = [root for root in roots if 0 < root.subs(GAMMA, g) < 1]
    if not inside:
        raise ValidationError(f"for gamma = {gamma:g} the LSTD solution keeps its sign for every p in (0, 1]")
    boundary = inside[0]
    region = sp.solve_univariate_inequality((w_star < 0).subs(GAMMA, g), P_BEHAVIOUR, relational=True)
    return Threshold(expr=boundary, value=float(boundary.subs(GAMMA, g)), variable=P_BEHAVIOUR, region=region,
                     growth=A_td)
