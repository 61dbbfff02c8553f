"""Maximisation bias: exact E[max], the double estimator, and Q-learning vs double Q-learning."""

import numpy as np
import pytest
import scipy.integrate
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from triad import FiniteMDP, ValidationError, zoo
from triad.analysis import maximization as mx

MS = [2**k for k in range(1, 11)]


# ------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("m", MS)
def test_uniform_expected_max_is_m_minus_one_over_m_plus_one(m):
    # max of m i.i.d. U(−1, 1) is 2B − 1 with B ~ Beta(m, 1), mean 2m/(m + 1) − 1.
    assert mx.expected_max_iid(m, "uniform") == pytest.approx((m - 1) / (m + 1), rel=1e-10, abs=1e-12)


def test_normal_expected_max_closed_forms_and_harter_table():
    assert mx.expected_max_iid(1) == pytest.approx(0.0, abs=1e-12)
    assert mx.expected_max_iid(2) == pytest.approx(1 / np.sqrt(np.pi), rel=1e-11)
    assert mx.expected_max_iid(3) == pytest.approx(3 / (2 * np.sqrt(np.pi)), rel=1e-11)
    # Harter (1961), Biometrika 48, Table 1: expected largest of n standard normals.
    for m, published in ((4, 1.02938), (5, 1.16296), (10, 1.53875), (100, 2.50759)):
        assert mx.expected_max_iid(m) == pytest.approx(published, abs=6e-6)


def test_normal_expected_max_grows_like_sqrt_two_log_m():
    values = [mx.expected_max_iid(m) for m in MS]
    assert np.all(np.diff(values) > 0)
    assert values[-1] < np.sqrt(2 * np.log(1024))  # the classical upper bound E max ≤ σ√(2 log m)


# ------------------------------------------------------------------- general, non-identical case
def _independent_identity(loc, scale):
    """E[max] = ∫_0^∞ (1 − G) dx − ∫_{−∞}^0 G dx with G = Π Φ((x − μ_i)/σ_i): a formula the module does not use."""
    def G(x):
        return np.prod(scipy.special.ndtr((x - loc) / scale))

    lo, hi = (loc - 20 * scale).min(), (loc + 20 * scale).max()
    pos = scipy.integrate.quad(lambda x: 1 - G(x), 0, max(hi, 0.0), epsabs=1e-13, limit=500)[0]
    neg = scipy.integrate.quad(G, min(lo, 0.0), 0, epsabs=1e-13, limit=500)[0]
    return pos - neg


estimates = st.integers(1, 6).flatmap(lambda m: st.tuples(
    hnp.arrays(np.float64, m, elements=st.floats(-3, 3, allow_nan=False)),
    hnp.arrays(np.float64, m, elements=st.floats(0.1, 2.0, allow_nan=False))))


@settings(max_examples=40)
@given(estimates)
def test_single_overestimates_and_double_underestimates_the_max_of_means(case):
    loc, scale = case
    for family in mx.FAMILIES:
        single = mx.expected_max(loc, scale, family)
        double = mx.expected_double_estimator(loc, scale, family)
        probs = mx.argmax_probabilities(loc, scale, family)
        assert probs.sum() == pytest.approx(1.0, abs=1e-9) and np.all(probs >= -1e-12)
        # Jensen for the single estimator; a convex combination of means for the double (van Hasselt 2010).
        assert single >= loc.max() - 1e-9
        assert double <= loc.max() + 1e-9
        assert double >= loc.min() - 1e-9


@settings(max_examples=25)
@given(estimates)
def test_normal_expected_max_agrees_with_an_independent_identity(case):
    loc, scale = case
    assert mx.expected_max(loc, scale) == pytest.approx(_independent_identity(loc, scale), abs=1e-8)


def test_double_estimator_is_unbiased_for_identical_means_and_biased_down_otherwise():
    assert mx.expected_double_estimator(np.full(16, 0.3), 1.0) == pytest.approx(0.3, abs=1e-12)
    # Two arms N(0, 1) and N(−1, 1): Pr(pick the worse) = Pr(Z1 − Z2 > 1) = Φ(−1/√2).
    p_wrong = scipy.special.ndtr(-1 / np.sqrt(2))
    np.testing.assert_allclose(mx.argmax_probabilities(np.array([0.0, -1.0])), [1 - p_wrong, p_wrong], rtol=1e-10)
    assert mx.expected_double_estimator(np.array([0.0, -1.0])) == pytest.approx(-p_wrong, rel=1e-10)
    # E max(X1, X2) for independent normals: μ1Φ(δ/s) + μ2Φ(−δ/s) + s·φ(δ/s), s = √2, δ = 1 (Clark 1961).
    s, delta = np.sqrt(2.0), 1.0
    clark = scipy.special.ndtr(-delta / s) * -1.0 + s * np.exp(-(delta / s) ** 2 / 2) / np.sqrt(2 * np.pi)
    assert mx.expected_max(np.array([0.0, -1.0])) == pytest.approx(clark, rel=1e-10)


# ---------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("family", mx.FAMILIES)
@pytest.mark.parametrize("m", [2, 16, 256])
def test_sampled_estimators_lie_within_a_confidence_band_of_the_exact_means(family, m):
    loc = np.linspace(-0.5, 0.0, m)
    draws = mx.sample_estimators(np.random.default_rng(m), loc, 1.0, family, streams=20_000)
    for values, exact in ((draws.single, mx.expected_max(loc, 1.0, family)),
                          (draws.double, mx.expected_double_estimator(loc, 1.0, family))):
        se = values.std(ddof=1) / np.sqrt(values.size)
        assert abs(values.mean() - exact) < 4.5 * se


def test_sampling_is_reproducible_and_chunking_does_not_change_the_stream():
    a = mx.sample_estimators(np.random.default_rng(7), np.zeros(5), 1.0, "uniform", streams=1000)
    b = mx.sample_estimators(np.random.default_rng(7), np.zeros(5), 1.0, "uniform", streams=1000)
    np.testing.assert_array_equal(a.single, b.single)
    np.testing.assert_array_equal(a.double, b.double)
    assert np.all((a.single >= -1) & (a.single <= 1))


def test_estimate_validation():
    with pytest.raises(ValidationError, match="unknown family 'cauchy'"):
        mx.expected_max(np.zeros(3), 1.0, "cauchy")
    with pytest.raises(ValidationError, match=r"scale\[1\] = 0 must be positive"):
        mx.expected_max(np.zeros(3), np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValidationError, match=r"scale has shape \(2,\), expected \(3,\)"):
        mx.expected_max(np.zeros(3), np.ones(2))
    with pytest.raises(ValidationError, match="m = 0 must be at least 1"):
        mx.expected_max_iid(0)
    with pytest.raises(ValidationError, match="streams = 0"):
        mx.sample_estimators(np.random.default_rng(0), np.zeros(2), streams=0)


# ----------------------------------------------------------------------- tabular Q-learning
def _one_step_bandit(reward=1.0):
    P = np.zeros((2, 1, 2))
    P[:, 0, 1] = 1.0
    return FiniteMDP(P, np.array([[reward], [0.0]]), 0.9, mu=[1.0, 0.0], terminal=[False, True])


def test_q_learning_golden_values_on_a_one_step_task():
    # Q ← Q + α(1 − Q) once per episode: Q_n = 1 − (1 − α)^n.
    learned = mx.q_learning(np.random.default_rng(0), _one_step_bandit(), "q", episodes=5, streams=3, alpha=0.1)
    np.testing.assert_allclose(learned.Q[:, 0, 0], 1 - 0.9**5)
    assert learned.first_action.shape == (5, 3)
    # Double Q updates one of two tables per episode; after one episode their mean is α/2.
    learned = mx.q_learning(np.random.default_rng(0), _one_step_bandit(), "double", episodes=1, streams=4, alpha=0.1)
    np.testing.assert_allclose(learned.Q[:, 0, 0], 0.05)


def test_truncated_episodes_bootstrap():
    # A state that loops on itself with reward 1 and never terminates within the limit of 1 step:
    # each update is Q ← Q + α(1 + γQ − Q), so after two episodes Q = 0.1, then 0.1 + 0.1(1 − 0.01) = 0.199.
    P = np.zeros((2, 1, 2))
    P[0, 0, 0] = 1.0
    P[1, 0, 1] = 1.0
    mdp = FiniteMDP(P, np.array([[1.0], [0.0]]), 0.9, mu=[1.0, 0.0], terminal=[False, True])
    learned = mx.q_learning(np.random.default_rng(0), mdp, "q", episodes=2, streams=2, alpha=0.1, max_episode_steps=1)
    np.testing.assert_allclose(learned.Q[:, 0, 0], 0.1 + 0.1 * (1 + 0.9 * 0.1 - 0.1))


def test_same_seed_gives_bit_identical_learning():
    mdp = zoo.make("maximization-bias").mdp
    for alg in mx.ALGORITHMS:
        a, b = (mx.q_learning(np.random.default_rng(11), mdp, alg, episodes=15, streams=64) for _ in range(2))
        np.testing.assert_array_equal(a.first_action, b.first_action)
        np.testing.assert_array_equal(a.Q, b.Q)


def test_q_learning_prefers_left_more_than_double_q_early_on():
    mdp = zoo.make("maximization-bias").mdp
    left = {alg: (mx.q_learning(np.random.default_rng(0), mdp, alg, episodes=40, streams=2000).first_action == 0)
            for alg in mx.ALGORITHMS}
    # Ties at zero are broken at random, so the first episode is a coin flip for both.
    for alg in mx.ALGORITHMS:
        assert abs(left[alg][0].mean() - 0.5) < 0.05
    early_q, early_double = left["q"][5:40].mean(), left["double"][5:40].mean()
    assert early_q > 0.75  # far above the 5% of the optimal ε-greedy policy (S&B Figure 6.5)
    assert early_q > early_double + 0.3


def test_q_learning_validation():
    mdp = zoo.make("maximization-bias").mdp
    rng = np.random.default_rng(0)
    with pytest.raises(ValidationError, match="unknown algorithm 'sarsa'"):
        mx.q_learning(rng, mdp, "sarsa")
    with pytest.raises(ValidationError, match="epsilon = 1.5"):
        mx.q_learning(rng, mdp, epsilon=1.5)
    with pytest.raises(ValidationError, match="has no terminal state"):
        mx.q_learning(rng, zoo.make("sutton-barto-grid").mdp)


def test_q_learning_streams_do_not_depend_on_how_many_run_beside_them():
    # With a StreamRNG every stream draws from its own generator, and episodes run in lockstep, so
    # stream i of 3 is stream i of 8 (the same random source as triad's other samplers).
    from triad.sampling import StreamRNG

    mdp = zoo.make("maximization-bias").mdp
    for alg in mx.ALGORITHMS:
        few = mx.q_learning(StreamRNG(3, key=4), mdp, alg, episodes=25, streams=3)
        many = mx.q_learning(StreamRNG(8, key=4), mdp, alg, episodes=25, streams=8)
        np.testing.assert_array_equal(few.first_action, many.first_action[:, :3])
        np.testing.assert_array_equal(few.Q, many.Q[:3])
        assert not np.array_equal(many.Q[0], many.Q[1])  # the streams differ from each other
