"""Contraction certificates: Tsitsiklis–Van Roy on random instances, Lipschitz ratios, Baird by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from triad import FiniteMDP, ValidationError, zoo
from triad import operators as ops
from triad import projections as pj
from triad.analysis import contraction as c
from triad.experiments.contraction.analysis import instances, summarise, weighting_order
from triad.testing import mdps, policies


@st.composite
def on_policy_instance(draw):
    """``(mdp, π, Φ, d)`` with d the (positive) stationary law of π and Φ of full column rank.

    Every transition row is mixed with 5% of a uniform jump, so every chain is irreducible and
    aperiodic: d is unique and positive, as Tsitsiklis & Van Roy assume.
    """
    base = draw(mdps(min_states=2, max_states=7, sparse=False))
    P = 0.95 * np.asarray(base.P) + 0.05 / base.S
    mdp = FiniteMDP(P, base.R, base.gamma)
    pi = draw(policies(mdp))
    k = draw(st.integers(1, mdp.S))
    Phi = draw(hnp.arrays(np.float64, (mdp.S, k), elements=st.floats(-3, 3, allow_nan=False)))
    Phi[:k] += 4 * np.eye(k)  # diagonally dominant block: full column rank
    return mdp, pi, Phi, ops.stationary_distribution(mdp, pi)


@settings(max_examples=80)
@given(on_policy_instance())
def test_on_policy_projected_operator_contracts_in_d_norm(case):
    # Tsitsiklis & Van Roy (1997), Lemma 1: ‖P^π‖_D ≤ 1 and ‖Π_D‖_D ≤ 1, so ‖γΠ_D P^π‖_D ≤ γ.
    mdp, pi, Phi, d = case
    cert = c.certify(pj.ProjectedBellman(mdp, pj.weighted_least_squares(Phi, d), pi))
    assert cert.B_D <= mdp.gamma * (1 + 1e-9) + 1e-12
    assert cert.PiB_D <= mdp.gamma * (1 + 1e-9) + 1e-12
    assert cert.spectral_radius <= cert.PiB_D * (1 + 1e-9) + 1e-12
    np.testing.assert_allclose(cert.B_inf, mdp.gamma, rtol=1e-12)


@settings(max_examples=60)
@given(on_policy_instance())
def test_td_fixed_point_bound_and_hurwitz_on_policy(case):
    # Tsitsiklis & Van Roy (1997), Thm 1: ‖Φθ* − V‖_D ≤ ‖ΠV − V‖_D / √(1 − γ²); A is negative definite.
    mdp, pi, Phi, d = case
    bound = c.td_fixed_point_bound(mdp, pi, Phi, d)
    assert bound.ratio <= 1 + 1e-7
    assert c.td_stability(mdp, pi, Phi, d).hurwitz


@settings(max_examples=60)
@given(on_policy_instance(), st.integers(0, 2**32 - 1), st.sampled_from(["on", "uniform"]))
def test_empirical_lipschitz_never_exceeds_the_exact_norm(case, seed, which):
    mdp, pi, Phi, d_on = case
    d = d_on if which == "on" else np.full(mdp.S, 1.0 / mdp.S)
    op = pj.ProjectedBellman(mdp, pj.weighted_least_squares(Phi, d), pi)
    cert = c.certify(op)
    rng = np.random.default_rng(seed)
    for norm, exact in (("inf", cert.PiB_inf), (d, cert.PiB_D)):
        est = c.empirical_lipschitz(rng, op, mdp.S, pairs=64, norm=norm, scale=10.0)
        assert est.max <= exact * (1 + 1e-9) + 1e-12
        assert est.quantiles[0.5] <= est.max
    # B* is a γ-contraction in ‖·‖∞ and so is ΠB* for an averager (Gordon 1995). The slack allows
    # round-off in R + γPV − (R + γPU) when γ is tiny next to R (a ratio error of ~1e-13/γ).
    Bstar = pj.ProjectedBellman(mdp, pj.tabular(mdp.S))
    assert c.empirical_lipschitz(rng, Bstar, mdp.S, pairs=64).max <= mdp.gamma * (1 + 1e-9) + 1e-9
    agg = pj.ProjectedBellman(mdp, pj.aggregation(np.arange(mdp.S) % 2, d))
    assert c.empirical_lipschitz(rng, agg, mdp.S, pairs=64).max <= mdp.gamma * (1 + 1e-9) + 1e-9


def test_lipschitz_ratios_are_vectorised_over_pairs():
    mdp = zoo.garnet(S=9, A=2, b=3, seed=1, gamma=0.8).mdp
    op = pj.ProjectedBellman(mdp, pj.weighted_least_squares(np.random.default_rng(0).standard_normal((9, 3)),
                                                           np.full(9, 1 / 9)))
    U, V = c.random_pairs(np.random.default_rng(1), 9, 50)
    d = np.full(9, 1 / 9)
    both = c.lipschitz_ratios(op, U, V, ["inf", d])
    one_by_one = [np.abs(op(u) - op(v)).max() / np.abs(u - v).max() for u, v in zip(U, V)]
    np.testing.assert_allclose(both[0], one_by_one, rtol=1e-12)
    np.testing.assert_allclose(both[1], [np.sqrt(((op(u) - op(v)) ** 2) @ d / (((u - v) ** 2) @ d))
                                         for u, v in zip(U, V)], rtol=1e-12)
    again = c.random_pairs(np.random.default_rng(1), 9, 50)
    assert np.array_equal(again[0], U) and np.array_equal(again[1], V)
    est = c.summarise_ratios(np.array([0.1, 0.2, 0.3, 0.4]), (0.5,))
    assert est.summary("x_") == {"x_max": 0.4, "x_q50": pytest.approx(0.25)}


def test_norms_by_hand_and_stacked():
    M = np.array([[1.0, -2.0], [0.5, 0.5]])
    assert c.induced_inf_norm(M) == 3.0
    np.testing.assert_allclose(c.induced_weighted_norm(M, np.array([0.5, 0.5])), np.linalg.norm(M, 2))
    # D = diag(0.8, 0.2): D^½ M D^-½ = [[1, −4], [0.25, 0.5]].
    scaled = np.array([[1.0, -4.0], [0.25, 0.5]])
    np.testing.assert_allclose(c.induced_weighted_norm(M, np.array([0.8, 0.2])), np.linalg.norm(scaled, 2))
    rot = np.array([[0.0, -0.5], [0.5, 0.0]])
    assert c.spectral_radius(rot) == pytest.approx(0.5)
    stack = np.stack([M, rot])
    np.testing.assert_allclose(c.induced_inf_norm(stack), [3.0, 0.5])
    np.testing.assert_allclose(c.spectral_radius(stack), [c.spectral_radius(M), 0.5])
    with pytest.raises(ValidationError, match=r"needs positive weights, but weighting\[1\] = 0"):
        c.induced_weighted_norm(M, np.array([1.0, 0.0]))
    with pytest.raises(ValidationError, match="weighting sums to 0.5"):
        c.induced_weighted_norm(M, np.array([0.25, 0.25]))
    assert c.complex_pairs(np.array([0.5j, 2.0, -1 - 1j])) == [[0.0, 0.5], [2.0, 0.0], [-1.0, -1.0]]


def test_baird_features_span_yet_td_diverges():
    problem = zoo.baird()
    mdp, Phi, pi = problem.mdp, problem.features, problem.target
    d = np.full(7, 1 / 7)  # the behaviour policy's stationary law
    op = pj.ProjectedBellman(mdp, pj.weighted_least_squares(Phi, d), pi)
    np.testing.assert_allclose(op.projection.matrix, np.eye(7), atol=1e-12)  # Π = I
    cert = c.certify(op)
    # γP^π = 0.99 · 1 e_7ᵀ: row sums 0.99, ‖·‖₂ = 0.99·‖1‖·‖e_7‖ = 0.99·√7 (uniform D cancels).
    assert cert.PiB_inf == pytest.approx(0.99, rel=1e-12)
    assert cert.PiB_D == pytest.approx(0.99 * math.sqrt(7), rel=1e-12)
    assert cert.spectral_radius == pytest.approx(0.99, rel=1e-12)
    # A = ΦᵀD(γP^π − I)Φ = (γ(Φᵀ1)φ_7ᵀ − ΦᵀΦ)/7 with φ_7 = (0,0,0,0,0,0,1,2), Φᵀ1 = (2,2,2,2,2,2,1,8).
    phi7 = np.array([0, 0, 0, 0, 0, 0, 1, 2.0])
    ones = np.array([2, 2, 2, 2, 2, 2, 1, 8.0])
    A_hand = (0.99 * np.outer(ones, phi7) - Phi.T @ Phi) / 7
    expected = np.sort_complex(np.linalg.eigvals(A_hand))
    np.testing.assert_allclose(np.sort_complex(cert.A_eigenvalues), expected, atol=1e-12)
    assert cert.hurwitz is False and cert.A_eigenvalues.real.max() > 0.2
    # The TD fixed point is still exact (V^π = 0 is representable) — the weights just never get there.
    assert c.td_fixed_point_bound(mdp, pi, Phi, d).error == 0.0
    with pytest.raises(ValidationError, match=r"zero mass on state\(s\) 0, 1, 2, 3, 4, 5"):
        pj.weighted_least_squares(Phi, ops.stationary_distribution(mdp, pi))


def test_certificate_json_form_and_averager_without_features():
    mdp = zoo.chain(n=4).mdp
    pi = np.tile([0.3, 0.7], (4, 1))
    cert = c.certify(pj.ProjectedBellman(mdp, pj.averager(np.full((4, 4), 0.25)), pi), weighting=np.full(4, 0.25))
    data = cert.to_json()
    assert data["hurwitz"] is None and data["A_eigenvalues"] == []
    assert data["PiB_inf"] == pytest.approx(0.9)
    with pytest.raises(ValidationError, match="has no weighting of its own"):
        c.certify(pj.ProjectedBellman(mdp, pj.averager(np.full((4, 4), 0.25)), pi))
    rot = zoo.garnet(S=5, A=1, b=5, seed=0, gamma=0.5).mdp
    cert = c.certify(pj.ProjectedBellman(rot, pj.tabular(5), np.ones((5, 1))), weighting=np.full(5, 0.2))
    pairs = cert.to_json()["A_eigenvalues"]
    assert len(pairs) == 5 and all(len(p) == 2 for p in pairs)
    np.testing.assert_allclose([complex(*p) for p in pairs], cert.A_eigenvalues)


def test_td_bound_is_exact_for_tabular_and_nan_when_td_has_no_solution():
    mdp = zoo.garnet(S=6, A=2, b=3, seed=3, gamma=0.9).mdp
    pi = np.full((6, 2), 0.5)
    d = ops.stationary_distribution(mdp, pi)
    tab = c.td_fixed_point_bound(mdp, pi, np.eye(6), d)
    assert tab.error < 1e-9 and tab.ratio == 0.0
    # Both states jump to state 1; φ = (1, 2), γ = 0.9: A = 0.8·d0 − 0.4·d1 vanishes for d = (1/3, 2/3)
    # while b = φᵀD r = 1/3 ≠ 0, so Aθ = −b has no solution: recorded as NaN, not raised.
    P = np.zeros((2, 1, 2))
    P[:, 0, 1] = 1.0
    two = FiniteMDP(P, np.array([[1.0], [0.0]]), 0.9)
    none = c.td_fixed_point_bound(two, np.ones((2, 1)), np.array([[1.0], [2.0]]), np.array([1 / 3, 2 / 3]))
    assert math.isnan(none.error) and math.isnan(none.ratio) and none.projection_error > 0


# A 3-state, 1-action chain with a doubly stochastic P: the uniform d is stationary by inspection.
CYCLE_P = np.array([[0.1, 0.6, 0.3], [0.3, 0.1, 0.6], [0.6, 0.3, 0.1]])
CYCLE_R = np.array([1.0, 0.0, -2.0])
CYCLE_D = np.full(3, 1 / 3)


def test_td_bound_values_on_a_small_chain_against_an_independent_computation():
    # Tsitsiklis & Van Roy (1997), Thm 1: bound = ‖Π_D V − V‖_D / √(1 − γ²); here √(1 − γ²) and
    # 1 − γ differ by the factor √((1 + γ)/(1 − γ)) = √19, so the denominator is pinned down.
    gamma = 0.9
    mdp = FiniteMDP(CYCLE_P[:, None, :], CYCLE_R[:, None], gamma)
    pi = np.ones((3, 1))
    Phi = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    D = np.diag(CYCLE_D)
    V = np.linalg.solve(np.eye(3) - gamma * CYCLE_P, CYCLE_R)
    Pi_D = Phi @ np.linalg.inv(Phi.T @ D @ Phi) @ Phi.T @ D

    def d_norm(x):
        return math.sqrt(float(np.sum(CYCLE_D * x**2)))

    projection_error = d_norm(Pi_D @ V - V)
    A = Phi.T @ D @ (gamma * CYCLE_P - np.eye(3)) @ Phi
    b = Phi.T @ D @ CYCLE_R
    theta = np.linalg.solve(A, -b)
    error = d_norm(Phi @ theta - V)
    assert projection_error > 0.1  # the features cannot represent V: the bound is not trivially 0

    out = c.td_fixed_point_bound(mdp, pi, Phi, CYCLE_D)
    np.testing.assert_allclose(out.theta, theta, rtol=1e-10)
    assert out.error == pytest.approx(error, rel=1e-10)
    assert out.projection_error == pytest.approx(projection_error, rel=1e-10)
    assert out.bound == pytest.approx(projection_error / math.sqrt(1 - gamma**2), rel=1e-10)
    assert out.ratio == pytest.approx(error * math.sqrt(1 - gamma**2) / projection_error, rel=1e-10)
    assert out.ratio < 1


def test_a_zero_eigenvalue_is_not_hurwitz():
    # An all-zero feature column gives A a zero row and column, hence the eigenvalue 0: the weight
    # of that feature never moves, so TD is not asymptotically stable. The other eigenvalue is the
    # 1-feature A = Σ_s d(s) φ(s)(γ Σ_s' P(s, s') φ(s') − φ(s)) with φ = (1, 2, 3), γ = 0.9:
    # Pφ = (2.2, 2.3, 1.5), so A = ((1.98 − 1) + 2(2.07 − 2) + 3(1.35 − 3))/3 = −3.83/3.
    mdp = FiniteMDP(CYCLE_P[:, None, :], CYCLE_R[:, None], 0.9)
    Phi = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    stability = c.td_stability(mdp, np.ones((3, 1)), Phi, CYCLE_D)
    np.testing.assert_allclose(stability.eigenvalues, [0.0, -3.83 / 3], atol=1e-12)
    assert stability.hurwitz is False
    # Without the zero column the same chain is Hurwitz.
    assert c.td_stability(mdp, np.ones((3, 1)), Phi[:, :1], CYCLE_D).hurwitz is True


def test_experiment_summary_is_derived_from_rows():
    rows = []
    for mdp_index, (on_d, off_d, ratio) in enumerate(((0.85, 1.2, 0.4), (0.9, 0.95, 0.6))):
        cells = (("on-policy", on_d, 0.0), ("behaviour:0.5", off_d, 0.5), ("uniform", 0.7, np.nan))
        for weighting, value, eps in cells:
            for quantity, v in (("PiB_D", value), ("PiB_inf", 1.1), ("spectral_radius", 0.5), ("hurwitz", 1.0),
                                ("td_ratio", ratio), ("lip_Bstar_inf_max", 0.8), ("lip_Bstar_D_max", 0.7),
                                ("lip_PiBstar_inf_max", 1.3), ("lip_PiBstar_D_max", 0.9)):
                rows.append({"mdp": mdp_index, "features": "random", "weighting": weighting, "epsilon": eps,
                             "distance": eps, "step": 0, "quantity": quantity, "value": v})
    results = pd.DataFrame(rows)
    assert len(instances(results)) == 6
    assert weighting_order(["uniform", "behaviour:0.5", "on-policy", "behaviour:0.1"]) == [
        "on-policy", "behaviour:0.1", "behaviour:0.5", "uniform"]
    summary = summarise(results, {"gamma": 0.9})
    assert summary["instances"] == 6 and summary["tsitsiklis_van_roy_holds"] is True
    assert summary["on_policy_PiB_D_max_over_gamma"] == pytest.approx(1.0)
    assert summary["off_policy_expansion_D"] == pytest.approx(1 / 4)
    assert summary["by_weighting"]["behaviour:0.5"]["expansion_D"] == pytest.approx(0.5)
    assert summary["td_bound_worst_ratio"] == pytest.approx(0.6) and summary["td_bound_checked"] == 2
    assert summary["lipschitz_max"]["PiBstar_inf"] == pytest.approx(1.3)
    broken = results.copy()
    broken.loc[(broken["weighting"] == "on-policy") & (broken["quantity"] == "PiB_D"), "value"] = 0.95
    assert summarise(broken, {"gamma": 0.9})["tsitsiklis_van_roy_holds"] is False


def test_experiment_runs_are_bit_identical_under_a_seed():
    from triad.experiment import Progress
    from triad.experiments.contraction import EXPERIMENT

    params = EXPERIMENT.resolve({"mdps": "1", "states": "8", "k": "3", "pairs": "8", "neural_pairs": "2",
                                 "fit_steps": "5", "features": "neural,random"}, quick=True)
    first = [EXPERIMENT.run(r, Progress()) for r in EXPERIMENT.sweep(params)]
    again = [EXPERIMENT.run(r, Progress()) for r in EXPERIMENT.sweep(params)]
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert set(first[0]["quantity"]) >= {"PiB_D", "td_ratio", "lip_neural_inf_max", "lip_PiBstar_D_max"}
    other = EXPERIMENT.resolve({"mdps": "1", "states": "8", "k": "3", "pairs": "8", "neural_pairs": "2",
                                "fit_steps": "5", "features": "random", "seed": "1"}, quick=True)
    assert not EXPERIMENT.run(EXPERIMENT.sweep(other)[0], Progress())["value"].equals(first[1]["value"])
    with pytest.raises(Exception, match="epsilons .* must lie in \\(0, 1\\)"):
        EXPERIMENT.sweep(EXPERIMENT.resolve({"epsilons": "0.5,1"}))
    with pytest.raises(Exception, match="unknown feature set 'tiles'"):
        EXPERIMENT.sweep(EXPERIMENT.resolve({"features": "tiles"}))


# ------------------------------------------------------------------------------------ support
@settings(max_examples=60)
@given(st.data())
def test_visitation_weighting_makes_every_projected_operator_a_sqrt_gamma_contraction(data):
    # d = d^π_μ satisfies d P^π = (d − (1 − γ)μ)/γ ≤ d/γ, so ‖γP^π V‖²_D ≤ γ²·Σ_s (dP^π)(s) V(s)² ≤ γ‖V‖²_D
    # (Jensen), and Π_D is a D-norm non-expansion: both certificates are at most √γ, on every MDP, on the
    # states π reaches from μ (the support, which π never leaves).
    mdp = data.draw(mdps(max_states=6, sparse=False))
    pi = data.draw(policies(mdp))
    mu = data.draw(hnp.arrays(np.float64, mdp.S, elements=st.sampled_from([0.0, 1.0])))
    mu[0] = 1.0
    mdp = FiniteMDP(mdp.P, mdp.R, mdp.gamma, mu=mu / mu.sum())
    support = c.restrict_to_support(mdp, pi, pj.visitation_weighting(mdp, pi))
    Phi = data.draw(hnp.arrays(np.float64, (support.states.size, data.draw(st.integers(1, 3))),
                               elements=st.floats(-3, 3, allow_nan=False)))
    Phi[:, 0] += 4.0  # a column with no zero, so the projection is defined on every weighted state
    cert = c.certify(pj.ProjectedBellman(support.mdp, pj.weighted_least_squares(Phi, support.weighting),
                                         support.policy))
    assert cert.B_D <= math.sqrt(mdp.gamma) + 1e-9 and cert.PiB_D <= math.sqrt(mdp.gamma) + 1e-9


def test_restriction_to_a_closed_support_keeps_values_and_refuses_a_leaking_one():
    # States 0 ↔ 1 form a closed class; state 2 moves to 0. Weighting (½, ½, 0) sees only {0, 1}.
    P = np.array([[[0.2, 0.8, 0.0]], [[0.6, 0.4, 0.0]], [[1.0, 0.0, 0.0]]])
    R = np.array([[1.0], [-2.0], [5.0]])
    mdp = FiniteMDP(P, R, 0.9, state_names=("a", "b", "c"))
    pi = np.ones((3, 1))
    support = c.restrict_to_support(mdp, pi, np.array([0.5, 0.5, 0.0]))
    np.testing.assert_array_equal(support.states, [0, 1])
    assert support.mdp.S == 2 and support.mdp.state_names == ("a", "b") and support.policy.shape == (2, 1)
    # V on {0, 1} solves (I − 0.9 P_sub) V = R_sub by hand: V = [[0.82, −0.72], [−0.54, 0.64]]⁻¹ (1, −2).
    V = np.linalg.solve(np.array([[0.82, -0.72], [-0.54, 0.64]]), [1.0, -2.0])
    np.testing.assert_allclose(pj.ProjectedBellman(support.mdp, pj.tabular(2), support.policy).fixed_point(), V,
                               rtol=1e-12)
    full = c.restrict_to_support(mdp, pi, np.full(3, 1 / 3))
    assert full.mdp is mdp and full.states.tolist() == [0, 1, 2]
    with pytest.raises(ValidationError, match=r"zero on state\(s\) 1, which π reaches from state 0"):
        c.restrict_to_support(mdp, pi, np.array([0.5, 0.0, 0.5]))
