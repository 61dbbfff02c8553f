"""triad/Unimodal-v0: the true Q over the action plane is bimodal by construction, and the closed forms are right.

Independent checks: a brute-force grid maximisation replaces the closed-form continuation value,
the environment's own rewards replace the formulas, and a union-find sweep over the grid finds the
saddle between the two maxima.
"""

import gymnasium
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

from triad import envs_unimodal as task
from triad.envs import make_env

N = 201
AXIS, GRID = task.action_grid(N)
S0 = np.zeros(3)


def local_maxima(q):
    """Grid points strictly above their 8 neighbours."""
    n = q.shape[0]
    padded = np.pad(q, 1, constant_values=-np.inf)
    others = [padded[1 + i:1 + i + n, 1 + j:1 + j + n] for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j]
    return [tuple(ij) for ij in np.argwhere(np.all([q > o for o in others], axis=0))]


def saddle_height(q, a, b):
    """The highest level at which ``a`` and ``b`` are joined by a path of 4-neighbours all at or above it
    (cells added in decreasing order of value, merged by union-find)."""
    n = q.shape[0]
    parent = np.full(q.size, -1)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ka, kb = np.ravel_multi_index(a, q.shape), np.ravel_multi_index(b, q.shape)
    for k in np.argsort(-q.ravel(), kind="stable"):
        parent[k] = k
        i, j = divmod(int(k), n)
        for ii, jj in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= ii < n and 0 <= jj < n and parent[ii * n + jj] >= 0:
                parent[find(ii * n + jj)] = find(k)
        if parent[ka] >= 0 and parent[kb] >= 0 and find(ka) == find(kb):
            return float(q.ravel()[k])
    raise AssertionError("never joined")


@pytest.mark.parametrize("gamma", [1.0, 0.9])
def test_true_q_at_the_start_has_two_separated_maxima_and_a_lower_saddle(gamma):
    q = task.q_value(S0, GRID, gamma)
    peaks = local_maxima(q)
    assert len(peaks) == 2
    (a, b) = peaks
    xa, xb = GRID[a], GRID[b]
    assert xa[0] * xb[0] < 0 and abs(xa[0] - xb[0]) > 1.0  # one detour on each side, far apart
    assert np.all(np.abs(GRID[a]) < 0.95) and np.all(np.abs(GRID[b]) < 0.95)  # inside the box, not on its edge
    low = min(q[a], q[b])
    assert saddle_height(q, a, b) < low - 0.5  # every path between them dips at least 0.5 below
    mean = (xa + xb) / 2  # straight ahead, into the wall
    assert task.q_value(S0, mean, gamma) < low - 1.5 and task.obstacle(mean) > 0.9


def test_the_last_step_is_a_concave_quadratic_with_the_closed_form_maximum():
    rng = np.random.default_rng(0)
    for p1 in rng.uniform(-1.2, 1.2, (6, 2)):
        q = task.q_value(np.array([*p1, 1.0]), GRID)
        assert len(local_maxima(q)) == 1
        k = np.unravel_index(np.argmax(q), q.shape)
        # Brute force on the grid against the closed form V*(s_1) = Σ_i v(g_i − p_i).
        assert q[k] <= task.last_value(p1) + 1e-12
        assert task.last_value(p1) - q[k] < 1.1 * (AXIS[1] - AXIS[0]) ** 2
        assert np.abs(GRID[k] - task.best_last_action(p1)).max() <= AXIS[1] - AXIS[0]


def test_first_step_q_is_the_env_reward_plus_the_best_continuation():
    """Q*(s_0, a) = r_0 + γ max_{a'} r_1: the rewards come from stepping the environment, the max from a fine grid."""
    env = gymnasium.make(task.ENV_ID).unwrapped
    _, fine = task.action_grid(801)
    rng = np.random.default_rng(1)
    for a in rng.uniform(-1, 1, (5, 2)).astype(np.float32):
        obs, _ = env.reset(seed=3)
        obs1, r0, terminated, truncated, _ = env.step(a)
        assert not terminated and not truncated and obs1[2] == 1.0
        returns = []
        for a1 in fine.reshape(-1, 2)[::997]:  # a coarse subset first, stepped through the env
            env.reset(seed=3)
            env.step(a)
            _, r1, terminated, _, _ = env.step(a1.astype(np.float32))
            assert terminated
            returns.append(r1)
        best = task.last_q(obs1[:2].astype(np.float64), fine.reshape(-1, 2)).max()
        assert max(returns) <= best + 1e-9
        for gamma in (1.0, 0.9):
            assert task.q_value(obs, a, gamma) == pytest.approx(r0 + gamma * best, abs=1e-4)


def test_rewards_agree_with_the_formulas_and_the_episode_has_two_steps():
    env = gymnasium.make(task.ENV_ID).unwrapped
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs[2] == 0.0 and np.all(np.abs(obs[:2]) <= 0.1)
    a0, a1 = np.array([0.0, 0.7], np.float32), np.array([0.1, 0.9], np.float32)
    p0 = obs[:2].astype(np.float64)
    _, r0, *_ = env.step(a0)
    p1 = p0 + a0
    wall = np.exp(-(p1[0] ** 2) / (2 * 0.25**2) - (p1[1] - 0.7) ** 2 / (2 * 0.5**2))
    assert r0 == pytest.approx(-0.1 * 0.49 - 2.0 * wall, abs=1e-6)
    _, r1, terminated, _, _ = env.step(a1)
    p2 = p1 + a1
    assert terminated and r1 == pytest.approx(-0.1 * 0.82 - ((p2[0]) ** 2 + (p2[1] - 1.6) ** 2), abs=1e-5)
    clipped = gymnasium.make(task.ENV_ID).unwrapped
    clipped.reset(seed=0)
    _, r_clip, *_ = clipped.step(np.array([3.0, 0.7], np.float32))  # actions are clipped to the box
    assert r_clip == pytest.approx(float(task.first_reward(p0, np.array([1.0, 0.7], np.float32))), abs=1e-6)


def test_registered_checked_and_vectorised():
    check_env(gymnasium.make(task.ENV_ID).unwrapped, skip_render_check=True)
    env = make_env(task.ENV_ID, num_envs=3, seed=5)
    obs, _ = env.reset(seed=5)
    assert obs.shape == (3, 3) and env.single_action_space.shape == (2,)
    again, _ = make_env(task.ENV_ID, num_envs=3, seed=5).reset(seed=5)
    assert np.array_equal(obs, again)
    with pytest.raises(ValueError, match="jitter"):
        task.UnimodalEnv(jitter=2.0)


def test_offset_makes_the_left_detour_the_better_one():
    q = task.q_value(S0, GRID, 1.0, offset=0.1)
    left, right = q[AXIS < 0].max(), q[AXIS > 0].max()
    assert left > right + 0.03


def test_quick_experiment_rows_summary_and_figures(tmp_path):
    from triad import experiment

    exp = experiment.get("unimodal")
    params = exp.resolve({}, quick=True)
    outcome = experiment.execute(exp, params, out=tmp_path / "results", figures_dir=tmp_path / "figures",
                                 show_progress=False)
    rows = pd.read_csv(tmp_path / "results" / "results.csv")
    grid = rows[rows["quantity"] == "learned_q"]
    assert set(grid["method"]) == {"naf", "qtopt"} and len(grid) == 2 * params["grid"] ** 2
    truth = rows[rows["quantity"] == "true_q"].sort_values("cell")
    _, small = task.action_grid(params["grid"])
    assert np.allclose(truth["value"], task.q_value(S0, small.reshape(-1, 2), params["gamma"]))
    s = outcome.summary
    assert s["v_star"] == pytest.approx(task.optimal_value(S0)[0])
    assert len(s["true_modes"]) == 2 and {m["x"] > 0 for m in s["true_modes"]} == {True, False}
    for method in ("naf", "qtopt"):
        m = s["methods"][method]
        assert m["seeds"] == 1 and 0.0 <= m["success_rate"] <= 1.0 and m["regret_mean"] >= 0.0
        assert sum(m["routes"].values()) == 1
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["unimodal.pdf", "unimodal.png"]
