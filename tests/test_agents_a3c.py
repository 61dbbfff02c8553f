"""A3C: worker processes on shared parameters — the update rule, runs, reproducibility, shutdown, NaN guard, CLI."""

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_agents_loop import Killed, NanAfter, _killer

from triad.agents import a3c, loop
from triad.agents.onpolicy import OnPolicyAgent

SMALL = {"hidden": "16", "log_every": "200"}


def _rows(out):
    return loop.read_log(out / "log.csv")


def _no_workers_left():
    """Every worker this process started has been joined (none alive, none a zombie)."""
    assert multiprocessing.active_children() == []


# ------------------------------------------------------------------------------ the update rule
def test_rmsprop_step_is_the_papers_update():
    """Two steps of g ← αg + (1 − α)Δθ², θ ← θ − ηΔθ/√(g + ε), expanded by hand for each entry."""
    theta = [torch.tensor([1.0, -2.0]), torch.tensor([[0.5]])]
    g = [torch.zeros(2), torch.zeros((1, 1))]
    grads = [[torch.tensor([0.2, -0.4]), torch.tensor([[1.0]])], [torch.tensor([0.1, 0.3]), torch.tensor([[-2.0]])]]
    lr, alpha, eps = 0.01, 0.9, 1e-2
    expected_theta = [[1.0, -2.0], [0.5]]
    expected_g = [[0.0, 0.0], [0.0]]
    for step in grads:
        a3c.rmsprop_step_(theta, step, g, lr, alpha, eps)
        for i, d in enumerate(step):
            for j, dj in enumerate(d.reshape(-1).tolist()):
                expected_g[i][j] = alpha * expected_g[i][j] + (1 - alpha) * dj * dj
                expected_theta[i][j] -= lr * dj / np.sqrt(expected_g[i][j] + eps)
    for i in range(2):
        assert np.allclose(g[i].reshape(-1).numpy(), expected_g[i], atol=1e-7)
        assert np.allclose(theta[i].reshape(-1).numpy(), expected_theta[i], atol=1e-6)


def test_clip_by_global_norm():
    grads = [torch.tensor([3.0]), torch.tensor([[4.0]])]
    assert a3c.clip_by_global_norm_(grads, 1.0) == pytest.approx(5.0)
    assert float(grads[0]) == pytest.approx(0.6, rel=1e-5) and float(grads[1]) == pytest.approx(0.8, rel=1e-5)
    grads = [torch.tensor([0.3]), torch.tensor([[0.4]])]
    a3c.clip_by_global_norm_(grads, 1.0)
    assert float(grads[0]) == pytest.approx(0.3)  # below the bound: untouched


def test_worker_seeds_differ_by_worker_and_start():
    seeds = {a3c.worker_seeds(7, i, start) for i in range(3) for start in (0, 1000)}
    assert len(seeds) == 6 and a3c.worker_seeds(7, 1, 0) == a3c.worker_seeds(7, 1, 0)


def test_several_workers_start_from_parameters_the_seed_fixes():
    """With workers=2 only the interleaving is the OS's: the shared initial parameters depend on the seed alone."""
    from triad import agents
    from triad.envs import FiniteEnv

    algo = agents.get("a3c")
    config = algo.resolve("chain:n=4", {**SMALL, "workers": "2"})
    spaces = loop.env_spaces(FiniteEnv("chain:n=4"))
    a, b, c = (algo.build(config, spaces, seed).state_dict()["model"] for seed in (3, 3, 4))
    assert all(torch.equal(a[k], b[k]) for k in a) and not all(torch.equal(a[k], c[k]) for k in a)


# ------------------------------------------------------------------------------------- runs
@pytest.mark.parametrize("env", ["CartPole-v1", "chain:n=4"])
def test_two_workers_train_and_write_their_files(tmp_path, env):
    summary = loop.train("a3c", env, 1000, seed=0, overrides={**SMALL, "workers": "2"}, out=tmp_path,
                         eval_episodes=2, max_episode_steps=30 if env.startswith("chain") else None)
    _no_workers_left()
    stored = json.loads((tmp_path / "config.json").read_text())["config"]
    per = stored["envs"] * stored["n_steps"]  # CartPole's preset: 8 envs per worker; the chain: 1
    assert stored["envs"] == (8 if env == "CartPole-v1" else 1)
    assert 1000 <= summary["steps"] < 1000 + per  # the global counter overshoots by less than one rollout
    rows = _rows(tmp_path)
    quantities = set(rows["quantity"])
    assert {"episode_return", "policy_loss", "value_loss", "entropy", "staleness", "steps_per_second",
            "eval_return"} <= quantities
    assert (rows[rows["quantity"] == "staleness"]["value"] >= 0).all()
    if env.startswith("chain"):
        assert {"J", "J_star", "critic_error", "cos_true", "cos_dropped"} <= quantities
    assert stored["workers"] == 2 and stored["shared_statistics"] is True


@pytest.mark.parametrize("start_method", ["fork", pytest.param("spawn", marks=pytest.mark.slow)])
def test_per_worker_statistics_a_lock_and_start_methods(tmp_path, start_method):
    """spawn is slow (every worker imports torch and torch._dynamo: ~10 s on a busy 2-core machine)."""
    summary = loop.train("a3c", "chain:n=4", 600, seed=1, out=tmp_path, eval_episodes=1, max_episode_steps=30,
                         overrides={**SMALL, "workers": "2", "shared_statistics": "false", "lock": "true",
                                    "start_method": start_method})
    _no_workers_left()
    assert summary["steps"] >= 600 and np.isfinite(summary["eval_return"])
    rows = _rows(tmp_path)
    assert {"J", "cos_true", "episode_return"} <= set(rows["quantity"])
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["agent"]
    assert all(float(g.abs().sum()) == 0.0 for g in saved["square_avg"])  # the shared g was never used


def test_shared_statistics_are_updated_by_the_workers(tmp_path):
    loop.train("a3c", "chain:n=4", 400, seed=1, out=tmp_path, eval_episodes=1, max_episode_steps=30,
               overrides={**SMALL, "workers": "2"})
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["agent"]
    assert all(float(g.min()) >= 0.0 for g in saved["square_avg"]) and sum(float(g.sum()) for g in saved["square_avg"]) > 0
    assert saved["updates"] == saved["env_steps"] // 5  # one shared update per 5-step rollout


def test_one_worker_is_reproducible(tmp_path):
    """workers=1: the final parameters, the training episodes and the losses depend on the seed only."""
    kw = {"overrides": {**SMALL, "workers": "1"}, "eval_episodes": 2}
    a = loop.train("a3c", "CartPole-v1", 1500, seed=4, out=tmp_path / "a", **kw)
    b = loop.train("a3c", "CartPole-v1", 1500, seed=4, out=tmp_path / "b", **kw)
    pa = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["agent"]["model"]
    pb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["agent"]["model"]
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert a["eval_return"] == b["eval_return"] and a["final_return"] == b["final_return"]
    kept = ["episode_return", "episode_length", "policy_loss", "value_loss", "entropy", "staleness"]
    ra, rb = _rows(tmp_path / "a"), _rows(tmp_path / "b")
    ra, rb = (r[r["quantity"].isin(kept)].reset_index(drop=True) for r in (ra, rb))
    assert len(ra) > 20 and ra.equals(rb)
    assert (ra[ra["quantity"] == "staleness"]["value"] == 0).all()  # nobody else updates in between


def test_resume_continues_the_counters(tmp_path):
    kw = {"overrides": {**SMALL, "workers": "2", "log_every": "100"}, "eval_episodes": 1, "max_episode_steps": 30}
    with pytest.raises(Killed):
        loop.train("a3c", "chain:n=4", 1200, seed=2, out=tmp_path, checkpoint_every=300, progress=_killer(700), **kw)
    _no_workers_left()
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert 300 <= saved["step"] < 700 and saved["agent"]["env_steps"] == saved["step"]
    summary = loop.resume(tmp_path)
    _no_workers_left()
    assert 1200 <= summary["steps"] < 1205
    steps = _rows(tmp_path)["step"].to_numpy()
    assert np.all(np.diff(steps) >= 0)  # the log was cut back to the checkpoint and continued from there


# ------------------------------------------------------------------------------------ shutdown
def _boom(self, data):
    raise RuntimeError("boom in a worker")


def test_a_failing_worker_stops_the_run_and_every_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(OnPolicyAgent, "estimate", _boom)  # forked workers inherit the patch
    with pytest.raises(a3c.WorkerError, match=r"a3c worker \d failed: RuntimeError: boom in a worker"):
        loop.train("a3c", "CartPole-v1", 5000, overrides={**SMALL, "workers": "2", "start_method": "fork"},
                   out=tmp_path, eval_episodes=1)
    _no_workers_left()


def _die(self, data):
    os._exit(3)


def test_a_worker_that_dies_is_noticed(tmp_path, monkeypatch):
    monkeypatch.setattr(OnPolicyAgent, "estimate", _die)
    with pytest.raises(a3c.WorkerError, match=r"a3c worker \d died \(exit code 3\) before finishing"):
        loop.train("a3c", "CartPole-v1", 5000, overrides={**SMALL, "workers": "2", "start_method": "fork"},
                   out=tmp_path, eval_episodes=1)
    _no_workers_left()


def test_an_error_in_the_main_process_stops_the_workers(tmp_path):
    def update(n, total, status):
        if total is None and n > 0:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main process, here at the first log step

    with pytest.raises(KeyboardInterrupt):
        loop.train("a3c", "CartPole-v1", 10**7, overrides={**SMALL, "workers": "2"}, out=tmp_path,
                   progress=loop.Progress(update))
    _no_workers_left()


def test_nan_guard_across_processes(tmp_path, monkeypatch):
    """Rewards turn NaN after NanAfter.at steps of each worker's own env."""

    def make(env, num_envs=1, seed=None, *, obs=None, max_episode_steps=None, autoreset="next-step"):
        venv = NanAfter("chain:n=4", num_envs, max_episode_steps=20)
        venv.reset(seed=seed)
        return venv

    monkeypatch.setattr(loop, "make_env", make)  # the forked workers build their envs with it
    with pytest.raises(loop.Diverged, match=r"^step \d+: (policy|value)_loss is NaN$") as info:
        loop.train("a3c", "chain:n=4", 5000, overrides={**SMALL, "workers": "2", "start_method": "fork"},
                   out=tmp_path, checkpoint_every=100)
    _no_workers_left()
    step = int(str(info.value).split()[1].rstrip(":"))
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert 100 <= saved["step"] < step and saved["step"] <= 2 * NanAfter.at
    assert all(torch.isfinite(p).all() for p in saved["agent"]["model"].values())


def _children(pid):
    """Pids whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _gone(pid):
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


_TRAIN_UNTIL_INTERRUPTED = """
import faulthandler, signal, sys
from triad.agents import loop
signal.signal(signal.SIGINT, signal.default_int_handler)  # a terminal's defaults, whatever the test runner left
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
faulthandler.dump_traceback_later(45, exit=True)  # a hang shows where it is (the test waits 30 s after SIGINT)
loop.train("a3c", "CartPole-v1", 10**8, overrides={"hidden": "16", "log_every": "200", "workers": "2",
                                                   "start_method": "fork"}, out=sys.argv[1])
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_ctrl_c_leaves_no_worker_behind(tmp_path):
    """SIGINT to the training process and its workers, as a terminal's Ctrl-C sends it to all of them:
    the run stops (KeyboardInterrupt in the main process) and every worker is gone. The run is a fresh
    interpreter, as `triad train` is (a fork of the test process would inherit its signal state)."""
    run = subprocess.Popen([sys.executable, "-c", _TRAIN_UNTIL_INTERRUPTED, str(tmp_path)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        workers = []
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.1)
            workers = _children(run.pid)
        assert len(workers) == 2, "the workers never started"
        time.sleep(0.3)
        for pid in (run.pid, *workers):
            os.kill(pid, signal.SIGINT)
        try:
            _, err = run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
            _, err = run.communicate()
        # An uncaught KeyboardInterrupt ends a Python process by SIGINT (exit status −2).
        assert run.returncode == -signal.SIGINT and "KeyboardInterrupt" in err, (run.returncode, err[-2000:])
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert all(_gone(pid) for pid in workers)
    assert (tmp_path / "log.csv").exists()


# ------------------------------------------------------------------------------------------ CLI
def test_train_a3c_from_the_cli(triad_cli, tmp_path):
    code, out, err = triad_cli("train", "a3c", "--env", "CartPole-v1", "--steps", "500", "--set", "workers=2",
                               "--set", "hidden=16", "--out", str(tmp_path), "--eval-episodes", "1", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["algorithm"] == "a3c" and summary["steps"] >= 500
    _no_workers_left()


@pytest.mark.parametrize(("setting", "message"), [
    ("workers=0", "workers = 0 must be at least 1"),
    ("workers=two", "--set workers='two' is not a valid int"),
    ("optimizer=adam", "a3c applies its workers' gradients with the paper's shared RMSProp: optimizer=rmsprop"),
    ("epochs=4", "a3c takes one gradient per n-step rollout"),
    ("start_method=thread", "start_method = 'thread' must be one of auto, fork, spawn, forkserver"),
    ("worker=2", "A3CConfig has no field 'worker' (valid keys:"),
])
def test_cli_errors_are_one_line(triad_cli, tmp_path, setting, message):
    code, out, err = triad_cli("train", "a3c", "--env", "CartPole-v1", "--set", setting, "--out", str(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith("triad: error: ") and err.count("\n") == 1 and message in err, err
