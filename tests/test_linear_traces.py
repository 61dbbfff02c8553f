"""Sampled traces over many steps (TD(λ), emphatic follow-on, n-step ratios) against plain loops, and √PBE with Π ≠ I.

The sampled runs are replayed transition by transition: ``linear.sampled`` draws its first
``min(steps, 128)`` transitions with one ``rollout`` call on the generator it is given, so the same
seed and batch size regenerate exactly the same trajectory. The loops below implement the
recursions from the books, not from the library.
"""

import numpy as np
import pytest

from triad import linear, zoo
from triad.mdp import FiniteMDP
from triad.sampling import rollout

# Three live states and a terminal one, two actions, stochastic transitions, off-policy with
# importance ratios far from 1 (between 0.2 and 1.8), so traces, ratios and episode ends all matter.
GAMMA = 0.9
PHI = np.array([[1.0, 0.0], [0.5, 1.0], [-1.0, 0.5], [0.0, 0.0]])
TARGET = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
BEHAVIOUR = np.array([[0.5, 0.5], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
INTEREST = np.array([1.0, 0.2, 2.0, 0.0])
STEPS, STREAMS = 60, 3  # ≤ 128: one rollout chunk


def off_policy_episodic(gamma=GAMMA):
    P = np.zeros((4, 2, 4))
    P[0, 0], P[0, 1] = [0.1, 0.6, 0.2, 0.1], [0.3, 0.0, 0.5, 0.2]
    P[1, 0], P[1, 1] = [0.5, 0.2, 0.2, 0.1], [0.0, 0.3, 0.4, 0.3]
    P[2, 0], P[2, 1] = [0.4, 0.4, 0.0, 0.2], [0.2, 0.2, 0.5, 0.1]
    P[3, :, 3] = 1.0
    R = np.array([[1.0, -0.5], [0.3, 2.0], [-1.0, 0.5], [0.0, 0.0]])
    mdp = FiniteMDP(P, R, gamma, mu=np.array([0.5, 0.3, 0.2, 0.0]), terminal=np.array([False, False, False, True]))
    return zoo.Problem(mdp, features=PHI, target=TARGET, behaviour=BEHAVIOUR, w0=np.array([0.5, -0.3]))


PROBLEM = off_policy_episodic()


def replay(seed):
    """The transitions ``linear.sampled(default_rng(seed), ..., streams=STREAMS)`` uses, as a list per stream."""
    traj = rollout(np.random.default_rng(seed), PROBLEM.mdp, BEHAVIOUR, STEPS, STREAMS)
    streams = []
    for b in range(STREAMS):
        streams.append([(int(traj.s_t[t, b]), int(traj.a_t[t, b]), float(traj.r_t[t, b]), int(traj.next_s_t[t, b]),
                         bool(traj.terminated_t[t, b])) for t in range(STEPS)])
        assert not traj.truncated_t[:, b].any()
    assert traj.terminated_t[:-5].sum() >= 3 * STREAMS  # several episode ends inside the run
    return streams


def value(w, s):
    return float(PHI[s] @ w)


def test_sampled_td_lambda_matches_the_off_policy_trace_loop():
    # Off-policy TD(λ) with per-decision ratios (Sutton & Barto 2018 eq. 12.25 with the semi-gradient
    # update of eq. 12.7): z_t = ρ_t(γ_t λ z_{t−1} + x_t), w ← w + α δ_t z_t, where γ_t is the discount
    # into S_t (0 at the start of an episode, so the trace restarts).
    lam, alpha, seed = 0.8, 0.05, 11
    curve = linear.sampled(np.random.default_rng(seed), linear.Rule("semi-gradient-td", alpha=alpha, lam=lam), PROBLEM,
                           STEPS, streams=STREAMS)
    for b, stream in enumerate(replay(seed)):
        w, z, gamma_in = PROBLEM.w0.copy(), np.zeros(2), 0.0
        for t, (s, a, r, s2, term) in enumerate(stream):
            rho = TARGET[s, a] / BEHAVIOUR[s, a]
            z = rho * (gamma_in * lam * z + PHI[s])
            gamma_out = 0.0 if term else GAMMA
            delta = r + gamma_out * value(w, s2) - value(w, s)
            w = w + alpha * delta * z
            gamma_in = gamma_out
            np.testing.assert_allclose(curve.w[t + 1, b], w, rtol=1e-10, atol=1e-12)


def test_sampled_emphatic_td_matches_the_follow_on_loop_with_per_state_interest():
    # One-step ETD (Sutton, Mahmood & White 2016; Sutton & Barto 2018 §11.8):
    # F_t = ρ_{t−1} γ_t F_{t−1} + i(S_t), M_t = F_t (λ = 0), w ← w + α M_t ρ_t δ_t x_t; F restarts each episode.
    alpha, seed = 0.03, 12
    rule = linear.Rule("etd", alpha=alpha, interest=INTEREST)
    curve = linear.sampled(np.random.default_rng(seed), rule, PROBLEM, STEPS, streams=STREAMS)
    for b, stream in enumerate(replay(seed)):
        w, F, rho_prev, gamma_in = PROBLEM.w0.copy(), 0.0, 0.0, 0.0
        for t, (s, a, r, s2, term) in enumerate(stream):
            rho = TARGET[s, a] / BEHAVIOUR[s, a]
            F = rho_prev * gamma_in * F + INTEREST[s]
            gamma_out = 0.0 if term else GAMMA
            delta = r + gamma_out * value(w, s2) - value(w, s)
            w = w + alpha * F * rho * delta * PHI[s]
            rho_prev, gamma_in = rho, gamma_out
            np.testing.assert_allclose(curve.w[t + 1, b], w, rtol=1e-10, atol=1e-12)


def test_emphatic_follow_on_trace_by_hand_on_three_steps():
    # A deterministic slice of the recursion, written out: two live steps then the update uses
    # F_2 = ρ_1 γ (ρ_0 γ i(S_0) + i(S_1)) + i(S_2). We pick the transitions of a replayed stream that
    # stays in one episode for its first three steps and check the third increment.
    alpha, seed = 0.03, 12
    curve = linear.sampled(np.random.default_rng(seed), linear.Rule("etd", alpha=alpha, interest=INTEREST), PROBLEM,
                           STEPS, streams=STREAMS)
    for b, stream in enumerate(replay(seed)):
        (s0, a0, _, _, t0), (s1, a1, _, _, t1), (s2, a2, r2, n2, t2) = stream[:3]
        if t0 or t1:
            continue
        rho0, rho1, rho2 = (TARGET[s, a] / BEHAVIOUR[s, a] for s, a in ((s0, a0), (s1, a1), (s2, a2)))
        F2 = rho1 * GAMMA * (rho0 * GAMMA * INTEREST[s0] + INTEREST[s1]) + INTEREST[s2]
        w2 = curve.w[2, b]
        delta = r2 + (0.0 if t2 else GAMMA) * value(w2, n2) - value(w2, s2)
        np.testing.assert_allclose(curve.w[3, b] - w2, alpha * F2 * rho2 * delta * PHI[s2], rtol=1e-10)
        return
    pytest.fail("no replayed stream stays in its first episode for three steps")


@pytest.mark.parametrize("n", [2, 3])
def test_sampled_n_step_off_policy_ratios_stop_at_the_episode_end(n):
    # n-step off-policy TD (Sutton & Barto 2018 eqs. 7.9 and 11.1): at step t update S_τ, τ = t − n + 1, with
    # ρ_{τ:min(t, T−1)} (G_{τ:t+1} − v(S_τ)) x_τ, where T is the end of S_τ's episode: neither the
    # rewards nor the ratios of the next episode enter.
    alpha, seed = 0.05, 13
    curve = linear.sampled(np.random.default_rng(seed), linear.Rule("semi-gradient-td", alpha=alpha, n=n), PROBLEM,
                           STEPS, streams=STREAMS)
    for b, stream in enumerate(replay(seed)):
        w = PROBLEM.w0.copy()
        for t in range(n - 1, STEPS):
            tau = t - n + 1
            ret, ratio = 0.0, 1.0
            for k in range(tau, t + 1):
                s, a, r, s2, term = stream[k]
                ratio *= TARGET[s, a] / BEHAVIOUR[s, a]
                ret += GAMMA ** (k - tau) * r
                if term:
                    break
                if k == t:
                    ret += GAMMA ** n * value(w, s2)
            s_tau = stream[tau][0]
            w = w + alpha * ratio * (ret - value(w, s_tau)) * PHI[s_tau]
            np.testing.assert_allclose(curve.w[t + 1, b], w, rtol=1e-10, atol=1e-12)
        # the first n − 1 steps make no update
        np.testing.assert_array_equal(curve.w[: n, b], np.tile(PROBLEM.w0, (n, 1)))


# ------------------------------------------------------------------- √PBE where Π is not the identity
def _two_state_root_pbe(w, epsilon, gamma, d):
    """‖Π_D(BV − V)‖_D on the w→2w problem with one feature φ = (1, 2, 0), by hand.

    V = (w, 2w, 0); the Bellman error is ((2γ − 1)w, (2γ(1 − ε) − 2)w, 0). Projecting onto φ gives
    cφ with c = Σ dφδ / Σ dφ², whose D-norm is |Σ dφδ| / √(Σ dφ²).
    """
    phi = np.array([1.0, 2.0, 0.0])
    delta = np.array([(2 * gamma - 1) * w, (2 * gamma * (1 - epsilon) - 2) * w, 0.0])
    return abs(np.sum(d * phi * delta)) / np.sqrt(np.sum(d * phi * phi))


@pytest.mark.parametrize("epsilon, gamma", [(0.1, 0.99), (0.3, 0.7), (0.0, 0.5)])
def test_root_projected_bellman_error_projects_onto_the_features(epsilon, gamma):
    problem = zoo.two_state(epsilon=epsilon, gamma=gamma)
    ws = np.array([[1.0], [-2.5], [0.3]])
    d = np.array([0.5, 0.5, 0.0])
    expected = [_two_state_root_pbe(w[0], epsilon, gamma, d) for w in ws]
    np.testing.assert_allclose(linear.root_projected_bellman_error(problem, ws, weighting=d), expected, rtol=1e-12)


def test_root_projected_bellman_error_on_the_two_state_problem_by_hand():
    # ε = 0.1, γ = 0.99, w = 1, d uniform on the live states: δ̄ = (0.98, −0.218, 0), Σ dφδ = 0.272,
    # Σ dφ² = 2.5, so √PBE = 0.272/√2.5 ≈ 0.1720 (the unprojected ‖δ̄‖_D would be ≈ 0.7099).
    problem = zoo.two_state(epsilon=0.1, gamma=0.99)
    got = linear.root_projected_bellman_error(problem, np.array([1.0]), weighting=np.array([1.0, 1.0, 0.0]))
    assert got == pytest.approx(0.272 / np.sqrt(2.5), rel=1e-12)
    # Default weighting: the on-policy distribution, 1 visit to state 0 per 1/ε visits to state 1.
    d = np.array([0.1, 1.0, 0.0]) / 1.1
    assert linear.root_projected_bellman_error(problem, np.array([1.0])) == pytest.approx(
        _two_state_root_pbe(1.0, 0.1, 0.99, d), rel=1e-10)
