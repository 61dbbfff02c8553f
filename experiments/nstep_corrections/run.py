"""One cell of nstep-corrections: exact and sampled bias and variance of every correction's target, per n."""

from __future__ import annotations

import numpy as np
import pandas as pd

from triad import zoo
from triad.experiment import Progress, Run, tidy
from triad.experiments.nstep_corrections import model
from triad.operators import boltzmann
from triad.projections import mixture_policy
from triad.solvers import evaluate_q, policy_iteration


def policies(mdp, temperature: float, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """``(π, μ)``: π greedy in Q* (τ = 0) or softmax(Q*/τ); μ = (1 − ε)π + ε·uniform over allowed actions."""
    optimal = policy_iteration(mdp)
    pi = optimal.policy if temperature == 0 else boltzmann(optimal.Q, temperature, mdp.allowed)
    allowed = np.ones((mdp.S, mdp.A)) if mdp.allowed is None else mdp.allowed.astype(float)
    return pi, mixture_policy(pi, allowed / allowed.sum(axis=1, keepdims=True), epsilon)


def run(run: Run, progress: Progress) -> pd.DataFrame:
    """A target cell (:func:`targets`) or a learning run (:func:`learning`)."""
    return learning(run, progress) if run.params["kind"] == "learning" else targets(run, progress)


def learning(run: Run, progress: Progress) -> pd.DataFrame:
    """nstep-q with one correction on the small MDP: a table (linear Q on one-hot states), ε-greedy
    behaviour at constant ε, π greedy in the current table; rows ``q_error`` (‖Q̂ − Q*‖∞) and ``J`` /
    ``J_star`` every 1/20 of the run, from the loop's truth probes."""
    import tempfile

    from triad.agents import loop

    p = run.params
    steps = p["steps"]
    overrides = {"q_net": "linear", "n_step": str(p["n"]), "correction": p["method"], "lr": "0.01",
                 "explore_initial": str(p["epsilon"]), "explore_final": str(p["epsilon"]), "learning_starts": "200",
                 "train_every": "1", "target_period": "100", "log_every": str(max(1, steps // 20))}
    overrides["learning_starts"] = str(min(200, steps // 4))
    progress.total(1)
    with tempfile.TemporaryDirectory() as out:
        loop.train("nstep-q", p["mdp"], steps, seed=p["seed"], overrides=overrides, out=out, eval_episodes=1,
                   max_episode_steps=50)
        log = loop.read_log(f"{out}/log.csv")
    progress.advance()
    rows = log[log["quantity"].isin(("q_error", "J", "J_star"))].copy()
    rows.insert(0, "method", p["method"])
    rows.insert(1, "seed", p["seed"])
    return rows.reset_index(drop=True)


def targets(run: Run, progress: Progress) -> pd.DataFrame:
    """Rows per (method, n) at step 0, aggregated over the state-action pairs ``(s, a)``:

    ``bias`` = RMS of the exact ``E[G] − Q^π``; ``bias_to_q_star`` = RMS of ``E[G] − Q*``;
    ``bias_sampled`` = RMS of the sampled mean minus ``Q^π``; ``bias_z_max`` = the largest
    ``|sampled mean − E[G]| / standard error`` (a check of the exact means); ``variance`` = mean of
    the sampled variances; ``rmse`` = root mean of ``bias² + variance``. Plus the cell's ``tv_distance``
    (mean over states of TV(π(s), μ(s))) with ``method`` and ``n`` empty.
    """
    p = run.params
    mdp = zoo.make(p["mdp"]).mdp
    pi, mu = policies(mdp, p["temperature"], p["epsilon"])
    Q_pi, Q_star = evaluate_q(mdp, pi), policy_iteration(mdp).Q
    live = np.ones(mdp.S, bool) if mdp.terminal is None else ~mdp.terminal
    # The same bootstrap error in every cell (one draw from the base seed), zero on terminal states.
    z = np.random.default_rng([p["seed"]]).standard_normal((mdp.S, mdp.A))
    q_hat = (Q_pi + p["bootstrap_error"] * z) * live[:, None]
    progress.total(len(p["methods"]) * len(p["ns"]) + 1)
    samples = model.sampled_targets(np.random.default_rng([p["seed"], p["position"]]), mdp, q_hat, pi, mu,
                                    tuple(p["methods"]), tuple(p["ns"]), p["samples"])
    progress.advance()
    s, a = samples.s, samples.a
    frames = [tidy([0], {"tv_distance": [0.5 * np.abs(pi - mu).sum(axis=1)[live].mean()]}, method="", n=0)]
    for method in p["methods"]:
        for n in p["ns"]:
            exact = model.expected_targets(mdp, q_hat, pi, mu, method, n)[s, a]
            G = samples.targets[(method, n)]
            mean, var = G.mean(axis=0), G.var(axis=0, ddof=1)
            se = np.sqrt(var / G.shape[0])
            bias = exact - Q_pi[s, a]
            values = {"bias": np.sqrt(np.mean(bias**2)),
                      "bias_to_q_star": np.sqrt(np.mean((exact - Q_star[s, a]) ** 2)),
                      "bias_sampled": np.sqrt(np.mean((mean - Q_pi[s, a]) ** 2)),
                      "bias_z_max": np.max(np.abs(mean - exact) / np.where(se > 0, se, np.inf)),
                      "variance": np.mean(var), "rmse": np.sqrt(np.mean(bias**2 + var))}
            frames.append(tidy([0], {q: [v] for q, v in values.items()}, method=method, n=n))
            progress.advance()
    out = pd.concat(frames, ignore_index=True)
    for key in ("temperature", "bootstrap_error", "epsilon"):
        out.insert(0, key, p[key])
    return out
