"""Q-Prop: the control variate keeps REINFORCE's mean and lowers its variance; the off-policy critic; runs; CLI."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from test_agents_loop import Killed, _killer

from triad import agents
from triad.agents import loop
from triad.agents.probes import allowed_policy, exact_directions
from triad.agents.qprop import choose_eta
from triad.envs import FiniteEnv
from triad.mdp import FiniteMDP
from triad.operators import q_values
from triad.solvers import evaluate_policy

SMALL = {"n_steps": "50", "hidden": "16", "q_hidden": "16", "q_warmup": "100", "q_updates_per_step": "0.5"}


def _rows(out):
    return loop.read_log(out / "log.csv")


# --------------------------------------------------------------------------------- η and Ā
def test_choose_eta_follows_the_sign_of_the_covariance():
    adv = np.array([1.0, -1.0, 2.0, 0.0])
    abar = np.array([0.5, -0.5, 1.0, 0.0])  # cov = mean((Â − 0.5)(Ā − 0.25)) = 0.625 by hand
    assert choose_eta(adv, abar, "none") == (1.0, pytest.approx(0.625))
    assert choose_eta(adv, abar, "conservative") == (1.0, pytest.approx(0.625))
    assert choose_eta(adv, abar, "aggressive") == (1.0, pytest.approx(0.625))
    assert choose_eta(adv, -abar, "none")[0] == 1.0
    assert choose_eta(adv, -abar, "conservative")[0] == 0.0
    assert choose_eta(adv, -abar, "aggressive")[0] == -1.0
    assert choose_eta(adv[:1], abar[:1], "conservative") == (0.0, 0.0)


def _agent(env_id, overrides=None, num_envs=2, seed=0):
    env = loop.make_env(env_id, num_envs=num_envs, seed=0)
    algo = agents.get("qprop")
    return algo.build(algo.resolve(env_id, {"hidden": "8", "q_hidden": "8", **(overrides or {})}),
                      loop.env_spaces(env), seed), env


def test_discrete_control_variate_is_the_centred_critic():
    agent, env = _agent("chain:n=4,slip=0.2")
    obs = torch.as_tensor(np.array(env.obs_table))
    actions = torch.tensor([0, 1, 1, 0])
    abar, table = agent.control_variate(obs, actions)
    q, pi = agent.q_table(env.obs_table), agent.policy_table(env.obs_table)
    expected = q - (pi * q).sum(1, keepdims=True)  # Q(s, a) − Σ_b π(b|s) Q(s, b)
    assert np.allclose(table.numpy(), expected, atol=1e-6)
    assert np.allclose(abar.numpy(), expected[np.arange(4), actions.numpy()], atol=1e-6)
    assert np.allclose((pi * table.numpy()).sum(1), 0.0, atol=1e-6)  # E_π[Ā] = 0


@pytest.mark.parametrize("squash", [False, True])
def test_continuous_control_variate_is_the_taylor_expansion_at_the_mean(squash):
    agent, _ = _agent("Pendulum-v1", {"squash": str(squash)})
    obs = torch.randn((5, 3), generator=torch.Generator().manual_seed(0))
    u = torch.randn((5, 1), generator=torch.Generator().manual_seed(1))
    abar, grad = agent.control_variate(obs, u)
    with torch.no_grad():
        mu = agent.model.policy_output(obs)
        h = 1e-3  # central differences of Q_w(s, ·) at the mean, in float64 arithmetic on float32 outputs
        fd = (agent.q_values(obs, mu + h).double() - agent.q_values(obs, mu - h).double()) / (2 * h)
    assert np.allclose(grad[:, 0].double().numpy(), fd.numpy(), atol=2e-3)
    assert np.allclose(abar.numpy(), (grad * (u - mu)).sum(-1).numpy(), atol=1e-6)


# ------------------------------------------------------------- the estimator against REINFORCE
S, A, STREAMS, BATCHES = 4, 3, 64, 100


def _problem(gamma=0.5):
    """Three live states in a row (each action moves right w.p. 0.8, stays w.p. 0.2), a terminal end,
    rewards that depend on the action only: the variance of REINFORCE is mostly the action's."""
    P, R = np.zeros((S, A, S)), np.zeros((S, A))
    for s in range(S - 1):
        P[s, :, s + 1], P[s, :, s] = 0.8, 0.2
        R[s] = np.roll([1.0, 0.0, -1.0], s)
    P[S - 1, :, S - 1] = 1.0
    return FiniteMDP(P, R, gamma, mu=np.eye(S)[0], terminal=np.arange(S) == S - 1, name="qprop-test")


def _set_table(net, table):
    """A one-hidden-layer MLP on one-hot inputs computing exactly ``table[s]`` (tanh or ReLU hidden units)."""
    scale = np.tanh(1.0) if isinstance(net[1], torch.nn.Tanh) else 1.0
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(S))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.as_tensor(table.T / scale, dtype=torch.float32))
        net[2].bias.zero_()


def _estimates(critic):
    """Per batch of whole episodes of a fixed policy: the sums over episodes of the Q-Prop estimate
    (η = 1, fixed critic ``critic(Q^π)``) and of REINFORCE's on the same data, and the episode counts."""
    mdp = _problem()
    env = FiniteEnv(mdp, STREAMS)
    algo = agents.get("qprop")
    config = algo.resolve("qprop-test", {
        "envs": str(STREAMS), "rollout": "episodes", "advantage": "mc", "baseline": "false",
        "batch_steps": str(STREAMS * 8), "hidden": str(S), "q_hidden": str(S), "gamma": str(mdp.gamma),
        "normalize_advantage": "false", "discount_weighting": "2", "adaptive": "none", "q_warmup": "0"})
    agent = algo.build(config, loop.env_spaces(env), 11)
    _set_table(agent.model.pi, np.random.default_rng(1).normal(size=(S, A)) * 1.5)  # a fixed, far from uniform π
    pi = allowed_policy(mdp, agent.policy_table(env.obs_table))
    Q = q_values(mdp, evaluate_policy(mdp, pi))
    _set_table(agent.q_net, critic(Q))
    exact = exact_directions(mdp, agent.policy_probs, agent.policy_parameters(), env.obs_table)["true"]
    stepper = loop.VectorStepper(env, seed=3)
    qprop, reinforce, counts = [], [], []
    while len(qprop) < BATCHES:
        action, extras = agent.act(stepper.obs)
        agent.observe(stepper.step(action, extras))
        if agent.buffer.ready():  # estimate, but no update: θ stays fixed
            data = agent.buffer.data()
            batch = agent.estimate(data)
            agent.buffer.clear()
            assert batch.eta == 1.0
            plain = dataclasses.replace(batch, adv=batch.adv + batch.eta * batch.abar, eta=0.0)  # back to G_t
            n = len(batch.rows)  # the losses are means over steps
            qprop.append(n * agent.policy_gradient(batch))
            reinforce.append(n * agent.policy_gradient(plain))
            counts.append(int(((data["weight"] > 0) & (data["terminated"] | data["truncated"])).sum()))
    return np.array(qprop), np.array(reinforce), np.array(counts), exact


def _z(sums, counts, u, value):
    """(per-episode mean along u − value) / its standard error (ratio estimator over batches, delta method)."""
    p = sums @ u
    r = p.sum() / counts.sum()
    se = np.std(p - r * counts, ddof=1) / (np.sqrt(len(p)) * counts.mean())
    return (r - value) / se


def _directions(exact):
    other = np.random.default_rng(5).normal(size=exact.size)
    return [exact / np.linalg.norm(exact), other / np.linalg.norm(other)]


def test_qprop_with_the_exact_critic_keeps_the_mean_and_cuts_the_variance():
    qprop, reinforce, counts, exact = _estimates(lambda Q: Q)
    for u in _directions(exact):
        assert abs(_z(qprop, counts, u, exact @ u)) < 4.5  # both estimate ∇J (option 2) ...
        assert abs(_z(reinforce, counts, u, exact @ u)) < 4.5
        assert abs(_z(qprop - reinforce, counts, u, 0.0)) < 4.5  # ... and their paired difference has mean 0
    per_batch = (qprop / counts[:, None], reinforce / counts[:, None])
    variance = [x.var(axis=0, ddof=1).sum() for x in per_batch]  # trace of the covariance of a batch's mean
    assert variance[0] < 0.4 * variance[1]  # measured ≈ 0.23: the action's share of REINFORCE's variance is gone


def test_qprop_with_a_wrong_critic_is_still_unbiased():
    qprop, reinforce, counts, exact = _estimates(lambda Q: np.random.default_rng(2).normal(size=Q.shape))
    for u in _directions(exact):
        assert abs(_z(qprop, counts, u, exact @ u)) < 4.5
        assert abs(_z(qprop - reinforce, counts, u, 0.0)) < 4.5


# ------------------------------------------------------------------------------ the Q critic
def test_the_off_policy_critic_learns_q_pi_of_a_fixed_policy(tmp_path):
    """lr ≈ 0 keeps π at its initial (near-uniform) policy; Q_w's expected-SARSA regression on the replay
    must reach Q^π (the exact solver's) on the live states, truncations bootstrapped."""
    spec = "chain:n=4,slip=0.2"
    loop.train("qprop", spec, 3000, seed=0, out=tmp_path, eval_episodes=1, max_episode_steps=10,
               overrides={"lr": "1e-12", "q_lr": "3e-3", "q_tau": "0.02", "q_warmup": "200", "n_steps": "50",
                          "hidden": "8", "q_hidden": "32", "log_every": "3000"})
    agent, env = loop.load_agent(tmp_path), FiniteEnv(spec)
    pi = allowed_policy(env.mdp, agent.policy_table(env.obs_table))
    Q = q_values(env.mdp, evaluate_policy(env.mdp, pi))
    live = ~env.mdp.terminal
    assert np.abs(agent.q_table(env.obs_table)[live] - Q[live]).max() < 0.06


# ------------------------------------------------------------------------------------- runs
@pytest.mark.parametrize(("env", "extra"), [("CartPole-v1", {}), ("Pendulum-v1", {"squash": "false"}),
                                            ("Pendulum-v1", {"squash": "true", "adaptive": "aggressive"}),
                                            ("chain:n=4", {"adaptive": "none"})])
def test_qprop_trains_and_logs_its_control_variate(tmp_path, env, extra):
    summary = loop.train("qprop", env, 800, seed=0, overrides={**SMALL, "envs": "2", "log_every": "200", **extra},
                         out=tmp_path, eval_episodes=1, max_episode_steps=30 if env.startswith("chain") else None)
    assert summary["steps"] >= 800 and np.isfinite(summary["eval_return"])
    rows = _rows(tmp_path)
    quantities = set(rows["quantity"])
    assert {"policy_loss", "value_loss", "q_loss", "eta", "cv_covariance", "episode_return"} <= quantities
    eta = rows[rows["quantity"] == "eta"]["value"]  # means over the updates of each log window
    assert eta.between(-1, 1).all() and (eta != 0).any()  # the control variate is on after the warm-up
    if extra.get("adaptive") == "none":
        assert eta.iloc[-1] == 1.0
    if env.startswith("chain"):
        assert {"J", "critic_error", "cos_true"} <= quantities


def test_resume_after_a_kill_equals_the_uninterrupted_run(tmp_path):
    """The replay, its sampling generator, Q_w, Q' and their optimiser are part of the checkpoint."""
    kw = {"overrides": {**SMALL, "log_every": "100"}, "eval_episodes": 1, "seed": 5, "max_episode_steps": 30}
    loop.train("qprop", "chain:n=4", 1600, out=tmp_path / "whole", **kw)
    with pytest.raises(Killed):
        loop.train("qprop", "chain:n=4", 1600, out=tmp_path / "killed", checkpoint_every=500, progress=_killer(1300),
                   **kw)
    loop.resume(tmp_path / "killed")
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=False)["agent"] for d in ("whole", "killed"))
    for key in ("model", "q_net", "q_target"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    ra, rb = (_rows(tmp_path / d) for d in ("whole", "killed"))
    ra, rb = (r[r["quantity"] != "steps_per_second"].reset_index(drop=True) for r in (ra, rb))
    assert ra.equals(rb)


# ------------------------------------------------------------------------------------------ CLI
def test_train_qprop_from_the_cli(triad_cli, tmp_path):
    code, out, err = triad_cli("train", "qprop", "--env", "CartPole-v1", "--steps", "300", "--set", "n_steps=50",
                               "--set", "q_warmup=50", "--set", "q_hidden=16,16", "--out", str(tmp_path),
                               "--eval-episodes", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["algorithm"] == "qprop"
    assert json.loads((tmp_path / "config.json").read_text())["config"]["q_hidden"] == [16, 16]


@pytest.mark.parametrize(("setting", "message"), [
    ("adaptive=always", "adaptive = 'always' must be one of none, conservative, aggressive"),
    ("q_tau=0", "q_tau = 0 must be in (0, 1]"),
    ("q_hidden=0", "q_hidden = (0,) must list at least one positive layer width"),
    ("q_batch_size=x", "--set q_batch_size='x' is not a valid int"),
    ("q_lr=0", "q_lr = 0.0 must be positive"),
])
def test_cli_errors_are_one_line(triad_cli, tmp_path, setting, message):
    code, out, err = triad_cli("train", "qprop", "--env", "CartPole-v1", "--set", setting, "--out", str(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("triad: error: ") and err.count("\n") == 1 and message in err, err
