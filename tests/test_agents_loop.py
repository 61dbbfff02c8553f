"""The training driver: stepping, files of a run, determinism, resume, the NaN guard and the truth probes."""

import json

import numpy as np
import pytest
import torch

from triad import agents
from triad.agents import loop
from triad.analysis.policy_gradient import dropped_discount_direction, policy_gradient
from triad.envs import FiniteEnv
from triad.errors import ValidationError
from triad.progress import Progress

# Small settings so every algorithm updates within a few hundred steps (the defaults are tested by the CLI).
FAST = {
    "reinforce": {"batch_steps": 100, "hidden": "16"},
    "ac-batch": {"n_steps": 25, "critic_steps": 4, "critic_target_every": 2, "hidden": "16"},
    "ac-online": {"hidden": "16"},
    "a2c": {"hidden": "16"},
    "ppo": {"n_steps": 32, "batch_size": 64, "epochs": 2, "hidden": "16"},
    "a3c": {"hidden": "16", "workers": "1"},  # one worker: reproducible (test_same_seed_same_parameters)
    "qprop": {"n_steps": 50, "hidden": "16", "q_hidden": "16", "q_warmup": 100, "q_updates_per_step": 0.5},
}


def _rows(out):
    return loop.read_log(out / "log.csv")


# ----------------------------------------------------------------------------------- stepper
@pytest.mark.parametrize("same_step", [False, True])
def test_stepper_normalises_autoreset(same_step):
    env = FiniteEnv("chain:n=3", 3, max_episode_steps=4, autoreset_mode="same_step" if same_step else "next_step")
    stepper = loop.VectorStepper(env, seed=0)
    rng = np.random.default_rng(0)
    steps = [stepper.step(rng.integers(0, 2, 3)) for _ in range(60)]
    done = np.array([s.terminated | s.truncated for s in steps])
    valid = np.array([s.valid for s in steps])
    assert done.any(axis=0).all()
    if same_step:
        assert valid.all()
    else:  # exactly the step after each episode end is the ignored reset step
        assert np.array_equal(~valid[1:], done[:-1]) and valid[0].all()
    for b in range(3):
        for t in range(59):
            if not valid[t, b]:
                continue
            nxt = next(u for u in range(t + 1, 60) if valid[u, b]) if t < 59 and valid[t + 1:, b].any() else None
            true_next = steps[t].next_obs[b]
            if steps[t].terminated[b]:
                assert true_next.argmax() == 2  # the chain's terminal state
            elif not steps[t].truncated[b] and nxt is not None:
                assert np.array_equal(true_next, steps[nxt].obs[b])  # s_{t+1} is where the episode goes on
    # Episode statistics: returns and lengths summed over valid steps between ends; t counted from 0.
    for b in range(3):
        ends = np.flatnonzero(done[:, b])
        starts = np.concatenate([[0], ends[:-1] + (1 if same_step else 2)])
        lengths = [int(valid[s:e + 1, b].sum()) for s, e in zip(starts, ends)]
        assert all(steps[e].episode_step[b] == n - 1 for e, n in zip(ends, lengths))
    assert len(stepper.finished) == int(done.sum())
    assert all(length <= 4 and ret in (0.0, 1.0) for ret, length in stepper.finished)


# --------------------------------------------------------------------------------- runs
@pytest.mark.parametrize("algorithm", list(FAST))  # the on-policy settings; off-policy ones: test_agents_offpolicy.py
@pytest.mark.parametrize("env", ["CartPole-v1", "chain:n=4"])
def test_every_algorithm_trains_and_writes_its_files(tmp_path, algorithm, env):
    summary = loop.train(algorithm, env, 600, seed=1, overrides=FAST[algorithm], out=tmp_path, eval_episodes=2,
                         max_episode_steps=50 if env.startswith("chain") else None)
    assert set(summary) == {"algorithm", "env", "steps", "seed", "final_return", "eval_return", "seconds",
                            "steps_per_second"}
    assert summary["steps"] >= 600 and summary["algorithm"] == algorithm
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    stored = json.loads((tmp_path / "config.json").read_text())
    assert stored["algorithm"] == algorithm and stored["config"]["hidden"] == [16]
    rows = _rows(tmp_path)
    quantities = set(rows["quantity"])
    assert {"episode_return", "episode_length", "policy_loss", "steps_per_second", "eval_return"} <= quantities
    assert (tmp_path / "checkpoint.pt").exists()
    episodes = rows[rows["quantity"] == "episode_return"]["value"].to_numpy()
    assert summary["final_return"] == pytest.approx(episodes[-10:].mean())
    if env.startswith("chain"):
        assert {"J", "J_star", "critic_error" if algorithm != "reinforce" else "J", "cos_true"} <= quantities


def _final_params(out):
    return torch.load(out / "checkpoint.pt", weights_only=False)["agent"]["model"]


@pytest.mark.parametrize("algorithm", list(FAST))  # the on-policy settings; off-policy ones: test_agents_offpolicy.py
def test_same_seed_same_parameters(tmp_path, algorithm):
    a = loop.train(algorithm, "CartPole-v1", 500, seed=3, overrides=FAST[algorithm], out=tmp_path / "a",
                   eval_episodes=1)
    b = loop.train(algorithm, "CartPole-v1", 500, seed=3, overrides=FAST[algorithm], out=tmp_path / "b",
                   eval_episodes=1)
    pa, pb = _final_params(tmp_path / "a"), _final_params(tmp_path / "b")
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert a["eval_return"] == b["eval_return"]
    c = loop.train(algorithm, "CartPole-v1", 500, seed=4, overrides=FAST[algorithm], out=tmp_path / "c",
                   eval_episodes=1)
    pc = _final_params(tmp_path / "c")
    assert not all(torch.equal(pa[k], pc[k]) for k in pa)
    del c


class Killed(Exception):
    pass


def _killer(at):
    seen = [0.0]

    def update(n, total, status):
        seen[0] += n
        if total is None and seen[0] >= at:
            raise Killed

    return Progress(update)


@pytest.mark.parametrize(("algorithm", "env"), [("ppo", "CartPole-v1"), ("reinforce", "chain:n=4"),
                                                ("ac-batch", "chain:n=4")])
def test_resume_after_a_kill_equals_the_uninterrupted_run(tmp_path, algorithm, env):
    kw = {"overrides": {**FAST[algorithm], "log_every": 100}, "eval_episodes": 2, "seed": 5,
          "max_episode_steps": 30 if env.startswith("chain") else None}
    whole = loop.train(algorithm, env, 1600, out=tmp_path / "whole", **kw)
    with pytest.raises(Killed):
        loop.train(algorithm, env, 1600, out=tmp_path / "killed", checkpoint_every=500, progress=_killer(1300), **kw)
    assert not (tmp_path / "killed" / "summary.json").exists()
    resumed = loop.resume(tmp_path / "killed")
    pa, pb = _final_params(tmp_path / "whole"), _final_params(tmp_path / "killed")
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    timing = ("steps_per_second",)
    ra, rb = _rows(tmp_path / "whole"), _rows(tmp_path / "killed")
    ra, rb = ra[~ra["quantity"].isin(timing)].reset_index(drop=True), rb[~rb["quantity"].isin(timing)].reset_index(drop=True)
    assert ra.equals(rb)
    assert {k: v for k, v in resumed.items() if k not in ("seconds", "steps_per_second")} == \
        {k: v for k, v in whole.items() if k not in ("seconds", "steps_per_second")}


def test_resume_with_an_env_that_cannot_be_pickled(tmp_path):
    """Pendulum's SyncVectorEnv does not pickle: the resumed run rebuilds and reseeds it and goes on."""
    kw = {"overrides": {**FAST["ppo"], "envs": "2", "log_every": 100}, "eval_episodes": 1, "seed": 0}
    with pytest.raises(Killed):
        loop.train("ppo", "Pendulum-v1", 600, out=tmp_path, checkpoint_every=200, progress=_killer(400), **kw)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert saved["env"] is None and saved["agent"]["buffer"]["t"] > 0  # a partial rollout to close at the seam
    summary = loop.resume(tmp_path)
    assert summary["steps"] == 600 and np.isfinite(summary["eval_return"])


def test_seam_closes_the_stored_rollout():
    from triad.agents.storage import RolloutBuffer

    steps = RolloutBuffer(2, mode="steps", n_steps=3)
    step = {"obs": np.zeros((2, 1)), "action": np.zeros(2), "reward": np.zeros(2), "terminated": np.array([True, False]),
            "truncated": np.zeros(2, bool), "next_obs": np.zeros((2, 1)), "episode_step": np.zeros(2, np.int64),
            "valid": np.ones(2, bool)}
    steps.add(step)
    steps.seam()
    assert steps.data()["truncated"][0].tolist() == [False, True]  # the open stream is cut, the ended one kept
    episodes = RolloutBuffer(2, mode="episodes", batch_steps=10)
    episodes.add(step)
    episodes.seam()
    assert episodes.data()["weight"][0].tolist() == [1.0, 0.0] and episodes.discarded == 1


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(ValidationError, match="no config.json and checkpoint.pt"):
        loop.resume(tmp_path)


# ---------------------------------------------------------------------------------- NaN guard
class NanAfter(FiniteEnv):
    """A twin whose rewards become NaN after ``at`` steps."""

    at = 400

    def step(self, actions):
        out = super().step(actions)
        self.t = getattr(self, "t", 0) + 1
        if self.t * self.num_envs >= self.at:
            out = (out[0], out[1] * np.nan, *out[2:])
        return out


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    def make(env, num_envs=1, seed=None, *, obs=None, max_episode_steps=None, autoreset="next-step"):
        venv = NanAfter("chain:n=4", num_envs, max_episode_steps=20)
        venv.reset(seed=seed)
        return venv

    monkeypatch.setattr(loop, "make_env", make)
    with pytest.raises(loop.Diverged, match=r"^step \d+: (policy|value)_loss is NaN$") as info:
        loop.train("a2c", "chain:n=4", 2000, overrides={"hidden": "8"}, out=tmp_path, checkpoint_every=200)
    step = int(str(info.value).split()[1].rstrip(":"))
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert 200 <= saved["step"] < step and saved["step"] < 400
    assert all(torch.isfinite(p).all() for p in saved["agent"]["model"].values())


# ------------------------------------------------------------------------------------ probes
class TabularSoftmax:
    """A policy with one logit per (state, action), as in triad.analysis.policy_gradient."""

    def __init__(self, theta):
        self.theta = torch.tensor(theta, requires_grad=True)

    def probs(self, obs_table):
        return torch.softmax(torch.as_tensor(obs_table, dtype=torch.float64) @ self.theta, -1)


def test_exact_directions_are_the_analysis_module_gradients():
    from triad.agents.probes import exact_directions
    from triad.zoo import make

    mdp = make("chain:n=4,slip=0.2,gamma=0.8").mdp
    theta = np.random.default_rng(0).normal(size=(4, 2))
    pol = TabularSoftmax(theta)
    exact = exact_directions(mdp, pol.probs, [pol.theta], np.eye(4))
    assert np.allclose(exact["true"], policy_gradient(mdp, theta).ravel(), atol=1e-10)
    assert np.allclose(exact["dropped"], dropped_discount_direction(mdp, theta).ravel(), atol=1e-10)


def test_truth_probes_on_a_twin(tmp_path):
    loop.train("ppo", "chain:n=4", 800, seed=0, overrides={**FAST["ppo"], "log_every": 200}, out=tmp_path,
               eval_episodes=1, max_episode_steps=30)
    rows = _rows(tmp_path)
    J_star = rows[rows["quantity"] == "J_star"]["value"].to_numpy()
    assert len(J_star) == 1 and J_star[0] == pytest.approx(0.9 ** 2)  # chain: V*(0) = γ^(n−2)
    J = rows[rows["quantity"] == "J"]["value"].to_numpy()
    assert len(J) == 4 and np.all(J <= J_star[0] + 1e-9) and np.all(J > 0)
    cos = rows[rows["quantity"].isin(["cos_true", "cos_dropped"])]["value"].to_numpy()
    assert np.all(np.abs(cos) <= 1 + 1e-9)
    assert np.all(rows[rows["quantity"] == "critic_error"]["value"].to_numpy() >= 0)


# ------------------------------------------------------------------- advantages from multistep
@pytest.mark.parametrize("same_step", [False, True])
@pytest.mark.parametrize("lam", [0.0, 0.7, 1.0])
def test_learner_advantages_are_gae_with_truncations_bootstrapped(same_step, lam):
    """Against a plain loop over time that bootstraps from V̂ of the TRUE next state of every step."""
    env = FiniteEnv("chain:n=4,slip=0.3", 3, max_episode_steps=3,
                    autoreset_mode="same_step" if same_step else "next_step")
    config = agents.get("a2c").resolve("chain:n=4", {"n_steps": "40", "envs": "3", "gae_lambda": str(lam),
                                                     "discount_weighting": "2"})
    agent = agents.get("a2c").build(config, loop.env_spaces(env), 0)
    stepper = loop.VectorStepper(env, seed=2)
    for _ in range(40):
        action, extras = agent.act(stepper.obs)
        agent.observe(stepper.step(action, extras))
    data = agent.buffer.data()
    assert data["truncated"].any() and data["terminated"].any()
    batch = agent.estimate(data)

    def V(x):
        with torch.no_grad():
            return agent.model.value(torch.as_tensor(x, dtype=torch.float32)).double().numpy()

    g, T = config.gamma, 40
    expected = np.zeros((T, 3))
    for b in range(3):
        following = 0.0
        for t in range(T - 1, -1, -1):
            term, trunc = data["terminated"][t, b], data["truncated"][t, b]
            delta = data["reward"][t, b] + g * (1 - term) * V(data["next_obs"][t, b][None])[0] - \
                V(data["obs"][t, b][None])[0]
            if t == T - 1 or term or trunc:  # Â_t = δ_t + γλ(1 − done_t)Â_{t+1}, Â_T = 0
                following = 0.0
            expected[t, b] = delta + g * lam * following
            following = expected[t, b]
    used = data["weight"].reshape(-1) > 0
    assert np.allclose(batch.adv.numpy(), expected.reshape(-1)[used], atol=2e-5)
    assert np.array_equal(batch.pg_weight.numpy(), (g ** data["episode_step"]).reshape(-1)[used].astype(np.float32))
    assert np.allclose(batch.target.numpy(), (expected + V(data["obs"].reshape(T * 3, -1)).reshape(T, 3))
                       .reshape(-1)[used], atol=2e-5)


@pytest.mark.parametrize(("algorithm", "squash"), [("ppo", False), ("a2c", True), ("reinforce", True)])
def test_box_actions_train_on_pendulum(tmp_path, algorithm, squash):
    overrides = {**FAST[algorithm], "squash": str(squash), "envs": "2"}
    if algorithm == "reinforce":
        overrides["batch_steps"] = "200"
    loop.train(algorithm, "Pendulum-v1", 800, seed=0, overrides=overrides, out=tmp_path, eval_episodes=1)
    rows = _rows(tmp_path)
    assert {"policy_loss", "episode_return"} <= set(rows["quantity"])
    agent = loop.load_agent(tmp_path)
    action, extras = agent.act(np.zeros((5, 3), np.float32))
    assert action.shape == (5, 1) and np.all(np.abs(action) <= 2.0) and extras["raw"].shape == (5, 1)
