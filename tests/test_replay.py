"""Replay buffers: what is stored (flags apart, invalid steps skipped), FIFO eviction, sequences of
one stream, multistep targets from a replayed sequence against hand expansions, prioritised
sampling and importance weights against direct numpy computations, checkpoints, determinism.

Expected values come from a plain record of what was added (a Python list in insertion order),
never from the buffer's own bookkeeping."""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from triad.agents.replay import PrioritisedReplay, ReplayBuffer, beta_schedule, multistep_inputs, sequence_priority
from triad.errors import ValidationError
from triad.multistep import n_step_returns, off_policy_targets


class Streams:
    """B fake environment streams. A stored row is identified by ``obs = (stream, n)``, n counting
    the stream's valid steps; ``next_obs = (stream, n + 0.5)``, ``reward = 1000·stream + n``.
    ``record`` lists every valid row in insertion order as (stream, n, terminated, truncated)."""

    def __init__(self, B: int, seed: int = 0, p_valid: float = 0.8, p_end: float = 0.2):
        self.B, self.rng = B, np.random.default_rng(seed)
        self.p_valid, self.p_end = p_valid, p_end
        self.n = np.zeros(B, int)
        self.record: list[tuple[int, int, bool, bool]] = []

    def step(self) -> dict:
        B, rng = self.B, self.rng
        valid = rng.random(B) < self.p_valid
        terminated = rng.random(B) < self.p_end
        truncated = ~terminated & (rng.random(B) < self.p_end)
        obs = np.stack([np.arange(B), self.n], axis=1).astype(np.float32)
        step = {"obs": obs, "action": (self.n % 3).astype(np.int64), "reward": 1000.0 * np.arange(B) + self.n,
                "terminated": terminated, "truncated": truncated, "next_obs": obs + np.float32([0, 0.5]),
                "valid": valid, "mu": np.full(B, 0.25), "episode_step": np.zeros(B, int)}
        for b in np.flatnonzero(valid):
            self.record.append((int(b), int(self.n[b]), bool(terminated[b]), bool(truncated[b])))
        self.n[valid] += 1
        return step


def buffer(capacity: int, cls=ReplayBuffer, **kw):
    return cls(capacity, (2,), np.float32, (), np.int64, extras={"mu": ((), np.float64)}, **kw)


def rows(batch) -> list[tuple[int, int]]:
    """(stream, n) of each row of a batch's obs, flattened in C order over the leading axes."""
    obs = batch["obs"].reshape(-1, 2)
    return [(int(s), int(n)) for s, n in obs]


def fill(buf, streams: Streams, steps: int):
    for _ in range(steps):
        buf.add(streams.step())
    return streams


# ------------------------------------------------------------------------------------ storage
def test_flags_stay_apart_and_invalid_steps_are_skipped():
    buf, env = buffer(1000), Streams(4, seed=1)
    fill(buf, env, 50)
    assert len(buf) == len(env.record) < 200
    stored = {(int(s), int(n)): (bool(te), bool(tr)) for (s, n), te, tr in
              zip(buf.data["obs"][: len(buf)], buf.data["terminated"][: len(buf)], buf.data["truncated"][: len(buf)],
                  strict=True)}
    assert stored == {(s, n): (te, tr) for s, n, te, tr in env.record}
    assert any(te for _, _, te, _ in env.record) and any(tr for _, _, _, tr in env.record)
    np.testing.assert_array_equal(buf.data["next_obs"][: len(buf)], buf.data["obs"][: len(buf)] + [0, 0.5])


def test_loop_step_objects_are_read_with_their_extras():
    buf = buffer(10)
    step = SimpleNamespace(obs=np.zeros((2, 2)), action=np.array([1, 2]), reward=np.array([0.5, 1.5]),
                           terminated=np.array([True, False]), truncated=np.array([False, True]),
                           next_obs=np.ones((2, 2)), valid=np.array([True, True]), episode_step=np.zeros(2),
                           extras={"mu": np.array([0.3, 0.7]), "raw": np.zeros(2)})
    buf.add(step)
    np.testing.assert_array_equal(buf.data["mu"][:2], [0.3, 0.7])
    np.testing.assert_array_equal(buf.data["terminated"][:2], [True, False])
    np.testing.assert_array_equal(buf.data["truncated"][:2], [False, True])


def test_fifo_eviction_keeps_the_most_recent_in_insertion_order():
    buf, env = buffer(7), Streams(3, seed=2)
    for _ in range(30):
        buf.add(env.step())
        live = [(s, n) for s, n, _, _ in env.record[-7:]]
        slots = np.argsort(buf.keys(np.arange(len(buf))))
        assert [tuple(map(int, o)) for o in buf.data["obs"][slots]] == live
    assert buf.added == len(env.record)


def test_capacity_below_the_batch_keeps_the_last_rows():
    buf, env = buffer(2), Streams(5, seed=3, p_valid=1.0)
    fill(buf, env, 3)
    got = sorted(rows({"obs": buf.data["obs"]}))
    assert got == sorted((s, n) for s, n, _, _ in env.record[-2:])


def test_bytes_per_transition():
    """CartPole-sized: obs 4·float32 twice (32) + int64 action (8) + float64 reward (8) + 2 flags (2)
    + float64 mu (8) + 16 bytes of stream bookkeeping = 74."""
    buf = ReplayBuffer(100, (4,), np.float32, (), np.int64, extras={"mu": ((), np.float64)})
    assert buf.bytes_per_transition == 74
    assert buf.nbytes == 7400


# ------------------------------------------------------------------------------------ sampling
def test_uniform_sample_is_uniform_over_live_transitions_and_deterministic():
    buf, env = buffer(50), Streams(3, seed=4)
    fill(buf, env, 40)
    live = {(s, n) for s, n, _, _ in env.record[-50:]}
    a = buf.sample(np.random.default_rng(11), 20_000)
    b = buf.sample(np.random.default_rng(11), 20_000)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    got = rows(a)
    assert set(got) == live
    counts = np.unique(np.array(got), axis=0, return_counts=True)[1]
    assert stats.chisquare(counts).pvalue > 1e-3
    # keys identify the rows: key k is the k-th valid row added
    assert [tuple(env.record[k][:2]) for k in a["key"][:100]] == got[:100]


def sequences_are_consecutive_live_runs(buf, env: Streams, batch, length: int) -> None:
    """Every sampled column is `length` consecutive valid steps of one stream, all still live."""
    live = env.record[-buf.capacity:]
    position = {(s, n): i for i, (s, n, _, _) in enumerate(live)}
    seqs = batch["obs"].astype(int)  # (L, k, 2)
    assert seqs.shape[:2][0] == length
    for col in range(seqs.shape[1]):
        stream, n0 = seqs[0, col]
        assert [tuple(x) for x in seqs[:, col]] == [(stream, n0 + i) for i in range(length)]
        assert all((stream, n0 + i) in position for i in range(length))
    flags = {(s, n): (te, tr) for s, n, te, tr in live}
    for t in range(length):
        for col in range(seqs.shape[1]):
            assert (batch["terminated"][t, col], batch["truncated"][t, col]) == flags[tuple(seqs[t, col])]


def all_starts(buf, env: Streams, length: int) -> set[tuple[int, int]]:
    """Starts of length-L runs by a plain scan of the live record (independent of the buffer)."""
    live = {(s, n) for s, n, _, _ in env.record[-buf.capacity:]}
    return {(s, n) for s, n in live if all((s, n + i) in live for i in range(length))}


@pytest.mark.parametrize("capacity, length", [(40, 5), (13, 4), (60, 1)])
def test_sequences_follow_one_stream_and_never_cross_the_write_position(capacity, length):
    buf, env = buffer(capacity), Streams(3, seed=5)
    rng = np.random.default_rng(0)
    for _ in range(60):  # the ring wraps several times
        buf.add(env.step())
        if buf.sequence_starts(length):
            batch = buf.sample_sequences(rng, 16, length)
            sequences_are_consecutive_live_runs(buf, env, batch, length)
    assert buf.sequence_starts(length) == len(all_starts(buf, env, length))


def test_sequence_starts_are_uniform_over_every_possible_start():
    buf, env = buffer(30), Streams(2, seed=6)
    fill(buf, env, 40)
    starts = all_starts(buf, env, 6)
    batch = buf.sample_sequences(np.random.default_rng(2), 30_000, 6)
    first = [tuple(x) for x in batch["obs"][0].astype(int)]
    assert set(first) == starts
    counts = np.unique(np.array(first), axis=0, return_counts=True)[1]
    assert stats.chisquare(counts).pvalue > 1e-3


def test_sparse_starts_take_the_exact_path_and_stay_uniform():
    """A long length leaves few starts (fewer than half the slots): sampled from the enumerated set."""
    buf, env = buffer(30), Streams(2, seed=6)
    fill(buf, env, 40)
    starts = all_starts(buf, env, 12)
    assert 0 < 2 * len(starts) < len(buf)
    batch = buf.sample_sequences(np.random.default_rng(3), 5000, 12)
    assert {tuple(x) for x in batch["obs"][0].astype(int)} == starts
    sequences_are_consecutive_live_runs(buf, env, batch, 12)


def test_stream_ids_join_rows_from_separate_adds():
    """Two actors with two envs each add their halves of a vector step under stream ids 0, 1 and 2, 3
    (Ape-X style): sequences still follow one environment."""
    buf, env = buffer(40), Streams(4, seed=14)
    rng = np.random.default_rng(1)
    for _ in range(30):
        before = len(env.record)
        step = env.step()
        new = env.record[before:]
        env.record[before:] = [r for r in new if r[0] >= 2] + [r for r in new if r[0] < 2]  # insertion order
        for ids in (np.array([2, 3]), np.array([0, 1])):
            buf.add({k: v[ids] for k, v in step.items()}, stream=ids)
    assert buf.streams == 4 and buf.sequence_starts(5) == len(all_starts(buf, env, 5))
    sequences_are_consecutive_live_runs(buf, env, buf.sample_sequences(rng, 64, 5), 5)


@given(st.integers(1, 30), st.integers(1, 4), st.integers(1, 8), st.integers(0, 2**16))
def test_sequences_property(capacity, B, length, seed):
    buf, env = buffer(capacity), Streams(B, seed=seed, p_valid=0.7)
    rng = np.random.default_rng(seed)
    for _ in range(25):
        buf.add(env.step())
        n = len(all_starts(buf, env, length))
        assert buf.sequence_starts(length) == n
        if n:
            sequences_are_consecutive_live_runs(buf, env, buf.sample_sequences(rng, 4, length), length)
        else:
            with pytest.raises(ValidationError, match="consecutive steps"):
                buf.sample_sequences(rng, 4, length)


# ------------------------------------------------------------------------- targets via multistep
GAMMA = 0.9
# One stream after 3 filler steps: an episode terminated at row 2, one truncated at row 4, one running.
#   row : 0   1   2     3   4      5   6
#   obs : s0  s1  s2    s4  s5     s7  s8
#   next: s1  s2  s3*   s5  s6**   s8  s9      (* terminal state, ** the truncated episode's last state)
EPISODES = {"obs": [0, 1, 2, 4, 5, 7, 8], "next_obs": [1, 2, 3, 5, 6, 8, 9], "action": [0, 1, 0, 1, 0, 1, 0],
            "reward": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], "terminated": [0, 0, 1, 0, 0, 0, 0],
            "truncated": [0, 0, 0, 0, 1, 0, 0], "mu": [0.5, 0.8, 0.4, 0.25, 0.5, 0.6, 0.9]}
V = {1: 10.0, 2: 20.0, 3: 30.0, 5: 50.0, 6: 60.0, 8: 80.0, 9: 90.0}
Q = {s: np.array([v - 1.0, v + 2.0]) for s, v in V.items()}  # Q(s, ·)
PI = {s: np.array([0.3, 0.7]) if s % 2 else np.array([0.9, 0.1]) for s in V}  # target policy π(·|s)


def episode_buffer(cls=ReplayBuffer, **kw):
    """The rows above in a ring of 9 that has wrapped (3 filler steps of the stream come first, and a
    second stream adds 2 steps), so the 7 rows sit across the ring's end."""
    buf = cls(9, (1,), np.float32, (), np.int64, extras={"logp": ((), np.float64)}, **kw)

    def add(stream_rows, valid):
        B = len(stream_rows)
        step = {k: np.array([r[k] for r in stream_rows]) for k in ("action", "reward", "logp")}
        step.update(obs=np.array([[r["obs"]] for r in stream_rows], np.float32),
                    next_obs=np.array([[r["next_obs"]] for r in stream_rows], np.float32),
                    terminated=np.array([r["terminated"] for r in stream_rows], bool),
                    truncated=np.array([r["truncated"] for r in stream_rows], bool), valid=np.array(valid[:B]))
        buf.add(step)

    filler = {"obs": -1, "next_obs": -1, "action": 0, "reward": 0.0, "terminated": 0, "truncated": 0, "logp": 0.0}
    for i in range(3):
        add([filler, filler], [True, i < 2])
    for t in range(7):
        row = {k: EPISODES[k][t] for k in EPISODES if k != "mu"} | {"logp": np.log(EPISODES["mu"][t])}
        add([row, filler], [True, False])
    return buf


def the_episode_sequence(buf):
    batch = buf.sample_sequences(np.random.default_rng(0), 32, 7)
    cols = np.flatnonzero(batch["obs"][0, :, 0] == 0)
    assert cols.size  # the other possible start is the last filler step
    return {k: v[:, cols[:1]] for k, v in batch.items()}


def test_n_step_targets_from_a_replayed_sequence_cut_at_termination_and_bootstrap_at_truncation():
    seq = the_episode_sequence(episode_buffer())
    x = multistep_inputs(seq, GAMMA)
    np.testing.assert_array_equal(x.discount_t[:, 0], [0.9, 0.9, 0.0, 0.9, 0.9, 0.9, 0.9])
    v_t = np.vectorize(V.get)(x.next_obs[..., 0].astype(int))
    G = n_step_returns(x.r_t, x.discount_t, v_t, 3, truncated_t=x.truncated_t)[:, 0]
    g = GAMMA
    expected = [
        1 + g * 2 + g * g * 3,      # row 0: the window ends at the terminal row 2; V(s3) is not read
        2 + g * 3,                  # row 1
        3,                          # row 2: terminal
        4 + g * (5 + g * 60),       # row 3: stops at the truncation and bootstraps from V(s6)
        5 + g * 60,                 # row 4: truncated
        6 + g * (7 + g * 90),       # row 5: the sequence's end bootstraps from V(s9)
        7 + g * 90,                 # row 6
    ]
    np.testing.assert_allclose(G, expected, rtol=1e-14)


def test_retrace_targets_from_a_replayed_sequence_against_a_hand_expansion():
    """Retrace, λ = 1: G_t = r_t + γ_t·(Σ_a π Q(s_{t+1}, a) + c_t·(G_{t+1} − Q(s_{t+1}, a_{t+1}))),
    c_t = min(1, π(a_{t+1}|s_{t+1}) / μ(a_{t+1}|s_{t+1})), with μ recovered from the stored log μ."""
    seq = the_episode_sequence(episode_buffer())
    x = multistep_inputs(seq, GAMMA, logp="logp")
    np.testing.assert_allclose(x.mu_t[:, 0], EPISODES["mu"], rtol=1e-14)
    nxt = x.next_obs[:, 0, 0].astype(int)
    q_t = np.stack([Q[s] for s in nxt])[:, None]
    pi_t = np.stack([PI[s] for s in nxt])[:, None]
    G = off_policy_targets(x.r_t, x.discount_t, q_t, x.a_t, "retrace", pi_t=pi_t, mu_t=x.mu_t,
                           truncated_t=x.truncated_t)[:, 0]
    g, a, mu, r = GAMMA, EPISODES["action"], EPISODES["mu"], EPISODES["reward"]

    def v(s):
        return float(PI[s] @ Q[s])

    def c(s, t_next):  # trace of continuing into row t_next, whose state is s = s_{t+1}
        return min(1.0, PI[s][a[t_next]] / mu[t_next])

    G2 = r[2]                                                    # terminal: nothing of s3
    G1 = r[1] + g * (v(2) + c(2, 2) * (G2 - Q[2][a[2]]))
    G0 = r[0] + g * (v(1) + c(1, 1) * (G1 - Q[1][a[1]]))
    G4 = r[4] + g * v(6)                                         # truncated: bootstraps from s6
    G3 = r[3] + g * (v(5) + c(5, 4) * (G4 - Q[5][a[4]]))
    G6 = r[6] + g * v(9)                                         # last row of the sequence
    G5 = r[5] + g * (v(8) + c(8, 6) * (G6 - Q[8][a[6]]))
    np.testing.assert_allclose(G, [G0, G1, G2, G3, G4, G5, G6], rtol=1e-13)


def test_one_step_batches_discount_and_flags():
    buf = episode_buffer()
    x = multistep_inputs(buf.sample(np.random.default_rng(1), 200), GAMMA)
    assert set(np.unique(x.discount_t)) <= {0.0, 0.9}
    np.testing.assert_array_equal(x.discount_t == 0.0, x.next_obs[:, 0] == 3)  # only the terminal row
    assert x.mu_t is None
    with pytest.raises(ValidationError, match="not both"):
        multistep_inputs({}, GAMMA, mu="mu", logp="logp")
    with pytest.raises(ValidationError, match="no 'mu'"):
        multistep_inputs(buf.sample(np.random.default_rng(1), 2), GAMMA, mu="mu")


# ---------------------------------------------------------------------------- prioritised replay
def test_new_transitions_get_the_max_priority_and_weights_match_numpy():
    buf, env = buffer(20, PrioritisedReplay, alpha=0.6, epsilon=1e-3), Streams(2, seed=8, p_valid=1.0)
    fill(buf, env, 5)  # 10 transitions at priority 1
    np.testing.assert_array_equal(buf.tree.priorities()[:10], 1.0)
    td = np.linspace(-2.0, 3.0, 10)
    keys = np.arange(10)
    buf.update_priorities(keys, td)
    p = (np.abs(td) + 1e-3) ** 0.6
    fill(buf, env, 1)  # two new ones: the largest priority so far
    p = np.concatenate([p, [p.max(), p.max()]])
    np.testing.assert_allclose(buf.tree.priorities()[:12], p, rtol=1e-15)
    batch = buf.sample(np.random.default_rng(3), 64, beta=0.5)
    P = p / p.sum()
    w = (12 * P[batch["key"]]) ** -0.5
    np.testing.assert_allclose(batch["weight"], w / w.max(), rtol=1e-12)
    assert [tuple(env.record[k][:2]) for k in batch["key"]] == rows(batch)


def test_prioritised_sampling_frequencies_match_priorities():
    buf, env = buffer(40, PrioritisedReplay, alpha=0.7), Streams(4, seed=9, p_valid=1.0)
    fill(buf, env, 10)
    td = np.random.default_rng(0).exponential(1.0, 40)
    buf.update_priorities(np.arange(40), td)
    counts = np.zeros(40)
    rng = np.random.default_rng(1)
    for _ in range(500):
        np.add.at(counts, buf.sample(rng, 64)["key"], 1)
    p = (td + 1e-6) ** 0.7
    assert stats.chisquare(counts, counts.sum() * p / p.sum()).pvalue > 1e-3


def test_evicted_transitions_lose_their_priority_and_stale_updates_are_dropped():
    buf, env = buffer(6, PrioritisedReplay, alpha=1.0, epsilon=0.5), Streams(1, seed=10, p_valid=1.0)
    fill(buf, env, 6)
    buf.update_priorities(np.arange(6), [9.5, 0.0, 0.0, 0.0, 0.0, 0.0])  # max 10, others 0.5
    buf.update_priorities([0], [0.0])  # key 0 back to 0.5; the max seen stays 10
    fill(buf, env, 2)  # keys 6, 7 overwrite slots 0, 1 with the max priority
    np.testing.assert_array_equal(buf.tree.priorities(), [10.0, 10.0, 0.5, 0.5, 0.5, 0.5])
    before = buf.tree.priorities().copy()
    buf.update_priorities([0, 1], [100.0, 100.0])  # both overwritten since: ignored
    np.testing.assert_array_equal(buf.tree.priorities(), before)
    with pytest.raises(ValidationError, match="keys must lie"):
        buf.update_priorities([8], [1.0])


def test_initial_priorities_from_the_actor():
    buf = buffer(10, PrioritisedReplay, alpha=0.5, epsilon=0.0 + 1e-9)
    env = Streams(3, seed=11, p_valid=1.0)
    step = env.step()
    step["valid"] = np.array([True, False, True])
    buf.add(step, td_errors=np.array([4.0, 100.0, 0.25]))
    np.testing.assert_allclose(buf.tree.priorities()[:3], [(4.0 + 1e-9) ** 0.5, (0.25 + 1e-9) ** 0.5, 0.0])


@pytest.mark.parametrize("capacity, B, L", [(30, 3, 4), (7, 3, 3), (3, 1, 4)])
def test_sequence_priorities_only_on_complete_sequences(capacity, B, L):
    """Positive priorities sit exactly on the starts of complete live runs (a plain scan of the record),
    also when a ring too small for the streams evicts a run's start before its end arrives."""
    buf, env = buffer(capacity, PrioritisedReplay, sequence_length=L), Streams(B, seed=12)
    rng = np.random.default_rng(0)
    for _ in range(40):
        buf.add(env.step())
        starts = all_starts(buf, env, L)
        positive = buf.tree.priorities() > 0
        stored = {tuple(map(int, o)) for o in buf.data["obs"][positive]}
        assert stored == starts and buf.entries() == len(starts)
        if starts:
            batch = buf.sample_sequences(rng, 8, beta=0.0)
            sequences_are_consecutive_live_runs(buf, env, batch, L)
            np.testing.assert_array_equal(batch["weight"], 1.0)
            td = rng.normal(size=(L, 8))
            buf.update_priorities(batch["key"][0], sequence_priority(td))


def test_sequence_priority_mixture_and_weights():
    td = np.array([[1.0, -2.0], [-3.0, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(sequence_priority(td, eta=0.9), [0.9 * 3 + 0.1 * 1.5, 0.9 * 2 + 0.1 * 1.0])
    np.testing.assert_allclose(sequence_priority(td, eta=0.0), [1.5, 1.0])
    L = 3
    buf, env = buffer(12, PrioritisedReplay, sequence_length=L, alpha=1.0, epsilon=1e-9), Streams(1, seed=0,
                                                                                                 p_valid=1.0)
    fill(buf, env, 12)  # starts at n = 0 … 9 are complete
    buf.update_priorities(np.arange(10), np.arange(1.0, 11.0))
    batch = buf.sample_sequences(np.random.default_rng(5), 50, beta=0.6)
    n0 = batch["obs"][0, :, 1].astype(int)
    P = (n0 + 1.0 + 1e-9) / (np.arange(1.0, 11.0) + 1e-9).sum()
    w = (10 * P) ** -0.6
    np.testing.assert_allclose(batch["weight"], w / w.max(), rtol=1e-12)
    with pytest.raises(ValidationError, match="not the start of a complete"):
        buf.update_priorities([11], [1.0])
    with pytest.raises(ValidationError, match="use sample_sequences"):
        buf.sample(np.random.default_rng(0), 4)
    with pytest.raises(ValidationError, match="length = 5"):
        buf.sample_sequences(np.random.default_rng(0), 4, 5)


def test_overwritten_sequence_starts_lose_their_priority():
    buf, env = buffer(5, PrioritisedReplay, sequence_length=2), Streams(1, seed=0, p_valid=1.0)
    fill(buf, env, 5)  # n = 0 … 4 in slots 0 … 4; starts 0 … 3 complete
    buf.update_priorities(np.arange(4), [7.0, 7.0, 7.0, 7.0])
    fill(buf, env, 1)  # n = 5 overwrites slot 0 (start n = 0 gone, n = 5 not complete); start n = 4 completes
    p = buf.tree.priorities()
    assert p[0] == 0.0 and p[4] == buf.max_priority == pytest.approx(7.000001 ** 0.6)


def test_beta_schedule():
    assert beta_schedule(0, 100) == 0.4
    assert beta_schedule(50, 100) == pytest.approx(0.7)
    assert beta_schedule(500, 100) == 1.0
    assert beta_schedule(3, 0) == 1.0


# ----------------------------------------------------------------------------- checkpoints, errors
@pytest.mark.parametrize("kind", ["uniform", "prioritised", "sequences"])
def test_state_dict_round_trip_continues_identically(kind):
    make = {"uniform": lambda: buffer(25),
            "prioritised": lambda: buffer(25, PrioritisedReplay),
            "sequences": lambda: buffer(25, PrioritisedReplay, sequence_length=3)}[kind]
    a, env = make(), Streams(3, seed=13)
    fill(a, env, 15)
    if kind != "uniform":
        batch = a.sample_sequences(np.random.default_rng(0), 8) if kind == "sequences" else a.sample(
            np.random.default_rng(0), 8)
        key = batch["key"][0] if kind == "sequences" else batch["key"]
        a.update_priorities(key, np.arange(8.0))
    state = a.state_dict()
    b = make()
    b.load_state_dict(state)
    for _ in range(10):  # both continue with the same steps
        step = env.step()
        a.add(step)
        b.add(step)
    for name in a.data:
        np.testing.assert_array_equal(a.data[name], b.data[name])
    if kind == "sequences":
        x, y = (buf.sample_sequences(np.random.default_rng(4), 16) for buf in (a, b))
    elif kind == "prioritised":
        x, y = (buf.sample(np.random.default_rng(4), 16) for buf in (a, b))
    else:
        x, y = (buf.sample_sequences(np.random.default_rng(4), 16, 3) for buf in (a, b))
    for name in x:
        np.testing.assert_array_equal(x[name], y[name])
    assert len(a) == len(b) and a.added == b.added
    with pytest.raises(ValidationError, match="capacity"):
        buffer(26).load_state_dict(ReplayBuffer.state_dict(a))


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValidationError, match="capacity"):
        buffer(0)
    with pytest.raises(ValidationError, match="clashes"):
        ReplayBuffer(4, (1,), float, (), int, extras={"reward": ((), float)})
    buf = buffer(4)
    with pytest.raises(ValidationError, match="empty"):
        buf.sample(np.random.default_rng(0), 1)
    step = Streams(2).step()
    with pytest.raises(ValidationError, match="no 'mu'"):
        buf.add({k: v for k, v in step.items() if k != "mu"})
    with pytest.raises(ValidationError, match="action has shape"):
        buf.add(step | {"action": np.zeros(3, int)})
    with pytest.raises(ValidationError, match="repeat"):
        buf.add(step, stream=np.array([1, 1]))
    with pytest.raises(ValidationError, match="length"):
        buf.sample_sequences(np.random.default_rng(0), 1, 0)
    with pytest.raises(ValidationError, match="batch_size"):
        buf.sample(np.random.default_rng(0), 0)
    with pytest.raises(ValidationError, match="alpha"):
        buffer(4, PrioritisedReplay, alpha=-1.0)
