"""Exact bias and variance of MC, n-step, λ-return and GAE estimators: by hand, as laws, and by sampling."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from triad import zoo
from triad.analysis import moments as mo
from triad.errors import ValidationError
from triad.mdp import FiniteMDP, uniform_policy
from triad.operators import state_values
from triad.solvers import evaluate_policy, evaluate_q
from triad.testing import mdps, policies


# ------------------------------------------------------------------------------ golden values
def self_loop(r=1.0, sigma=2.0, gamma=0.5):
    """One state, one action, reward r + σε forever: G = Σ γ^t (r + σ ε_t)."""
    return FiniteMDP(np.ones((1, 1, 1)), [[r]], gamma, reward_std=[[sigma]])


def test_self_loop_moments_by_hand():
    mdp, pi, c = self_loop(), np.ones((1, 1)), np.array([3.0])
    # MC: mean r/(1−γ) = 2; variance σ²/(1−γ²) = 4/.75 = 16/3.
    m = mo.value_moments(mdp, pi, "mc")
    np.testing.assert_allclose([m.mean[0], m.variance[0], m.bias[0]], [2.0, 16 / 3, 0.0])
    # n = 2 from V̂ = 3: mean r(1−γ²)/(1−γ) + γ²·3 = 1.5 + .75; variance σ²(1−γ⁴)/(1−γ²) = 5.
    m = mo.value_moments(mdp, pi, "nstep", v_hat=c, n=2)
    np.testing.assert_allclose([m.mean[0], m.variance[0], m.bias[0]], [2.25, 5.0, 0.25])
    # λ = .5: G^λ = Σ (γλ)^t (r + σε_t + γ(1−λ)V̂): mean (1 + .75)/(1 − .25) = 7/3,
    # variance σ²/(1 − γ²λ²) = 4/(15/16) = 64/15.
    m = mo.value_moments(mdp, pi, "lambda", v_hat=c, lam=0.5)
    np.testing.assert_allclose([m.mean[0], m.variance[0], m.mse[0]], [7 / 3, 64 / 15, (1 / 3) ** 2 + 64 / 15])


def two_action_episode():
    """State 0: action 0 pays 1 and ends w.p. 1/2 (else stays); action 1 pays 0 and ends. γ = 1/2."""
    P = np.zeros((2, 2, 2))
    P[0, 0] = [0.5, 0.5]
    P[0, 1, 1] = 1.0
    P[1, :, 1] = 1.0
    return FiniteMDP(P, [[1.0, 0.0], [0.0, 0.0]], 0.5, terminal=[False, True])


def test_geometric_episode_by_hand():
    # Only action 0: G = Σ_{t<K} γ^t = (1 − γ^K)/(1 − γ), K ~ Geometric(1/2). E[γ^K] = pγ/(1 − (1−p)γ) = 1/3,
    # E[γ^{2K}] = pγ²/(1 − (1−p)γ²) = 1/7: mean (1 − 1/3)/.5 = 4/3, variance (1/7 − 1/9)/.25 = 8/63.
    mdp, pi = two_action_episode(), np.array([[1.0, 0.0], [1.0, 0.0]])
    m = mo.value_moments(mdp, pi, "mc")
    np.testing.assert_allclose([m.mean[0], m.variance[0]], [4 / 3, 8 / 63])
    np.testing.assert_allclose([m.mean[1], m.variance[1]], [0.0, 0.0])  # already terminal


def test_advantages_by_hand():
    # Uniform π: V(0) = .5·(1 + .25·V(0)) → 4/7; Q(0, 0) = 1 + .25·4/7 = 8/7, Q(0, 1) = 0,
    # so A(0, ·) = (4/7, −4/7).
    mdp, pi, v_hat = two_action_episode(), uniform_policy(two_action_episode()), np.array([2.0, 0.0])
    # GAE(0) from (0, 0) with V̂ = (2, 0): δ = 1 + .5·2·𝟙[stay] − 2: mean −1/2, variance 1/4.
    m = mo.advantage_moments(mdp, pi, "gae", v_hat, lam=0.0)
    np.testing.assert_allclose([m.mean[0, 0], m.variance[0, 0], m.target[0, 0]], [-0.5, 0.25, 4 / 7])
    np.testing.assert_allclose(m.bias[0], [-0.5 - 4 / 7, -2.0 + 4 / 7])
    # MC from (0, 0): G = 1 + .5·B·G' (B ~ Bern(1/2), G' the return from 0 under π).
    # E[G'²] = W solves W = .5·(1 + .5·V + .125·W) → W = 24/35; Var G = .25·(.5·W − .25·V²) = 16/245.
    m = mo.advantage_moments(mdp, pi, "mc", v_hat)
    np.testing.assert_allclose([m.mean[0, 0], m.variance[0, 0]], [8 / 7 - 2.0, 16 / 245])
    np.testing.assert_allclose(mo.value_moments(mdp, pi, "mc").variance[0], 24 / 35 - (4 / 7) ** 2)


# ----------------------------------------------------------------------------------- properties
@st.composite
def episodic_mdps(draw, max_states=5):
    """A random MDP plus one terminal state entered with random probabilities, and reward noise."""
    base = draw(mdps(max_states=max_states, max_actions=3, sparse=False))
    S, A = base.S, base.A
    end = draw(hnp.arrays(np.float64, (S, A), elements=st.sampled_from([0.0, 0.1, 0.5, 1.0])))
    P = np.zeros((S + 1, A, S + 1))
    P[:S, :, :S] = (1.0 - end)[..., None] * base.P
    P[:S, :, S] = end
    P[S, :, S] = 1.0
    R = np.vstack([base.R, np.zeros((1, A))])
    std = np.vstack([draw(hnp.arrays(np.float64, (S, A), elements=st.floats(0.0, 3.0))), np.zeros((1, A))])
    terminal = np.r_[np.zeros(S, bool), True]
    mdp = FiniteMDP(P, R, base.gamma, terminal=terminal, reward_std=std)
    return (mdp.to_sparse() if draw(st.booleans()) else mdp), draw(policies(mdp))


def scale(mdp):
    return 1.0 + np.abs(mdp.R).max() / (1.0 - mdp.gamma)


@given(episodic_mdps(), st.integers(1, 6), st.floats(0.0, 1.0))
def test_bootstrapping_from_the_true_values_is_unbiased(case, n, lam):
    mdp, pi = case
    V = evaluate_policy(mdp, pi)
    tol = 1e-8 * scale(mdp)
    for m in (mo.value_moments(mdp, pi, "nstep", V, n=n), mo.value_moments(mdp, pi, "lambda", V, lam=lam),
              mo.value_moments(mdp, pi, "mc", V),
              mo.advantage_moments(mdp, pi, "nstep", V, n=n), mo.advantage_moments(mdp, pi, "gae", V, lam=lam),
              mo.advantage_moments(mdp, pi, "mc", V)):
        np.testing.assert_allclose(m.bias, 0.0, atol=tol)
        assert (m.variance >= 0).all()


@given(episodic_mdps(), st.integers(1, 6), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_with_the_true_values_variance_grows_with_n_and_lambda(case, n, lam1, lam2):
    # With V̂ = V^π, G − V^π(s) = Σ_k (Π_{j<k} γ'_j λ) δ_k with TD errors δ_k that are martingale
    # differences, hence uncorrelated: Var = Σ_k λ^{2k} E[Γ_k² δ_k²], increasing in n and in λ.
    mdp, pi = case
    V = evaluate_policy(mdp, pi)
    tol = 1e-9 * scale(mdp) ** 2
    shorter, longer = (mo.value_moments(mdp, pi, "nstep", V, n=k).variance for k in (n, n + 1))
    assert np.all(shorter <= longer + tol)
    low, high = (mo.value_moments(mdp, pi, "lambda", V, lam=x).variance for x in sorted((lam1, lam2)))
    assert np.all(low <= high + tol)


@given(episodic_mdps(), st.integers(1, 6), st.floats(0.0, 1.0), st.data())
def test_estimators_with_any_value_estimate(case, n, lam, data):
    mdp, pi = case
    v_hat = data.draw(hnp.arrays(np.float64, mdp.S, elements=st.floats(-20, 20)))
    V, tol = evaluate_policy(mdp, pi), 1e-8 * (scale(mdp) + 20) ** 2
    mc = mo.value_moments(mdp, pi, "mc")
    # λ = 1 is Monte-Carlo; λ = 0 is the one-step return; the MC advantage is biased by V^π − V̂.
    np.testing.assert_allclose(mo.value_moments(mdp, pi, "lambda", v_hat, lam=1.0).variance, mc.variance, atol=tol)
    lam0, one = mo.value_moments(mdp, pi, "lambda", v_hat, lam=0.0), mo.value_moments(mdp, pi, "nstep", v_hat, n=1)
    np.testing.assert_allclose([lam0.mean, lam0.variance], [one.mean, one.variance], atol=tol)
    adv = mo.advantage_moments(mdp, pi, "mc", v_hat)
    np.testing.assert_allclose(adv.bias, np.broadcast_to((V - v_hat)[:, None], adv.bias.shape), atol=tol)
    # State-level moments are the first-action moments mixed over a ~ π (law of total variance).
    for est, kind, kw in (("nstep", "nstep", {"n": n}), ("lambda", "gae", {"lam": lam})):
        value, first = mo.value_moments(mdp, pi, est, v_hat, **kw), mo.advantage_moments(mdp, pi, kind, v_hat, **kw)
        q = first.mean + v_hat[:, None]
        np.testing.assert_allclose(value.mean, state_values(q, pi), atol=tol)
        np.testing.assert_allclose(value.variance, state_values(first.variance + (q - value.mean[:, None]) ** 2, pi),
                                   atol=tol)
        np.testing.assert_allclose(value.bias, value.mean - V, atol=tol)


@given(episodic_mdps(max_states=4), st.data())
def test_n_step_moments_converge_to_monte_carlo(case, data):
    mdp, pi = case
    v_hat = data.draw(hnp.arrays(np.float64, mdp.S, elements=st.floats(-20, 20)))
    n = int(np.ceil(np.log(1e-12) / np.log(mdp.gamma))) if mdp.gamma > 0 else 1
    mc, far = mo.value_moments(mdp, pi, "mc"), mo.value_moments(mdp, pi, "nstep", v_hat, n=max(n, 1))
    np.testing.assert_allclose([far.mean, far.variance], [mc.mean, mc.variance], atol=1e-6 * scale(mdp) ** 2)


def test_dense_and_sparse_storage_agree():
    mdp = zoo.make_mdp("garnet:S=30,A=3,b=4,seed=2,gamma=0.9")
    pi = uniform_policy(mdp)
    v_hat = np.linspace(-1, 1, mdp.S)
    for est, kw in (("nstep", {"n": 4}), ("lambda", {"lam": 0.6})):
        a = mo.value_moments(mdp, pi, est, v_hat, **kw)
        b = mo.value_moments(mdp.to_dense(), pi, est, v_hat, **kw)
        np.testing.assert_allclose([a.mean, a.variance], [b.mean, b.variance], rtol=1e-10, atol=1e-12)


def test_more_steps_trade_bias_for_variance_with_a_poor_critic():
    # Chain, uniform policy, critic 0 everywhere: the bias of the n-step return shrinks with n
    # while, for short windows, its variance grows — the knob the seed's notes describe. The
    # variance is not monotone: past n ≈ 12 (mean over states .0874) a longer window averages
    # more of the single end reward's timing and the variance falls to the MC value (.0762).
    # n = 1: only state 4 pays, R(4, ·) = (.1, .9) (slip 0.1), so Var = ¼·.8² = .16 there, .032 on average.
    mdp = zoo.make_mdp("chain:n=6,slip=0.1,gamma=0.9")
    pi, v_hat = uniform_policy(mdp), np.zeros(6)
    rows = [mo.value_moments(mdp, pi, "nstep", v_hat, n=n) for n in (1, 2, 4, 8, 12, 256)]
    bias2 = [float(np.mean(m.bias[:5] ** 2)) for m in rows]
    var = [float(np.mean(m.variance[:5])) for m in rows]
    assert bias2 == sorted(bias2, reverse=True) and var[:5] == sorted(var[:5]) and var[5] < var[4]
    assert var[0] == pytest.approx(0.032) and var[5] == pytest.approx(mo.value_moments(mdp, pi, "mc").variance[:5].mean())


# -------------------------------------------------------------------------------------- sampling
def agree(estimates, exact):
    """Sample mean within 4.5 standard errors of the exact mean; sample variance within 5 of its
    standard errors (from the sample fourth moment) of the exact variance, in every cell."""
    N = estimates.shape[-1]
    mean = estimates.mean(-1)
    assert np.all(np.abs(mean - exact.mean) <= 4.5 * np.sqrt(exact.variance / N) + 1e-9), (mean, exact.mean)
    centred = estimates - mean[..., None]
    var = (centred**2).sum(-1) / (N - 1)
    m4 = (centred**4).mean(-1)
    assert np.all(np.abs(var - exact.variance) <= 5 * np.sqrt(np.maximum(m4 - var**2, 0) / N) + 1e-9), (var, exact.variance)


CASES = [
    ("chain:n=4,slip=0.2,gamma=0.8", 0),
    ("maximization-bias:n_actions=3", 1),
    ("garnet:S=5,A=2,b=3,seed=1,gamma=0.7", 2),
]


@pytest.mark.parametrize("spec, seed", CASES)
@pytest.mark.parametrize("estimator, kw", [("mc", {}), ("nstep", {"n": 3}), ("lambda", {"lam": 0.6})])
def test_sampled_value_estimates_match_exact_moments(spec, seed, estimator, kw):
    problem = zoo.make(spec)
    mdp, pi = problem.mdp, uniform_policy(problem.mdp)
    v_hat = evaluate_policy(mdp, pi) + np.random.default_rng(seed).normal(size=mdp.S)
    exact = mo.value_moments(mdp, pi, estimator, v_hat, **kw)
    samples = mo.sample_estimates(np.random.default_rng(seed), mdp, pi, estimator, 3000, v_hat=v_hat, **kw)
    assert samples.shape == (mdp.S, 3000)
    agree(samples, exact)


@pytest.mark.parametrize("spec, seed", CASES)
@pytest.mark.parametrize("estimator, kw", [("mc", {}), ("nstep", {"n": 2}), ("gae", {"lam": 0.8})])
def test_sampled_advantage_estimates_match_exact_moments(spec, seed, estimator, kw):
    mdp = zoo.make_mdp(spec)
    pi = uniform_policy(mdp)
    v_hat = evaluate_policy(mdp, pi) + np.random.default_rng(seed + 10).normal(size=mdp.S)
    exact = mo.advantage_moments(mdp, pi, estimator, v_hat, **kw)
    np.testing.assert_allclose(exact.target, evaluate_q(mdp, pi) - evaluate_policy(mdp, pi)[:, None], atol=1e-12)
    samples = mo.sample_estimates(np.random.default_rng(seed), mdp, pi, estimator, 1500, v_hat=v_hat, advantage=True,
                                  **kw)
    assert samples.shape == (mdp.S, mdp.A, 1500)
    agree(samples, exact)


def test_sampler_is_reproducible_and_sampled_moments_are_derived():
    mdp = zoo.make_mdp("chain:n=4,slip=0.2,gamma=0.8")
    pi = uniform_policy(mdp)
    a = mo.sample_estimates(np.random.default_rng(7), mdp, pi, "lambda", 50, v_hat=np.ones(4), lam=0.5)
    b = mo.sample_estimates(np.random.default_rng(7), mdp, pi, "lambda", 50, v_hat=np.ones(4), lam=0.5)
    assert np.array_equal(a, b)
    m = mo.sampled_moments(a, evaluate_policy(mdp, pi), "lambda")
    np.testing.assert_allclose(m.variance, a.var(axis=-1, ddof=1))
    np.testing.assert_allclose(m.mse, m.bias**2 + m.variance)


def test_default_horizon_cuts_a_negligible_tail():
    assert mo.default_horizon(0.9) == 219 and 0.9**219 <= 1e-10 < 0.9**218
    assert mo.default_horizon(0.0) == 1


# ------------------------------------------------------------------------------------ bad input
MDP = two_action_episode()
PI = uniform_policy(MDP)


@pytest.mark.parametrize("call, message", [
    (lambda: mo.value_moments(MDP, PI, "td"), "unknown value estimator 'td' (choose from mc, nstep, lambda)"),
    (lambda: mo.advantage_moments(MDP, PI, "lambda", np.zeros(2)), "unknown advantage estimator 'lambda'"),
    (lambda: mo.value_moments(MDP, PI, "nstep", np.zeros(2), n=0), "n = 0 must be an integer ≥ 1"),
    (lambda: mo.value_moments(MDP, PI, "lambda", np.zeros(2), lam=1.5), "lam = 1.5 is outside [0, 1]"),
    (lambda: mo.advantage_moments(MDP, PI, "gae", np.zeros(2), lam=-0.5), "lam = -0.5 is outside [0, 1]"),
    (lambda: mo.value_moments(MDP, PI, "nstep", np.zeros(3), n=2), "v_hat has shape (3,), expected (S,) = (2,)"),
    (lambda: mo.value_moments(MDP, PI, "nstep", np.array([0.0, np.nan])), "v_hat[1] is NaN"),
    (lambda: mo.value_moments(MDP, PI, "lambda"), "pass v_hat"),
    (lambda: mo.value_moments(MDP, np.ones((2, 2)), "mc"), "policy[0] sums to 2"),
    (lambda: mo.sample_estimates(np.random.default_rng(0), MDP, PI, "mc", 0), "streams = 0 must be ≥ 1"),
])
def test_bad_input_names_what_is_wrong(call, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        call()


def test_moments_module_stays_torch_free():
    import subprocess
    import sys

    code = "import sys, triad.analysis.moments; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
