"""Truth probes on a tabular twin: what the agent's estimates are, against what they should be.

On a FiniteEnv (``env.mdp``, ``env.obs_table`` — the observation of every state) the loop calls a
:class:`TruthProbe` every ``log_every`` steps. It reads the agent's policy and critic tables and
logs, all computed exactly by triad's solvers:

* ``J`` = ``μᵀV^π`` of the current policy π (``policy_table(obs_table)``), and ``J_star`` = ``μᵀV*`` once;
* ``critic_error`` = ``‖V̂ − V^π‖_d = (Σ_s d(s)(V̂(s) − V^π(s))²)^½`` with ``d`` the stationary law of
  the data stream (π's chain with restarts from μ, :func:`triad.linear.behaviour_distribution`);
  for a Q critic (``q_table(obs_table)``, the off-policy actor-critic) ``‖Q̂ − Q^π‖_{d·π} =
  (Σ_s d(s) Σ_a π(a|s)(Q̂(s, a) − Q^π(s, a))²)^½``, ``Q^π`` from :func:`triad.solvers.evaluate_q`: the
  on-policy state-action weighting, i.e. the error where π's own returns and gradient read the critic
  (the replay's weighting, a mixture of past policies, depends on the whole history of the run);
* for policy-gradient agents, ``cos_true`` and ``cos_dropped``: the cosine between the agent's last
  update direction (``policy_direction()``, −∇ of its policy loss at the pre-update parameters θ)
  and the exact directions at θ, the gradients by autograd of the surrogate
  ``Σ_s w(s) Σ_a π_θ(a|s) Q^π(s, a)`` (``Q^π`` held constant) with ``w`` the discounted weighting ρ_γ
  (the true ∇J, option 2) or the undiscounted visitation (the γ^t-dropped direction, option 1) of
  :mod:`triad.analysis.policy_gradient`. Its gradient is ``Σ_s w(s) Σ_a ∇π(a|s) Q^π(s, a)``, the
  policy-gradient theorem (Sutton, McAllester, Singh & Mansour 2000).

The probes assume the infinite-horizon MDP: with a FiniteEnv time limit the agent bootstraps at
truncations, which estimates the same quantities.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from triad.analysis.policy_gradient import discounted_weighting, undiscounted_visitation
from triad.linear import behaviour_distribution
from triad.operators import q_values
from triad.solvers import evaluate_policy, policy_iteration
from triad.zoo import Problem


def allowed_policy(mdp: Any, pi: np.ndarray) -> np.ndarray:
    """``pi`` restricted to the MDP's allowed actions and renormalised (a network gives every action mass)."""
    pi = np.asarray(pi, dtype=np.float64)
    if mdp.allowed is None:
        return pi / pi.sum(axis=1, keepdims=True)
    masked = np.where(mdp.allowed, pi, 0.0)
    return masked / masked.sum(axis=1, keepdims=True)


def stream_weighting(mdp: Any, pi: np.ndarray) -> np.ndarray:
    """The stationary state law of π's data stream, episodes restarted from μ: ``(S,)``."""
    return behaviour_distribution(Problem(mdp, behaviour=pi))


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    """``uᵀv / (‖u‖‖v‖)``; NaN when either is the zero vector."""
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    return float(u @ v / (nu * nv)) if nu > 0 and nv > 0 else float("nan")


def exact_directions(mdp: Any, probs_fn: Any, params: list, obs_table: np.ndarray) -> dict[str, np.ndarray]:
    """``{"true": ∇J, "dropped": option-1 direction}`` at the parameters of ``probs_fn``, flattened over ``params``.

    ``probs_fn(obs_table)``: differentiable ``(S, A)`` policy probabilities.
    """
    import torch

    from triad.agents.onpolicy import flat_grad

    probs = probs_fn(obs_table).double()
    if mdp.allowed is not None:
        probs = probs * torch.tensor(np.asarray(mdp.allowed, dtype=np.float64))
    probs = probs / probs.sum(-1, keepdim=True)
    pi = probs.detach().numpy()
    Q = torch.as_tensor(q_values(mdp, evaluate_policy(mdp, pi)), dtype=torch.float64)
    out = {}
    for name, weighting in (("true", discounted_weighting), ("dropped", undiscounted_visitation)):
        w = torch.as_tensor(weighting(mdp, pi), dtype=torch.float64)
        surrogate = (w[:, None] * probs * Q).sum()
        out[name] = flat_grad(surrogate, params, retain_graph=True)
    return out


class TruthProbe:
    """Exact truth for an agent on a FiniteEnv (module docstring); ``probe(agent) -> {quantity: value}``."""

    def __init__(self, env: Any):
        self.mdp = env.mdp
        self.obs_table = np.asarray(env.obs_table)
        optimal = policy_iteration(self.mdp)
        self.J_star = float(self.mdp.initial @ optimal.V)
        self.Q_star = optimal.Q
        """``Q*`` (for the value-based agents' ``truth_rows``)."""
        self.first = True
        """Whether the next call is the first of the run (it also logs ``J_star``)."""

    def __call__(self, agent: Any) -> dict[str, float]:
        mdp = self.mdp
        takes_mask = "mask" in inspect.signature(agent.policy_table).parameters
        table = agent.policy_table(self.obs_table, mask=mdp.allowed) if takes_mask else agent.policy_table(
            self.obs_table)  # a greedy policy must be told the allowed actions (it would put all its mass elsewhere)
        pi = allowed_policy(mdp, table)
        V = evaluate_policy(mdp, pi)
        rows = {"J": float(mdp.initial @ V)}
        if self.first:
            rows["J_star"] = self.J_star
            self.first = False
        V_hat = agent.value_table(self.obs_table) if hasattr(agent, "value_table") else None
        if V_hat is not None:
            d = stream_weighting(mdp, pi)
            rows["critic_error"] = float(np.sqrt(d @ (V_hat - V) ** 2))
        Q_hat = agent.q_table(self.obs_table) if hasattr(agent, "q_table") else None
        if Q_hat is not None:
            d = stream_weighting(mdp, pi)
            rows["critic_error"] = float(np.sqrt(d @ (pi * (Q_hat - q_values(mdp, V)) ** 2).sum(axis=1)))
        direction = agent.policy_direction() if hasattr(agent, "policy_direction") else None
        if direction is not None:
            probs_fn, params = agent.direction_policy()
            exact = exact_directions(mdp, probs_fn, params, self.obs_table)
            rows["cos_true"] = cosine(direction, exact["true"])
            rows["cos_dropped"] = cosine(direction, exact["dropped"])
        if hasattr(agent, "truth_rows"):  # the agent's own exact quantities (value-based: ‖Q̂ − Q*‖∞, overestimation)
            rows.update(agent.truth_rows(self, pi, first="J_star" in rows))
        return rows
