"""Multi-step returns and targets: hand-expanded golden values, laws as properties, torch = numpy."""

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
from triad.solvers import evaluate_q

# A four-step buffer used by several golden tests: step 2 terminates (discount 0).
R = np.array([1.0, 2.0, 3.0, 4.0])
D = np.array([0.9, 0.9, 0.0, 0.9])
V = np.array([10.0, 20.0, 30.0, 40.0])  # value of the state reached after each step
TRUNC1 = np.array([False, True, False, False])  # a time limit ends the episode after step 1


# ------------------------------------------------------------------------------ golden values
def test_discounted_returns_golden_termination_and_truncation():
    # Backwards with bootstrap 5: G3 = 4 + .9·5 = 8.5; G2 = 3 + 0·G3 = 3 (terminated);
    # G1 = 2 + .9·3 = 4.7; G0 = 1 + .9·4.7 = 5.23.
    np.testing.assert_allclose(ms.discounted_returns(R, D, 5.0), [5.23, 4.7, 3.0, 8.5])
    # Truncated after step 1: G1 = 2 + .9·v1 = 20 (not 2 + .9·G2); G0 = 1 + .9·20 = 19;
    # G3 = 4 + .9·v3 = 40 at the end of the buffer.
    np.testing.assert_allclose(ms.discounted_returns(R, D, V, truncated_t=TRUNC1), [19.0, 20.0, 3.0, 40.0])


def test_n_step_returns_golden():
    # n = 2: G0 = 1 + .9·(2 + .9·v1) = 1 + .9·20 = 19; G1 = 2 + .9·(3 + 0·v2) = 4.7;
    # G2 = 3 (terminated); G3 = 4 + .9·40 = 40 (window cut by the end of the buffer).
    np.testing.assert_allclose(ms.n_step_returns(R, D, V, 2), [19.0, 4.7, 3.0, 40.0])
    # n = 1 is the TD target r + d·v.
    np.testing.assert_allclose(ms.n_step_returns(R, D, V, 1), R + D * V)
    # Truncation after step 0 stops every window starting there: G0 = 1 + .9·10 = 10.
    trunc0 = np.array([True, False, False, False])
    np.testing.assert_allclose(ms.n_step_returns(R, D, V, 3, truncated_t=trunc0), [10.0, 4.7, 3.0, 40.0])


def test_windowed_lambda_returns_golden():
    # Window 2, λ = .5: H1_t = r_t + d_t·v_t = (10, 20, 3, 40); H2_t = r_t + d_t·(.5·v_t + .5·H1_{t+1}):
    # H2_0 = 1 + .9·(5 + 10) = 14.5; H2_1 = 2 + .9·(10 + 1.5) = 12.35; H2_2 = 3 (terminated);
    # H2_3 = 40 (the window is cut by the end of the buffer).
    np.testing.assert_allclose(ms.n_step_returns(R, D, V, 2, lam=0.5), [14.5, 12.35, 3.0, 40.0])
    # Truncation after step 0: H_0 = 1 + .9·10 = 10, the other rows unchanged.
    trunc0 = np.array([True, False, False, False])
    np.testing.assert_allclose(ms.n_step_returns(R, D, V, 2, lam=0.5, truncated_t=trunc0), [10.0, 12.35, 3.0, 40.0])
    # Window 3: H3_0 = 1 + .9·(5 + .5·12.35) = 11.0575, the full λ-return (step 2 terminates).
    np.testing.assert_allclose(ms.n_step_returns(R, D, V, 3, lam=0.5), [11.0575, 12.35, 3.0, 40.0])
    # Per-step λ = (1, 0, ·, ·), window 2: H_0 = 1 + .9·H1_1 = 19; H_1 = 2 + .9·v_1 = 20.
    lam = np.array([1.0, 0.0, 0.3, 0.3])
    np.testing.assert_allclose(ms.n_step_returns(R, D, V, 2, lam=lam), [19.0, 20.0, 3.0, 40.0])


def test_lambda_returns_golden():
    # λ = .5: G3 = 4 + .9·40 = 40; G2 = 3; G1 = 2 + .9·(.5·20 + .5·3) = 12.35;
    # G0 = 1 + .9·(.5·10 + .5·12.35) = 11.0575.
    np.testing.assert_allclose(ms.lambda_returns(R, D, V, 0.5), [11.0575, 12.35, 3.0, 40.0])
    # Truncated after step 1: G1 = 2 + .9·20 = 20; G0 = 1 + .9·(.5·10 + .5·20) = 14.5.
    np.testing.assert_allclose(ms.lambda_returns(R, D, V, 0.5, truncated_t=TRUNC1), [14.5, 20.0, 3.0, 40.0])
    # Per-step λ: λ = (0, 1, ·, ·): G1 = 2 + .9·G2 = 4.7, G0 = 1 + .9·v0 = 10.
    np.testing.assert_allclose(ms.lambda_returns(R, D, V, np.array([0.0, 1.0, 0.3, 0.3])), [10.0, 4.7, 3.0, 40.0])


def test_gae_golden():
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # δ = (1 + .9·2 − 1, 2 + .9·3 − 2, 3 + 0 − 3, 4 + .9·5 − 4) = (1.8, 2.7, 0, 4.5);
    # A3 = 4.5; A2 = 0 (terminated: nothing after it); A1 = 2.7 + .9·.5·0 = 2.7;
    # A0 = 1.8 + .45·2.7 = 3.015.
    np.testing.assert_allclose(ms.gae(R, D, values, 0.5), [3.015, 2.7, 0.0, 4.5])
    # Truncated after step 0 with final-state value 7: δ0 = 1 + .9·7 − 1 = 6.3 and A0 stops there.
    adv = ms.gae(R, D, values, 0.5, truncated_t=[True, False, False, False], bootstrap_t=[7.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(adv, [6.3, 2.7, 0.0, 4.5])


# Off-policy golden case, three rows of one episode s_0 → s_1 → s_2 → s_3 stored as a replay
# buffer holds them: row t has the action taken in s_t and μ(a_t|s_t), and Q(s_{t+1}, ·), π(·|s_{t+1}).
# The actions that continue the targets are a_1 = 1 (in s_1) and a_2 = 0 (in s_2); a_0 names the
# value being learned, Q(s_0, a_0), and does not enter it. r = (1, 2, 1), d = .5.
Q_T = np.array([[1.0, 3.0], [2.0, 0.0], [4.0, 4.0]])  # Q(s_1, ·), Q(s_2, ·), Q(s_3, ·)
A_T = np.array([0, 1, 0])  # a_0, a_1, a_2
PI_T = np.array([[0.6, 0.4], [1.0, 0.0], [0.25, 0.75]])  # π(·|s_1), π(·|s_2), π(·|s_3)
MU_T = np.array([0.3, 0.8, 0.5])  # μ(a_0|s_0), μ(a_1|s_1), μ(a_2|s_2)
R3, D3 = np.array([1.0, 2.0, 1.0]), np.full(3, 0.5)
# v_t = Σ_a π(a|s_{t+1}) Q(s_{t+1}, a) = (1.8, 2, 4). Row 0 continues with a_1: Q(s_1, a_1) = 3,
# π(a_1|s_1)/μ(a_1|s_1) = .4/.8 = .5; row 1 with a_2: Q(s_2, a_2) = 2, π/μ = 1/.5 = 2. The general return
# gives G2 = 1 + .5·4 = 3 (last row); G1 = 2 + .5·(2 + c1·(G2 − 2)) = 3 + .5·c1;
# G0 = 1 + .5·(1.8 + c0·(G1 − 3)) = 1.9 + .25·c0·c1.


@pytest.mark.parametrize("method, lam, expected", [
    ("importance-sampling", 1.0, [2.15, 4.0, 3.0]),  # c = (.5, 2, ·): G1 = 4, G0 = 1.9 + .25
    ("tree-backup", 1.0, [2.0, 3.5, 3.0]),  # c = π(a) = (.4, 1, ·): G0 = 1.9 + .1
    ("retrace", 1.0, [2.025, 3.5, 3.0]),  # c = min(1, π/μ) = (.5, 1, ·): G0 = 1.9 + .125
    ("q-lambda", 1.0, [2.15, 3.5, 3.0]),  # c = 1
    ("cut", 1.0, [1.9, 3.5, 3.0]),  # a_1 = 1 is not the mode of π(·|s_1): c0 = 0
    ("ignore", 1.0, [2.75, 3.5, 3.0]),  # G = r + d·G': G1 = 2 + .5·3, G0 = 1 + .5·3.5
    # λ = .5: c = (.25, .5, ·): G1 = 3 + .25 = 3.25, G0 = 1.9 + .5·.25·.25 = 1.93125
    ("retrace", 0.5, [1.93125, 3.25, 3.0]),
])
def test_off_policy_targets_golden(method, lam, expected):
    out = ms.off_policy_targets(R3, D3, Q_T, A_T, method, pi_t=PI_T, mu_t=MU_T, lam=lam)
    np.testing.assert_allclose(out, expected)
    # The first row's action and probability name the learned value only.
    other = ms.off_policy_targets(R3, D3, Q_T, np.array([1, 1, 0]), method, pi_t=PI_T,
                                  mu_t=np.array([0.9, 0.8, 0.5]), lam=lam)
    assert np.array_equal(other, out)


def test_off_policy_windows_golden():
    # n = 1: every target is r + d·v = (1.9, 3, 3).
    np.testing.assert_allclose(ms.off_policy_targets(R3, D3, Q_T, A_T, "retrace", pi_t=PI_T, mu_t=MU_T, n=1),
                               [1.9, 3.0, 3.0])
    # Uncorrected 2-step (Rainbow): G0 = 1 + .5·(2 + .5·v1) = 2.5; G1 = 2 + .5·(1 + .5·v2) = 3.5.
    np.testing.assert_allclose(ms.off_policy_targets(R3, D3, Q_T, A_T, "ignore", pi_t=PI_T, n=2), [2.5, 3.5, 3.0])
    # Default π is greedy in q_t: v = (3, 2, 4); ignore, 2-step: G0 = 1 + .5·(2 + .5·2) = 2.5.
    np.testing.assert_allclose(ms.off_policy_targets(R3, D3, Q_T, A_T, "ignore", n=2), [2.5, 3.5, 3.0])


def test_trace_coefficients_golden():
    # The golden episode run one step further: a_3 = 1 in s_3 with μ(a_3|s_3) = .5, π(·|s_4) = (.5, .5).
    # Row t's coefficient is that of a_{t+1} in s_{t+1}: π(a_{t+1}|s_{t+1}) = pi_t[t, a_t[t + 1]] =
    # (.4, 1, .75) and μ(a_{t+1}|s_{t+1}) = mu_t[t + 1] = (.8, .5, .5), so π/μ = (.5, 2, 1.5). The last
    # row has no next action: 0. a_1 = 1 is not the mode of π(·|s_1); a_2, a_3 are modes.
    a, mu = np.array([0, 1, 0, 1]), np.array([0.3, 0.8, 0.5, 0.5])
    pi = np.vstack([PI_T, [0.5, 0.5]])
    np.testing.assert_allclose(ms.trace_coefficients("retrace", a, pi, mu, lam=0.8), [0.4, 0.8, 0.8, 0.0])
    np.testing.assert_allclose(ms.trace_coefficients("importance-sampling", a, pi, mu), [0.5, 2.0, 1.5, 0.0])
    np.testing.assert_allclose(ms.trace_coefficients("tree-backup", a, pi, lam=0.5), [0.2, 0.5, 0.375, 0.0])
    np.testing.assert_allclose(ms.trace_coefficients("cut", a, pi), [0.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(ms.trace_coefficients("q-lambda", a, pi, lam=0.3), [0.3, 0.3, 0.3, 0.0])
    # Per-step λ weighs row t's continuation: λ = (1, .5, .2, ·) with retrace.
    np.testing.assert_allclose(ms.trace_coefficients("retrace", a, pi, mu, lam=np.array([1.0, 0.5, 0.2, 0.9])),
                               [0.5, 0.5, 0.2, 0.0])


# ----------------------------------------------------------------------------------- properties
@st.composite
def buffers(draw, max_steps=40, batch=True):
    """A random (T, B) buffer: rewards, discounts in {0, γ}, next values, truncation flags."""
    T = draw(st.integers(1, max_steps))
    shape = (T, draw(st.integers(1, 3))) if batch else (T,)
    finite = st.floats(-10, 10, allow_nan=False)
    r = draw(hnp.arrays(np.float64, shape, elements=finite))
    gamma = draw(st.floats(0.0, 0.99))
    terminated = draw(hnp.arrays(bool, shape))
    truncated = draw(hnp.arrays(bool, shape)) & ~terminated
    v = draw(hnp.arrays(np.float64, shape, elements=finite))
    values = draw(hnp.arrays(np.float64, (T + 1, *shape[1:]), elements=finite))
    return r, gamma * (1.0 - terminated), v, truncated, values


@given(buffers(), st.floats(0.0, 1.0))
def test_lambda_one_is_the_discounted_return_and_lambda_zero_the_td_target(buf, lam):
    r, d, v, trunc, _ = buf
    assert np.array_equal(ms.lambda_returns(r, d, v, 1.0, truncated_t=trunc),
                          ms.discounted_returns(r, d, v, truncated_t=trunc))
    assert np.array_equal(ms.lambda_returns(r, d, v, 0.0), r + d * v)
    assert np.array_equal(ms.n_step_returns(r, d, v, 1), r + d * v)
    # λ_t weighs G_{t+1} against v_t only where the return continues: at a truncation and at the
    # buffer's last step it bootstraps from v_t whatever λ_t is. So an arbitrary λ there leaves
    # both identities intact, per-step λ arrays included.
    stops = trunc.copy()
    stops[-1] = True
    assert np.array_equal(ms.lambda_returns(r, d, v, np.where(stops, lam, 1.0), truncated_t=trunc),
                          ms.discounted_returns(r, d, v, truncated_t=trunc))
    assert np.array_equal(ms.lambda_returns(r, d, v, np.where(stops, lam, 0.0), truncated_t=trunc), r + d * v)


@given(buffers(), st.floats(0.0, 1.0))
def test_gae_is_lambda_return_minus_baseline(buf, lam):
    r, d, _, trunc, values = buf
    boot = values[1:] - 1.0  # truncated states have their own values
    v_next = np.where(trunc, boot, values[1:])
    adv = ms.gae(r, d, values, lam, truncated_t=trunc, bootstrap_t=boot)
    np.testing.assert_allclose(adv, ms.lambda_returns(r, d, v_next, lam, truncated_t=trunc) - values[:-1],
                               rtol=1e-9, atol=1e-9)
    # λ = 0: the TD errors exactly; λ = 1: discounted return minus the baseline.
    assert np.array_equal(ms.gae(r, d, values, 0.0), r + d * values[1:] - values[:-1])
    np.testing.assert_allclose(ms.gae(r, d, values, 1.0), ms.discounted_returns(r, d, values[1:]) - values[:-1],
                               rtol=1e-9, atol=1e-9)


@given(buffers(batch=False), st.integers(1, 45))
def test_n_step_returns_match_the_explicit_sum(buf, n):
    r, d, v, trunc, _ = buf
    T = len(r)
    expected = np.empty(T)
    for t in range(T):  # G = Σ_{k<m} (Π_{j<k} d_{t+j}) r_{t+k} + (Π_{j<m} d_{t+j}) v_{t+m−1}
        m = min(n, T - t)
        stops = np.flatnonzero(trunc[t:t + m])
        m = int(stops[0]) + 1 if len(stops) else m
        weight, total = 1.0, 0.0
        for k in range(m):
            total += weight * r[t + k]
            weight *= d[t + k]
        expected[t] = total + weight * v[t + m - 1]
    np.testing.assert_allclose(ms.n_step_returns(r, d, v, n, truncated_t=trunc), expected, rtol=1e-9, atol=1e-9)


@given(buffers(max_steps=40), st.integers(1, 45), st.floats(0.0, 1.0))
def test_windowed_lambda_return_matches_a_forward_sum(buf, n, lam):
    # The λ-return cut after m steps, written forwards: G_t = Σ_{k<m} W_k (r_{t+k} + d_{t+k} w_k v_{t+k})
    # with W_k = Π_{j<k} d_{t+j} λ, w_k = 1 − λ except w_{m−1} = 1 (full bootstrap at the window's end);
    # m = n, shortened by the buffer's end and by truncations.
    r, d, v, trunc, _ = buf
    T = r.shape[0]
    expected = np.empty_like(r)
    for t in range(T):
        for b in range(r.shape[1]):
            m = min(n, T - t)
            stops = np.flatnonzero(trunc[t:t + m, b])
            m = int(stops[0]) + 1 if len(stops) else m
            weight, total = 1.0, 0.0
            for k in range(m):
                last = k == m - 1
                total += weight * (r[t + k, b] + d[t + k, b] * (1.0 if last else 1 - lam) * v[t + k, b])
                weight *= d[t + k, b] * lam
            expected[t, b] = total
    np.testing.assert_allclose(ms.n_step_returns(r, d, v, n, lam=lam, truncated_t=trunc), expected,
                               rtol=1e-9, atol=1e-9)
    assert np.array_equal(ms.n_step_returns(r, d, v, n, lam=1.0, truncated_t=trunc),
                          ms.n_step_returns(r, d, v, n, truncated_t=trunc))


@given(buffers(max_steps=12), st.floats(0.0, 1.0))
def test_lambda_return_is_the_geometric_mixture_of_n_step_returns(buf, lam):
    # G^λ_t = (1 − λ) Σ_{n=1}^{m−1} λ^{n−1} G⁽ⁿ⁾_t + λ^{m−1} G⁽ᵐ⁾_t, m = T − t steps left
    # (Sutton & Barto 2018 eq. 12.3 and its episodic form 12.3 with the buffer end as horizon).
    r, d, v, _, _ = buf
    T = r.shape[0]
    G = np.stack([ms.n_step_returns(r, d, v, n) for n in range(1, T + 1)])  # (n, T, B)
    expected = np.empty_like(r)
    for t in range(T):
        m = T - t
        weights = np.array([(1 - lam) * lam ** (k - 1) for k in range(1, m)] + [lam ** (m - 1)])
        expected[t] = np.tensordot(weights, G[:m, t], axes=1)
    np.testing.assert_allclose(ms.lambda_returns(r, d, v, lam), expected, rtol=1e-9, atol=1e-9)


@given(buffers())
def test_retrace_on_policy_with_a_deterministic_policy_is_the_discounted_return(buf):
    # π = μ deterministic: the policy in s_{t+1} is the action taken there, a_{t+1}, so
    # c = min(1, 1/1) = 1 and v = Σπq = q[a_{t+1}]: every correction vanishes.
    r, d, _, trunc, _ = buf
    rng = np.random.default_rng(r.size)
    q = rng.normal(size=(*r.shape, 3))
    actions = rng.integers(0, 3, size=(r.shape[0] + 1, *r.shape[1:]))  # a_0 … a_T
    pi = np.eye(3)[actions[1:]]  # π(·|s_{t+1}) puts all mass on a_{t+1}
    out = ms.off_policy_targets(r, d, q, actions[:-1], "retrace", pi_t=pi, mu_t=np.ones(r.shape), truncated_t=trunc)
    v = np.take_along_axis(q, actions[1:, ..., None], -1)[..., 0]
    assert np.array_equal(out, ms.discounted_returns(r, d, v, truncated_t=trunc))


def _long_buffer_cases(x):
    """Every recursion with the options that reach the compiled loop, on the arrays (or tensors) ``x``."""
    r, d, v, values, lam, trunc, rho = (x[k] for k in ("r", "d", "v", "values", "lam", "trunc", "rho"))
    return [ms.lambda_returns(r, d, v, lam, truncated_t=trunc),
            ms.gae(r, d, values, 0.9, truncated_t=trunc, bootstrap_t=-v),
            ms.discounted_returns(r, d, v[-1]),
            ms.general_off_policy_returns(r, d, v, 2 * v, lam, truncated_t=trunc),
            ms.off_policy_targets(r, d, x["q"], x["a"], "retrace", pi_t=x["pi"], mu_t=x["mu"], lam=lam,
                                  truncated_t=trunc),
            ms.off_policy_targets(r, d, x["q"], x["a"], "importance-sampling", pi_t=x["pi"], mu_t=x["mu"],
                                  truncated_t=trunc),
            ms.n_step_returns(r, d, v, 5, lam=lam, truncated_t=trunc),
            ms.importance_corrected_td_errors(r, d, values, rho, 0.8, truncated_t=trunc, bootstrap_t=-v),
            *ms.vtrace(r, d, values, rho, lam=lam, c_bar=1.5, truncated_t=trunc, bootstrap_t=-v)]


def test_compiled_loop_is_bit_identical_to_numpy_loop_and_torch_agrees(monkeypatch):
    rng = np.random.default_rng(0)
    T, B = 300, 5
    v = rng.normal(size=(T, B))
    x = {"r": rng.normal(size=(T, B)), "d": 0.97 * (rng.random((T, B)) > 0.05), "v": v,
         "values": np.vstack([v, v[:1]]), "lam": rng.random((T, B)), "trunc": rng.random((T, B)) < 0.03,
         "rho": 2 * rng.random((T, B)), "q": rng.normal(size=(T, B, 3)), "a": rng.integers(0, 3, size=(T, B)),
         "pi": rng.dirichlet(np.ones(3), size=(T, B)), "mu": rng.uniform(0.1, 1.0, size=(T, B))}
    compiled = _long_buffer_cases(x)
    # Tensors without a gradient take the compiled loop too; with one, a differentiable torch loop.
    fast = _long_buffer_cases({k: torch.tensor(a) for k, a in x.items()})
    tracked = {k: torch.tensor(a) for k, a in x.items()}
    for k in ("v", "values", "q"):
        tracked[k].requires_grad_(True)
    slow = _long_buffer_cases(tracked)
    for array, tensor, graph in zip(compiled, fast, slow):
        assert not tensor.requires_grad and graph.requires_grad
        np.testing.assert_allclose(tensor.numpy(), array, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(graph.detach().numpy(), array, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(ms, "NUMBA_MIN_STEPS", 10**9)
    for array, loop in zip(compiled, _long_buffer_cases(x)):
        assert np.array_equal(array, loop)


def test_window_as_long_as_the_buffer_reproduces_the_full_recursion():
    rng = np.random.default_rng(1)
    r, v, c = rng.normal(size=(3, 20, 2))
    d = np.full((20, 2), 0.9)
    stop = rng.random((20, 2)) < 0.2
    full = ms._general_return(ms._Numpy(), r, d, v - c * v, c, v, stop)
    assert np.array_equal(ms._windowed(ms._Numpy(), r, d, v - c * v, c, v, stop, 20), full)
    assert np.array_equal(ms.general_off_policy_returns(r, d, v, v, c, n=50, truncated_t=stop), full)


def test_batch_axes_are_independent():
    rng = np.random.default_rng(2)
    r, v = rng.normal(size=(2, 50, 3, 4))
    d = 0.9 * (rng.random((50, 3, 4)) > 0.1)
    out = ms.lambda_returns(r, d, v, 0.7)
    for i in range(3):
        for j in range(4):
            np.testing.assert_array_equal(out[:, i, j], ms.lambda_returns(r[:, i, j], d[:, i, j], v[:, i, j], 0.7))


# ------------------------------------------------------------------------ off-policy, on an MDP
def test_corrected_targets_are_unbiased_for_q_pi_under_another_behaviour():
    """With Q = Q^π, the targets of IS, TB, Retrace and Q^π(λ) have mean Q^π(s_0, a_0) whatever μ.

    Q^π is the fixed point of each of these operators (Munos et al. 2016, Table 1). The uncorrected
    n-step target follows μ's actions and is biased. Checked on a 3-state MDP by sampling, with the
    rolled-out Trajectory passed to the targets row for row, as a replay buffer would.
    """
    P = np.array([[[0.7, 0.3, 0.0], [0.0, 0.2, 0.8]], [[0.5, 0.0, 0.5], [0.1, 0.9, 0.0]],
                  [[0.0, 0.6, 0.4], [1.0, 0.0, 0.0]]])
    Rm = np.array([[1.0, -1.0], [0.0, 2.0], [-2.0, 0.5]])
    mdp = FiniteMDP(P, Rm, 0.8)
    pi = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    mu = np.array([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]])
    Q = evaluate_q(mdp, pi)
    rng = np.random.default_rng(3)
    L, s0, a0 = 7, 0, 1
    # μ's episodes from s0; those whose first action is a0 (70 %) sample the targets of Q(s0, a0).
    traj = rollout(rng, mdp, mu, L, 57_000, s0=np.full(57_000, s0), sampler=Sampler(mdp))
    keep = traj.a_t[0] == a0
    N = int(keep.sum())
    d = np.full((L, N), mdp.gamma)
    s_t, a_t, next_s_t = traj.s_t[:, keep], traj.a_t[:, keep], traj.next_s_t[:, keep]
    q_t, pi_t, mu_t = Q[next_s_t], pi[next_s_t], mu[s_t, a_t]
    for method in ("importance-sampling", "tree-backup", "retrace", "q-lambda"):
        G = ms.off_policy_targets(traj.r_t[:, keep], d, q_t, a_t, method, pi_t=pi_t, mu_t=mu_t, lam=0.9)[0]
        assert abs(G.mean() - Q[s0, a0]) < 5 * G.std() / np.sqrt(N), method
    ignore = ms.off_policy_targets(traj.r_t[:, keep], d, q_t, a_t, "ignore", pi_t=pi_t)[0]
    assert abs(ignore.mean() - Q[s0, a0]) > 10 * ignore.std() / np.sqrt(N)


# ---------------------------------------------------------------------------------------- torch
@given(buffers(max_steps=40), st.floats(0.0, 1.0))
def test_torch_and_numpy_agree(buf, lam):
    r, d, v, trunc, values = buf
    rt, dt, vt, valt, trt = (torch.tensor(x) for x in (r, d, v, values, trunc))
    pairs = [
        (ms.discounted_returns(rt, dt, vt, truncated_t=trt), ms.discounted_returns(r, d, v, truncated_t=trunc)),
        (ms.n_step_returns(rt, dt, vt, 3, truncated_t=trt), ms.n_step_returns(r, d, v, 3, truncated_t=trunc)),
        (ms.lambda_returns(rt, dt, vt, lam, truncated_t=trt), ms.lambda_returns(r, d, v, lam, truncated_t=trunc)),
        (ms.gae(rt, dt, valt, lam, truncated_t=trt, bootstrap_t=vt),
         ms.gae(r, d, values, lam, truncated_t=trunc, bootstrap_t=v)),
        (ms.n_step_returns(rt, dt, vt, 3, lam=lam, truncated_t=trt),
         ms.n_step_returns(r, d, v, 3, lam=lam, truncated_t=trunc)),
        (ms.importance_corrected_td_errors(rt, dt, valt, 1.5 * rt.abs(), lam, truncated_t=trt, bootstrap_t=vt),
         ms.importance_corrected_td_errors(r, d, values, 1.5 * abs(r), lam, truncated_t=trunc, bootstrap_t=v)),
        *zip(ms.vtrace(rt, dt, valt, rt.abs(), lam=lam, c_bar=2.0, truncated_t=trt, bootstrap_t=vt),
             ms.vtrace(r, d, values, abs(r), lam=lam, c_bar=2.0, truncated_t=trunc, bootstrap_t=v)),
    ]
    for tensor, array in pairs:
        assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64
        np.testing.assert_allclose(tensor.numpy(), array, rtol=1e-12, atol=1e-12)


def test_torch_off_policy_targets_agree_and_keep_dtype_and_gradients():
    q = torch.tensor(Q_T, dtype=torch.float32, requires_grad=True)
    out = ms.off_policy_targets(torch.tensor(R3, dtype=torch.float32), torch.tensor(D3, dtype=torch.float32), q,
                                torch.tensor(A_T), "retrace", pi_t=torch.tensor(PI_T, dtype=torch.float32),
                                mu_t=torch.tensor(MU_T, dtype=torch.float32))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.detach().numpy(), [2.025, 3.5, 3.0], rtol=1e-6)
    out.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
    for method in ms.OFF_POLICY_METHODS:
        np.testing.assert_allclose(
            ms.off_policy_targets(torch.tensor(R3), torch.tensor(D3), torch.tensor(Q_T), torch.tensor(A_T), method,
                                  pi_t=torch.tensor(PI_T), mu_t=torch.tensor(MU_T), lam=0.7, n=2).numpy(),
            ms.off_policy_targets(R3, D3, Q_T, A_T, method, pi_t=PI_T, mu_t=MU_T, lam=0.7, n=2), rtol=1e-12)


# Default greedy target (pi_t = None): no ties. Rows hold (a_0, a_1, a_2) and their μ; the
# continuing actions are a_1 = 0 (not greedy in s_1) and a_2 = 0 (greedy in s_2), μ = .5.
Q_G = np.array([[1.0, 3.0], [2.0, 0.0], [5.0, 4.0]])
A_G = np.array([1, 0, 0])
MU_G = np.array([0.2, 0.5, 0.5])
# π = one-hot argmax = (e1, e0, e0): v = (3, 2, 5); the next actions' values Q(s_1, a_1) = 1,
# Q(s_2, a_2) = 2 and their π = (0, 1).
# G2 = 1 + .5·5 = 3.5; G1 = 2 + .5·(2 + c1·(3.5 − 2)) = 3 + .75·c1; G0 = 1 + .5·(3 + c0·(G1 − 1)).
GREEDY_GOLDEN = [
    ("importance-sampling", 1.0, [2.5, 4.5, 3.5]),  # c = π/μ = (0, 2, ·)
    ("tree-backup", 1.0, [2.5, 3.75, 3.5]),  # c = π(a) = (0, 1, ·)
    ("retrace", 1.0, [2.5, 3.75, 3.5]),  # c = min(1, π/μ) = (0, 1, ·)
    ("q-lambda", 1.0, [3.875, 3.75, 3.5]),  # c = 1: G0 = 1 + .5·(3 + 2.75)
    ("q-lambda", 0.5, [3.09375, 3.375, 3.5]),  # c = .5: G1 = 3.375, G0 = 1 + .5·(3 + .5·2.375)
    ("cut", 1.0, [2.5, 3.75, 3.5]),  # a_1 is not greedy: c0 = 0
    ("ignore", 1.0, [2.875, 3.75, 3.5]),  # G = r + d·G', bootstrapped from max q at the end
]


@pytest.mark.parametrize("method, lam, expected", GREEDY_GOLDEN)
def test_default_greedy_target_golden_in_numpy_and_torch(method, lam, expected):
    out = ms.off_policy_targets(R3, D3, Q_G, A_G, method, mu_t=MU_G, lam=lam)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    tensor = ms.off_policy_targets(torch.tensor(R3), torch.tensor(D3), torch.tensor(Q_G), torch.tensor(A_G), method,
                                   mu_t=torch.tensor(MU_G), lam=lam)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64
    np.testing.assert_allclose(tensor.numpy(), expected, rtol=1e-12)
    single = ms.off_policy_targets(*(torch.tensor(x, dtype=torch.float32) for x in (R3, D3, Q_G)), torch.tensor(A_G),
                                   method, mu_t=torch.tensor(MU_G, dtype=torch.float32), lam=lam)
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.numpy(), expected, rtol=1e-6)


def test_torch_gae_is_differentiable_in_the_values():
    values = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], requires_grad=True)
    adv = ms.gae(torch.tensor(R, dtype=torch.float32), torch.tensor(D, dtype=torch.float32), values, 0.5)
    adv[0].backward()
    # A0 = δ0 + .45·δ1 + .45²·δ2 (step 2 terminates, so δ3 is cut) with δ0 = 1 + .9 V1 − V0,
    # δ1 = 2 + .9 V2 − V1, δ2 = 3 − V2: ∂A0/∂V = (−1, .9 − .45, .45·.9 − .2025, 0, 0).
    np.testing.assert_allclose(values.grad.numpy(), [-1.0, 0.45, 0.2025, 0.0, 0.0], rtol=1e-6)


def test_long_tensor_buffers_with_and_without_gradient():
    # Without a gradient the recursion runs compiled in float64 and returns float32; with one it
    # runs as a differentiable float32 torch loop. Both match the numpy result to float32 accuracy.
    rng = np.random.default_rng(4)
    r, values = rng.normal(size=(300, 4)), rng.normal(size=(301, 4))
    d = 0.99 * (rng.random((300, 4)) > 0.02)
    expected = ms.gae(r, d, values, 0.95)
    fast = ms.gae(*(torch.tensor(x, dtype=torch.float32) for x in (r, d, values)), 0.95)
    assert fast.dtype == torch.float32 and not fast.requires_grad
    np.testing.assert_allclose(fast.numpy(), expected, rtol=1e-5, atol=1e-5)
    tracked = torch.tensor(values, dtype=torch.float32, requires_grad=True)
    slow = ms.gae(torch.tensor(r, dtype=torch.float32), torch.tensor(d, dtype=torch.float32), tracked, 0.95)
    assert slow.requires_grad
    np.testing.assert_allclose(slow.detach().numpy(), expected, rtol=1e-4, atol=1e-4)
    slow.sum().backward()
    assert torch.isfinite(tracked.grad).all()
    with torch.no_grad():
        assert not ms.gae(torch.tensor(r), torch.tensor(d), tracked.double(), 0.95).requires_grad


def test_mixed_numpy_and_torch_inputs_return_a_tensor():
    out = ms.lambda_returns(torch.tensor(R, dtype=torch.float32), D, V, 0.5)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), [11.0575, 12.35, 3.0, 40.0], rtol=1e-6)


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, message", [
    (lambda: ms.lambda_returns(R, D[:3], V, 0.5), "lambda_returns: discount_t has shape (3,), expected (4,) like r_t"),
    (lambda: ms.lambda_returns(R, D, V[:2], 0.5), "lambda_returns: v_t has shape (2,), expected (4,)"),
    (lambda: ms.lambda_returns(R, D, V, 1.5), "lambda_returns: lam = 1.5 is outside [0, 1]"),
    (lambda: ms.lambda_returns(R, D, V, -0.1), "lam = -0.1 is outside [0, 1]"),
    (lambda: ms.lambda_returns(R, D, V, float("nan")), "lam = nan is outside [0, 1]"),
    (lambda: ms.lambda_returns(R, D, V, np.array([0.5, 0.5, 2.0, 0.5])), "lam[2] = 2 is outside [0, 1]"),
    (lambda: ms.gae(R, D, V, 0.5), "gae: values has shape (4,), expected (5,)"),
    (lambda: ms.gae(R, D, np.ones(5), 1.01), "gae: lam = 1.01 is outside [0, 1]"),
    (lambda: ms.gae(R, D, np.ones(5), 0.5, truncated_t=TRUNC1), "truncated_t needs bootstrap_t"),
    (lambda: ms.n_step_returns(R, D, V, 0), "n_step_returns: n = 0 must be an integer ≥ 1"),
    (lambda: ms.n_step_returns(R, D, V, 2.5), "n = 2.5 must be an integer ≥ 1"),
    (lambda: ms.n_step_returns(R, D, V, 2, truncated_t=[True]), "truncated_t has shape (1,), expected (4,)"),
    (lambda: ms.discounted_returns(R, D, 0.0, truncated_t=TRUNC1), "bootstrap must hold the value after every step"),
    (lambda: ms.discounted_returns(np.ones((4, 2)), np.ones((4, 2)), np.ones(3)), "bootstrap has shape (3,)"),
    (lambda: ms.discounted_returns(np.float64(1.0), 1.0, 0.0), "r_t has shape (); expected (T, ...)"),
    (lambda: ms.off_policy_targets(R3, D3, Q_T, A_T, "retrace", pi_t=PI_T), "retrace needs mu_t"),
    (lambda: ms.off_policy_targets(R3, D3, Q_T, A_T, "watkins"), "unknown method 'watkins'"),
    (lambda: ms.off_policy_targets(R3, D3, Q_T, np.array([0, 2, 1]), "q-lambda"), "a_t[1] is not an action index"),
    (lambda: ms.off_policy_targets(R3, D3, Q_T, A_T, "importance-sampling", pi_t=PI_T, mu_t=[0.5, 0.0, 1.0]),
     "mu_t[1] = 0"),
    (lambda: ms.trace_coefficients("q-lambda", np.int64(0), PI_T[0]), "a_t has shape (); expected (T, ...)"),
    (lambda: ms.off_policy_targets(R3, D3, Q_T, A_T, "q-lambda", n=0), "n = 0 must be an integer ≥ 1"),
    (lambda: ms.off_policy_targets(R3, D3, Q_T[:, :1], A_T, "q-lambda", pi_t=PI_T), "pi_t has shape (3, 2)"),
])
def test_bad_input_names_what_is_wrong(call, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        call()


def test_divergence_is_a_result_not_an_error():
    out = ms.lambda_returns(np.array([1.0, np.inf]), np.array([0.9, 0.9]), np.array([np.nan, 1.0]), 0.5)
    assert np.isinf(out[1]) and np.isnan(out[0])

