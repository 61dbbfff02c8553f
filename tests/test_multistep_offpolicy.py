"""Off-policy state values (importance-corrected TD errors, V-trace) and replayed trajectories.

Expected values come from hand expansions, published test vectors (rlax) or plain forward sums
written here from the papers' equations, never from triad.multistep itself.
"""

import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from triad import multistep as ms
from triad.errors import ValidationError
from triad.mdp import FiniteMDP
from triad.sampling import Sampler, rollout

# A three-step buffer: V(s_0 … s_3), rewards, γ = .5, ratios ρ_t = π(a_t|s_t)/μ(a_t|s_t).
R3 = np.array([1.0, 0.0, 2.0])
D3 = np.full(3, 0.5)
VALUES = np.array([2.0, 4.0, 0.0, 8.0])
RHO = np.array([2.0, 0.5, 1.5])
# δ_t = r_t + .5·V(s_{t+1}) − V(s_t) = (1 + 2 − 2, 0 + 0 − 4, 2 + 4 − 0) = (1, −4, 6).


# ------------------------------------------------------------------------------ golden values
@pytest.mark.parametrize("kwargs, v_s, pg", [
    # ρ̄ = c̄ = 1: ρ̃ = c = (1, .5, 1). A2 = 6; A1 = .5·(−4) + .5·.5·6 = −.5; A0 = 1 + .5·1·(−.5) = .75.
    # IMPALA eq. 1 from s_0: 2 + 1·1 + .5·1·(.5·(−4)) + .25·(1·.5)·(1·6) = 2.75. Advantages
    # min(1, ρ)·(r + .5·vs_{t+1} − V): (1 + 1.75 − 2, .5·(0 + 3 − 4), 2 + .5·8 − 0) = (.75, −.5, 6).
    ({}, [2.75, 3.5, 6.0], [0.75, -0.5, 6.0]),
    # The advantage's own threshold 10: ρ_pg = (2, .5, 1.5), the targets unchanged.
    ({"pg_rho_bar": 10.0}, [2.75, 3.5, 6.0], [1.5, -0.5, 9.0]),
    # λ = .5: c = (.5, .25, .5); A1 = −2 + .5·.25·6 = −1.25; A0 = 1 + .5·.5·(−1.25) = .6875;
    # advantages (1 + .5·2.75 − 2, .5·(.5·6 − 4), 6) = (.375, −.5, 6).
    ({"lam": 0.5}, [2.6875, 2.75, 6.0], [0.375, -0.5, 6.0]),
    # No clipping: ρ̃ = c = ρ. A2 = 1.5·6 = 9; A1 = .5·(−4) + .5·.5·9 = .25; A0 = 2·1 + .5·2·.25 = 2.25;
    # advantages with the default ρ̄_pg = 1: (1 + .5·4.25 − 2, .5·(.5·9 − 4), 2 + 4) = (1.125, .25, 6).
    ({"rho_bar": np.inf, "c_bar": np.inf}, [4.25, 4.25, 9.0], [1.125, 0.25, 6.0]),
    # ρ̄ = 1.8, c̄ = 1.2: ρ̃ = (1.8, .5, 1.5), c = (1.2, .5, 1.2). A2 = 9; A1 = −2 + .5·.5·9 = .25;
    # A0 = 1.8 + .5·1.2·.25 = 1.95.
    ({"rho_bar": 1.8, "c_bar": 1.2}, [3.95, 4.25, 9.0], [1.125, 0.25, 6.0]),
])
def test_vtrace_golden(kwargs, v_s, pg):
    out = ms.vtrace(R3, D3, VALUES, RHO, **kwargs)
    np.testing.assert_allclose(out.v_s, v_s, rtol=1e-12)
    np.testing.assert_allclose(out.pg_advantage, pg, rtol=1e-12)


def test_vtrace_golden_termination_and_truncation():
    # Step 1 terminates (d1 = 0): δ1 = 0 + 0 − 4 = −4, A1 = .5·(−4) = −2 and nothing after it is read;
    # A0 = 1 + .5·1·(−2) = 0. Advantages: (1 + .5·2 − 2, .5·(0 − 4), 6) = (0, −2, 6).
    out = ms.vtrace(R3, np.array([0.5, 0.0, 0.5]), VALUES, RHO)
    np.testing.assert_allclose(out.v_s, [2.0, 2.0, 6.0])
    np.testing.assert_allclose(out.pg_advantage, [0.0, -2.0, 6.0])
    # A time limit ends the episode after step 0 in a state of value 6 (values[1] = 4 starts the
    # next episode): δ0 = 1 + .5·6 − 2 = 2, A0 = 2 and stops; the advantage bootstraps from 6 too.
    out = ms.vtrace(R3, D3, VALUES, RHO, truncated_t=[True, False, False], bootstrap_t=[6.0, 0.0, 0.0])
    np.testing.assert_allclose(out.v_s, [4.0, 3.5, 6.0])
    np.testing.assert_allclose(out.pg_advantage, [2.0, -0.5, 6.0])


@pytest.mark.parametrize("lam, expected", [
    # G_t = ρ_t (r_t + γ((1 − λ) V(s_{t+1}) + λ G_{t+1})) + (1 − ρ_t) V(s_t), G at the end bootstrapped:
    # λ = 1: G2 = 1.5·(2 + 4) − .5·0 = 9; G1 = .5·(0 + .5·9) + .5·4 = 4.25; G0 = 2·(1 + .5·4.25) − 2 = 4.25;
    # errors G − V = (2.25, .25, 9).
    (1.0, [2.25, 0.25, 9.0]),
    # λ = .5: G2 = 9; G1 = .5·(.5·(.5·0 + .5·9)) + 2 = 3.125; G0 = 2·(1 + .5·(.5·4 + .5·3.125)) − 2 = 3.5625.
    (0.5, [1.5625, -0.875, 9.0]),
])
def test_importance_corrected_td_errors_golden(lam, expected):
    np.testing.assert_allclose(ms.importance_corrected_td_errors(R3, D3, VALUES, RHO, lam), expected, rtol=1e-12)


def test_vtrace_matches_rlax_published_vectors():
    """rlax's V-trace test vectors (google-deepmind/rlax, rlax/_src/vtrace_test.py, VTraceTest.setUp).

    Two sequences of four steps, ratios from categorical logits at the taken actions, ρ̄ = c̄ = 1,
    λ = 1, advantage threshold 1. rlax returns the errors ``v_s − V(s_t)``; its float32 results are
    compared at its own tolerance (rtol 1e-3), with an absolute floor for the one entry near 0.
    """
    behaviour_logits = np.array([[[8.9, 0.7], [5.0, 1.0], [0.6, 0.1], [-0.9, -0.1]],
                                 [[0.3, -5.0], [1.0, -8.0], [0.3, 1.7], [4.7, 3.3]]])
    target_logits = np.array([[[0.4, 0.5], [9.2, 8.8], [0.7, 4.4], [7.9, 1.4]],
                              [[1.0, 0.9], [1.0, -1.0], [-4.3, 8.7], [0.8, 0.3]]])
    actions = np.array([[0, 1, 0, 0], [1, 0, 0, 1]])

    def log_softmax(x):
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    rho = np.exp(np.take_along_axis(log_softmax(target_logits) - log_softmax(behaviour_logits),
                                    actions[..., None], -1)[..., 0])
    rewards = np.array([[-1.3, -1.3, 2.3, 42.0], [1.3, 5.3, -3.3, -5.0]])
    discounts = np.array([[0.0, 0.89, 0.85, 0.99], [0.88, 1.0, 0.83, 0.95]])
    values = np.array([[2.1, 1.1, -3.1, 0.0], [3.1, 0.1, -1.1, 7.4]])
    bootstrap = np.array([8.4, -1.2])
    expected_errors = np.array([[-1.6155143, -3.4973226, 1.8670533, 5.0316002e1],
                                [1.4662437, 3.6116405, -8.3327293e-5, -1.3540000e1]])
    expected_pg = np.array([[-1.6155143, -3.4973226, 1.8670534, 5.0316002e1],
                            [1.4662433, 3.6116405, -8.3369283e-05, -1.3540000e+1]])
    # triad is time-major: (T, streams), with V(s_0 … s_T) in T + 1 rows.
    out = ms.vtrace(rewards.T, discounts.T, np.vstack([values.T, bootstrap]), rho.T)
    np.testing.assert_allclose(out.v_s - values.T, expected_errors.T, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(out.pg_advantage, expected_pg.T, rtol=1e-3, atol=1e-5)


# ----------------------------------------------------------------------------------- properties
@st.composite
def value_buffers(draw, max_steps=40):
    """A random (T, B) buffer: rewards, discounts in {0, γ}, V(s_0 … s_T), truncations, ratios."""
    T, B = draw(st.integers(1, max_steps)), draw(st.integers(1, 3))
    finite = st.floats(-10, 10, allow_nan=False)
    r = draw(hnp.arrays(np.float64, (T, B), elements=finite))
    terminated = draw(hnp.arrays(bool, (T, B)))
    truncated = draw(hnp.arrays(bool, (T, B))) & ~terminated
    d = draw(st.floats(0.0, 0.99)) * (1.0 - terminated)
    values = draw(hnp.arrays(np.float64, (T + 1, B), elements=finite))
    boot = draw(hnp.arrays(np.float64, (T, B), elements=finite))
    rho = draw(hnp.arrays(np.float64, (T, B), elements=st.floats(0.0, 3.0)))
    return r, d, values, truncated, boot, rho


@given(value_buffers(), st.floats(0.0, 1.0), st.sampled_from([1.0, 2.5, np.inf]))
def test_vtrace_on_policy_is_the_lambda_return(buf, lam, bar):
    # π = μ: every ratio is 1, so min(ρ̄, 1) = min(c̄, 1) = 1 for thresholds ≥ 1 and V-trace is the
    # on-policy λ-return (λ = 1: the discounted return), bootstrapping from V(s_{t+1}).
    r, d, values, trunc, boot, _ = buf
    ones = np.ones_like(r)
    out = ms.vtrace(r, d, values, ones, lam=lam, rho_bar=bar, c_bar=bar, pg_rho_bar=bar, truncated_t=trunc,
                    bootstrap_t=boot)
    v_next = np.where(trunc, boot, values[1:])
    np.testing.assert_allclose(out.v_s, ms.lambda_returns(r, d, v_next, lam, truncated_t=trunc),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ms.vtrace(r, d, values, ones, truncated_t=trunc, bootstrap_t=boot).v_s,
                               ms.discounted_returns(r, d, v_next, truncated_t=trunc), rtol=1e-9, atol=1e-9)
    # The advantage is the one-step TD error towards the next target (the bootstrap at an end).
    v_s_next = np.where(trunc, boot, np.vstack([out.v_s[1:], values[-1:]]))
    np.testing.assert_allclose(out.pg_advantage, r + d * v_s_next - values[:-1], rtol=1e-9, atol=1e-9)


@given(value_buffers(), st.floats(0.0, 1.0))
def test_vtrace_without_active_clipping_is_the_unclipped_importance_sampling_recursion(buf, lam):
    r, d, values, trunc, boot, rho = buf
    unclipped = values[:-1] + ms.importance_corrected_td_errors(r, d, values, rho, lam, truncated_t=trunc,
                                                                bootstrap_t=boot)
    # Thresholds at or above every ratio, or infinite, clip nothing.
    for bar in (np.inf, float(rho.max()) or 1.0):
        out = ms.vtrace(r, d, values, rho, lam=lam, rho_bar=bar, c_bar=bar, truncated_t=trunc, bootstrap_t=boot)
        assert np.array_equal(out.v_s, unclipped)
    # ρ̄ = c̄ = 1 with ratios ≤ 1 (a target policy never more likely than the behaviour).
    small = np.minimum(rho, 1.0)
    out = ms.vtrace(r, d, values, small, lam=lam, truncated_t=trunc, bootstrap_t=boot)
    assert np.array_equal(out.v_s, values[:-1] + ms.importance_corrected_td_errors(
        r, d, values, small, lam, truncated_t=trunc, bootstrap_t=boot))
    # ρ = 1: the importance-corrected errors are GAE.
    ones = np.ones_like(r)
    assert np.array_equal(ms.importance_corrected_td_errors(r, d, values, ones, lam, truncated_t=trunc,
                                                            bootstrap_t=boot),
                          ms.gae(r, d, values, lam, truncated_t=trunc, bootstrap_t=boot))


def _vtrace_forward_sums(r, d, values, rho, lam, rho_bar, c_bar, pg_rho_bar, trunc, boot):
    """IMPALA eq. 1 and §4.2 by a plain loop over each start step, stopping where episodes end."""
    T, B = r.shape
    v_next = np.where(trunc, boot, values[1:])
    v_s, pg = np.empty((T, B)), np.empty((T, B))
    for b in range(B):
        for t in range(T):
            total, weight = values[t, b], 1.0
            for k in range(t, T):
                total += weight * min(rho_bar, rho[k, b]) * (r[k, b] + d[k, b] * v_next[k, b] - values[k, b])
                if trunc[k, b] or d[k, b] == 0:
                    break
                weight *= d[k, b] * lam * min(c_bar, rho[k, b])
            v_s[t, b] = total
    for b in range(B):
        for t in range(T):
            nxt = v_next[t, b] if trunc[t, b] or t == T - 1 else v_s[t + 1, b]
            pg[t, b] = min(pg_rho_bar, rho[t, b]) * (r[t, b] + d[t, b] * nxt - values[t, b])
    return v_s, pg


def test_vtrace_on_a_long_buffer_with_episode_ends_matches_the_forward_sums(monkeypatch):
    # T = 64 ≥ NUMBA_MIN_STEPS: the compiled loop; then the numpy loop and torch, with and without a gradient.
    rng = np.random.default_rng(7)
    T, B = 64, 3
    r, boot = rng.normal(size=(2, T, B))
    values = rng.normal(size=(T + 1, B))
    d = 0.95 * (rng.random((T, B)) > 0.08)
    trunc = (rng.random((T, B)) < 0.08) & (d > 0)
    rho = rng.uniform(0.0, 2.5, size=(T, B))
    args = (r, d, values, rho)
    kwargs = {"lam": 0.9, "rho_bar": 1.5, "c_bar": 0.8, "pg_rho_bar": 1.2, "truncated_t": trunc,
              "bootstrap_t": boot}
    expected = _vtrace_forward_sums(r, d, values, rho, 0.9, 1.5, 0.8, 1.2, trunc, boot)
    compiled = ms.vtrace(*args, **kwargs)
    for got, want in zip(compiled, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    tensors = [torch.tensor(x) for x in args]
    tensors[2].requires_grad_(True)
    tracked = ms.vtrace(*tensors, **kwargs)
    assert tracked.v_s.requires_grad and tracked.v_s.dtype == torch.float64
    tracked.v_s.sum().backward()
    assert torch.isfinite(tensors[2].grad).all()
    monkeypatch.setattr(ms, "NUMBA_MIN_STEPS", 10**9)
    loop = ms.vtrace(*args, **kwargs)
    for fast, slow, tensor in zip(compiled, loop, tracked):
        assert np.array_equal(fast, slow)
        np.testing.assert_allclose(tensor.detach().numpy(), fast, rtol=1e-12, atol=1e-12)


def test_vtrace_keeps_a_tensors_dtype_and_device():
    out = ms.vtrace(*(torch.tensor(x, dtype=torch.float32) for x in (R3, D3, VALUES, RHO)))
    assert isinstance(out.v_s, torch.Tensor) and out.v_s.dtype == torch.float32
    np.testing.assert_allclose(out.v_s.numpy(), [2.75, 3.5, 6.0], rtol=1e-6)
    np.testing.assert_allclose(out.pg_advantage.numpy(), [0.75, -0.5, 6.0], rtol=1e-6)


# ------------------------------------------------------------------ replayed trajectories on an MDP
def _episodic_mdp() -> tuple[FiniteMDP, np.ndarray, np.ndarray]:
    """Three live states and a terminal one; a target π and a behaviour μ over two actions."""
    rng = np.random.default_rng(11)
    P = np.zeros((4, 2, 4))
    P[:3] = rng.dirichlet([1.0, 1.0, 1.0, 0.6], size=(3, 2))
    P[3, :, 3] = 1.0
    R = np.vstack([rng.normal(size=(3, 2)), np.zeros((1, 2))])
    mdp = FiniteMDP(P, R, 0.9, mu=np.array([0.5, 0.3, 0.2, 0.0]), terminal=np.array([False, False, False, True]))
    pi = np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5], [0.5, 0.5]])
    mu = np.array([[0.4, 0.6], [0.5, 0.5], [0.3, 0.7], [0.5, 0.5]])
    return mdp, pi, mu


def test_a_replayed_trajectory_feeds_the_targets_row_for_row():
    """A Trajectory with terminations and time-limit truncations, passed as stored (no shift).

    Expected: Retrace's forward form (Munos et al. 2016, eq. 3),
    ``G_t = Q(s_t, a_t) + Σ_{k≥t} (Π_{i=t+1}^{k} γ c_i) δ_k`` with
    ``δ_k = r_k + d_k Σ_a π(a|s'_k) Q(s'_k, a) − Q(s_k, a_k)``, ``c_i = λ min(1, π(a_i|s_i)/μ(a_i|s_i))``,
    summed by a plain loop over the episode's own states and actions until it ends or the buffer does.
    """
    mdp, pi, mu = _episodic_mdp()
    rng = np.random.default_rng(12)
    T, B, lam = 40, 4, 0.9
    traj = rollout(rng, mdp, mu, T, B, max_episode_steps=6)
    assert traj.terminated_t.any() and traj.truncated_t.any()
    Q = rng.normal(size=(4, 2))
    d = mdp.gamma * (1.0 - traj.terminated_t)
    out = ms.off_policy_targets(traj.r_t, d, Q[traj.next_s_t], traj.a_t, "retrace", pi_t=pi[traj.next_s_t],
                                mu_t=mu[traj.s_t, traj.a_t], lam=lam, truncated_t=traj.truncated_t)
    expected = np.empty((T, B))
    for b in range(B):
        for t in range(T):
            s, a = traj.s_t[t, b], traj.a_t[t, b]
            total, weight = Q[s, a], 1.0
            for k in range(t, T):
                s, a, nxt = traj.s_t[k, b], traj.a_t[k, b], traj.next_s_t[k, b]
                total += weight * (traj.r_t[k, b] + d[k, b] * pi[nxt] @ Q[nxt] - Q[s, a])
                if traj.terminated_t[k, b] or traj.truncated_t[k, b] or k == T - 1:
                    break
                s1, a1 = traj.s_t[k + 1, b], traj.a_t[k + 1, b]
                assert s1 == nxt  # the episode goes on in the next row
                weight *= d[k, b] * lam * min(1.0, pi[s1, a1] / mu[s1, a1])
            expected[t, b] = total
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


def test_a_replayed_trajectory_feeds_vtrace_as_its_docstring_says():
    mdp, pi, mu = _episodic_mdp()
    rng = np.random.default_rng(13)
    T, B = 48, 3
    traj = rollout(rng, mdp, mu, T, B, max_episode_steps=7)
    V = rng.normal(size=4)
    V[3] = 0.0
    d = mdp.gamma * (1.0 - traj.terminated_t)
    rho = pi[traj.s_t, traj.a_t] / mu[traj.s_t, traj.a_t]
    values = V[np.vstack([traj.s_t, traj.next_s_t[-1:]])]
    out = ms.vtrace(traj.r_t, d, values, rho, lam=0.8, truncated_t=traj.truncated_t, bootstrap_t=V[traj.next_s_t])
    expected = _vtrace_forward_sums(traj.r_t, d, values, rho, 0.8, 1.0, 1.0, 1.0, traj.truncated_t,
                                    V[traj.next_s_t])
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("lam", [1.0, 0.6])
def test_importance_corrected_targets_have_the_mean_of_the_target_policys_lambda_return(lam):
    """E_μ[V(s_0) + e_0] = Σ_{n<L} (1 − λ) λ^{n−1} (T^π)ⁿ V (s_0) + λ^{L−1} (T^π)ᴸ V (s_0), any V.

    Per-decision importance sampling with control variates is unbiased for π's λ-return
    (Precup, Sutton & Singh 2000); the right-hand side is computed exactly from the model.
    """
    rng = np.random.default_rng(14)
    P, Rm = rng.dirichlet(np.ones(3), size=(3, 2)), rng.normal(size=(3, 2))
    mdp = FiniteMDP(P, Rm, 0.8)
    pi = np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    mu = np.array([[0.4, 0.6], [0.5, 0.5], [0.6, 0.4]])
    V = np.array([3.0, -1.0, 0.5])
    L, N, s0 = 5, 40_000, 0
    traj = rollout(rng, mdp, mu, L, N, s0=np.full(N, s0), sampler=Sampler(mdp))
    values = V[np.vstack([traj.s_t, traj.next_s_t[-1:]])]
    rho = pi[traj.s_t, traj.a_t] / mu[traj.s_t, traj.a_t]
    G = V[s0] + ms.importance_corrected_td_errors(traj.r_t, np.full((L, N), mdp.gamma), values, rho, lam)[0]
    P_pi, r_pi = np.einsum("sa,sat->st", pi, P), (pi * Rm).sum(1)
    TnV, exact = V, 0.0
    for n in range(1, L + 1):
        TnV = r_pi + mdp.gamma * P_pi @ TnV
        exact += ((1 - lam) * lam ** (n - 1) if n < L else lam ** (L - 1)) * TnV[s0]
    assert abs(G.mean() - exact) < 5 * G.std() / np.sqrt(N)
    # The uncorrected λ-return of μ's own data has another mean here.
    biased = V[s0] + ms.gae(traj.r_t, np.full((L, N), mdp.gamma), values, lam)[0]
    assert abs(biased.mean() - exact) > 10 * biased.std() / np.sqrt(N)


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, message", [
    (lambda: ms.vtrace(R3, D3, VALUES, [1.0, -0.5, 1.0]), "vtrace: rho_t[1] = -0.5, but an importance ratio"),
    (lambda: ms.vtrace(R3, D3, VALUES, [1.0, np.nan, 1.0]), "rho_t[1] = nan"),
    (lambda: ms.vtrace(R3, D3, VALUES, RHO[:2]), "vtrace: rho_t has shape (2,), expected (3,) like r_t"),
    (lambda: ms.vtrace(R3, D3, VALUES, RHO, rho_bar=0.0), "vtrace: rho_bar = 0 must be > 0"),
    (lambda: ms.vtrace(R3, D3, VALUES, RHO, c_bar=float("nan")), "c_bar = nan must be > 0"),
    (lambda: ms.vtrace(R3, D3, VALUES, RHO, pg_rho_bar=-1.0), "pg_rho_bar = -1 must be > 0"),
    (lambda: ms.vtrace(R3, D3, VALUES, RHO, lam=1.5), "vtrace: lam = 1.5 is outside [0, 1]"),
    (lambda: ms.vtrace(R3, D3, VALUES[:3], RHO), "vtrace: values has shape (3,), expected (4,)"),
    (lambda: ms.vtrace(R3, D3, VALUES, RHO, truncated_t=[True, False, False]), "truncated_t needs bootstrap_t"),
    (lambda: ms.importance_corrected_td_errors(R3, D3, VALUES, -RHO),
     "importance_corrected_td_errors: rho_t[0] = -2"),
    (lambda: ms.n_step_returns(R3, D3, VALUES[1:], 2, lam=2.0), "n_step_returns: lam = 2 is outside [0, 1]"),
])
def test_bad_input_names_what_is_wrong(call, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        call()
