"""`triad train` and the agents section of `triad list`: outputs and one-line errors."""

import json

import numpy as np
import pytest

from triad import agents
from triad.agents import loop
from triad.envs import FiniteEnv


def test_train_json_prints_exactly_the_summary(triad_cli, tmp_path):
    code, out, err = triad_cli("train", "a2c", "--env", "CartPole-v1", "--steps", "400", "--seed", "2", "--envs", "4",
                               "--set", "hidden=16", "--out", str(tmp_path), "--eval-episodes", "2", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps"] == 400 and summary["seed"] == 2 and summary["algorithm"] == "a2c"
    assert json.loads((tmp_path / "config.json").read_text())["config"]["envs"] == 4


def test_discount_weighting_and_critic_options(triad_cli, tmp_path):
    code, _, err = triad_cli("train", "reinforce", "--env", "chain:n=4", "--steps", "200", "--discount-weighting", "2",
                             "--critic", "shared", "--set", "batch_steps=40", "--out", str(tmp_path),
                             "--eval-episodes", "1", "--max-episode-steps", "20")
    assert code == 0, err
    stored = json.loads((tmp_path / "config.json").read_text())["config"]
    assert stored["discount_weighting"] == 2 and stored["critic"] == "shared"
    assert stored["gamma"] == 0.9  # a tabular twin: the MDP's discount
    code, _, err = triad_cli("train", "--resume", str(tmp_path), "--critic", "separate")
    assert code == 2 and "cannot change it" in err
    code, _, err = triad_cli("train", "a2c", "--env", "chain:n=4", "--discount-weighting", "3", "--out", str(tmp_path))
    assert code == 2 and "discount_weighting = 3 must be one of 1, 2" in err


def test_train_on_a_twin_and_resume_from_the_cli(triad_cli, tmp_path):
    args = ("train", "ppo", "--env", "chain:n=4", "--steps", "300", "--set", "n_steps=32", "--set", "hidden=8",
            "--out", str(tmp_path), "--max-episode-steps", "20", "--eval-episodes", "1", "--json")
    code, out, err = triad_cli(*args)
    assert code == 0, err
    code, out, err = triad_cli("train", "--resume", str(tmp_path), "--steps", "600", "--json")
    assert code == 0, err
    assert json.loads(out)["steps"] == 600  # 8 parallel envs: 304 before the resume, 37 × 8 after
    rows = loop.read_log(tmp_path / "log.csv")
    assert {"J", "J_star", "cos_true", "critic_error"} <= set(rows["quantity"])


def test_train_list_and_list_show_every_algorithm(triad_cli):
    code, out, _ = triad_cli("train", "--list", "--json")
    assert code == 0 and [a["name"] for a in json.loads(out)["agents"]] == list(agents.REGISTRY)
    code, out, _ = triad_cli("list", "--json")
    listed = json.loads(out)["agents"]
    assert [a["name"] for a in listed] == list(agents.REGISTRY) and "finite" in listed[0]["envs"]
    assert listed[0]["summary"] == agents.get("reinforce").summary
    code, out, _ = triad_cli("list")
    assert code == 0 and "Agents" in out and "ac-online" in out
    code, out, _ = triad_cli("train", "--list")
    assert code == 0 and "Agents (triad train ALGO --env ID)" in out and "Discrete, Box" in out


def test_help_config_lists_fields_with_the_preset(triad_cli):
    code, out, _ = triad_cli("train", "ppo", "--help-config", "--env", "CartPole-v1")
    assert code == 0 and "preset applied" in out
    line = next(x for x in out.splitlines() if x.split()[:1] == ["n_steps"])
    assert line.split()[1] == "32" and "SB3 PPO default" in line


@pytest.mark.parametrize(("args", "message"), [
    (("train", "dqm", "--env", "CartPole-v1"), "unknown algorithm 'dqm'"),
    (("train", "ppo"), "train ppo needs --env ID"),
    (("train",), "train needs ALGO"),
    (("train", "ppo", "--env", "Nope-v0"), "unknown environment 'Nope-v0'"),
    (("train", "ppo", "--env", "CartPole-v1", "--set", "n_step=3"), "PPOConfig has no field 'n_step' (valid keys:"),
    (("train", "ppo", "--env", "CartPole-v1", "--set", "n_steps=x"), "--set n_steps='x' is not a valid int"),
    (("train", "ppo", "--env", "CartPole-v1", "--set", "clip=-1"), "clip = -1.0 must be at least 0"),
    (("train", "a2c", "--env", "Blackjack-v1"), "a2c cannot handle the observation space Tuple"),
    (("train", "ppo", "--env", "CartPole-v1", "--steps", "0"), "steps = 0 must be an integer ≥ 1"),
    (("train", "--resume", "/nonexistent/run"), "no config.json and checkpoint.pt"),
])
def test_errors_are_one_line_exit_2(triad_cli, tmp_path, args, message):
    code, out, err = triad_cli(*args, "--out", str(tmp_path)) if "--resume" not in args else triad_cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("triad: error: ") and err.count("\n") == 1 and message in err, err


def test_tensorboard_without_the_extra_is_one_line(triad_cli, tmp_path):
    try:
        import tensorboard  # noqa: F401
        have = True
    except ImportError:
        have = False
    code, _, err = triad_cli("train", "a2c", "--env", "CartPole-v1", "--steps", "80", "--out", str(tmp_path / "r"),
                             "--tensorboard", str(tmp_path / "tb"), "--eval-episodes", "1", "--set", "hidden=8")
    if have:
        assert code == 0 and any((tmp_path / "tb").iterdir())
    else:
        assert code == 2 and err == "triad: error: --tensorboard needs the tensorboard extra " \
                                    "(pip install 'triad[tensorboard]')\n"


def test_nan_is_a_result_exit_1(triad_cli, tmp_path, monkeypatch):
    class Nan(FiniteEnv):
        def step(self, actions):
            obs, r, *rest = super().step(actions)
            return (obs, r * np.nan, *rest)

    def make(env, num_envs=1, seed=None, *, obs=None, max_episode_steps=None, autoreset="next-step"):
        venv = Nan("chain:n=4", num_envs, max_episode_steps=20)
        venv.reset(seed=seed)
        return venv

    monkeypatch.setattr(loop, "make_env", make)
    code, out, err = triad_cli("train", "a2c", "--env", "chain:n=4", "--steps", "400", "--out", str(tmp_path))
    assert code == 1 and out == ""
    assert err.splitlines()[-1].startswith("triad: step 40: ") and err.splitlines()[-1].endswith("is NaN")


def test_triad_list_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys\nfrom triad import cli\nsys.argv = ['triad', 'list', '--json']\ntry:\n    cli.main()\n"
            "except SystemExit:\n    pass\nsys.stderr.write(str('torch' in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["agents"] and done.stderr.strip().endswith("False")
