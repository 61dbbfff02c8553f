"""Samplers: right frequencies, determinism under a seed, termination versus truncation."""

import numpy as np
from scipy import stats

from triad.sampling import Sampler, rollout, sample_actions
from triad.zoo import chain, garnet, maximization_bias


def test_next_state_frequencies_match_P():
    mdp = garnet(S=6, A=2, b=4, seed=2).mdp
    rng = np.random.default_rng(0)
    n = 200_000
    s = np.full(n, 3)
    a = np.full(n, 1)
    counts = np.bincount(Sampler(mdp).next_states(rng, s, a), minlength=6)
    expected = mdp.to_dense().P[3, 1] * n
    support = expected > 0
    assert counts[~support].sum() == 0
    assert stats.chisquare(counts[support], expected[support]).pvalue > 1e-4


def test_action_frequencies_and_determinism():
    pi = np.array([[0.2, 0.8], [1.0, 0.0]])
    def draw(seed):
        return sample_actions(np.random.default_rng(seed), pi, np.zeros(100_000, dtype=int))

    a = draw(5)
    assert abs(a.mean() - 0.8) < 0.01
    np.testing.assert_array_equal(a, draw(5))
    assert np.all(sample_actions(np.random.default_rng(1), pi, np.ones(50, dtype=int)) == 0)


def test_reward_noise_has_the_declared_moments():
    mdp = maximization_bias().mdp
    r = Sampler(mdp).rewards(np.random.default_rng(3), np.full(100_000, 1), np.full(100_000, 4))
    assert abs(r.mean() + 0.1) < 0.02 and abs(r.std() - 1.0) < 0.02


def test_rollout_terminates_restarts_and_truncates():
    mdp = chain(4).mdp  # from 0, "right" three times reaches the terminal state 3
    right = np.tile([0.0, 1.0], (4, 1))
    traj = rollout(np.random.default_rng(0), mdp, right, steps=7, streams=2)
    np.testing.assert_array_equal(traj.s_t[:, 0], [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(traj.terminated_t[:, 0], [0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(traj.r_t[:, 0], [0, 0, 1, 0, 0, 1, 0])
    assert not traj.truncated_t.any()
    cut = rollout(np.random.default_rng(0), mdp, right, steps=6, streams=1, max_episode_steps=2)
    np.testing.assert_array_equal(cut.s_t[:, 0], [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(cut.truncated_t[:, 0], [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(cut.next_s_t[:, 0], [1, 2, 1, 2, 1, 2])


def test_same_seed_same_trajectory():
    mdp = garnet(S=30, seed=1).mdp
    pi = np.full((30, 4), 0.25)
    a = rollout(np.random.default_rng(9), mdp, pi, steps=50, streams=8)
    b = rollout(np.random.default_rng(9), mdp, pi, steps=50, streams=8)
    for field in ("s_t", "a_t", "r_t", "next_s_t"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_stream_rng_gives_each_stream_the_same_numbers_whatever_the_batch():
    from triad.sampling import StreamRNG

    mdp = garnet(S=30, seed=1).mdp
    pi = np.full((30, 4), 0.25)
    small = rollout(StreamRNG(3, key=7), mdp, pi, steps=40, streams=3)
    large = rollout(StreamRNG(10, key=7), mdp, pi, steps=40, streams=10)
    for field in ("s_t", "a_t", "r_t", "next_s_t"):
        np.testing.assert_array_equal(getattr(small, field), getattr(large, field)[:, :3])
    assert not np.array_equal(large.s_t[:, 0], large.s_t[:, 1])  # the streams differ from each other
    rng = StreamRNG([4, 9], key=1)
    np.testing.assert_array_equal(rng.random((2, 3))[1], np.random.default_rng([1, 9]).random(3))
    import pytest

    from triad import ValidationError
    with pytest.raises(ValidationError, match="first axis must be the streams"):
        rng.random((3,))


def test_rollout_names_its_streams():
    import pytest

    from triad import ValidationError

    with pytest.raises(ValidationError, match="rollout needs steps ≥ 1 and streams ≥ 1, got steps=3, streams=0"):
        rollout(np.random.default_rng(0), chain(n=3).mdp, np.full((3, 2), 0.5), steps=3, streams=0)
