"""Decoupled QT-Opt on Ray (triad.distributed.qtopt): the config and CLI wiring, a Bellman updater's labels against
the single-process qtopt's, and one short run in which a collector's process is killed mid-run.

The Ray tests share one local instance, conftest.py's ``ray_local`` (``ray.init(num_cpus=2,
include_dashboard=False)``); they are skipped only where the ``distributed`` extra is not installed.
"""

import math
import os
import signal
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from triad.agents import config as cfg
from triad.agents import loop

SMALL = {"hidden": (16, 16), "batch_size": 32, "samples": 16, "elites": 4}
"""A small critic and CEM, so the Ray tests spend their seconds on the processes, not the arithmetic."""


# ------------------------------------------------------------------------------ config and CLI
def test_config_rates_and_validation():
    c = cfg.QTOptDistributedConfig()
    assert c.tolerance() == math.inf  # samples_per_insert = 0: the updaters are not tied to the collectors
    assert c.rates()["grad_steps_per_env_step"] is None and c.rates()["updaters"] == 1
    tied = cfg.QTOptDistributedConfig(samples_per_insert=4.0, batch_size=32, collectors=2)
    assert tied.tolerance() == 4.0 * 50 * 2 + 32 and tied.rates()["grad_steps_per_env_step"] == 4 / 32
    with pytest.raises(cfg.ValidationError, match="shards = 3 must not exceed collectors = 2"):
        cfg.QTOptDistributedConfig(shards=3).validate()
    with pytest.raises(cfg.ValidationError, match="updaters = 0 must be at least 1"):
        cfg.QTOptDistributedConfig(updaters=0).validate()


def test_distributed_flag_selects_the_variant_and_refuses_others(triad_cli):
    code, out, _ = triad_cli("train", "qtopt", "--distributed", "--env", "Pendulum-v1", "--explain", "--set",
                             "collectors=3", "--set", "updaters=2")
    assert code == 0 and "3 collector(s)" in out and "2 process(es) label batches" in out
    code, out, err = triad_cli("train", "dqn", "--distributed", "--env", "CartPole-v1")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "dqn has no distributed variant" in err


def test_without_ray_is_one_line_naming_the_extra(triad_cli, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as without the extra
    code, out, err = triad_cli("train", "qtopt", "--distributed", "--env", "Pendulum-v1", "--steps", "100", "--out",
                               str(tmp_path))
    line = "triad: error: triad train qtopt --distributed needs Ray: pip install 'triad[distributed]'\n"
    assert (code, out, err) == (2, "", line)


# ------------------------------------------------------------------------------ on Ray
def single_process_agent():
    """A single-process qtopt agent whose two target critics differ from each other and from the online critic,
    with 64 Pendulum transitions (uniform actions) in its replay."""
    import torch

    from triad.agents.continuous_q import ContinuousQAgent

    config = cfg.QTOptConfig(**SMALL, learning_starts=1000)
    env = loop.make_env("Pendulum-v1", 1, seed=3)
    try:
        agent = ContinuousQAgent(config, loop.env_spaces(env), seed=5, name="qtopt")
        stepper = loop.VectorStepper(env, 3)
        for _ in range(64):
            action, extras = loop.act(agent, stepper)
            agent.observe(stepper.step(action, extras))
    finally:
        env.close()
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for target, scale in ((agent.critic_target, 0.3), (agent.lagged, 0.6)):
            for p in target.parameters():
                p.add_(scale * torch.randn(p.shape, generator=g))
    return agent


def test_updater_labels_equal_the_single_process_qtopt_targets(ray_local):
    from triad.distributed import actor
    from triad.distributed import qtopt as qd
    from triad.distributed.apex import ParameterServer, ReplayShard

    ray = ray_local
    agent = single_process_agent()
    cem_state = agent.labeller.state_dict()["generator"].clone()
    expected = agent.sample()  # the single-process path: uniform batch, then its Bellman updater's labels
    config = cfg.QTOptDistributedConfig(**SMALL, collectors=1, learning_starts=1000)
    spaces = loop.env_spaces(env := loop.make_env("Pendulum-v1", 1, seed=0))
    env.close()
    names = {k: f"test-qtopt-labels-{k}" for k in ("server", "shard", "buffer")}
    server = actor(ParameterServer, restarts=0).options(name=names["server"]).remote()
    layout = qd.Layout((3,), "<f4", 0, (1,))
    shard = actor(ReplayShard, restarts=0).options(name=names["shard"]).remote(config, layout, 0, 0)
    buffer = actor(qd.TrainBuffer, restarts=0).options(name=names["buffer"]).remote(2)
    weights = {k: v.numpy() for k, v in agent._model().items()}
    ray.get(server.publish.remote(7, [ray.put(weights)]))
    updater = actor(qd.QTOptUpdater, restarts=0).remote(config, spaces, 0, 0, names["server"], [names["shard"]],
                                                       names["buffer"])
    try:
        ray.get(updater.restore.remote({"generator": cem_state}))  # the same CEM draws
        got = ray.get(updater.label.remote(expected.data))
    finally:
        for handle in (updater, buffer, shard, server):
            ray.kill(handle)
    np.testing.assert_array_equal(got["target"], expected.target.numpy())
    np.testing.assert_array_equal(got["obs"], expected.data["obs"])
    assert got["version"] == 7


def kill_collector_and_updater(ray, done: threading.Event, killed: list) -> None:
    """Once both collectors and the updater registered and transitions reach the shard, SIGKILL collector 0 and the
    updater (registered as index collectors + 0 = 2)."""
    deadline = time.monotonic() + 120
    while not done.is_set() and time.monotonic() < deadline:
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
        server = next((n for n in names if n.startswith("triad-qtopt-") and n.endswith("-server")), None)
        if server is not None:
            status = ray.get(ray.get_actor(server).status.remote())
            shard = ray.get_actor(server.removesuffix("-server") + "-shard-0")
            if len(status["pids"]) == 3 and ray.get(shard.stats.remote())["inserts"] >= 300:
                for index in (0, 2):
                    os.kill(status["pids"][index], signal.SIGKILL)
                    killed.append(index)
                return
        time.sleep(0.1)


def test_run_completes_with_three_rates_consumed_labels_bounded_lag_and_killed_processes(ray_local, tmp_path, capsys):
    ray = ray_local
    # samples_per_insert ties the collectors to the updater: while the killed updater restarts the collectors wait,
    # so the run cannot end before the restarted updater reports.
    overrides = {**SMALL, "collectors": 2, "updaters": 1, "learning_starts": 200, "local_buffer": 25,
                 "weight_pull": 100, "weight_period": 5, "train_buffer": 4, "updater_batches": 2, "log_every": 250,
                 "samples_per_insert": 8.0}
    config = cfg.QTOptDistributedConfig(**overrides)
    steps = 2000
    done, killed = threading.Event(), []
    killer = threading.Thread(target=kill_collector_and_updater, args=(ray, done, killed))
    killer.start()
    try:
        summary = loop.train("qtopt-distributed", "Pendulum-v1", steps, seed=0, overrides=overrides, out=tmp_path,
                             eval_episodes=1)
    finally:
        done.set()
        killer.join()
    assert killed == [0, 2], "the collector and the updater were never killed"
    assert summary["steps"] >= steps and np.isfinite(summary["eval_return"])
    assert (tmp_path / "checkpoint.pt").exists()
    log = pd.read_csv(tmp_path / "log.csv")
    q = {name: group.sort_values("step")["value"].to_numpy() for name, group in log.groupby("quantity")}
    err = capsys.readouterr().err
    # Both were restarted and the run completed; stderr says so, and gives the run's rates.
    assert q["collector_restarts"][-1] >= 1 and "qtopt collector 0 died and was restarted" in err
    assert q["updater_restarts"][-1] >= 1 and "qtopt Bellman updater 0 died and was restarted" in err
    assert "triad: qtopt --distributed: collectors" in err
    # All three rates are logged and positive (each process ran); the regression's loss is logged too.
    for name in ("collector_steps_per_second", "updater_labels_per_second", "trainer_updates_per_second"):
        assert np.all(np.isfinite(q[name])) and np.all(q[name] >= 0) and q[name].max() > 0, name
    assert np.all(np.isfinite(q["critic_loss"]))
    # Labels are consumed: each trainer step took one batch from the buffer (one more may be in flight).
    updates, consumed = q["trainer_updates"][-1], q["labels_consumed"][-1]
    assert updates > 0 and config.batch_size * updates <= consumed <= config.batch_size * (updates + 1)
    assert consumed <= q["labels_produced"][-1] <= q["replay_samples"][-1]
    # The enforced ratio: |samples − r·(inserts − learning_starts)| ≤ tolerance once sampling began.
    started = q["replay_samples"] > 0
    drift = q["replay_samples"][started] - 8.0 * (q["replay_inserts"][started] - config.learning_starts)
    assert started.any() and np.all(np.abs(drift) <= config.tolerance()), drift
    assert np.all(q["train_buffer_size"] <= config.train_buffer)
    # Label age: below K (the publication period) plus the batches a label can wait behind (the full buffer it
    # waited for room in, and the one it then joins) plus the prefetched one.
    bound = config.weight_period + 2 * config.train_buffer + 2
    assert np.all(q["label_age_max"] <= bound), (q["label_age_max"], bound)
    # Collectors act with published weights, far newer than the first ones.
    assert q["weight_lag_max"][-1] < 0.5 * updates, (q["weight_lag_max"], updates)
