"""The deep level of the deadly-triad grid: vectorised members against single agents, their optimiser pieces
against torch's, the findings analysis on hand-built tables, and the quick grid end to end."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from triad import SpecError, ValidationError
from triad import experiment as exp
from triad.agents import REGISTRY, loop
from triad.agents.members import ValueMembers, clip_member_norms, member_adam_step, train_members
from triad.experiments.deadly_triad.analysis import findings
from triad.experiments.deadly_triad.env import ENV

BASE = {"gamma": "0.99", "lr": "1e-3", "train_every": "1", "learning_starts": "30", "capacity": "400",
        "hidden": "16", "batch_size": "16", "log_every": "1000"}
VARIANTS = ({"target_period": "0"}, {"target_period": "15", "double": "true"},
            {"target_period": "1", "tau": "0.05", "prioritized": "true"})


@pytest.mark.parametrize("shape", [{}, {"n_step": "3", "correction": "retrace"}], ids=["one-step", "n=3"])
def test_vectorised_members_equal_the_same_agents_trained_one_at_a_time(tmp_path, shape):
    # Three members sharing shapes (no target / periodic + double / Polyak + prioritised), each against
    # `triad train dqn` with the same settings and seed run alone by the training loop.
    overrides = [{**BASE, **v, **shape} for v in VARIANTS]
    seeds = [3, 4, 5]
    steps = 200
    singles = []
    for i, (o, s) in enumerate(zip(overrides, seeds)):
        loop.train("dqn", ENV, steps, seed=s, overrides=o, out=tmp_path / str(i), eval_episodes=1)
        singles.append(loop.load_agent(tmp_path / str(i)))
    configs = [REGISTRY["dqn"].resolve(ENV, o) for o in overrides]
    run = train_members(configs, ENV, steps, seeds)
    table = loop.make_env(ENV, 1, seed=0).obs_table
    Q = run.members.q_tables(table)
    for e, single in enumerate(singles):
        member = run.members.agents[e]
        assert member.gradient_steps == single.gradient_steps > 150
        assert member.env_steps == single.env_steps == steps
        np.testing.assert_allclose(Q[e], single.q_table(table), rtol=0, atol=2e-5)
        np.testing.assert_allclose(member.q_table(table), single.q_table(table), rtol=0, atol=2e-5)  # synced
        if single.q_target is not single.q:
            for a, b in zip(member.q_target.parameters(), single.q_target.parameters()):
                np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=2e-5)
        assert len(run.episodes[e]) > 0
    assert not np.allclose(Q[0], Q[1])  # the members did learn different things


@pytest.mark.parametrize("autoreset", ["next-step", "same-step"])
def test_members_on_cartpole_equal_the_same_agents_trained_alone(tmp_path, autoreset):
    # A gymnasium env (stepped member by member), several gradient steps per iteration drawn ahead as one phase
    # (grad_steps 3 against a target copied every 2). next-step: clocks that drift apart — every episode end
    # costs a member one reset step, so members are due at different vector steps and regress on their own;
    # same-step (the zoo preset's SB3 clock, with whole rollouts): every step a transition.
    base = {"learning_starts": "40", "train_every": "4", "grad_steps": "3", "batch_size": "8", "hidden": "16",
            "capacity": "300", "log_every": "1000", "explore_fraction": "0.5", "autoreset": autoreset}
    overrides = [{**base, "target_period": "2"}, {**base, "target_period": "0", "double": "true"}]
    seeds, steps, singles, returns = [7, 8], 240, [], []
    for i, (o, s) in enumerate(zip(overrides, seeds)):
        loop.train("dqn", "CartPole-v1", steps, seed=s, overrides=o, out=tmp_path / str(i), eval_episodes=1)
        singles.append(loop.load_agent(tmp_path / str(i)))
        log = pd.read_csv(tmp_path / str(i) / "log.csv")
        returns.append(log.loc[log["quantity"] == "episode_return", "value"].tolist())
    run = train_members([REGISTRY["dqn"].resolve("CartPole-v1", o) for o in overrides], "CartPole-v1", steps, seeds)
    obs = np.random.default_rng(0).uniform(-0.2, 0.2, (50, 4)).astype(np.float32)
    for e, single in enumerate(singles):
        member = run.members.agents[e]
        assert member.gradient_steps == single.gradient_steps > 100
        np.testing.assert_allclose(member.q_table(obs), single.q_table(obs), rtol=0, atol=2e-5)
        assert [r for _, r, _ in run.episodes[e]] == returns[e]
    clocks = [agent.vector_steps for agent in run.members.agents]
    if autoreset == "next-step":
        assert clocks[0] != clocks[1]  # the clocks did drift apart
    else:
        assert clocks == [steps, steps] and all(len(agent.replay) == steps for agent in run.members.agents)


def test_member_adam_step_is_torch_adam_per_member_and_skips_members_not_due():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(3, 4, 2, generator=g)
    singles = [torch.nn.Parameter(p[e].clone()) for e in range(3)]
    opts = [torch.optim.Adam([q], lr=0.01) for q in singles]
    m, v, t = [torch.zeros_like(p)], [torch.zeros_like(p)], torch.zeros(3, dtype=torch.float64)
    for k in range(5):
        grad = torch.randn(3, 4, 2, generator=g)
        due = torch.tensor([True, k % 2 == 0, False])
        t += due.double()
        member_adam_step([p], [grad], m, v, t, due, 0.01)
        for e in range(3):
            if due[e]:
                singles[e].grad = grad[e].clone()
                opts[e].step()
    for e in range(3):
        np.testing.assert_allclose(p[e].numpy(), singles[e].detach().numpy(), rtol=1e-6, atol=1e-7)


def test_member_adam_step_with_every_member_due_is_torch_adam_per_member():
    # The in-place path (all members due), members at different step counts: each equals torch's Adam on its own.
    g = torch.Generator().manual_seed(2)
    p = torch.randn(2, 5, generator=g)
    singles = [torch.nn.Parameter(p[e].clone()) for e in range(2)]
    opts = [torch.optim.Adam([q], lr=0.05) for q in singles]
    m, v, t = [torch.zeros_like(p)], [torch.zeros_like(p)], torch.tensor([0.0, 3.0], dtype=torch.float64)
    for e in range(2):  # member 1 has taken 3 steps already: its moments and t are its own optimiser's
        if t[e]:
            for _ in range(3):
                singles[e].grad = torch.ones(5)
                opts[e].step()
            p[e] = singles[e].detach()
            state = opts[e].state[singles[e]]
            m[0][e], v[0][e] = state["exp_avg"], state["exp_avg_sq"]
    for _ in range(4):
        grad = torch.randn(2, 5, generator=g)
        t += 1.0
        member_adam_step([p], [grad], m, v, t, torch.tensor([True, True]), 0.05)
        for e in range(2):
            singles[e].grad = grad[e].clone()
            opts[e].step()
    for e in range(2):
        np.testing.assert_allclose(p[e].numpy(), singles[e].detach().numpy(), rtol=1e-6, atol=1e-7)


def test_clip_member_norms_is_clip_grad_norm_per_member():
    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(2, 3, 3, generator=g) * 5, torch.randn(2, 1, 3, generator=g) * 5]
    grads[0][1] *= 1e-3
    grads[1][1] *= 1e-3  # member 1 is below the bound: unchanged
    expected = []
    for e in range(2):
        params = [torch.nn.Parameter(torch.zeros(x.shape[1:])) for x in grads]
        for q, x in zip(params, grads):
            q.grad = x[e].clone()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        expected.append([q.grad for q in params])
    clip_member_norms(grads, 1.0)
    for e in range(2):
        for x, want in zip(grads, expected[e]):
            np.testing.assert_allclose(x[e].numpy(), want.numpy(), rtol=1e-6)


def test_members_must_share_shapes_and_take_no_twin_tables():
    env = loop.make_env(ENV, 1, seed=0)
    spaces = loop.env_spaces(env)
    a, b = (REGISTRY["dqn"].resolve(ENV, {"hidden": h}) for h in ("16", "32"))
    with pytest.raises(ValidationError, match="must share hidden"):
        ValueMembers([a, b], spaces, [0, 1])
    with pytest.raises(ValidationError, match="twin_q"):
        ValueMembers([REGISTRY["dqn"].resolve(ENV, {"twin_q": "true"})], spaces, [0])
    with pytest.raises(ValidationError, match="2 configs for 1 seeds"):
        ValueMembers([a, a], spaces, [0])


def test_tick_is_the_clock_update_runs():
    # tick() says when update() regresses: a twin agent fed the same steps whose update is replaced by tick alone
    # counts the same iterations (NEXT_STEP reset steps included: episodes end within the 150 steps).
    env = loop.make_env(ENV, 1, seed=0)
    config = REGISTRY["dqn"].resolve(ENV, {**BASE, "train_every": "3", "learning_starts": "10"})
    agent = REGISTRY["dqn"].build(config, loop.env_spaces(env), 0)
    clock = REGISTRY["dqn"].build(config, loop.env_spaces(env), 0)
    stepper, twin = loop.VectorStepper(env, 0), loop.VectorStepper(loop.make_env(ENV, 1, seed=0), 0)
    due, resets = 0, 0
    for _ in range(150):
        action, extras = loop.act(agent, stepper)
        step = stepper.step(action, extras)
        resets += int(not step.valid.all())
        agent.observe(step)
        agent.update()
        clock.observe(twin.step(action, dict(extras)))
        due += clock.tick()
    assert agent.iterations == due > 0 and resets > 0
    assert agent.vector_steps == clock.vector_steps == 150 - resets


# ----------------------------------------------------------------------------------------- analysis
def _table(rates: dict, column: str) -> pd.DataFrame:
    """Agents with a given soft-divergence flag per value of ``column`` (other settings fixed)."""
    rows = []
    for value, flags in rates.items():
        for k, flag in enumerate(flags):
            row = {"id": "x", "env": "grid", "n_step": 1, "size": "16", "width": 16, "target": "periodic",
                   "double": False, "prioritised": False, "stream": k, "soft_diverged": float(flag),
                   "q_ratio": 2.0 if flag else 0.1 + 0.01 * k, "final_return": 0.0}
            row[column] = value
            rows.append(row)
    return pd.DataFrame(rows)


def test_findings_compare_soft_divergence_rates_and_break_ties_by_the_median_ratio():
    table = _table({"none": [1, 1, 0], "periodic": [0, 0, 0], "polyak": [1, 0, 0]}, "target")
    row = next(r for r in findings(table) if r["finding"].startswith("target") and r["env"] == "all")
    # rates by hand: none 2/3, periodic 0, polyak 1/3 — both target networks diverge less
    assert row["groups"]["none"]["soft_divergence"] == pytest.approx(2 / 3)
    assert row["groups"]["polyak"]["soft_divergence"] == pytest.approx(1 / 3) and row["held"] is True
    table = _table({False: [0, 0], True: [0, 0]}, "prioritised")
    table.loc[table["prioritised"], "q_ratio"] *= 3  # equal rates: the larger median ratio diverges more
    row = next(r for r in findings(table) if r["finding"].startswith("prioritisation") and r["env"] == "all")
    assert row["groups"]["True"]["median_q_ratio"] == pytest.approx(3 * 0.105) and row["held"] is True
    table = _table({1: [1, 0], 3: [1, 1], 10: [0, 0]}, "n_step")
    row = next(r for r in findings(table) if r["finding"].startswith("longer") and r["env"] == "all")
    assert row["compared"] == "10 vs 1" and row["held"] is True and row["decided_by"] == "soft-divergence rate"
    size = next(r for r in findings(table) if r["finding"].startswith("larger"))
    assert size["held"] is None  # one network size: nothing to compare


def test_double_q_finding_leaves_out_members_without_a_target_network():
    # Without a target network double Q selects and evaluates with the same network: it is plain Q-learning.
    table = pd.concat([_table({False: [0, 0], True: [0, 0]}, "double"),
                       _table({False: [0, 0], True: [1, 1]}, "double").assign(target="none")])
    row = next(r for r in findings(table) if r["finding"].startswith("double") and r["env"] == "all")
    assert row["groups"]["True"]["agents"] == 2 and row["groups"]["True"]["soft_divergence"] == 0.0


# --------------------------------------------------------------------------------------- the grid
def test_quick_deep_grid_runs_end_to_end_resumes_and_draws(tmp_path):
    experiment = exp.get("deadly-triad")
    params = experiment.resolve({"level": "deep"}, quick=True)
    outcome = exp.execute(experiment, params, out=tmp_path / "res", figures_dir=tmp_path / "fig",
                          show_progress=False)
    s = outcome.summary
    members = 2 * 2 * 2 * 1  # targets × doubles × prioritised × streams
    assert s["level"] == "deep" and s["runs"] == 2 * 2 and s["agents"] == 4 * members
    assert [p.name for p in outcome.figures] == ["deadly_triad_deep.png"]
    assert outcome.figures[0].stat().st_size > 10_000
    rows = pd.read_csv(tmp_path / "res" / "results.csv")
    finals = rows[rows["quantity"] == "q_abs_max"]
    bound = rows[rows["quantity"] == "return_bound"]
    assert len(finals) == s["agents"] and set(bound["value"].round(6)) == {100.0, round(0.925 / 0.01, 6)}
    soft = rows[rows["quantity"] == "soft_diverged"]["value"].to_numpy()
    np.testing.assert_array_equal(soft, (finals["value"].to_numpy() > bound["value"].to_numpy()).astype(float))
    grid = rows[(rows["env"] == "triad-grid") & (rows["quantity"] == "q_error")]
    assert len(grid) == 2 * members and (grid["value"] > 0).all()
    assert set(s["headline"]) == {"target networks reduce soft divergence", "double Q reduces soft divergence",
                                  "longer multi-step returns reduce soft divergence",
                                  "prioritisation increases soft divergence", "larger networks diverge less"}
    assert s["headline"]["larger networks diverge less"] is None  # the quick grid has one size
    assert {r["finding"] for r in s["table"]} == set(s["headline"])  # the tidy table: finding × env × group
    assert all(r["held"] in (True, False, None) and r["agents"] > 0 for r in s["table"])
    assert json.loads((tmp_path / "res" / "summary.json").read_text())["headline"] == s["headline"]
    again = exp.execute(experiment, params, out=tmp_path / "res", figures_dir=tmp_path / "fig",
                        show_progress=False, make_figures=False)
    assert again.reused == 4 and again.ran == 0


@pytest.mark.parametrize("overrides, error, message", [
    ({"sizes": "16;wide"}, SpecError, "network size 'wide'"),
    ({"targets": "none,soft"}, SpecError, "unknown target 'soft'"),
    ({"deep_envs": "Pong"}, SpecError, "unknown deep env 'Pong'"),
    ({"tau": "0"}, ValidationError, "tau must lie in"),
])
def test_bad_deep_parameters(overrides, error, message):
    experiment = exp.get("deadly-triad")
    with pytest.raises(error, match=message):
        experiment.sweep(experiment.resolve({"level": "deep", **overrides}, quick=True))


def test_return_bound_is_the_twins_largest_possible_return():
    from triad.experiments.deadly_triad.env import problem

    mdp = problem().mdp
    assert mdp.gamma == 0.99 and math.isclose(np.abs(mdp.R).max() / (1 - mdp.gamma), 92.5)
