"""Projections Π and the composite operators ΠB: algebraic laws, hand-computed cases, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from triad import ValidationError, zoo
from triad import operators as ops
from triad import projections as pj
from triad.errors import SpecError
from triad.solvers import evaluate_policy, evaluate_q, value_iteration
from triad.spec import options
from triad.testing import mdp_and_policy, value_functions

_entries = st.floats(-3.0, 3.0, allow_nan=False, width=64)


@st.composite
def features_and_weighting(draw, positive=True):
    """``(Φ, d)``: n ∈ [2, 8] states, 1 … n + 1 features (sometimes a duplicated column)."""
    n = draw(st.integers(2, 8))
    k = draw(st.integers(1, n + 1))
    Phi = draw(hnp.arrays(np.float64, (n, k), elements=_entries))
    if draw(st.booleans()):
        Phi = np.column_stack([Phi, Phi[:, :1]])
    low = 0.05 if positive else 0.0
    w = draw(hnp.arrays(np.float64, n, elements=st.floats(low, 1.0)))
    w[0] += 0.1
    return Phi, w / w.sum()


@given(features_and_weighting(), st.data())
def test_least_squares_projection_is_idempotent_and_d_self_adjoint(case, data):
    Phi, d = case
    Pi = pj.weighted_least_squares(Phi, d)
    M = Pi.matrix
    np.testing.assert_allclose(M @ M, M, atol=1e-8)
    np.testing.assert_allclose(d[:, None] * M, (d[:, None] * M).T, atol=1e-8)  # DΠ = ΠᵀD
    U = data.draw(value_functions(Phi.shape[0], batch=2, scale=10.0))
    # Π maps into span(Φ) and its residual is D-orthogonal to span(Φ). Coefficients of badly
    # conditioned features carry round-off of order eps·cond·‖U‖, so the first check scales with it.
    sv = np.linalg.svd(np.sqrt(d)[:, None] * Phi, compute_uv=False)
    kept = sv[sv > max(sv[0] * 1e-10, np.finfo(float).tiny)]
    cond = kept[0] / kept[-1] if kept.size else 1.0
    np.testing.assert_allclose(Pi(U), Pi.coefficients(U) @ Phi.T, atol=1e-6 + 1e-14 * cond * 10.0)
    np.testing.assert_allclose(Phi.T @ (d[:, None] * (U - Pi(U)).T), 0.0, atol=1e-6)


@given(features_and_weighting())
def test_projection_does_not_expand_the_d_norm(case):
    Phi, d = case
    M = pj.weighted_least_squares(Phi, d).matrix
    root = np.sqrt(d)
    assert np.linalg.norm(root[:, None] * M / root[None, :], 2) <= 1 + 1e-8


def test_least_squares_by_hand():
    # Φ = (1, 2)ᵀ, d = (1/2, 1/2): θ = (1·u0 + 2·u1)/5, so Π = [[1, 2], [2, 4]]/5.
    Pi = pj.weighted_least_squares(np.array([[1.0], [2.0]]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(Pi.matrix, np.array([[1.0, 2.0], [2.0, 4.0]]) / 5)
    np.testing.assert_allclose(Pi.coefficients(np.array([5.0, 0.0])), [1.0])


def test_rank_deficient_features_give_the_projection_of_their_span():
    rng = np.random.default_rng(0)
    Phi = rng.standard_normal((6, 2))
    d = rng.dirichlet(np.ones(6))
    plain = pj.weighted_least_squares(Phi, d)
    doubled = pj.weighted_least_squares(np.column_stack([Phi, Phi[:, 0], 2 * Phi[:, 1]]), d)
    np.testing.assert_allclose(doubled.matrix, plain.matrix, atol=1e-12)
    assert np.linalg.matrix_rank(doubled.features) == 2


def test_zero_weight_where_features_need_it_is_an_error():
    Phi = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValidationError, match=r"zero mass on state\(s\) 2 where the features need it"):
        pj.weighted_least_squares(Phi, np.array([0.5, 0.5, 0.0]))
    # Zero weight where span(Φ) is already pinned down elsewhere is fine (S&B's w→2w example).
    problem = zoo.two_state()
    Pi = pj.weighted_least_squares(problem.features, np.array([0.5, 0.5, 0.0]))
    np.testing.assert_allclose(Pi.matrix[:, 2], 0.0)
    np.testing.assert_allclose(Pi(np.array([1.0, 1.0, 7.0])), np.array([1.0, 2.0, 0.0]) * 3 / 5)


@pytest.mark.parametrize("features, weighting, message", [
    (np.ones(3), np.full(3, 1 / 3), r"features have shape \(3,\), expected \(3, d\)"),
    (np.ones((4, 2)), np.full(3, 1 / 3), r"features have shape \(4, 2\), expected \(3, d\)"),
    (np.ones((3, 0)), np.full(3, 1 / 3), r"features have shape \(3, 0\)"),
    (np.array([[1.0], [np.nan], [0.0]]), np.full(3, 1 / 3), r"features\[1, 0\] is NaN"),
    (np.ones((3, 1)), np.array([0.5, 0.7, -0.2]), r"weighting\[2\] = -0.2 is negative"),
    (np.ones((3, 1)), np.array([0.5, 0.2, 0.2]), r"weighting sums to 0.9 \(expected 1"),
    (np.ones((3, 1)), np.full((3, 1), 1 / 3), r"features have shape \(3, 1\), expected \(1, d\)|weighting has shape"),
])
def test_bad_features_and_weightings(features, weighting, message):
    with pytest.raises(ValidationError, match=message):
        pj.weighted_least_squares(features, weighting)


def test_aggregation_averages_within_groups_by_weight():
    d = np.array([0.1, 0.3, 0.2, 0.4])
    Pi = pj.aggregation(np.array([0, 0, 1, 1]), d)
    V = np.array([4.0, 8.0, 1.0, -2.0])
    # group 0: (0.1·4 + 0.3·8)/0.4 = 7; group 1: (0.2·1 − 0.4·2)/0.6 = −1.
    np.testing.assert_allclose(Pi(V), [7.0, 7.0, -1.0, -1.0])
    assert Pi.kind == "aggregation" and np.all(Pi.matrix >= -1e-15)
    np.testing.assert_allclose(Pi.matrix.sum(axis=1), 1.0)
    with pytest.raises(ValidationError, match="zero mass on every state of group 1"):
        pj.aggregation(np.array([0, 0, 1, 1]), np.array([0.5, 0.5, 0.0, 0.0]))
    with pytest.raises(ValidationError, match="non-negative integer labels"):
        pj.aggregation(np.array([0.0, 1.0]), np.array([0.5, 0.5]))


def test_tabular_is_the_identity_on_v_and_q():
    Pi = pj.tabular(6)
    Q = np.arange(12.0).reshape(2, 3, 2)
    np.testing.assert_array_equal(Pi(Q), Q)
    with pytest.raises(ValidationError, match=r"values have shape \(2, 5\), expected \(\.\.\., 6\)"):
        Pi(np.ones((2, 5)))


@st.composite
def averager_case(draw):
    n = draw(st.integers(1, 7))
    W = draw(hnp.arrays(np.float64, (n, n), elements=st.floats(0.0, 1.0)))
    W[np.arange(n), draw(st.integers(0, n - 1))] += 0.5
    W /= W.sum(axis=1, keepdims=True)
    U = draw(value_functions(n, batch=3))
    V = draw(value_functions(n, batch=3))
    return W, U, V


@given(averager_case())
def test_averagers_never_expand_the_sup_norm(case):
    W, U, V = case
    Pi = pj.averager(W)
    lhs = np.abs(Pi(U) - Pi(V)).max(axis=-1)
    assert np.all(lhs <= np.abs(U - V).max(axis=-1) * (1 + 1e-12) + 1e-12)


def test_kernel_averager_rows_are_distributions_and_errors():
    coords = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    Pi = pj.kernel_averager(coords, bandwidth=1.0)
    np.testing.assert_allclose(Pi.matrix.sum(axis=1), 1.0)
    # Nearby states share weight e^{-1/2} : 1; the far one is essentially alone.
    np.testing.assert_allclose(Pi.matrix[0, :2], np.array([1.0, np.exp(-0.5)]) / (1 + np.exp(-0.5)), rtol=1e-9)
    assert Pi.matrix[2, 2] > 1 - 1e-8  # e^{-41/2} of its weight leaks to the others
    with pytest.raises(ValidationError, match="bandwidth"):
        pj.kernel_averager(coords, bandwidth=0.0)
    with pytest.raises(ValidationError, match=r"averager weights\[0\] sums to 0.5"):
        pj.averager(np.array([[0.25, 0.25], [0.5, 0.5]]))


# ------------------------------------------------------------------------------------- neural
def _net(seed=0, steps=60, n=8):
    rng = np.random.default_rng(1)
    return pj.NeuralProjection(inputs=rng.standard_normal((n, 3)), weighting=rng.dirichlet(np.ones(n)),
                               hidden=(6,), steps=steps, seed=seed)


def test_neural_projection_same_seed_is_bit_identical():
    X = np.random.default_rng(2).standard_normal((3, 8))
    a, b = _net(seed=5)(X), _net(seed=5)(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, _net(seed=6)(X))


def test_neural_projection_is_a_map_of_each_target_alone():
    X = np.random.default_rng(3).standard_normal((4, 8))
    net = _net()
    batch = net(X)
    np.testing.assert_allclose(batch[2], net(X[2]), rtol=0, atol=1e-10)
    # Standardised targets: Π(aX + c) = aΠ(X) + c for a > 0; constants are fixed points.
    np.testing.assert_allclose(net(3.0 * X[0] + 7.0), 3.0 * batch[0] + 7.0, atol=1e-8)
    np.testing.assert_array_equal(net(np.full(8, 2.5)), np.full(8, 2.5))


def test_neural_projection_fits_a_representable_target():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((10, 2))
    net = pj.NeuralProjection(inputs=x, weighting=np.full(10, 0.1), hidden=(8,), steps=400, learning_rate=0.03)
    target = 0.3 * x[:, 0] - 0.2 * x[:, 1] + 1.0  # inside the tanh network's near-linear regime
    fit = net.fit(target)
    assert fit.loss < 1e-4 * target.var()
    assert fit.features.shape == (10, 8) and fit.predictions.shape == (10,)


def test_last_layer_projection_is_least_squares_on_learned_features():
    net = _net()
    V = np.random.default_rng(5).standard_normal(8)
    Pi = net.last_layer(V)
    assert Pi.features.shape == (8, 7)
    np.testing.assert_allclose(Pi.features[:, -1], 1.0)
    np.testing.assert_allclose(Pi.matrix @ Pi.matrix, Pi.matrix, atol=1e-8)
    with pytest.raises(ValidationError, match=r"last_layer fits one target of shape \(8,\)"):
        net.last_layer(np.ones((2, 8)))


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden": ()}, "at least one positive layer width"),
    ({"hidden": (0,)}, "at least one positive layer width"),
    ({"steps": -1}, "steps = -1"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"weighting": np.full(4, 0.25)}, r"weighting has shape \(4,\), expected \(8,\)"),
])
def test_neural_projection_errors(kwargs, message):
    base = {"inputs": np.ones((8, 2)), "weighting": np.full(8, 1 / 8)}
    with pytest.raises(ValidationError, match=message):
        pj.NeuralProjection(**{**base, **kwargs})


# --------------------------------------------------------------------------------- composites
@settings(max_examples=30)
@given(mdp_and_policy())
def test_tabular_projected_evaluation_is_plain_evaluation(case):
    mdp, pi = case
    op = pj.ProjectedBellman(mdp, pj.tabular(mdp.S), pi)
    V = evaluate_policy(mdp, pi)
    scale = 1 + np.abs(V).max()
    np.testing.assert_allclose(op.fixed_point(), V, atol=1e-8 * scale)
    np.testing.assert_allclose(op(V), V, atol=1e-8 * scale)


def test_fixed_point_of_projected_evaluation_is_the_td_solution():
    problem = zoo.garnet(S=12, A=3, b=4, seed=2, gamma=0.9, sparse=False)
    mdp = problem.mdp
    pi = ops.epsilon_greedy(mdp.R, 0.5)
    Phi = np.random.default_rng(0).standard_normal((12, 3))
    d = ops.stationary_distribution(mdp, pi)
    op = pj.ProjectedBellman(mdp, pj.weighted_least_squares(Phi, d), pi)
    A, b = ops.td_system(mdp, pi, Phi, d)
    np.testing.assert_allclose(op.fixed_point(), Phi @ np.linalg.solve(A, -b), atol=1e-10)
    it = pj.projected_value_iteration(op, np.zeros(12), 2000, tol=1e-12)
    assert it.converged and np.isnan(it.diverged_at) and it.diverged_at.shape == ()
    assert it.sweeps < 2000 and it.changes[-1] <= 1e-12 < it.changes[-2]
    np.testing.assert_allclose(it.values, op.fixed_point(), atol=1e-9)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.2])
def test_projected_vi_on_two_state_example_matches_sutton_barto(epsilon):
    # S&B (2018) §11.2: least-squares projected VI gives w_{k+1} = (6 − 4ε)/5 · γ w_k,
    # diverging exactly when γ > 5/(6 − 4ε).
    threshold = 5 / (6 - 4 * epsilon)
    for gamma, diverges in ((threshold - 0.01, False), (threshold + 0.01, True)):
        problem = zoo.two_state(epsilon=epsilon, gamma=gamma)
        Pi = pj.weighted_least_squares(problem.features, np.array([0.5, 0.5, 0.0]))
        op = pj.ProjectedBellman(problem.mdp, Pi, problem.target)
        it = pj.projected_value_iteration(op, problem.features @ problem.w0, 5000, tol=1e-9)
        w = it.history[:, 0]
        np.testing.assert_allclose(w[1:6] / w[:5], (6 - 4 * epsilon) / 5 * gamma, rtol=1e-12)
        assert it.diverged == diverges and it.converged != diverges
        if diverges:
            # Divergence is recorded, and the stream carries on to the last sweep.
            assert it.sweeps == 5000 and it.diverged_at > 0
            size = np.abs(it.history).max(axis=1)  # ‖X_k‖∞
            k = int(it.diverged_at)
            assert size[k - 1] <= it.threshold < size[k] and np.all(size[:k] <= it.threshold)


def _two_state_operator(epsilon, gamma):
    problem = zoo.two_state(epsilon=epsilon, gamma=gamma)
    Pi = pj.weighted_least_squares(problem.features, np.array([0.5, 0.5, 0.0]))
    return pj.ProjectedBellman(problem.mdp, Pi, problem.target)


def test_a_batch_of_operators_records_divergence_per_stream():
    # One operator per stream; by S&B (2018) §11.2 stream b's weight is w_k = g_b^k with g_b = (6 − 4ε_b)γ_b/5,
    # so with X = Φw = (w, 2w, 0) its size ‖X‖∞ = 2 g_b^k first exceeds 50 at k = ⌈log 25 / log g_b⌉ when g_b > 1.
    cells = [(0.0, 0.5), (0.0, 0.95), (0.1, 0.99), (0.2, 0.9)]
    growth = np.array([(6 - 4 * e) * g / 5 for e, g in cells])
    it = pj.projected_value_iteration([_two_state_operator(*c) for c in cells], np.array([1.0, 2.0, 0.0]), 40,
                                      threshold=50.0, record_every=8, coefficients=False)
    np.testing.assert_array_equal(it.steps, [0, 8, 16, 24, 32, 40])
    assert it.history.shape == (6, 4, 3) and it.diverged_at.shape == (4,) and it.sweeps == 40
    np.testing.assert_allclose(it.history[:, :, 0], growth[None, :] ** it.steps[:, None], rtol=1e-12)
    expected = np.where(growth > 1, np.ceil(np.log(25.0) / np.log(np.maximum(growth, 1 + 1e-12))), np.nan)
    np.testing.assert_array_equal(it.diverged_at, expected)
    np.testing.assert_array_equal(it.diverged, [False, True, True, False])
    # In weights: the same run, recorded as w (Φw = X), with ‖w‖₂ judged against the threshold.
    weights = pj.projected_value_iteration([_two_state_operator(*c) for c in cells], np.ones((4, 1)), 40,
                                           threshold=25.0, coefficients=True)
    assert weights.history.shape == (41, 4, 1)
    np.testing.assert_allclose(weights.history[:, :, 0], growth[None, :] ** np.arange(41)[:, None], rtol=1e-12)
    np.testing.assert_array_equal(weights.diverged_at, expected)


def test_a_stream_iterates_the_same_alone_and_in_a_batch():
    mdps = [zoo.chain(n=5, slip=s, gamma=g).mdp for s, g in ((0.0, 0.9), (0.2, 0.8), (0.1, 0.95))]
    start = np.random.default_rng(0).standard_normal((3, 5))
    greedy = [pj.ProjectedBellman(m, pj.tabular(5)) for m in mdps]  # B*: not affine, applied stream by stream
    batch = pj.projected_value_iteration(greedy, start, 30)
    for b, op in enumerate(greedy):
        alone = pj.projected_value_iteration(op, start[b], 30)
        np.testing.assert_array_equal(batch.history[:, b], alone.history)
        V, m = start[b], op.mdp
        for _ in range(30):  # plain value iteration
            V = (m.R + m.gamma * np.einsum("sat,t->sa", m.to_dense().P, V)).max(axis=1)
        np.testing.assert_allclose(batch.values[b], V, rtol=1e-12, atol=1e-12)
    pi = np.full((5, 2), 0.5)
    affine = [pj.ProjectedBellman(m, pj.weighted_least_squares(np.eye(5)[:, :3] + 0.1, np.full(5, 0.2)), pi)
              for m in mdps]
    batch = pj.projected_value_iteration(affine, start, 30)
    for b, op in enumerate(affine):
        np.testing.assert_allclose(batch.history[:, b], pj.projected_value_iteration(op, start[b], 30).history,
                                   rtol=1e-12, atol=1e-12)


def test_projected_value_iteration_errors():
    op = _two_state_operator(0.0, 0.9)
    chain = pj.ProjectedBellman(zoo.chain(n=5).mdp, pj.tabular(5))
    for call, message in (
            (lambda: pj.projected_value_iteration([], np.zeros(3), 5), "at least one operator"),
            (lambda: pj.projected_value_iteration([op, chain], np.zeros(3), 5), r"act on \[3, 5\] points"),
            (lambda: pj.projected_value_iteration([op, op], np.zeros((3, 3)), 5), r"batch shape \(3,\) for 2"),
            (lambda: pj.projected_value_iteration(op, np.zeros(3), -1), "sweeps = -1"),
            (lambda: pj.projected_value_iteration(op, np.zeros(2), 5, coefficients=True), r"expected \(\.\.\., 1\)"),
            (lambda: pj.projected_value_iteration(chain, np.zeros(5), 5, coefficients=False, record_every=0),
             "record_every = 0"),
            (lambda: pj.projected_value_iteration(
                pj.ProjectedBellman(zoo.chain(n=4).mdp, pj.averager(np.full((4, 4), 0.25))), np.zeros(1), 5,
                coefficients=True), "averager projection has no feature weights")):
        with pytest.raises(ValidationError, match=message):
            call()


def test_divergence_to_overflow_is_recorded_not_raised():
    problem = zoo.two_state(epsilon=0.0, gamma=0.99)
    op = pj.ProjectedBellman(problem.mdp, pj.weighted_least_squares(problem.features, np.array([0.5, 0.5, 0.0])),
                             problem.target)
    it = pj.projected_value_iteration(op, np.array([1e307, 2e307, 0.0]), 20, tol=0.0, threshold=np.inf)
    # w grows by 6/5 · 0.99 = 1.188 a sweep: 2e307 · 1.188^k passes 1.797e308 first at k = 13.
    assert it.diverged_at == 13 and not it.converged and it.sweeps == 20 and np.isinf(it.changes[12])
    np.testing.assert_allclose(it.history[12, 1], 2e307 * 1.188**12, rtol=1e-12)
    assert not np.all(np.isfinite(it.history[13]))


def test_fitted_q_iteration_with_a_table_finds_q_star():
    mdp = zoo.chain(n=5).mdp
    op = pj.ProjectedBellman(mdp, pj.tabular(mdp.S * mdp.A), on="q")
    it = pj.projected_value_iteration(op, np.zeros((mdp.S, mdp.A)), 500, tol=1e-12)
    assert it.values.shape == (5, 2) and it.converged
    np.testing.assert_allclose(it.values, value_iteration(mdp, tol=1e-10).Q, atol=1e-9)
    pi = ops.greedy(it.values)
    op_pi = pj.ProjectedBellman(mdp, pj.tabular(mdp.S * mdp.A), pi, on="q")
    np.testing.assert_allclose(op_pi.fixed_point().reshape(5, 2), evaluate_q(mdp, pi), atol=1e-9)


def test_composite_errors():
    mdp = zoo.chain(n=4).mdp
    with pytest.raises(ValidationError, match="acts on 4 points but ΠB on Q of this MDP needs 8"):
        pj.ProjectedBellman(mdp, pj.tabular(4), on="q")
    with pytest.raises(ValidationError, match="ΠB\\* is not affine"):
        pj.ProjectedBellman(mdp, pj.tabular(4)).linear_part()
    net = pj.NeuralProjection(np.ones((4, 1)), np.full(4, 0.25), steps=1)
    with pytest.raises(ValidationError, match="a neural projection is not linear"):
        pj.ProjectedBellman(mdp, net, np.full((4, 2), 0.5)).linear_part()
    with pytest.raises(ValidationError, match="on = 'x'"):
        pj.ProjectedBellman(mdp, pj.tabular(4), on="x")


def test_features_and_weighting_specs(tmp_path):
    problem = zoo.baird()
    mdp = problem.mdp
    assert pj.features_from_spec("tabular", mdp).shape == (7, 7)
    R = pj.features_from_spec("random:3,seed=4", mdp)
    assert R.shape == (7, 3) and np.array_equal(R, pj.features_from_spec("random:K=3,seed=4", mdp))
    assert pj.features_from_spec("aggregate:2", mdp).sum() == 7
    np.testing.assert_array_equal(pj.features_from_spec("baird", mdp, problem.features), problem.features)
    np.save(tmp_path / "phi.npy", np.ones((6, 2)))
    with pytest.raises(ValidationError, match=r"features in phi.npy have shape \(6, 2\), expected \(7, d\)"):
        pj.features_from_spec(str(tmp_path / "phi.npy"), mdp)
    np.testing.assert_array_equal(pj.features_from_spec("aggregate:k=3,SEED=2", mdp),
                                  pj.features_from_spec("aggregate:3,seed=2", mdp))
    for spec, message in (("random", "give the dimension, e.g. random:4,seed=0"),
                          ("random:x", "features 'random:x': K='x' is not a valid int"),
                          ("random:2.5", "K='2.5' is not a valid int"),
                          ("random:3,4", "expected key=value, got '4'"),
                          ("random:3,K=4", "K is given twice"),
                          ("tiles:3", "unknown features 'tiles:3' \\(use tabular, random:K"),
                          ("baird:2", "baird takes no parameters"),
                          ("random:3,bins=2", "unknown parameter 'bins' \\(parameters: K, seed\\)")):
        with pytest.raises(SpecError, match=message):
            pj.features_from_spec(spec, mdp)
    with pytest.raises(ValidationError, match="prescribes no features"):
        pj.features_from_spec("problem", zoo.chain().mdp)
    np.testing.assert_allclose(pj.weighting_from_spec("behaviour", mdp, problem.target, problem.behaviour),
                               np.full(7, 1 / 7), atol=1e-12)
    np.testing.assert_allclose(pj.weighting_from_spec("on-policy", mdp, problem.target), np.eye(7)[6], atol=1e-12)
    mixed = pj.weighting_from_spec("behaviour:1", mdp, problem.target)
    np.testing.assert_allclose(mixed, ops.stationary_distribution(mdp, np.full((7, 2), 0.5)))
    np.save(tmp_path / "d.npy", np.full(7, 0.1))
    with pytest.raises(ValidationError, match="weighting in d.npy sums to 0.7"):
        pj.weighting_from_spec(str(tmp_path / "d.npy"), mdp, problem.target)
    with pytest.raises(ValidationError, match="epsilon = 2 is outside"):
        pj.weighting_from_spec("behaviour:2", mdp, problem.target)
    np.testing.assert_array_equal(pj.weighting_from_spec("behaviour:epsilon=1", mdp, problem.target), mixed)
    for spec, message in (("behaviour:x", "weighting 'behaviour:x': epsilon='x' is not a valid float"),
                          ("behaviour:0.1,lam=2", "unknown parameter 'lam' \\(parameters: epsilon\\)"),
                          ("on-policy:1", "on-policy takes no parameters"),
                          ("sideways", "unknown weighting 'sideways' \\(use visitation, on-policy")):
        with pytest.raises(SpecError, match=message):
            pj.weighting_from_spec(spec, mdp, problem.target)


def test_spec_options_are_typed_and_checked():
    types = {"K": 1, "seed": 0, "eps": 0.5, "name": "x"}
    assert options("", types, "w") == {}
    assert options("4, seed = 2,eps=1e-3,name=a=b", types, "w", positional="K") == {"K": 4, "seed": 2, "eps": 0.001,
                                                                                    "name": "a=b"}
    assert options("k=3", types, "w", ignore_case=True) == {"K": 3}
    for text, kw, message in (("4", {}, "w: expected key=value, got '4'"),
                              ("k=3", {}, "w: unknown parameter 'k' \\(parameters: K, seed, eps, name\\)"),
                              ("K=3,k=4", {"ignore_case": True}, "w: K is given twice"),
                              ("seed=1.5", {}, "w: seed='1.5' is not a valid int")):
        with pytest.raises(SpecError, match=message):
            options(text, types, "w", **kw)
    with pytest.raises(SpecError, match="unknown parameter 'a' \\(it takes none\\)"):
        options("a=1", {}, "w")


def test_visitation_weighting_is_zero_exactly_where_pi_never_goes():
    # Chain of 5 states from state 0; the policy that always moves left stays in state 0 forever.
    mdp = zoo.chain(n=5).mdp
    left = np.tile([1.0, 0.0], (5, 1))
    np.testing.assert_array_equal(pj.reachable_states(mdp, left, np.eye(5)[0] > 0), [True, False, False, False, False])
    np.testing.assert_array_equal(pj.visitation_weighting(mdp, left), np.eye(5)[0])
    right = np.tile([0.0, 1.0], (5, 1))  # deterministic walk 0 → 1 → … → 4 (absorbing): d = (1 − γ)γ^t, γ^4 at 4
    g = mdp.gamma
    np.testing.assert_allclose(pj.visitation_weighting(mdp, right), [(1 - g) * g**t for t in range(4)] + [g**4],
                               rtol=1e-12)


ADAM_CHECK = r"""
import json, sys
import numpy as np
import triad.analysis.contraction, triad.experiments.contraction, triad.figures.contraction_norms
from triad import projections as pj

out = {"torch_on_import": "torch" in sys.modules}
pj.NeuralProjection(np.ones((3, 1)), np.full(3, 1 / 3), steps=2).fit(np.arange(3.0))
out["torch_after_fit"], out["dynamo_after_fit"] = "torch" in sys.modules, "torch._dynamo" in sys.modules

import torch

gen = torch.Generator().manual_seed(0)
x, y = (torch.randn(3, 7, 4, generator=gen, dtype=torch.float64) for _ in range(2))
start = [torch.randn(3, 4, 4, generator=gen, dtype=torch.float64),
         torch.randn(3, 1, 4, generator=gen, dtype=torch.float64)]

def loss_of(params):
    return lambda: ((torch.tanh(x @ params[0] + params[1]) - y) ** 2).sum()

ours = [p.clone().requires_grad_() for p in start]
pj._adam(torch, ours, loss_of(ours), 40, 0.05)
theirs = [p.clone().requires_grad_() for p in start]
optimizer = torch.optim.Adam(theirs, lr=0.05)
for _ in range(40):
    optimizer.zero_grad()
    loss_of(theirs)().backward()
    optimizer.step()
out["same_as_adam_class"] = all(torch.equal(a, b) for a, b in zip(ours, theirs))
out["moved"] = not torch.equal(ours[0], start[0])
print(json.dumps(out))
"""


def test_networks_train_with_torch_optim_adam_and_import_torch_only_when_fitted():
    # In a child process: importing the contraction modules loads no torch; a fit loads torch but not
    # torch._dynamo (seconds of start-up the Adam class adds, tests/benchmarks/README.md); and triad's Adam
    # steps are torch.optim.Adam's bit for bit, on parameters stacked over targets.
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", ADAM_CHECK], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == {"torch_on_import": False, "torch_after_fit": True, "dynamo_after_fit": False,
                               "same_as_adam_class": True, "moved": True}


def test_fitted_value_iteration_with_a_network_is_repeatable():
    mdp = zoo.chain(n=6, slip=0.1).mdp
    net = pj.NeuralProjection(inputs=np.arange(6.0)[:, None] / 5, weighting=np.full(6, 1 / 6), hidden=(4,),
                              steps=40, seed=3)
    op = pj.ProjectedBellman(mdp, net)
    first, again = (pj.projected_value_iteration(op, np.zeros(6), 4) for _ in range(2))
    assert first.sweeps == 4 and not first.diverged and first.history.shape == (5, 6)
    assert np.array_equal(first.history, again.history)
    np.testing.assert_array_equal(first.history[1], net(ops.bellman_optimality_v(mdp, np.zeros(6))))
