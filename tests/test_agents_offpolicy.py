"""Off-policy actor-critics (offpolicy-ac, SAC, TD3, DDPG): runs, determinism, and their updates against hand computations."""

import dataclasses
import json

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.spaces import Box
from test_agents_loop import Killed, _killer

from triad import agents
from triad.agents import config as cfg
from triad.agents import loop, losses
from triad.agents.actor_critic import TD3, OffPolicyActorCritic, SoftActorCritic
from triad.agents.offpolicy import Transitions
from triad.agents.onpolicy import EnvSpaces
from triad.envs import FiniteEnv
from triad.errors import ValidationError
from triad.solvers import evaluate_policy, policy_iteration

OFF = ("offpolicy-ac", "sac", "td3", "ddpg")
FAST = {name: {"hidden": "16", "batch_size": "16", "learning_starts": "64", "log_every": "100"} for name in OFF}
PENDULUM = EnvSpaces(Box(-8.0, 8.0, (3,), np.float32), Box(-2.0, 2.0, (1,), np.float32), 1)
THREE_ACTIONS = EnvSpaces(Box(-8.0, 8.0, (3,), np.float32), gymnasium.spaces.Discrete(3), 1)


def _rows(out):
    return loop.read_log(out / "log.csv")


def _params(out):
    return torch.load(out / "checkpoint.pt", weights_only=False)["agent"]["model"]


# ----------------------------------------------------------------------------------- runs
@pytest.mark.parametrize("algorithm", OFF)
def test_smoke_on_pendulum(tmp_path, algorithm):
    summary = loop.train(algorithm, "Pendulum-v1", 400, seed=0, overrides=FAST[algorithm], out=tmp_path,
                         eval_episodes=1)
    assert summary["steps"] == 400 and np.isfinite(summary["eval_return"])
    quantities = set(_rows(tmp_path)["quantity"])
    assert {"episode_return", "critic_loss", "steps_per_second", "eval_return"} <= quantities
    assert ("policy_loss" if algorithm == "offpolicy-ac" else "actor_loss") in quantities
    if algorithm == "sac":
        assert {"alpha", "entropy", "temperature_loss"} <= quantities
    model = _params(tmp_path)
    targets = {k for k in model if k.startswith("target.")}
    assert targets == ({f"target.{k}" for k in model if k.startswith("critic.")} |
                       ({f"target.{k}" for k in model if k.startswith("actor.")} if algorithm in ("td3", "ddpg") else set()))
    agent = loop.load_agent(tmp_path)
    action, extras = agent.act(np.zeros((4, 3), np.float32), explore=False)
    assert action.shape == (4, 1) and np.all(np.abs(action) <= 2.0) and np.all(np.abs(extras["raw"]) <= 1.0)


def test_offpolicy_ac_on_a_twin_logs_the_truth_probes(tmp_path):
    loop.train("offpolicy-ac", "chain:n=4", 500, seed=0, overrides=FAST["offpolicy-ac"], out=tmp_path, eval_episodes=1,
               max_episode_steps=20)
    rows = _rows(tmp_path)
    for quantity in ("J", "critic_error", "cos_true", "cos_dropped"):
        values = rows[rows["quantity"] == quantity]["value"].to_numpy()
        assert len(values) >= 4 and np.all(np.isfinite(values)), quantity
    assert np.all(np.abs(rows[rows["quantity"] == "cos_true"]["value"]) <= 1 + 1e-9)


@pytest.mark.parametrize("algorithm", ["td3", "ddpg"])
def test_continuous_only_algorithms_reject_a_twin_in_one_line(tmp_path, algorithm):
    with pytest.raises(ValidationError, match=rf"^{algorithm} cannot handle the action space Discrete\(2\) "
                                              r"\(it takes bounded Box actions\)$"):
        loop.train(algorithm, "chain:n=4", 100, out=tmp_path)


@pytest.mark.parametrize(("algorithm", "env"), [("sac", "Pendulum-v1"), ("td3", "Pendulum-v1"),
                                                ("offpolicy-ac", "chain:n=4"), ("sac", "chain:n=4")])
def test_same_seed_same_parameters(tmp_path, algorithm, env):
    kw = {"overrides": FAST[algorithm], "eval_episodes": 1, "max_episode_steps": 20 if env.startswith("chain") else None}
    a = loop.train(algorithm, env, 250, seed=3, out=tmp_path / "a", **kw)
    b = loop.train(algorithm, env, 250, seed=3, out=tmp_path / "b", **kw)
    loop.train(algorithm, env, 250, seed=4, out=tmp_path / "c", **kw)
    pa, pb, pc = (_params(tmp_path / k) for k in "abc")
    assert all(torch.equal(pa[k], pb[k]) for k in pa) and a["eval_return"] == b["eval_return"]
    assert not all(torch.equal(pa[k], pc[k]) for k in pa)


def test_resume_after_a_kill_equals_the_uninterrupted_run(tmp_path):
    kw = {"overrides": {**FAST["offpolicy-ac"], "log_every": "50"}, "eval_episodes": 1, "seed": 5,
          "max_episode_steps": 15}
    loop.train("offpolicy-ac", "chain:n=4", 400, out=tmp_path / "whole", **kw)
    with pytest.raises(Killed):
        loop.train("offpolicy-ac", "chain:n=4", 400, out=tmp_path / "killed", checkpoint_every=150,
                   progress=_killer(320), **kw)
    loop.resume(tmp_path / "killed")
    pa, pb = _params(tmp_path / "whole"), _params(tmp_path / "killed")
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    ra, rb = _rows(tmp_path / "whole"), _rows(tmp_path / "killed")
    keep = ~ra["quantity"].isin(["steps_per_second"])
    assert ra[keep].reset_index(drop=True).equals(rb[~rb["quantity"].isin(["steps_per_second"])].reset_index(drop=True))


def test_resume_with_pendulum_rebuilds_the_env_and_cuts_the_replay(tmp_path):
    """Pendulum's vector env does not pickle: the replay's newest step of the stream is marked truncated."""
    kw = {"overrides": FAST["sac"], "eval_episodes": 1, "seed": 0}
    with pytest.raises(Killed):
        loop.train("sac", "Pendulum-v1", 300, out=tmp_path, checkpoint_every=150, progress=_killer(250), **kw)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert saved["env"] is None and saved["step"] == 150
    assert not saved["agent"]["replay"]["data"]["truncated"][149]  # the middle of Pendulum's 200-step episode
    summary = loop.resume(tmp_path)
    agent = loop.load_agent(tmp_path)
    assert summary["steps"] == 300 and agent.replay.data["truncated"][149] and agent.replay.added == 300
    assert agent.replay.data["truncated"][:300].sum() == 1  # the seam only: the rebuilt env's episode is still running


def test_cli_trains_sac_and_prints_the_summary(triad_cli, tmp_path):
    code, out, err = triad_cli("train", "sac", "--env", "Pendulum-v1", "--steps", "150", "--set", "hidden=8",
                               "--set", "learning_starts=50", "--set", "batch_size=8", "--eval-episodes", "1",
                               "--out", str(tmp_path), "--json")
    assert code == 0, err
    assert json.loads(out)["algorithm"] == "sac"
    code, out, err = triad_cli("train", "sac", "--env", "CartPole-v1", "--steps", "150", "--set", "hidden=8",  # SAC-discrete
                               "--set", "learning_starts=50", "--set", "batch_size=8", "--eval-episodes", "1",
                               "--out", str(tmp_path / "cartpole"), "--json")
    assert code == 0, err
    assert json.loads(out)["eval_return"] >= 8
    code, _, err = triad_cli("train", "td3", "--env", "chain:n=4", "--steps", "10", "--out", str(tmp_path / "x"))
    assert code == 2 and err.strip().startswith("triad: error: td3 cannot handle the action space Discrete(2)")
    code, _, err = triad_cli("train", "sac", "--env", "Pendulum-v1", "--set", "ent_coef=hot", "--out", str(tmp_path))
    assert code == 2 and "ent_coef = 'hot' must be auto, auto_X or a number" in err


# ------------------------------------------------------------------------------ configs
def test_ddpg_is_a_td3_setting():
    ddpg, td3 = cfg.DDPGConfig(), cfg.TD3Config()
    assert isinstance(ddpg, cfg.TD3Config) and agents.get("ddpg").builder == agents.get("td3").builder
    differ = {f.name for f in dataclasses.fields(td3) if getattr(ddpg, f.name) != getattr(td3, f.name)}
    assert differ == {"critics", "policy_delay", "target_period", "target_noise"}
    assert (ddpg.critics, ddpg.policy_delay, ddpg.target_period, ddpg.target_noise) == (1, 1, 1, 0.0)


def test_zoo_presets():
    sac = agents.get("sac").resolve("Pendulum-v1")
    assert (sac.lr, sac.hidden, sac.batch_size, sac.tau, sac.learning_starts) == (1e-3, (256, 256), 256, 0.005, 100)
    for name in ("td3", "ddpg"):
        c = agents.get(name).resolve("Pendulum-v1", {"batch_size": "128"})
        assert (c.gamma, c.capacity, c.learning_starts, c.action_noise, c.lr, c.hidden, c.batch_size) == \
            (0.98, 200_000, 10_000, 0.1, 1e-3, (400, 300), 128)
    with pytest.raises(ValidationError, match="target_entropy = 'x' must be auto, a number"):
        agents.get("sac").resolve("Pendulum-v1", {"target_entropy": "x"})
    with pytest.raises(ValidationError, match="needs pg_samples ≥ 2"):
        OffPolicyActorCritic(cfg.OffPolicyACConfig(pg_samples=1), PENDULUM, 0)


# ----------------------------------------------------------------- targets at episode ends
class Walk(gymnasium.Env):
    """``x' = x + a``, ``a ∈ [−1, 1]``; reward ``x'``; terminated once ``|x'| ≥ 1.5``."""

    observation_space = Box(-10.0, 10.0, (1,), np.float32)
    action_space = Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = np.float32(0.0)
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x = np.float32(self.x + np.float32(action[0]))
        return np.array([self.x], np.float32), float(self.x), bool(abs(self.x) >= 1.5), False, {}


def _numpy_mlp(layers, x, out=None):
    """A forward pass by plain matrix algebra: ``layers`` = [(W (in, out), b)], relu between, ``out`` on the last."""
    for k, (w, b) in enumerate(layers):
        x = x @ w + b
        if k < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return out(x) if out is not None else x


def _critic_layers(critic, e):
    """``[(W (in, out), b)]`` of member ``e`` of a module's stacked MLP ``net``, as numpy copies."""
    return [(w[e].detach().numpy().copy(), b[e, 0].detach().numpy().copy())
            for w, b in zip(critic.net.weights, critic.net.biases)]


def _actor_layers(actor):
    return _critic_layers(actor, 0)


def _torch_mlp(layers, x):
    """:func:`_numpy_mlp` on torch leaves (differentiable): ``layers`` = [(W (in, out), b)], relu between."""
    for k, (w, b) in enumerate(layers):
        x = x @ w + b
        if k < len(layers) - 1:
            x = torch.relu(x)
    return x


@pytest.mark.parametrize("mode", ["next_step", "same_step"])
def test_replay_targets_at_episode_ends_equal_hand_computed_ones(mode):
    """Terminated steps cut (y = r), truncated ones bootstrap from the TRUE final state, in both autoreset modes."""
    venv = gymnasium.vector.SyncVectorEnv([lambda: gymnasium.wrappers.TimeLimit(Walk(), 3)] * 2,
                                          autoreset_mode=gymnasium.vector.AutoresetMode(
                                              "NextStep" if mode == "next_step" else "SameStep"))
    config = cfg.DDPGConfig(envs=2, hidden=(5,), learning_starts=10_000, gamma=0.9)
    agent = TD3(config, loop.env_spaces(venv), seed=1)
    stepper = loop.VectorStepper(venv, seed=0)
    valid = 0
    for _ in range(60):
        action, extras = agent.act(stepper.obs)
        step = stepper.step(action, extras)
        agent.observe(step)
        valid += int(step.valid.sum())
    n = len(agent.replay)
    d = {k: v[:n] for k, v in agent.replay.data.items()}
    assert n == valid and (n == 120) == (mode == "same_step")  # NEXT_STEP's reset steps are not stored
    term, trunc = d["terminated"], d["truncated"]
    assert (term & ~trunc).any() and (trunc & ~term).any()  # both kinds of end (and, at the limit, both at once)
    assert np.allclose(d["next_obs"], d["obs"] + d["action"], atol=1e-6)  # the true s_{t+1}, also at episode ends
    assert np.array_equal(term, np.abs(d["next_obs"][:, 0]) >= 1.5)
    b = Transitions(obs=torch.from_numpy(d["obs"]), action=torch.from_numpy(d["action"]),
                    reward=torch.from_numpy(d["reward"].astype(np.float32)),
                    discount=torch.from_numpy((0.9 * (1 - term)).astype(np.float32)),
                    next_obs=torch.from_numpy(d["next_obs"]), data=d)
    y_agent = (b.reward + b.discount * agent.target_values(b.next_obs)).numpy()
    mu = _numpy_mlp(_actor_layers(agent.actor_target), d["next_obs"], np.tanh)
    q_next = _numpy_mlp(_critic_layers(agent.critic_target, 0), np.concatenate([d["next_obs"], mu], 1))[:, 0]
    expected = np.where(term, d["reward"], d["reward"] + 0.9 * q_next)
    assert np.allclose(y_agent, expected, atol=1e-5)
    assert np.array_equal(y_agent[term], d["reward"][term].astype(np.float32))


# ------------------------------------------------------------------------------ TD3 / DDPG
def _fixed(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def test_td3_target_uses_the_min_of_both_target_critics_and_the_smoothed_action():
    agent = TD3(cfg.TD3Config(hidden=(4,), target_noise=0.5, noise_clip=0.3), PENDULUM, seed=0)
    _fixed(agent.actor_target, 1)
    _fixed(agent.critic_target, 3)
    next_obs = torch.randn(16, 3, generator=torch.Generator().manual_seed(3))
    state = agent.generator.get_state()
    got = agent.target_values(next_obs).numpy()
    noise = 0.5 * torch.randn((16, 1), generator=torch.Generator().set_state(state)).numpy()
    assert np.any(np.abs(noise) > 0.3)  # the clip is exercised
    s = next_obs.numpy()
    smoothed = np.clip(_numpy_mlp(_actor_layers(agent.actor_target), s, np.tanh) + np.clip(noise, -0.3, 0.3), -1, 1)
    q = [_numpy_mlp(_critic_layers(agent.critic_target, e), np.concatenate([s, smoothed], 1))[:, 0] for e in (0, 1)]
    assert np.allclose(got, np.minimum(q[0], q[1]), atol=1e-5)
    assert 0 < (q[0] < q[1]).sum() < 16  # the minimum switches between the critics across rows
    plain = _numpy_mlp(_actor_layers(agent.actor_target), s, np.tanh)
    unsmoothed = [_numpy_mlp(_critic_layers(agent.critic_target, e), np.concatenate([s, plain], 1))[:, 0] for e in (0, 1)]
    assert not np.allclose(got, np.minimum(*unsmoothed), atol=1e-3)


def _batch(seed, n=16):
    g = torch.Generator().manual_seed(seed)
    term = torch.rand(n, generator=g) < 0.25
    return Transitions(obs=torch.randn(n, 3, generator=g), action=torch.rand(n, 1, generator=g) * 2 - 1,
                       reward=torch.randn(n, generator=g), discount=0.98 * (~term).float(),
                       next_obs=torch.randn(n, 3, generator=g), data={})


def test_ddpg_setting_makes_the_hand_written_ddpg_step():
    """Two steps of Lillicrap et al.'s Algorithm 1 written out here (plain tensors, torch.optim.Adam) against the agent."""
    config = agents.get("ddpg").resolve("Pendulum-v1", {"hidden": "8,6", "lr": "0.01", "tau": "0.1"})
    agent = agents.get("ddpg").build(config, PENDULUM, 0)
    # The hand-written networks: copies of the initial weights as (W (in, out), b) leaves.
    actor = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
             for w, b in _actor_layers(agent.actor)]
    critic = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True))
              for w, b in _critic_layers(agent.critic, 0)]
    actor_t = [(w.detach().clone(), b.detach().clone()) for w, b in actor]
    critic_t = [(w.detach().clone(), b.detach().clone()) for w, b in critic]

    opt_actor = torch.optim.Adam([p for layer in actor for p in layer], lr=0.01)
    opt_critic = torch.optim.Adam([p for layer in critic for p in layer], lr=0.01)
    agent.replay.add({"obs": np.zeros((1, 3), np.float32), "action": np.zeros((1, 1), np.float32),
                      "reward": np.zeros(1), "terminated": np.zeros(1, bool), "truncated": np.zeros(1, bool),
                      "next_obs": np.zeros((1, 3), np.float32)})
    agent.env_steps = config.learning_starts + 1
    for step in range(2):
        b = _batch(step)
        # y = r + γ(1 − d) Q'(s', μ'(s')); critic: minimise mean (y − Q(s, a))²; actor: ascend Q(s, μ(s)).
        with torch.no_grad():
            a2 = torch.tanh(_torch_mlp(actor_t, b.next_obs))
            y = b.reward + b.discount * _torch_mlp(critic_t, torch.cat([b.next_obs, a2], 1))[:, 0]
        opt_critic.zero_grad()
        ((_torch_mlp(critic, torch.cat([b.obs, b.action], 1))[:, 0] - y) ** 2).mean().backward()
        opt_critic.step()
        opt_actor.zero_grad()
        (-_torch_mlp(critic, torch.cat([b.obs, torch.tanh(_torch_mlp(actor, b.obs))], 1))[:, 0].mean()).backward()
        opt_actor.step()
        with torch.no_grad():
            for target, online in ((actor_t, actor), (critic_t, critic)):
                for (wt, bt), (w, bb) in zip(target, online):
                    wt.mul_(0.9).add_(0.1 * w)
                    bt.mul_(0.9).add_(0.1 * bb)
        agent.sample = lambda b=b: b
        logs = agent.update()
        assert set(logs) == {"critic_loss", "actor_loss"}
    for mine, theirs in ((_actor_layers(agent.actor), actor), (_critic_layers(agent.critic, 0), critic),
                         (_actor_layers(agent.actor_target), actor_t), (_critic_layers(agent.critic_target, 0), critic_t)):
        for (w, b), (hw, hb) in zip(mine, theirs):
            assert np.allclose(w, hw.detach().numpy(), atol=2e-6) and np.allclose(b, hb.detach().numpy(), atol=2e-6)


def test_td3_delays_the_actor_and_moves_targets_with_it():
    agent = TD3(cfg.TD3Config(hidden=(4,), learning_starts=0), PENDULUM, seed=0)
    agent.replay.add({"obs": np.zeros((1, 3), np.float32), "action": np.zeros((1, 1), np.float32),
                      "reward": np.zeros(1), "terminated": np.zeros(1, bool), "truncated": np.zeros(1, bool),
                      "next_obs": np.zeros((1, 3), np.float32)})
    agent.env_steps = 1
    agent.sample = lambda: _batch(0)
    seen = []

    def snapshot(module):
        return [p.detach().clone() for p in module.parameters()]

    def moved(before, module):
        return [not torch.equal(a, b) for a, b in zip(before, module.parameters())]

    for _ in range(4):
        actor0, critic_t0, actor_t0 = snapshot(agent.actor), snapshot(agent.critic_target), snapshot(agent.actor_target)
        logs = agent.update()
        # every parameter tensor of both target networks stays bit-identical on the non-delayed steps (SB3, Alg. 1)
        seen.append(("actor_loss" in logs, all(moved(actor0, agent.actor)), all(moved(critic_t0, agent.critic_target)),
                     all(moved(actor_t0, agent.actor_target)), any(moved(critic_t0, agent.critic_target)),
                     any(moved(actor_t0, agent.actor_target))))
    assert seen == [(False, False, False, False, False, False), (True, True, True, True, True, True)] * 2
    with pytest.raises(ValidationError, match="target_period = 2 must equal policy_delay = 3"):
        agents.get("td3").resolve("Pendulum-v1", {"policy_delay": "3"})


@pytest.mark.parametrize("algorithm", ["sac", "td3", "offpolicy-ac", "qtopt"])
def test_regression_steps_run_with_subnormals_flushed_and_nothing_leaks(algorithm):
    """The driver's regression scope (OffPolicyAgent.learning) reads a float32 subnormal as 0 inside and not after."""
    config = agents.get(algorithm).resolve("Pendulum-v1", {"hidden": "4", "batch_size": "16", "learning_starts": "0"})
    agent = agents.get(algorithm).build(config, PENDULUM, 0)
    agent.replay.add({"obs": np.zeros((1, 3), np.float32), "action": np.zeros((1, 1), np.float32),
                      "reward": np.zeros(1), "terminated": np.zeros(1, bool), "truncated": np.zeros(1, bool),
                      "next_obs": np.zeros((1, 3), np.float32)})
    agent.env_steps = 1
    seen, regress = [], agent.regress

    def spy(batch):
        seen.append(torch.tensor(1e-40).item())
        return regress(batch)

    agent.regress = spy
    assert agent.update() is not None
    assert seen == [0.0] * config.grad_steps and torch.tensor(1e-40).item() != 0.0


def _discrete_batch(seed, n=16, actions=3):
    b = _batch(seed, n)
    return dataclasses.replace(b, action=torch.randint(0, actions, (n,), generator=torch.Generator().manual_seed(seed)))


def _autograd_regress(agent, b):
    """The agent's regression step through ``loss.backward()`` on the autograd graph of its modules (the
    losses of triad.agents.losses; the reference its hand-driven gradients must equal bit for bit)."""
    sac = isinstance(agent, SoftActorCritic)
    alpha = agent.alpha() if sac else None
    v_t = agent.soft_target(b.next_obs, alpha) if sac else agent.target_values(b.next_obs)
    if agent.discrete:
        out = agent.critic(b.obs)  # (E, N, A)
        q = out.gather(-1, b.action.reshape(1, -1, 1).expand(out.shape[0], -1, 1)).squeeze(-1)
    else:
        q = agent.critic(b.obs, b.action)
    loss = losses.q_regression_loss(b.reward + b.discount * v_t - q)
    agent.descend("critic", 0.5 * loss if sac else loss)
    if sac:
        actor_loss, temp_loss, _ = agent.actor_losses(b.obs, alpha, agent.frozen_q)
        agent.descend("actor", actor_loss + temp_loss)
    elif (agent.gradient_steps + 1) % agent.config.policy_delay == 0:
        q = agent.critic(b.obs, agent.actor(b.obs), members=slice(0, 1), detach=True)[0]
        agent.descend("actor", losses.deterministic_policy_loss(q))
    return {}


@pytest.mark.parametrize("algorithm", ["td3", "ddpg", "sac", "sac-discrete"])
@pytest.mark.parametrize("n", [256, 100])
def test_hand_driven_gradients_are_autogradients_bit_for_bit(algorithm, n):
    """TD3's, DDPG's and SAC's critic steps and TD3/DDPG's actor step write the gradient of their loss out by hand:
    over four updates (two of them delayed actor steps) every parameter equals the autograd route's exactly."""
    discrete = algorithm == "sac-discrete"
    name, spaces = ("sac", THREE_ACTIONS) if discrete else (algorithm, PENDULUM)
    config = agents.get(name).resolve("Pendulum-v1", {"hidden": "32,24", "learning_starts": "0"})
    twins = [agents.get(name).build(config, spaces, 0) for _ in range(2)]
    twins[1].regress = lambda b, agent=twins[1]: _autograd_regress(agent, b)
    for agent in twins:
        agent.replay.add({"obs": np.zeros((1, 3), np.float32),
                          "action": np.zeros(1, np.int64) if discrete else np.zeros((1, 1), np.float32),
                          "reward": np.zeros(1), "terminated": np.zeros(1, bool), "truncated": np.zeros(1, bool),
                          "next_obs": np.zeros((1, 3), np.float32),
                          **({"mask": np.ones((1, 3), bool), "next_mask": np.ones((1, 3), bool)} if discrete else {})})
        agent.env_steps = 1
        for step in range(4):
            agent.sample = lambda step=step: _discrete_batch(step, n) if discrete else _batch(step, n)
            agent.update()
    mine, theirs = (dict(agent._model()) for agent in twins)
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine), [k for k in mine if not torch.equal(mine[k], theirs[k])]
    start = agents.get(name).build(config, spaces, 0)._model()
    assert not any(torch.equal(mine[k], start[k]) for k in mine if k.startswith("actor."))  # the actor did move


def test_ddpg_actor_converges_to_the_argmax_of_a_fixed_critic():
    """The seed notes' point: DDPG's actor is an approximate maximiser, μ_θ(s) → argmax_a Q(s, a) on a fixed Q."""
    agent = TD3(cfg.DDPGConfig(hidden=(32, 32), lr=3e-3), PENDULUM, seed=0)
    w = torch.tensor([1.5, -2.0, 0.7])

    def critic(obs, a):  # non-quadratic, one maximum per state at m(s) = 0.8·tanh(w·s), inside (−1, 1)
        u = a[:, 0] - 0.8 * torch.tanh(obs @ w)
        return -(1 + obs[:, 0] ** 2) * u ** 2 - 0.5 * u ** 4 + obs[:, 1]

    obs = torch.randn(32, 3, generator=torch.Generator().manual_seed(12))
    grid = torch.linspace(-1, 1, 4001)
    q_grid = critic(obs.repeat_interleave(grid.numel(), 0), grid.repeat(32)[:, None]).reshape(32, -1)
    argmax = grid[q_grid.argmax(1)].numpy()  # the dense grid search
    best, spread = q_grid.max(1).values, q_grid.max(1).values - q_grid.min(1).values

    def gap():
        with torch.no_grad():
            return ((best - critic(obs, agent.actor(obs))) / spread).numpy()

    before = gap()
    for _ in range(1500):
        agent.descend("actor", losses.deterministic_policy_loss(critic(obs, agent.actor(obs))))
    with torch.no_grad():
        a = agent.actor(obs)[:, 0].numpy()
    assert before.max() > 0.05 and np.abs(a - argmax).max() < 0.02  # it moved, to the maximiser of every state
    assert gap().max() < 1e-3


# ------------------------------------------------------------------------------------ SAC
@pytest.mark.parametrize("target", [-1.0, 0.0])
def test_sac_temperature_drives_the_entropy_to_its_target_on_a_fixed_batch(target):
    """With a fixed critic Q(s, a) = −4(a − 0.3)², SAC's actor and temperature steps settle at H(π) = H̄."""
    agent = SoftActorCritic(cfg.SACConfig(hidden=(32,), lr=1e-2, target_entropy=str(target)), PENDULUM, seed=0)
    obs = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))

    def q(obs, a):
        return -4.0 * ((a - 0.3) ** 2).sum(-1)

    def entropy():
        with torch.no_grad():
            return -agent.actor.sample(obs.repeat(64, 1), agent.generator)[1].mean().item()

    start = entropy()
    for _ in range(1500):
        actor_loss, temp_loss, _ = agent.actor_losses(obs, agent.alpha(), q)
        agent.descend("actor", actor_loss + temp_loss)
    assert abs(start - target) > 0.3
    assert entropy() == pytest.approx(target, abs=0.15)


def _hand_sac_steps(agent, batches, lr, tau, critic_first):
    """SAC steps written out with plain tensors and torch.optim.Adam: SB3's ``SAC.train`` order (critics, then
    the actor through the UPDATED critics, α at its pre-step value throughout) or, with ``critic_first=False``,
    every loss at the pre-step parameters. The noise ε is drawn from a copy of the agent's generator in the
    agent's order (next states, then states). Returns the final (actor, critic, target critic, log α)."""
    def leaves(layers):
        return [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) for w, b in layers]

    def squashed(obs, eps):  # a = tanh(u), u = μ + σε; log π = Σ log N(u; μ, σ²) − Σ log(1 − tanh²u)
        out = _torch_mlp(actor, obs)
        mean, log_std = out[:, :1], out[:, 1:].clamp(-20, 2)
        u = mean + log_std.exp() * eps
        logp = (-0.5 * eps ** 2 - log_std - 0.5 * np.log(2 * np.pi) - torch.log(1 - torch.tanh(u) ** 2)).sum(-1)
        return torch.tanh(u), logp

    def q(layers, obs, a):
        return _torch_mlp(layers, torch.cat([obs, a], 1))[:, 0]

    actor = leaves(_actor_layers(agent.actor))
    critics = [leaves(_critic_layers(agent.critic, e)) for e in (0, 1)]
    targets = [[(w.detach().clone(), b.detach().clone()) for w, b in c] for c in critics]
    log_alpha = agent.temperature.log_alpha.detach().clone().requires_grad_(True)
    flat = [p for c in critics for layer in c for p in layer]
    opt_critic, opt_actor = torch.optim.Adam(flat, lr=lr), torch.optim.Adam([p for la in actor for p in la], lr=lr)
    opt_alpha = torch.optim.Adam([log_alpha], lr=lr)
    g = torch.Generator().set_state(agent.generator.get_state())
    for b in batches:
        eps2, eps = torch.randn((len(b.reward), 1), generator=g), torch.randn((len(b.reward), 1), generator=g)
        alpha = log_alpha.detach().exp()
        with torch.no_grad():
            a2, logp2 = squashed(b.next_obs, eps2)
            y = b.reward + b.discount * (torch.minimum(*[q(t, b.next_obs, a2) for t in targets]) - alpha * logp2)
        critic_loss = 0.5 * sum(((q(c, b.obs, b.action) - y) ** 2).mean() for c in critics)
        a, logp = squashed(b.obs, eps)
        actor_loss = (alpha * logp - torch.minimum(*[q(c, b.obs, a) for c in critics])).mean()
        alpha_loss = -(log_alpha * (logp.detach() - 1.0)).mean()  # H̄ = −dim(A) = −1
        for opt in (opt_critic, opt_actor, opt_alpha):
            opt.zero_grad()
        if critic_first:
            critic_loss.backward()
            opt_critic.step()
            opt_actor.zero_grad()  # the actor loss's graph holds the pre-step critics: evaluate it again
            a, logp = squashed(b.obs, eps)
            actor_loss = (alpha * logp - torch.minimum(*[q(c, b.obs, a) for c in critics])).mean()
            actor_loss.backward()
        else:  # the actor's Q̂ through the critics' weights as constants (no critic gradient from it)
            frozen = [[(w.detach(), bb.detach()) for w, bb in c] for c in critics]
            actor_loss = (alpha * logp - torch.minimum(*[q(c, b.obs, a) for c in frozen])).mean()
            (critic_loss + actor_loss).backward(retain_graph=True)
            opt_critic.step()
        opt_actor.step()
        alpha_loss.backward()
        opt_alpha.step()
        with torch.no_grad():
            for t, c in zip(targets, critics):
                for (wt, bt), (w, bb) in zip(t, c):
                    wt.lerp_(w, tau)
                    bt.lerp_(bb, tau)
    return actor, critics, targets, log_alpha


def test_sac_step_is_sb3s_order_written_out():
    """Two agent steps against SAC's update written out here: critics first, then the actor through the
    updated critics, α before its own step in every loss (Haarnoja et al. 2018b, Alg. 1; SB3 SAC.train).
    The same steps with every loss at the pre-step parameters land elsewhere (the test can tell)."""
    config = agents.get("sac").resolve("Pendulum-v1", {"hidden": "8,6", "lr": "0.01", "tau": "0.1"})
    agent = agents.get("sac").build(config, PENDULUM, 0)
    batches = [_batch(step) for step in range(2)]
    hand = _hand_sac_steps(agent, batches, 0.01, 0.1, critic_first=True)
    other = _hand_sac_steps(agent, batches, 0.01, 0.1, critic_first=False)
    agent.replay.add({"obs": np.zeros((1, 3), np.float32), "action": np.zeros((1, 1), np.float32),
                      "reward": np.zeros(1), "terminated": np.zeros(1, bool), "truncated": np.zeros(1, bool),
                      "next_obs": np.zeros((1, 3), np.float32)})
    agent.env_steps = config.learning_starts + 1
    for b in batches:
        agent.sample = lambda b=b: b
        assert {"critic_loss", "actor_loss", "alpha", "temperature_loss"} <= set(agent.update())
    mine = [_actor_layers(agent.actor), *[_critic_layers(agent.critic, e) for e in (0, 1)],
            *[_critic_layers(agent.critic_target, e) for e in (0, 1)]]

    def gap(theirs):
        actor, critics, targets, log_alpha = theirs
        nets = [actor, *critics, *targets]
        d = [np.abs(x - h.detach().numpy()).max() for m, t in zip(mine, nets) for pair in zip(m, t) for x, h in zip(*pair)]
        return max(d), abs(agent.temperature.log_alpha.item() - log_alpha.item())

    assert max(gap(hand)) < 2e-6
    assert gap(other)[0] > 1e-4


def test_sac_critic_target_is_the_soft_clipped_double_q():
    agent = SoftActorCritic(cfg.SACConfig(hidden=(4,), ent_coef="0.5"), PENDULUM, seed=0)
    _fixed(agent.critic_target, 4)
    b = _batch(1, n=8)
    state = agent.generator.get_state()
    y_agent = (b.reward + b.discount * agent.soft_target(b.next_obs, agent.alpha())).numpy()
    with torch.no_grad():
        agent.generator.set_state(state)
        a2, logp2 = agent.actor.sample(b.next_obs, agent.generator)
    x = np.concatenate([b.next_obs.numpy(), a2.numpy()], 1)
    q = np.minimum(*[_numpy_mlp(_critic_layers(agent.critic_target, e), x)[:, 0] for e in (0, 1)])
    expected = b.reward.numpy() + b.discount.numpy() * (q - 0.5 * logp2.numpy())
    assert np.allclose(y_agent, expected, atol=1e-5)


def _stacked_layers(net, e=0):
    """``[(W (in, out), b)]`` of member ``e`` of a StackedMLP, as numpy copies."""
    return [(w[e].detach().numpy().copy(), b[e, 0].detach().numpy().copy()) for w, b in zip(net.weights, net.biases)]


def test_sac_discrete_losses_are_the_expectations_over_actions_written_out():
    """Christodoulou (2019), eqs. 10–12, by plain numpy on the agent's weights: the soft value of s' is the
    π-weighted sum over actions, the actor and temperature losses are expectations over π (no sampling)."""
    agent = SoftActorCritic(cfg.SACConfig(hidden=(6,), ent_coef="auto_0.3"), THREE_ACTIONS, seed=0)
    for module, seed in ((agent.actor, 1), (agent.critic, 2), (agent.critic_target, 3)):
        _fixed(module, seed)
    b = _discrete_batch(4, n=8)
    alpha = agent.alpha()
    assert agent.target_entropy == pytest.approx(0.98 * np.log(3))

    def policy(obs):
        logits = _numpy_mlp(_stacked_layers(agent.actor), obs.numpy().astype(np.float64))
        logits -= logits.max(1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        return np.exp(logp), logp

    def q_min(critic, obs):
        return np.minimum(*[_numpy_mlp(_critic_layers(critic, e), obs.numpy().astype(np.float64)) for e in (0, 1)])

    p2, logp2 = policy(b.next_obs)
    v = (p2 * (q_min(agent.critic_target, b.next_obs) - alpha.item() * logp2)).sum(1)
    assert np.allclose(agent.soft_target(b.next_obs, alpha).numpy(), v, atol=1e-5)
    p, logp = policy(b.obs)
    actor_loss, temp_loss, e_logp = agent.actor_losses(b.obs, alpha, agent.frozen_q)
    expected_logp = (p * logp).sum(1)
    assert np.allclose(e_logp.detach().numpy(), expected_logp, atol=1e-5)
    pi_loss = np.mean((p * (alpha.item() * logp - q_min(agent.critic, b.obs))).sum(1))
    assert actor_loss.item() == pytest.approx(pi_loss, rel=1e-5)
    assert temp_loss.item() == pytest.approx(-np.log(0.3) * np.mean(expected_logp + agent.target_entropy), rel=1e-5)
    # the temperature's gradient is the entropy gap: d J(α)/d log α = H − H̄ (its sign moves α toward the target)
    temp_loss.backward()
    assert agent.temperature.log_alpha.grad.item() == pytest.approx(-np.mean(expected_logp) - agent.target_entropy,
                                                                    rel=1e-5)


def test_discrete_actor_critics_keep_forbidden_actions_out_of_their_targets_and_policies(tmp_path):
    """On a twin with action masks: SAC-discrete's soft value of s' and actor expectation, and offpolicy-ac's
    re-sampled actions and baseline, range over the allowed actions only (a forbidden action's Q̂, never trained,
    may be anything — NaN here: neither the values nor the actor's gradient see it); runs on maximization-bias (whose states allow different actions) stay finite and
    SAC's policy gives every forbidden action probability 0."""
    agent = SoftActorCritic(cfg.SACConfig(hidden=(6,), ent_coef="0.4"), THREE_ACTIONS, seed=0)
    for module, seed in ((agent.actor, 1), (agent.critic, 2), (agent.critic_target, 3)):
        _fixed(module, seed)
    with torch.no_grad():
        for critic in (agent.critic, agent.critic_target):
            critic.net.biases[-1][:, 0, 2] = float("nan")  # Q̂(·, 2) = NaN: action 2 is forbidden below
    b = _discrete_batch(5, n=8)
    allowed = torch.tensor([True, True, False]).expand(8, 3)
    obs = b.next_obs.numpy().astype(np.float64)
    logits = _numpy_mlp(_stacked_layers(agent.actor), obs)[:, :2]
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    q = np.minimum(*[_numpy_mlp(_critic_layers(agent.critic_target, e), obs)[:, :2] for e in (0, 1)])
    expected = (np.exp(logp) * (q - 0.4 * logp)).sum(1)
    assert np.allclose(agent.soft_target(b.next_obs, agent.alpha(), allowed).numpy(), expected, atol=1e-5)
    actor_loss, _, _ = agent.actor_losses(b.obs, agent.alpha(), agent.frozen_q, allowed)
    assert np.isfinite(actor_loss.item())
    actor_loss.backward()  # the forbidden action's NaN reaches neither the loss nor the actor's gradient
    assert all(torch.isfinite(p.grad).all() for p in agent.actor.parameters())
    # the off-policy actor-critic's re-sampled a' ~ π(·|s'), a^π ~ π(·|s) and baseline likewise
    ac = OffPolicyActorCritic(cfg.OffPolicyACConfig(hidden=(6,)), THREE_ACTIONS, seed=0)
    ac.has_masks = True  # as after observing a masked env's step
    with torch.no_grad():
        for critic in (ac.critic, ac.critic_target):
            critic.net.biases[-1][:, 0, 2] = float("nan")
    masks = {"mask": allowed.numpy(), "next_mask": allowed.numpy()}
    b = dataclasses.replace(b, action=b.action % 2, data=masks)  # stored actions are allowed ones
    assert all(np.isfinite(v.item()) for v in ac.regress(b).values())
    assert not all(np.isfinite(v.item()) for v in ac.regress(dataclasses.replace(b, data={})).values())
    env = FiniteEnv("maximization-bias")
    assert env.mdp.allowed is not None and not env.mdp.allowed.all()
    for algorithm in ("sac", "offpolicy-ac"):
        loop.train(algorithm, "maximization-bias", 300, seed=0, out=tmp_path / algorithm, eval_episodes=1,
                   overrides={"hidden": "8", "batch_size": "16", "learning_starts": "32", "log_every": "100"})
        J = _rows(tmp_path / algorithm).query("quantity == 'J'")["value"].to_numpy()
        assert len(J) >= 3 and np.isfinite(J).all()
    pi = loop.load_agent(tmp_path / "sac").policy_table(env.obs_table, mask=env.mdp.allowed)
    assert np.all(pi[~env.mdp.allowed] == 0.0) and np.allclose(pi.sum(1), 1.0)


def _greedy_is_optimal_on_the_chain(out):
    """The agent trained on chain:n=4 in ``out``: its policy table's greedy actions are the optimal ones
    (policy iteration) in every live state. Returns ``(agent, π, mdp, optimal, env)``."""
    env = FiniteEnv("chain:n=4")
    agent = loop.load_agent(out)
    pi, mdp = agent.policy_table(env.obs_table), env.mdp
    optimal = policy_iteration(mdp)
    live = ~mdp.terminal
    assert np.array_equal(pi.argmax(1)[live], optimal.actions[live])
    return agent, pi, mdp, optimal, env


def test_sac_discrete_learns_the_optimal_policy_of_a_chain_and_logs_the_probe(tmp_path):
    """With a small fixed α the soft-optimal policy is the optimal one. (At the default learned α, starting at 1, the
    entropy bonus of ~0.7α per step outweighs the chain's terminal reward of 1 at γ = 0.9: the soft-optimal policy
    walks away from the terminal state — maximum-entropy RL doing what it says, not a bug.)"""
    loop.train("sac", "chain:n=4", 1500, seed=0, out=tmp_path, eval_episodes=2, max_episode_steps=20,
               overrides={"log_every": "500", "hidden": "16", "batch_size": "32", "learning_starts": "64",
                          "ent_coef": "0.01"})
    rows = _rows(tmp_path)
    assert len(rows[rows["quantity"] == "J"]) >= 3 and {"alpha", "entropy", "critic_loss"} <= set(rows["quantity"])
    _, pi, mdp, optimal, _ = _greedy_is_optimal_on_the_chain(tmp_path)
    assert mdp.initial @ evaluate_policy(mdp, pi) >= mdp.initial @ optimal.V - 0.1


def test_squashed_gaussian_log_prob_is_the_density_of_the_squashed_sample():
    from triad.agents.nets import SquashedGaussianActor, tanh_gaussian_log_prob

    actor = SquashedGaussianActor(3, 2, (8,), torch.Generator().manual_seed(0))
    obs = torch.randn(50, 3, generator=torch.Generator().manual_seed(1))
    a, logp = actor.sample(obs, torch.Generator().manual_seed(2))
    mean, log_std = actor.distribution(obs)
    assert torch.allclose(logp, tanh_gaussian_log_prob(a.double(), mean.double(), log_std.double()).float(), atol=2e-3)


def test_squashed_sample_backward_is_autograd_of_the_density_written_out():
    """The hand-written backward of the reparameterised sample against autograd of the textbook expression
    (float64), with some log σ outside the clip so that its zero gradient there is checked too."""
    from triad.agents.nets import LOG_STD_MAX, _SquashedSample

    g = torch.Generator().manual_seed(4)
    out = torch.randn(40, 4, generator=g, dtype=torch.float64) * 2.0
    out[:5, 2:] = LOG_STD_MAX + 1.0  # clipped
    eps = torch.randn(40, 2, generator=g, dtype=torch.float64)
    w_a, w_l = torch.randn(40, 2, generator=g, dtype=torch.float64), torch.randn(40, generator=g, dtype=torch.float64)
    x = out.clone().requires_grad_(True)
    a, logp = _SquashedSample.apply(x, eps)
    (mine,) = torch.autograd.grad((w_a * a).sum() + (w_l * logp).sum(), [x])
    y = out.clone().requires_grad_(True)
    mean, log_std = y[:, :2], y[:, 2:].clamp(-20.0, 2.0)
    u = mean + torch.exp(log_std) * eps
    normal = -0.5 * ((u - mean) / torch.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
    log_sech2 = 2 * np.log(2.0) - 2 * u.abs() - 2 * torch.log1p(torch.exp(-2 * u.abs()))  # log(1 − tanh²u), stable
    ref_logp = (normal - log_sech2).sum(-1)
    (ref,) = torch.autograd.grad((w_a * torch.tanh(u)).sum() + (w_l * ref_logp).sum(), [y])
    assert torch.allclose(a, torch.tanh(u)) and torch.allclose(logp, ref_logp, atol=1e-8)
    assert torch.allclose(mine, ref, atol=1e-8) and bool((mine[:5, 2:] == 0).all())


# ----------------------------------------------------------------------- offpolicy-ac
def test_offpolicy_ac_targets_and_gradient_use_resampled_actions_not_the_stored_ones():
    """Bug 1: y = r + γQ'(s', a'), a' ~ π(·|s') now; bug 2: ∇log π(a^π|s) at a^π ~ π(·|s) — hand-computed with the same draws."""
    spaces = loop.env_spaces(FiniteEnv("chain:n=4"))
    agent = OffPolicyActorCritic(cfg.OffPolicyACConfig(hidden=(6,), pg_samples=3), spaces, seed=0)
    g = torch.Generator().manual_seed(5)
    obs = torch.eye(4)[torch.randint(0, 4, (10,), generator=g)]
    b = Transitions(obs=obs, action=torch.zeros(10, dtype=torch.int64), reward=torch.randn(10, generator=g),
                    discount=torch.full((10,), 0.9), next_obs=torch.eye(4)[torch.randint(0, 4, (10,), generator=g)],
                    data={})
    with torch.no_grad():
        agent.actor.biases[-1].copy_(torch.tensor([[[-1.0, 1.0]]]))  # π prefers action 1; every stored action is 0
        logits, logits2 = agent.logits(b.obs), agent.logits(b.next_obs)
        q_all, q2_all = agent.critic(b.obs)[0].numpy(), agent.critic_target(b.next_obs)[0].numpy()
    draws = torch.Generator().set_state(agent.generator.get_state())
    a2 = agent.head.sample(logits2, draws)[0].numpy()
    a_pi = agent.head.sample(logits.repeat(3, 1), draws)[0].numpy()
    assert a2.mean() > 0.5 and a_pi.mean() > 0.5
    logs = agent.regress(b)
    y = b.reward.numpy() + 0.9 * q2_all[np.arange(10), a2]
    critic_loss = 0.5 * np.mean((q_all[:, 0] - y) ** 2)
    pi = torch.softmax(logits, -1).numpy()
    rows = np.tile(np.arange(10), 3)
    adv = q_all[rows, a_pi] - (pi * q_all).sum(1)[rows]
    policy_loss = -np.mean(np.log(pi[rows, a_pi]) * adv)
    assert logs["critic_loss"].item() == pytest.approx(critic_loss, rel=1e-5)
    assert logs["policy_loss"].item() == pytest.approx(policy_loss, rel=1e-4, abs=1e-7)


def test_offpolicy_ac_learns_the_optimal_policy_of_a_chain(tmp_path):
    loop.train("offpolicy-ac", "chain:n=4", 1500, seed=0, overrides={"log_every": "1500", "hidden": "16"},
               out=tmp_path, eval_episodes=2, max_episode_steps=20)
    agent, pi, mdp, optimal, env = _greedy_is_optimal_on_the_chain(tmp_path)
    live = ~mdp.terminal
    J = mdp.initial @ evaluate_policy(mdp, pi / pi.sum(1, keepdims=True))
    assert J >= mdp.initial @ optimal.V - 0.03
    Q_pi = agent.q_table(env.obs_table)
    assert np.array_equal(Q_pi.argmax(1)[live], optimal.actions[live])


# ------------------------------------------------------------------------------- shared nets
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("shared", [True, False])
def test_stacked_forward_and_backward_match_autograd(activation, shared):
    """The written-out passes of StackedMLP against torch's own autograd of the same layers (float64)."""
    from triad.agents.nets import StackedMLP, _StackedForward

    net = StackedMLP(2, [3, 5, 4, 1], torch.Generator().manual_seed(1), activation=activation).double()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(*((6, 3) if shared else (2, 6, 3)), generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *p: _StackedForward.apply(x, activation == "tanh", *p),
                                    (x, *net._params))
    act = torch.tanh if activation == "tanh" else torch.relu
    h = x.expand(2, 6, 3) if shared else x
    for k, (w, b) in enumerate(zip(net.weights, net.biases)):  # the same net by plain autograd ops
        h = torch.bmm(h, w) + b
        h = act(h) if k < 2 else h
    out = net(x)
    assert torch.allclose(out, h)
    weights = torch.randn(out.shape, generator=g, dtype=torch.float64)
    mine = torch.autograd.grad((out * weights).sum(), [x, *net._params])
    theirs = torch.autograd.grad((h * weights).sum(), [x, *net._params], retain_graph=True)
    assert all(torch.allclose(a, b) for a, b in zip(mine, theirs))
    frozen = net(x if shared else x[:1], members=slice(0, 1), detach=True)  # member 0, gradients to the input only
    assert frozen.shape == (1, 6, 1)
    (gx,) = torch.autograd.grad(frozen.sum(), [x])
    (gx_ref,) = torch.autograd.grad(h[0].sum(), [x])
    assert torch.allclose(gx, gx_ref) and all(p.grad is None for p in net._params)


def test_flat_parameters_are_views_and_adam_over_them_is_per_tensor_adam():
    from triad.agents.nets import StackedMLP, flat_parameters

    net = StackedMLP(2, [3, 4, 1], torch.Generator().manual_seed(0))
    copy = [p.detach().clone().requires_grad_(True) for p in net._params]
    flat = flat_parameters(net._params)
    assert all(p.data_ptr() >= flat.data_ptr() for p in net._params) and flat.numel() == sum(p.numel() for p in copy)
    opt, ref = torch.optim.Adam([flat], lr=0.1, fused=True), torch.optim.Adam(copy, lr=0.1)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        opt.zero_grad(set_to_none=False)
        net(x).square().sum().backward()
        opt.step()
        ref.zero_grad()
        h = torch.relu(torch.bmm(x.expand(2, 5, 3), copy[0]) + copy[1])
        (torch.bmm(h, copy[2]) + copy[3]).square().sum().backward()
        ref.step()
    assert all(torch.allclose(p, q, atol=1e-6) for p, q in zip(net._params, copy))
