"""Runs of the unimodal experiment: the true Q over the action plane, or one trained agent read out."""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd

from triad import envs_unimodal as task
from triad.experiment import Progress, Run, tidy

START = np.zeros(3, np.float32)
"""The start state ``s_0 = (0, 0, t = 0)`` (the centre of the start distribution) at which Q is read."""


def _grid_rows(quantity: str, values: np.ndarray, actions: np.ndarray, **labels) -> pd.DataFrame:
    """Tidy rows of a ``(n, n)`` grid over the action plane: columns ``ax``, ``ay``, ``cell``."""
    flat = actions.reshape(-1, 2)
    return tidy([0], {quantity: values.reshape(1, -1)}, axis="cell", ax=flat[:, 0], ay=flat[:, 1], **labels)


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """Dispatch on the run's kind."""
    return _truth(run.params) if run.params["kind"] == "truth" else _train(run.params, progress)


def _truth(p: dict) -> pd.DataFrame:
    """``true_q`` on the grid at ``s_0``, and ``v_star`` (on a 401 × 401 grid)."""
    _, grid = task.action_grid(p["grid"])
    v_star, a_star = task.optimal_value(START, p["gamma"])
    rows = _grid_rows("true_q", task.q_value(START, grid, p["gamma"]), grid, method="truth")
    scalars = tidy([0], {"v_star": [v_star], "argmax_x": [a_star[0]], "argmax_y": [a_star[1]]}, method="truth")
    return pd.concat([rows, scalars], ignore_index=True)


def learned_q(agent, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """The agent's ``Q̂(s, a)`` for one observation and actions ``(N, 2)`` (its first critic for TD3/DDPG)."""
    import torch

    rep = np.repeat(obs[None], len(actions), axis=0)
    if hasattr(agent, "q_values"):
        return agent.q_values(rep, actions)
    with torch.no_grad():
        return agent.critic(agent.encode(rep), torch.as_tensor(actions, dtype=torch.float32))[0].double().numpy()


def greedy_return(agent, p0: np.ndarray, gamma: float) -> float:
    """The discounted return ``r_0 + γ r_1`` of the agent's greedy policy from start position ``p0`` (the task's dynamics)."""
    obs = np.array([[p0[0], p0[1], 0.0]], np.float32)
    a0 = np.clip(agent.act(obs, explore=False)[0][0].astype(np.float64), -1, 1)
    p1 = (p0 + a0).astype(np.float32).astype(np.float64)
    a1 = np.clip(agent.act(np.array([[p1[0], p1[1], 1.0]], np.float32), explore=False)[0][0].astype(np.float64),
                 -1, 1)
    return float(task.first_reward(p0, a0) + gamma * task.last_q(p1, a1))


def _train(p: dict, progress: Progress) -> pd.DataFrame:
    """Train ``method`` with ``seed``; read out its greedy first action at ``s_0``, regrets and learned Q."""
    from triad.agents import loop

    overrides = {"gamma": p["gamma"], "learning_starts": p["learning_starts"], "batch_size": p["batch_size"],
                 "hidden": tuple(p["hidden"]), "log_every": p["steps"]}
    with tempfile.TemporaryDirectory(prefix="triad-unimodal-") as out:
        summary = loop.train(p["method"], task.ENV_ID, p["steps"], seed=p["seed"], overrides=overrides, out=out,
                             eval_episodes=10, progress=progress)
        agent = loop.load_agent(out)
    gamma = p["gamma"]
    a0 = np.clip(agent.act(START[None], explore=False)[0][0].astype(np.float64), -1.0, 1.0)
    v_star, _ = task.optimal_value(START, gamma)
    q0 = float(task.q_value(START, a0, gamma))
    jitter = np.linspace(-0.1, 0.1, p["starts"])
    starts = [np.array([x, y]) for x in jitter for y in jitter]
    policy_regret = np.mean([task.optimal_value(np.array([*s0, 0.0]), gamma)[0] - greedy_return(agent, s0, gamma)
                             for s0 in starts])
    labels = {"method": p["method"], "seed": p["seed"]}
    scalars = tidy([p["steps"]], {"first_action_x": [a0[0]], "first_action_y": [a0[1]], "first_q": [q0],
                                  "regret": [v_star - q0], "obstacle": [float(task.obstacle(a0))],
                                  "policy_regret": [policy_regret], "eval_return": [summary["eval_return"]],
                                  "seconds": [summary["seconds"]]}, **labels)
    _, grid = task.action_grid(p["grid"])
    rows = _grid_rows("learned_q", learned_q(agent, START, grid.reshape(-1, 2)), grid, **labels)
    return pd.concat([scalars, rows], ignore_index=True)
