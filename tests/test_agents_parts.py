"""The agents' parts against hand-computed values and independent computations."""

import dataclasses
import math

import numpy as np
import pytest
import scipy.stats
import torch

from triad import agents
from triad.agents import config as cfg
from triad.agents import losses, nets
from triad.agents.storage import RolloutBuffer
from triad.errors import SpecError, ValidationError


# ------------------------------------------------------------------------------------ losses
def test_policy_gradient_loss_by_hand():
    # −mean(w·logp·A) = −mean([1·(−1)·2, 0.5·(−2)·(−1)]) = −mean([−2, 1]) = 0.5
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    loss = losses.policy_gradient_loss(logp, torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.5]))
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    # ∂L/∂logp_i = −w_i A_i / N
    assert logp.grad.tolist() == pytest.approx([-1.0, 0.25])


def test_ppo_clip_loss_by_hand():
    old = torch.tensor([-1.0, -2.0, -0.5])
    ratio = torch.tensor([1.5, 0.5, 1.1])
    logp = (old + torch.log(ratio)).requires_grad_(True)
    adv = torch.tensor([1.0, -1.0, 2.0])
    # entry 0: min(1.5, 1.2) = 1.2 (clipped); entry 1: min(−0.5, −0.8) = −0.8 (clipped); entry 2: 2.2 (inside)
    loss = losses.ppo_clip_loss(logp, old, adv, 0.2)
    assert loss.item() == pytest.approx(-(1.2 - 0.8 + 2.2) / 3)
    loss.backward()
    # Clipped entries pass no gradient; the inside one passes −ρA/N = −1.1·2/3.
    assert logp.grad.tolist() == pytest.approx([0.0, 0.0, -1.1 * 2 / 3])


def test_ppo_clip_equals_policy_gradient_at_ratio_one():
    logp = torch.tensor([-0.3, -1.2, -2.0], requires_grad=True)
    adv, w = torch.tensor([0.5, -2.0, 1.0]), torch.tensor([1.0, 0.9, 0.81])
    g1 = torch.autograd.grad(losses.ppo_clip_loss(logp, logp.detach(), adv, 0.2, w), logp)[0]
    g2 = torch.autograd.grad(losses.policy_gradient_loss(logp, adv, w), logp)[0]
    assert torch.allclose(g1, g2)


def test_value_loss_by_hand():
    v, y = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0])
    assert losses.value_loss(v, y).item() == pytest.approx((1 + 4) / 2)
    # Clipping: V̂ = 1 from V_old = 0 with c = 0.2 is clipped to 0.2; max(0², 0.8²) = 0.64.
    assert losses.value_loss(torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([0.0]), 0.2).item() == \
        pytest.approx(0.64)
    # Where the unclipped error is larger it is kept: (0 − 1)² = 1 vs (0.7 − 1)² = 0.09.
    assert losses.value_loss(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([0.9]), 0.2).item() == \
        pytest.approx(1.0)
    assert losses.value_loss(v, y, weight_t=torch.tensor([2.0, 0.0])).item() == pytest.approx(1.0)


def test_entropy_loss_and_normalize_by_hand():
    assert losses.entropy_loss(torch.tensor([1.0, 2.0])).item() == pytest.approx(-1.5)
    z = losses.normalize(torch.tensor([1.0, 2.0, 3.0]))
    assert z.tolist() == pytest.approx([-1.0, 0.0, 1.0], abs=1e-6)  # sample std of (1, 2, 3) is 1


# ------------------------------------------------------------------------------ distributions
def test_categorical_log_prob_and_entropy_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # π = (1/4, 3/4)
    assert nets.categorical_log_prob(logits, torch.tensor([1])).item() == pytest.approx(math.log(0.75))
    assert nets.categorical_entropy(logits).item() == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)))


def test_gaussian_log_prob_matches_scipy():
    x, mean, log_std = torch.tensor([[0.3, -1.0]]), torch.tensor([[0.0, 0.5]]), torch.tensor([0.2, -0.4])
    expected = scipy.stats.norm.logpdf([0.3, -1.0], [0.0, 0.5], np.exp([0.2, -0.4])).sum()
    assert nets.gaussian_log_prob(x, mean, log_std).item() == pytest.approx(expected, rel=1e-6)


def test_tanh_gaussian_log_prob_is_the_numerical_change_of_variables():
    # B = low + (tanh U + 1)(high − low)/2, U ~ N(μ, σ²): P(B ≤ b) = Φ((atanh(y(b)) − μ)/σ), y = 2(b − low)/(high − low) − 1.
    # Its numerical derivative is the density; compare with exp(log p).
    mu, sigma, low, high = 0.3, math.exp(-0.5), -2.0, 2.0
    b = np.linspace(-1.9, 1.9, 41)
    h = 1e-5

    def cdf(x):
        return scipy.stats.norm.cdf((np.arctanh(2 * (x - low) / (high - low) - 1) - mu) / sigma)

    numeric = (cdf(b + h) - cdf(b - h)) / (2 * h)
    logp = nets.tanh_gaussian_log_prob(torch.tensor(b)[:, None], torch.full((41, 1), mu, dtype=torch.float64),
                                       torch.tensor([math.log(sigma)], dtype=torch.float64), low, high)
    assert np.allclose(np.exp(logp.numpy()), numeric, rtol=1e-5)


def test_tanh_head_log_prob_of_stored_action_equals_the_env_action_density():
    g = torch.Generator().manual_seed(0)
    head = nets.TanhGaussianHead(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32), -0.3)
    mean = torch.tensor([[0.1, -0.4], [1.0, 0.2], [-0.5, 0.0]])
    with torch.no_grad():
        u, logp = head.sample(mean, g)
    a = head.to_env(u.numpy())
    assert np.all(a >= head.low) and np.all(a <= head.high)
    direct = nets.tanh_gaussian_log_prob(torch.as_tensor(a, dtype=torch.float64), mean.double(),
                                         head.log_std.detach().double(), torch.tensor(head.low, dtype=torch.float64),
                                         torch.tensor(head.high, dtype=torch.float64))
    assert torch.allclose(logp.detach().double(), direct, atol=1e-4)
    assert torch.allclose(head.log_prob(mean, u).detach(), logp.detach())


def test_tanh_log_det_jacobian_is_stable_and_exact():
    u = torch.tensor([[0.0], [1.0], [30.0]], dtype=torch.float64)
    out = nets.tanh_log_det_jacobian(u)
    assert out[0].item() == pytest.approx(0.0)
    assert out[1].item() == pytest.approx(math.log(1 - math.tanh(1.0) ** 2))
    assert math.isfinite(out[2].item()) and out[2].item() == pytest.approx(2 * (math.log(2) - 30), rel=1e-9)


def test_action_head_rejects_unsupported_spaces():
    import gymnasium

    with pytest.raises(ValidationError, match="ppo cannot handle the action space"):
        nets.action_head(gymnasium.spaces.MultiBinary(3), where="ppo")
    assert isinstance(nets.action_head(gymnasium.spaces.Box(-1, 1, (2,)), squash=True), nets.TanhGaussianHead)


# --------------------------------------------------------------------------------- networks
def _ac(design):
    head = nets.CategoricalHead(3)
    return nets.ActorCritic(4, head, (8, 8), torch.Generator().manual_seed(0), critic=design)


def test_separate_design_keeps_actor_and_critic_apart():
    ac = _ac("separate")
    pi, v = {id(p) for p in ac.policy_parameters()}, {id(p) for p in ac.value_parameters()}
    assert not pi & v and pi | v == {id(p) for p in ac.parameters()}
    ac.value(torch.ones(2, 4)).sum().backward()
    assert all(p.grad is None for p in ac.policy_parameters())


def test_shared_design_has_one_trunk_under_two_heads():
    ac = _ac("shared")
    trunk = {id(p) for p in ac.trunk.parameters()}
    pi, v = {id(p) for p in ac.policy_parameters()}, {id(p) for p in ac.value_parameters()}
    assert pi & v == trunk
    out, value = ac(torch.ones(5, 4))
    assert out.shape == (5, 3) and value.shape == (5,)
    assert torch.allclose(value, ac.value(torch.ones(5, 4))) and torch.allclose(out, ac.policy_output(torch.ones(5, 4)))


def test_orthogonal_init_gains():
    ac = _ac("separate")
    w = ac.pi[0].weight.detach()
    # rows of an orthogonal (8, 4) matrix with gain √2: WᵀW = 2·I
    assert torch.allclose(w.T @ w, 2 * torch.eye(4), atol=1e-5)
    head_w = ac.pi[-1].weight.detach()
    assert torch.allclose(head_w @ head_w.T, 1e-4 * torch.eye(3), atol=1e-7)


def test_init_reads_no_global_rng():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    _ac("separate")
    assert torch.equal(before, torch.get_rng_state())


def test_stacked_mlp_is_members_in_one_forward():
    net = nets.StackedMLP(2, [3, 5, 1], torch.Generator().manual_seed(1), activation="relu")
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    out = net(x)
    assert out.shape == (2, 4, 1)
    for e in range(2):  # member e by plain matrix algebra
        h = np.maximum(x.numpy() @ net.weights[0][e].detach().numpy() + net.biases[0][e].detach().numpy(), 0)
        ref = h @ net.weights[1][e].detach().numpy() + net.biases[1][e].detach().numpy()
        assert np.allclose(out[e].detach().numpy(), ref, atol=1e-6)
    assert not torch.allclose(out[0], out[1])  # members are initialised independently
    q = nets.QCritic(3, 2, (6,), torch.Generator().manual_seed(0), members=2)
    assert q(torch.ones(7, 3), torch.ones(7, 2)).shape == (2, 7)


# ----------------------------------------------------------------------------------- configs
def test_every_field_of_every_config_is_documented():
    for algo in agents.REGISTRY.values():
        docs = cfg.field_docs(algo.config)
        missing = [k for k, v in docs.items() if not v]
        assert not missing, f"{algo.name}: undocumented fields {missing}"
    assert cfg.field_docs(cfg.PPOConfig)["n_steps"].startswith("Steps per env per update (SB3 PPO default")


def test_presets_then_set():
    ppo = agents.get("ppo")
    c = ppo.resolve("CartPole-v1")
    assert (c.envs, c.n_steps, c.batch_size, c.epochs, c.gamma, c.gae_lambda) == (8, 32, 256, 20, 0.98, 0.8)
    assert (c.lr, c.lr_schedule, c.clip, c.clip_schedule) == (1e-3, "linear", 0.2, "linear")
    c = ppo.resolve("CartPole-v1", {"n_steps": "64", "hidden": "32,32"})
    assert c.n_steps == 64 and c.hidden == (32, 32) and c.envs == 8
    assert ppo.resolve("chain:n=5").n_steps == 2048


def test_set_errors_are_one_line():
    ppo = agents.get("ppo")
    with pytest.raises(SpecError, match=r"has no field 'n_step' \(valid keys: envs, gamma,"):
        ppo.resolve("CartPole-v1", {"n_step": "3"})
    with pytest.raises(SpecError, match="n_steps='x' is not a valid int"):
        ppo.resolve("CartPole-v1", {"n_steps": "x"})
    with pytest.raises(ValidationError, match="critic = 'both' must be one of separate, shared"):
        ppo.resolve("CartPole-v1", {"critic": "both"})
    with pytest.raises(ValidationError, match="baseline=true needs reward_to_go=true"):
        agents.get("reinforce").resolve("CartPole-v1", {"baseline": "true", "reward_to_go": "false"})
    with pytest.raises(SpecError, match="unknown algorithm 'c51'"):
        agents.get("c51")


def test_config_json_round_trip():
    c = agents.get("ac-batch").resolve("CartPole-v1", {"hidden": "16,8", "discount_weighting": "2"})
    again = cfg.from_json(cfg.ACBatchConfig, cfg.to_json(c))
    assert again == c and isinstance(again.hidden, tuple)
    with pytest.raises(SpecError, match="epochs=1.5 is not a valid int"):
        cfg.from_json(cfg.ACBatchConfig, {"epochs": 1.5})


def test_registry_does_not_need_torch():
    import subprocess
    import sys

    code = "import sys, triad.agents; triad.agents.get('ppo').resolve('CartPole-v1'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ----------------------------------------------------------------------------------- storage
def _step(ep, valid, done, B=2):
    return {"obs": np.zeros((B, 1), np.float32), "action": np.zeros(B, np.int64), "reward": np.ones(B),
            "terminated": np.array(done), "truncated": np.zeros(B, bool), "next_obs": np.zeros((B, 1), np.float32),
            "episode_step": np.array(ep), "valid": np.array(valid), "logp": np.zeros(B, np.float32)}


def test_episode_buffer_keeps_each_streams_first_whole_episodes_up_to_its_quota():
    buf = RolloutBuffer(2, mode="episodes", n_steps=2, batch_steps=4)  # quota: 2 steps per stream
    buf.add(_step([0, 0], [True, True], [False, False]))
    buf.add(_step([1, 1], [True, True], [True, False]))   # stream 0: a 2-step episode ends, its quota is met
    assert not buf.ready()
    buf.add(_step([0, 2], [False, True], [False, False]))  # stream 0: the ignored reset step
    buf.add(_step([0, 3], [True, True], [False, True]))    # stream 0 begins anew (not kept); stream 1: 4 steps end
    assert buf.ready() and buf.kept.tolist() == [2, 4]
    w = buf.data()["weight"]
    assert w[:, 0].tolist() == [1, 1, 0, 0] and w[:, 1].tolist() == [1, 1, 1, 1]
    assert buf.discarded == 1
    buf.clear()
    buf.add(_step([1, 0], [True, False], [False, False]))  # stream 0 goes on with an episode begun before: not kept
    buf.add(_step([2, 0], [True, True], [True, False]))    # its end counts nothing; stream 1 begins: kept
    assert buf.data()["weight"].tolist() == [[0, 0], [0, 1]] and buf.kept.tolist() == [0, 0]
    assert buf.discarded == 3


def test_step_buffer_is_rectangular_and_weights_valid_steps():
    buf = RolloutBuffer(2, mode="steps", n_steps=2)
    buf.add(_step([0, 0], [True, False], [False, False]))
    assert not buf.ready()
    buf.add(_step([1, 0], [True, True], [False, False]))
    assert buf.ready() and buf.data()["weight"].tolist() == [[1, 0], [1, 1]]
    with pytest.raises(ValidationError, match="full"):
        buf.add(_step([2, 1], [True, True], [False, False]))
    state = buf.state_dict()
    other = RolloutBuffer(2, mode="steps", n_steps=2)
    other.load_state_dict(state)
    assert all(np.array_equal(other.data()[k], buf.data()[k]) for k in buf.data())


def test_onpolicy_configs_are_frozen_dataclasses():
    c = cfg.PPOConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.lr = 1.0


def test_masked_logits_give_forbidden_actions_probability_zero():
    from triad.agents.onpolicy import masked

    logits = masked(torch.tensor([[0.5, 1.0, 2.0]]), np.array([[True, False, True]]))
    p = torch.softmax(logits, -1)
    assert p[0, 1].item() == 0.0 and p[0, [0, 2]].sum().item() == pytest.approx(1.0)
    assert math.isfinite(nets.categorical_entropy(logits).item())
    assert nets.categorical_entropy(logits).item() == pytest.approx(nets.categorical_entropy(torch.tensor([[0.5, 2.0]])).item())
