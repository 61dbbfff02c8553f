"""Gymnasium environments over finite MDPs (triad.envs): API, hand-counted episodes, frequencies, seeds, make_env."""

import importlib.util
import pickle
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from triad.envs import ENV_ID, FiniteEnv, FiniteMDPEnv, describe, is_finite, make_env, register
from triad.errors import SpecError, ValidationError
from triad.mdp import FiniteMDP
from triad.sampling import Sampler, sample_actions
from triad.zoo import baird, chain, garnet, maximization_bias

RIGHT, LEFT = 1, 0


def run(env, actions):
    """Step ``env`` through ``actions`` (T, B); stack obs, rewards, flags and infos over time."""
    out = [env.step(np.asarray(a)) for a in actions]
    obs, r, term, trunc, infos = zip(*out, strict=True)
    return np.stack(obs), np.stack(r), np.stack(term), np.stack(trunc), list(infos)


def states_of(obs):
    """The state of each one-hot observation."""
    return np.argmax(obs, axis=-1)


# ------------------------------------------------------------------------------ single env
@pytest.mark.parametrize("spec, obs", [("chain:n=5", "onehot"), ("baird", "features"),
                                       ("garnet:S=20,A=3,b=3", "state"), ("two-state", "features")])
def test_single_env_passes_gymnasium_check_env_with_warnings_as_errors(spec, obs):
    env = gymnasium.make(ENV_ID, spec=spec, obs=obs, max_episode_steps=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
        check_env(FiniteMDPEnv(spec, obs=obs), skip_render_check=True)  # no spec: only the render check needs one


def test_single_env_episode_is_the_hand_counted_chain():
    env = FiniteMDPEnv("chain:n=4", obs="state")
    assert env.reset(seed=0) == (0, {})
    steps = [env.step(RIGHT) for _ in range(3)]  # 0 → 1 → 2 → 3 (terminal, reward 1)
    assert [s[0] for s in steps] == [1, 2, 3]
    assert [s[1:4] for s in steps] == [(0.0, False, False), (0.0, False, False), (1.0, True, False)]
    cut = FiniteMDPEnv("chain:n=4", obs="state", max_episode_steps=2)
    cut.reset(seed=0)
    assert [cut.step(RIGHT)[2:4] for _ in range(2)] == [(False, False), (False, True)]


# ------------------------------------------------------------------------------- vector API
@pytest.mark.parametrize("obs, dim, dtype", [("onehot", 7, np.float32), ("features", 8, np.float32),
                                             ("state", None, np.int64)])
def test_vector_api_shapes_dtypes_and_the_observation_table(obs, dim, dtype):
    B = 5
    env = FiniteEnv("baird", B, obs=obs)
    assert env.num_envs == B and env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    assert env.single_action_space == gymnasium.spaces.Discrete(2)
    assert env.action_space == gymnasium.spaces.MultiDiscrete([2] * B)
    table_shape = (7,) if dim is None else (7, dim)
    assert env.obs_table.shape == table_shape and env.obs_table.dtype == dtype
    if obs == "features":
        np.testing.assert_array_equal(env.obs_table, baird().features.astype(np.float32))
    if obs == "onehot":
        np.testing.assert_array_equal(env.obs_table, np.eye(7, dtype=np.float32))
    o, info = env.reset(seed=1)
    assert o.shape == (B, *table_shape[1:]) and o.dtype == dtype and info == {}
    assert env.observation_space.contains(o)
    np.testing.assert_array_equal(o, env.obs_table[env.states])
    o, r, term, trunc, info = env.step(env.action_space.sample())
    assert o.shape == (B, *table_shape[1:]) and o.dtype == dtype and env.observation_space.contains(o)
    assert r.shape == term.shape == trunc.shape == (B,)
    assert r.dtype == np.float64 and term.dtype == trunc.dtype == np.bool_
    assert env.problem.mdp is env.mdp and env.mdp.name == "baird"


def test_terminated_and_truncated_at_the_hand_counted_steps():
    # chain:n=5 from state 0 always right: states 1, 2, 3, 4; entering 4 (terminal) pays 1 at step 4.
    right = np.full((6, 3), RIGHT)
    free = FiniteEnv("chain:n=5", 3, autoreset_mode="DISABLED")
    free.reset(seed=0)
    obs, r, term, trunc, _ = run(free, right[:4])
    np.testing.assert_array_equal(states_of(obs)[:, 0], [1, 2, 3, 4])
    np.testing.assert_array_equal(term[:, 0], [0, 0, 0, 1])
    np.testing.assert_array_equal(r[:, 0], [0, 0, 0, 1])
    assert not trunc.any()
    # limit 3: cut at step 3 in state 3, not terminated; limit 4: the terminal arrival is a termination only
    for limit, term_at, trunc_at in ((3, None, 2), (4, 3, None)):
        env = FiniteEnv("chain:n=5", 3, max_episode_steps=limit, autoreset_mode="DISABLED")
        env.reset(seed=0)
        _, _, term, trunc, _ = run(env, right[:limit])
        expect_term, expect_trunc = np.zeros(limit, bool), np.zeros(limit, bool)
        if term_at is not None:
            expect_term[term_at] = True
        if trunc_at is not None:
            expect_trunc[trunc_at] = True
        for b in range(3):
            np.testing.assert_array_equal(term[:, b], expect_term)
            np.testing.assert_array_equal(trunc[:, b], expect_trunc)


# chain:n=4; stream 0 always goes right (episode: 0→1→2→3, 3 steps); stream 1 first walks into the
# left wall (0→0) and then goes right (4 steps). Hand-expanded below.
ACTIONS = np.array([[RIGHT, LEFT], [RIGHT, RIGHT], [RIGHT, RIGHT], [RIGHT, RIGHT],
                    [RIGHT, RIGHT], [RIGHT, RIGHT], [RIGHT, RIGHT]])


def test_next_step_autoreset_returns_the_final_obs_then_a_reset_step():
    env = FiniteEnv("chain:n=4", 2)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(states_of(obs), [0, 0])
    obs, r, term, trunc, infos = run(env, ACTIONS)
    # stream 0: 1, 2, 3 (final obs, terminated), reset step → 0 (its action "right" is ignored), 1, 2, 3
    # stream 1: 0, 1, 2, 3 (terminated), reset step → 0, 1, 2
    np.testing.assert_array_equal(states_of(obs), [[1, 0], [2, 1], [3, 2], [0, 3], [1, 0], [2, 1], [3, 2]])
    np.testing.assert_array_equal(term, [[0, 0], [0, 0], [1, 0], [0, 1], [0, 0], [0, 0], [1, 0]])
    np.testing.assert_array_equal(r, term.astype(float))
    assert not trunc.any() and all(info == {} for info in infos)


def test_same_step_autoreset_returns_the_reset_obs_and_final_obs_in_info():
    env = FiniteEnv("chain:n=4", 2, autoreset_mode=AutoresetMode.SAME_STEP)
    assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    env.reset(seed=0)
    obs, r, term, trunc, infos = run(env, ACTIONS)
    # stream 0: 1, 2, [3 → restart 0], 1, 2, [3 → 0], 1; stream 1: 0, 1, 2, [3 → 0], 1, 2, [3 → 0]
    np.testing.assert_array_equal(states_of(obs), [[1, 0], [2, 1], [0, 2], [1, 0], [2, 1], [0, 2], [1, 0]])
    np.testing.assert_array_equal(term, [[0, 0], [0, 0], [1, 0], [0, 1], [0, 0], [1, 0], [0, 1]])
    np.testing.assert_array_equal(r, term.astype(float))
    assert not trunc.any()
    for t, info in enumerate(infos):
        if not term[t].any():
            assert "final_obs" not in info
            continue
        np.testing.assert_array_equal(info["_final_obs"], term[t])
        np.testing.assert_array_equal(info["_final_info"], term[t])
        for b in range(2):
            if term[t, b]:
                np.testing.assert_array_equal(info["final_obs"][b], np.eye(4, dtype=np.float32)[3])
            else:
                assert info["final_obs"][b] is None


def test_disabled_autoreset_waits_for_a_reset_mask():
    env = FiniteEnv("chain:n=4", 2, autoreset_mode="disabled")
    env.reset(seed=0)
    obs, _, term, _, _ = run(env, ACTIONS[:4])
    np.testing.assert_array_equal(states_of(obs), [[1, 0], [2, 1], [3, 2], [3, 3]])  # stream 0 stays absorbed
    np.testing.assert_array_equal(term[2:], [[1, 0], [1, 1]])
    obs, _ = env.reset(options={"reset_mask": np.array([True, False])})
    np.testing.assert_array_equal(states_of(obs), [0, 3])
    # the reset restarts the episode's clock: limit 3, stream 0 reset after 2 steps
    timed = FiniteEnv("chain:n=9", 2, max_episode_steps=3, autoreset_mode="DISABLED")
    timed.reset(seed=0)
    run(timed, ACTIONS[1:3])
    timed.reset(options={"reset_mask": np.array([True, False])})
    np.testing.assert_array_equal(run(timed, ACTIONS[1:4])[3], [[0, 1], [0, 0], [1, 0]])
    # NEXT_STEP: a stream reset by mask right after its episode ended skips the reset step
    auto = FiniteEnv("chain:n=4", 2)
    auto.reset(seed=0)
    run(auto, ACTIONS[:3])  # stream 0 has just terminated
    np.testing.assert_array_equal(states_of(auto.reset(options={"reset_mask": np.array([True, False])})[0]), [0, 2])
    np.testing.assert_array_equal(states_of(auto.step(np.array([RIGHT, RIGHT]))[0]), [1, 3])
    with pytest.raises(ValidationError, match="reset_mask must be a bool array of shape"):
        env.reset(options={"reset_mask": np.array([1, 0])})
    with pytest.raises(SpecError, match="unknown option"):
        env.reset(options={"s0": 1})


# ------------------------------------------------------------------- the process it samples
def test_transition_frequencies_match_P_within_a_confidence_bound():
    problem = garnet(S=5, A=2, b=3, seed=1)
    P = problem.mdp.to_dense().P
    env = FiniteEnv(problem, 500, obs="state")  # no terminal states, no limit: every step is a transition
    s = env.reset(seed=0)[0]
    actions = np.random.default_rng(1)
    counts = np.zeros((5, 2, 5))
    for _ in range(200):
        a = actions.integers(0, 2, size=500)
        nxt = env.step(a)[0]
        np.add.at(counts, (s, a, nxt), 1)
        s = nxt
    n = counts.sum(axis=2, keepdims=True)
    assert n.min() > 5000
    freq = counts / n
    assert np.all(freq[P == 0] == 0)
    bound = 4.5 * np.sqrt(P * (1 - P) / n)  # ≈ 4.5 binomial standard errors per entry
    assert np.all(np.abs(freq - P) <= bound + 1e-12), np.max(np.abs(freq - P) / (bound + 1e-12))


def test_initial_states_follow_mu_and_reward_noise_follows_reward_std():
    P = np.zeros((4, 1, 4))
    P[:, 0, 0] = 1.0
    mu = np.array([0.1, 0.6, 0.3, 0.0])
    n = 40_000
    s0 = FiniteEnv(FiniteMDP(P, np.zeros((4, 1)), 0.9, mu=mu), n, obs="state").reset(seed=3)[0]
    freq = np.bincount(s0, minlength=4) / n
    assert freq[3] == 0 and np.all(np.abs(freq - mu) <= 4.5 * np.sqrt(mu * (1 - mu) / n))
    uniform = FiniteEnv(FiniteMDP(P, np.zeros((4, 1)), 0.9), n, obs="state").reset(seed=3)[0]
    assert np.all(np.abs(np.bincount(uniform, minlength=4) / n - 0.25) <= 4.5 * np.sqrt(0.25 * 0.75 / n))
    # maximization bias: A --left--> B (reward 0), then any action in B ends with reward N(-0.1, 1)
    env = FiniteEnv("maximization-bias", n, obs="state")
    env.reset(seed=4)
    assert np.all(env.step(np.zeros(n, dtype=int))[1] == 0.0)
    r = env.step(np.full(n, 3))[1]
    assert abs(r.mean() + 0.1) < 4.5 / np.sqrt(n) and abs(r.std() - 1.0) < 4.5 * np.sqrt(0.5 / n)


def test_reset_draws_the_same_states_as_sampling_mu_row_by_row():
    # Sampler.initial_states finds s_0 by binary search; it must equal the plain per-row draw.
    mdp = garnet(S=50, A=2, b=3, seed=0).mdp
    mu = np.random.default_rng(2).random(50) * (np.arange(50) % 3 > 0)
    mdp = FiniteMDP(mdp.P, mdp.R, mdp.gamma, mu=mu / mu.sum())
    fast = Sampler(mdp).initial_states(np.random.default_rng(8), (3000,))
    plain = sample_actions(np.random.default_rng(8), mdp.mu[None, :], np.zeros(3000, dtype=int))
    np.testing.assert_array_equal(fast, plain)


# ---------------------------------------------------------------------- forbidden actions
def test_forbidden_actions_raise_and_info_carries_the_action_mask():
    env = FiniteEnv("maximization-bias", 3, obs="state")
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0, 0, 0])
    np.testing.assert_array_equal(info["action_mask"], env.mdp.allowed[[0, 0, 0]])
    np.testing.assert_array_equal(env.allowed, maximization_bias().mdp.allowed)
    with pytest.raises(ValidationError, match=r"stream 1: action 5 is not allowed in state 0 \(A\)"):
        env.step(np.array([0, 5, 1]))
    obs, _, term, _, info = env.step(np.array([0, 1, 1]))  # stream 0 → B, streams 1, 2 → terminal
    np.testing.assert_array_equal(obs, [1, 2, 2])
    np.testing.assert_array_equal(term, [False, True, True])
    # streams 1 and 2 are in their reset step: their actions are ignored, even forbidden ones
    obs, r, term, _, info = env.step(np.array([7, 5, 9]))
    np.testing.assert_array_equal(obs, [2, 0, 0])
    np.testing.assert_array_equal(term, [True, False, False])
    np.testing.assert_array_equal(r[1:], [0.0, 0.0])
    np.testing.assert_array_equal(info["action_mask"], env.mdp.allowed[[0, 0, 0]])
    with pytest.raises(ValidationError, match="stream 2: action 9 is not allowed in state 0"):
        env.step(np.array([0, 0, 9]))
    with pytest.raises(ValidationError, match=r"stream 0: action 10 is outside \[0, 10\)"):
        env.step(np.array([10, 0, 0]))
    with pytest.raises(ValidationError, match=r"actions have shape \(2,\), expected \(3,\)"):
        env.step(np.array([0, 0]))
    single = FiniteMDPEnv("maximization-bias")
    assert single.reset(seed=0)[1]["action_mask"].tolist() == [True, True] + [False] * 8
    with pytest.raises(ValidationError, match="action 4 is not allowed in state 0"):
        single.step(4)


def test_step_before_reset_and_bad_options_are_clear_errors():
    with pytest.raises(gymnasium.error.ResetNeeded):
        FiniteEnv("chain", 2).step(np.zeros(2, dtype=int))
    with pytest.raises(gymnasium.error.ResetNeeded):
        FiniteMDPEnv("chain").step(0)
    with pytest.raises(SpecError, match="chain:n=10,slip=0 prescribes no features"):
        FiniteEnv("chain", 2, obs="features")
    with pytest.raises(SpecError, match="obs='pixels' is not an observation mode"):
        FiniteEnv("chain", 2, obs="pixels")
    with pytest.raises(SpecError, match="autoreset_mode='later' is not one of"):
        FiniteEnv("chain", 2, autoreset_mode="later")
    with pytest.raises(ValidationError, match="num_envs = 0 must be a positive integer"):
        FiniteEnv("chain", 0)
    with pytest.raises(ValidationError, match="max_episode_steps = 0 must be a positive integer"):
        FiniteEnv("chain", 1, max_episode_steps=0)
    with pytest.raises(SpecError, match="needs a zoo spec, an .npz path, a Problem or a FiniteMDP, got int"):
        FiniteEnv(3, 1)


# ---------------------------------------------------------------------- seeds and pickling
def stochastic_run(env, seed, steps=40):
    """Reset with ``seed`` and step with mask-respecting random actions from a fixed generator."""
    actions = np.random.default_rng(11)
    out = [env.reset(seed=seed)[0]]
    for _ in range(steps):
        mask = env.allowed[env.states]
        a = np.array([actions.choice(np.flatnonzero(m)) for m in mask])
        out.extend(env.step(a)[:4])
    return out


@pytest.mark.parametrize("spec", ["maximization-bias", "garnet:S=30,A=3,b=4", "gridworld:slip=0.3"])
def test_same_seed_gives_identical_streams_and_another_seed_differs(spec):
    make = lambda: FiniteEnv(spec, 6, max_episode_steps=5, obs="state")
    first, again, other = stochastic_run(make(), 3), stochastic_run(make(), 3), stochastic_run(make(), 4)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=True))


@pytest.mark.parametrize("mode", ["NEXT_STEP", "SAME_STEP", "DISABLED"])
def test_a_pickled_env_continues_with_the_identical_stream(mode):
    env = FiniteEnv("maximization-bias", 4, max_episode_steps=2, autoreset_mode=mode)
    env.reset(seed=5)
    actions = np.random.default_rng(0)  # actions 0 and 1 are allowed everywhere
    for _ in range(7):  # stop mid-stream, with episodes ending (the limit is 2)
        env.step(actions.integers(0, 2, 4))
    copy = pickle.loads(pickle.dumps(env))
    plan = [actions.integers(0, 2, 4) for _ in range(12)]

    def go(e):
        out = []
        for a in plan:
            if mode == "DISABLED":
                out.append(e.reset(options={"reset_mask": np.array([True, False, True, False])})[0])
            out.extend(e.step(a)[:4])
        return out

    for x, y in zip(go(env), go(copy), strict=True):
        np.testing.assert_array_equal(x, y)
    single = gymnasium.make(ENV_ID, spec="garnet:S=10,A=2,b=3", obs="state")
    single.reset(seed=2)
    twin = pickle.loads(pickle.dumps(single))
    assert [single.step(i % 2) for i in range(20)] == [twin.step(i % 2) for i in range(20)]


# ------------------------------------------------------------------------ registration
def test_gymnasium_make_and_make_vec_build_the_registered_finite_envs():
    env = gymnasium.make(ENV_ID, spec="baird")
    assert isinstance(env.unwrapped, FiniteMDPEnv) and env.unwrapped.mdp.name == "baird"
    assert env.reset(seed=0)[0].shape == (7,)
    vec = gymnasium.make_vec(ENV_ID, num_envs=4, spec="chain:n=5", obs="onehot")
    assert type(vec) is FiniteEnv and vec.num_envs == 4 and vec.mdp.S == 5  # the native vector entry point
    assert vec.reset(seed=0)[0].shape == (4, 5)
    sync = gymnasium.make_vec(ENV_ID, num_envs=3, vectorization_mode="sync", spec="chain:n=5", obs="state")
    assert isinstance(sync, SyncVectorEnv) and sync.reset(seed=0)[0].tolist() == [0, 0, 0]
    limited = gymnasium.make_vec(ENV_ID, num_envs=2, spec="chain:n=9", max_episode_steps=3)
    limited.reset(seed=0)
    assert [bool(limited.step(np.ones(2, dtype=int))[3][0]) for _ in range(3)] == [False, False, True]
    by_module = gymnasium.make("triad.envs:" + ENV_ID, spec="two-state", obs="features")
    assert by_module.unwrapped.mdp.S == 3
    spec = gymnasium.spec(ENV_ID)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # registering again is a silent no-op
        register()
    assert gymnasium.spec(ENV_ID) is spec


def test_importing_triad_envs_does_not_import_torch():
    code = "import sys, triad.envs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------------------- make_env
def test_make_env_resolves_zoo_specs_and_npz_paths_to_finite_envs(tmp_path):
    env = make_env("chain:n=5", 3, seed=0, obs="state", max_episode_steps=4)
    assert type(env) is FiniteEnv and env.mdp.S == 5 and env.max_episode_steps == 4 and env.obs_mode == "state"
    path = chain(6).mdp.save(tmp_path / "corridor.npz")
    from_file = make_env(str(path), 2, seed=1, autoreset_mode="SAME_STEP")
    assert type(from_file) is FiniteEnv and from_file.mdp.S == 6
    assert from_file.autoreset_mode is AutoresetMode.SAME_STEP
    # seeded: two builds continue identically after the seeding reset
    a, b = make_env("garnet:S=20", 4, seed=7, obs="state"), make_env("garnet:S=20", 4, seed=7, obs="state")
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    np.testing.assert_array_equal(a.step(np.ones(4, int))[0], b.step(np.ones(4, int))[0])
    assert is_finite("chain:n=5") and is_finite("baird") and is_finite("x/y.npz") and is_finite(env)
    assert is_finite(chain(3)) and is_finite(chain(3).mdp) and is_finite(path)
    assert not is_finite("CartPole-v1") and not is_finite(gymnasium.make_vec("CartPole-v1", 2))
    assert describe(env) == ("chain:n=5,slip=0 (S=5, A=2, γ=0.9), obs=state, 3 envs: "
                             "observations 5 discrete values; actions 2 discrete values")


@pytest.mark.parametrize("env_id, vector_class, action_space", [
    ("CartPole-v1", "CartPoleVectorEnv", gymnasium.spaces.Discrete(2)),
    ("Acrobot-v1", "SyncVectorEnv", gymnasium.spaces.Discrete(3)),
    ("Pendulum-v1", "SyncVectorEnv", gymnasium.spaces.Box(-2.0, 2.0, (1,), np.float32)),
    ("MountainCarContinuous-v0", "SyncVectorEnv", gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)),
])
def test_make_env_builds_gymnasium_ids_with_their_own_vectorisation(env_id, vector_class, action_space):
    env = make_env(env_id, 3, seed=0)
    assert type(env).__name__ == vector_class and env.num_envs == 3
    assert env.single_action_space == action_space
    assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    first = env.reset()[0]
    np.testing.assert_array_equal(first, make_env(env_id, 3, seed=0).reset()[0])  # seeded
    obs, r, term, trunc, _ = env.step(env.action_space.sample())
    assert obs.shape == (3, *env.single_observation_space.shape) and r.shape == term.shape == trunc.shape == (3,)
    limited = make_env(env_id, 2, seed=0, max_episode_steps=3, autoreset_mode="SAME_STEP")
    assert limited.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    if env_id == "CartPole-v1":
        assert isinstance(limited, SyncVectorEnv)  # CartPoleVectorEnv only does NEXT_STEP
    dones = [limited.step(limited.action_space.sample())[2:4] for _ in range(3)]
    assert not any((t | u).any() for t, u in dones[:2]) and (dones[2][0] | dones[2][1]).all()


def test_make_env_errors_are_one_clear_line():
    with pytest.raises(SpecError, match="unknown environment 'CartPole-v9'.*did you mean CartPole-v1") as err:
        make_env("CartPole-v9", 2, 0)
    assert "\n" not in str(err.value)
    with pytest.raises(SpecError, match="unknown environment 'chian:n=5'.*did you mean chain:n=5"):
        make_env("chian:n=5", 2, 0)
    with pytest.raises(SpecError, match="unknown environment 'gridwrld'.*did you mean gridworld"):
        make_env("gridwrld", 2, 0)
    with pytest.raises(SpecError, match="obs='features' applies to finite MDPs only"):
        make_env("CartPole-v1", 2, 0, obs="features")
    with pytest.raises(SpecError, match="chain has no parameter 'm'"):
        make_env("chain:m=3", 2, 0)
    if importlib.util.find_spec("mujoco") is None:
        with pytest.raises(SpecError, match=r"HalfCheetah-v5 needs MuJoCo: install triad's mujoco extra") as err:
            make_env("HalfCheetah-v5", 1, 0)
        assert "\n" not in str(err.value)
    else:
        assert make_env("HalfCheetah-v5", 1, 0).single_action_space.shape == (6,)


def test_describe_puts_spaces_in_words():
    assert describe(make_env("CartPole-v1", 2, 0)) == (
        "CartPole-v1, 2 envs: observations 4 continuous values (partly bounded); actions 2 discrete values")
    assert describe(make_env("Pendulum-v1", 1, 0)).endswith("actions 1 continuous value in [-2, 2]")
    assert "obs=features" in describe(gymnasium.make(ENV_ID, spec="baird", obs="features"))
