"""Symbolic thresholds: derived by sympy, equal to the published formulas, confirmed by numeric iteration."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from triad import ValidationError, linear, zoo
from triad.analysis import symbolic
from triad.analysis.symbolic import EPSILON, GAMMA, P_BEHAVIOUR

FRAGMENT = np.array([1.0, 0.0, 0.0])  # all weight on the w → 2w transition


def _fragment_growth(gamma, alpha=0.1, sweeps=50):
    rule = linear.Rule("semi-gradient-td", alpha=alpha)
    curve = linear.expected(rule, zoo.two_state(gamma=gamma), sweeps, weighting=FRAGMENT)
    return abs(curve.final[0, 0]) / abs(curve.w[0, 0, 0])


def test_td_fragment_threshold_is_one_half_and_iteration_agrees():
    t = symbolic.td_fragment_threshold()
    assert t.expr == sp.Rational(1, 2) and t.value == 0.5
    assert sp.simplify(t.growth - (1 + symbolic.ALPHA * (2 * GAMMA - 1))) == 0
    assert t.region.subs(GAMMA, 0.51) and not t.region.subs(GAMMA, 0.49)
    assert _fragment_growth(0.49) < 1 < _fragment_growth(0.51)
    assert _fragment_growth(0.5) == pytest.approx(1.0, abs=1e-12)


def test_projected_vi_threshold_is_the_books_formula():
    t = symbolic.projected_vi_threshold(0.1)
    assert sp.simplify(t.expr - 5 / (6 - 4 * EPSILON)) == 0
    assert sp.simplify(t.growth - (6 - 4 * EPSILON) * GAMMA / 5) == 0
    assert t.value == pytest.approx(5 / 5.6, rel=1e-12)
    assert t.region.subs(GAMMA, t.value + 0.01) and not t.region.subs(GAMMA, t.value - 0.01)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 0.2))
def test_projected_vi_iteration_just_below_and_above_the_threshold(epsilon):
    gamma_star = symbolic.projected_vi_threshold(epsilon).value
    problems = [zoo.two_state(epsilon=epsilon, gamma=g) for g in (gamma_star - 0.01, gamma_star + 0.005)]
    curve = linear.projected_value_iteration(problems, 400)
    below, above = np.abs(curve.final[:, 0])
    assert below < 1.0 < above


def test_w2w_arrays_build_the_zoos_mdp():
    P, Phi = symbolic.w2w_arrays(0.3)
    mdp = zoo.two_state(epsilon=0.3).mdp
    np.testing.assert_allclose(np.array(P, float), mdp.P)
    np.testing.assert_allclose(np.array(Phi, float), zoo.two_state().features)


def test_lstd_sign_threshold_formula():
    t = symbolic.lstd_sign_threshold(0.9)
    assert sp.simplify(t.expr - (2 * GAMMA - 1) / (3 - 2 * GAMMA)) == 0
    assert t.value == pytest.approx(2 / 3, rel=1e-12)
    assert t.variable == P_BEHAVIOUR
    assert t.region.subs(P_BEHAVIOUR, 0.6) and not t.region.subs(P_BEHAVIOUR, 0.7)


@pytest.mark.parametrize("gamma", [0.6, 0.75, 0.9, 0.95])
def test_lstd_solution_changes_sign_at_the_threshold_and_td_diverges_below_it(gamma):
    p_star = symbolic.lstd_sign_threshold(gamma).value
    below, above = (zoo.off_policy_two_state(p, gamma) for p in (p_star - 0.01, p_star + 0.01))
    assert linear.lstd(below)[0] < 0 < linear.lstd(above)[0]
    # The sign flips because A crosses 0: expected TD(0) grows below p*, settles above it.
    rule = linear.Rule("semi-gradient-td", alpha=0.5)
    grows = linear.expected(rule, below, 3000, w0=np.array([1.0]), threshold=1e3)
    settles = linear.expected(rule, above, 3000, w0=np.array([1.0]), threshold=1e3)
    assert grows.diverged[0] and not settles.diverged[0]
    np.testing.assert_allclose(settles.final[0], linear.lstd(above), rtol=1e-3)


def test_lstd_threshold_matches_the_numeric_td_system():
    # Independent check of the symbolic A(p): the numeric td_system of the same problem.
    from triad import operators

    gamma, p = 0.8, 0.4
    problem = zoo.off_policy_two_state(p, gamma)
    A, _ = operators.td_system(problem.mdp, problem.target, problem.features, np.array([1 - p, p]))
    growth = symbolic.lstd_sign_threshold(gamma).growth
    assert float(growth.subs({GAMMA: gamma, P_BEHAVIOUR: p})) == pytest.approx(A[0, 0], rel=1e-12)


def test_symbolic_errors():
    with pytest.raises(ValidationError, match="keeps its sign"):
        symbolic.lstd_sign_threshold(0.4)
    with pytest.raises(ValidationError, match="epsilon = 2 is outside"):
        symbolic.projected_vi_threshold(2.0)
    with pytest.raises(ValidationError, match="p = 0 must be in"):
        zoo.make("off-policy-two-state:p=0")
