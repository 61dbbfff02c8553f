"""The value-based suite: online Q-learning, DQN and FQI as rates of one three-process loop.

Q-learning with function approximation is three processes running at their own rates (the seed
notes, after CS285 lecture 8 and Ape-X / QT-Opt): (1) data collection with an exploration policy
into a replay buffer, (2) the target-network update ``φ' ← φ``, (3) regression of ``Q̂_φ`` onto
``y = r + γ max_a' Q̂_φ'(s', a')``. This module is the regression and exploration of that loop.

Pure pieces here (the agent composes them):

* exploration: :func:`exploration_value` (a linear schedule of ε or the Boltzmann temperature, as
  SB3's ``LinearSchedule``) and :func:`behaviour_probabilities` (``triad.operators.epsilon_greedy``
  / ``boltzmann`` on the rows of ``Q̂``), whose probability of the taken action is what the replay
  stores as ``mu`` for the n-step corrections;
* targets: :func:`td_errors` — :func:`triad.multistep.q_learning_td`,
  :func:`~triad.multistep.double_q_learning_td` (one step) or
  :func:`~triad.multistep.off_policy_targets` (replayed sequences); none is re-derived here;
* the exact regression of a linear Q (:func:`fit_linear_q`) and the expected data set of a finite
  MDP (:func:`expected_transitions`): with both, one FQI iteration is exactly ``Π_D B* Q̂`` and FQI
  is the projected value iteration of :func:`triad.projections.projected_value_iteration`;
* truth probes on a tabular twin (:func:`q_truth`).

:class:`ValueAgent` is the regression of process 3 on the shared three-process driver
(:class:`triad.agents.offpolicy.OffPolicyAgent`, which runs processes 1 and 2 at the config's
rates). Every algorithm of the suite is a config of it; the named settings and their rates
(``triad train ALGO --explain`` prints them for any ``--set``):

============  ========  =====  ===========  ==========  =============  ===============  =========================
algorithm     capacity  batch  train_every  grad_steps  target_period  learning_starts  other
============  ========  =====  ===========  ==========  =============  ===============  =========================
online-q      1         1      1            1           0 (none)       0                —
dqn           1e6       32     4            1           2,500 (copy)   100              SB3 DQN defaults
double-dqn    1e6       32     4            1           2,500          100              double
dueling-dqn   1e6       32     4            1           2,500          100              q_net=dueling
fqi           10,000    256    500          500         500            10,000 (once)    collect_once
nstep-q       1e6       32     4            1           2,500          100              n = 3, retrace, double
rainbow-lite  1e6       32     4            1           2,500          100              double, dueling, n = 3, PER
r2d2-lite     1e5       32     4 (4 envs)   1           500            2,000            LSTM, sequences 8 + 16
============  ========  =====  ===========  ==========  =============  ===============  =========================

So online-q takes one gradient step per env step on the newest transition and bootstraps from
the current network (all three processes at one rate); DQN one step every 4 env steps from a
large replay, with a target copied every 10,000 env steps (process 2 slow); FQI collects its data
once and then alternates "regress 500 steps against a frozen target, copy" (the nested loop). Any
point between them is ``--set capacity=… --set target_period=… --set grad_steps=…``.

The tabular setting: ``q_net=linear`` (a table on one-hot observations, ``obs=onehot`` or
``state``), ``optimizer=sgd``, ``loss=l2``, ``lr=α`` and ``explore_initial=explore_final=ε`` make
``online-q`` tabular Watkins Q-learning, ``Q(s, a) += α·δ`` with ``δ`` from
:func:`triad.multistep.q_learning_td`, and ``twin_q=true`` van Hasselt's (2010) double
Q-learning with two tables — the learners of :func:`triad.analysis.maximization.q_learning`, which
runs thousands of such tables side by side in numpy for the overestimation experiment. Same
update on the same TD errors: the tests check the suite against a plain loop and against the law
of ``q_learning``'s streams (the share of ``left`` from A, episode by episode). With ``fit=exact``
on a linear Q, ``fqi`` is exact fitted Q-iteration: on the expected data set, projected value iteration.

Speed (tests/benchmarks/bench_dqn.py): within an iteration the replay does not change, so the batches of
the gradient steps up to the next target update are drawn in one uniform sample and the frozen target
network evaluates all their next states in one forward (:meth:`ValueAgent.draw_phase`); a one-member MLP
takes its gradient by hand through the network's own backward pass (:meth:`ValueAgent.regress_by_hand`,
the same gradient as autograd's); the actor runs a plain ``addmm`` loop (:meth:`QNetwork.act_values`) and one
env's ε-greedy draw runs in plain floats (:meth:`ValueAgent.choose_one`); the regression steps run with subnormal
floats flushed to zero (:meth:`ValueAgent.learning`: Adam's decaying moments of dead ReLU units made each fused
Adam step ~10× slower).

Parity with Stable-Baselines3 (the CartPole-v1 preset, rl-baselines3-zoo's settings): besides the rates, SB3's
clock — every step of the budget is a transition (``autoreset=same-step``: SB3's VecEnv resets inside the ending
step), and a run ends with the iteration that reaches its budget (``whole_rollouts``: ``learn`` completes its last
rollout of ``train_freq`` steps and trains after it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from triad import multistep
from triad.agents.nets import QNetwork
from triad.agents.offpolicy import OffPolicyAgent, adam_step
from triad.agents.onpolicy import clip_grad_norm
from triad.agents.probes import stream_weighting
from triad.agents.replay import PrioritisedReplay, beta_schedule, multistep_inputs
from triad.errors import ValidationError
from triad.operators import boltzmann, epsilon_greedy, greedy
from triad.sampling import sample_actions
from triad.solvers import evaluate_q

EXPLORATION = ("epsilon", "boltzmann")
"""Exploration policies: ε-greedy in Q̂, or Boltzmann ``π(a|s) ∝ exp(Q̂(s, a)/τ)`` (the seed notes)."""


# ----------------------------------------------------------------------------------- exploration
def exploration_value(step: int, total: int, initial: float, final: float, fraction: float) -> float:
    """The exploration parameter (ε or τ) at env step ``step`` of ``total``: linear from ``initial`` to
    ``final`` over the first ``fraction·total`` steps, constant after (SB3 ``LinearSchedule``;
    the ramp is :func:`triad.agents.replay.beta_schedule`)."""
    return beta_schedule(step, int(fraction * total), initial, final)


def behaviour_probabilities(q: np.ndarray, explore: str, value: float, mask: np.ndarray | None = None) -> np.ndarray:
    """``μ(·|s)`` for each row of ``q``: ``(B, A)``.

    ``epsilon``: ``(1 − ε)`` on the greedy action (split evenly among tied maximisers, which matters for
    tables that start at zero) plus ``ε`` spread over the allowed actions
    (:func:`triad.operators.epsilon_greedy`); ``boltzmann``: ``softmax(Q̂/τ)`` over the allowed actions
    (:func:`triad.operators.boltzmann`). ``mask``: ``(B, A)`` allowed actions.
    """
    if explore == "epsilon":
        return epsilon_greedy(q, value, mask, ties="split")
    if explore == "boltzmann":
        return boltzmann(q, value, mask)
    raise ValidationError(f"explore = {explore!r} must be one of {', '.join(EXPLORATION)}")


# ---------------------------------------------------------------------------------------- targets
def td_errors(q_tm1: Any, a_t: Any, r_t: Any, discount_t: Any, q_t: Any, q_t_selector: Any | None = None) -> Any:
    """One-step TD errors ``δ = y − Q̂(s, a)`` of a batch of transitions: ``(B,)``.

    ``q_t``: the bootstrap network's ``Q̂(s', ·)`` (the target network; the online network itself
    for online Q-learning). With ``q_t_selector`` (the online network's ``Q̂(s', ·)``) the next
    action is chosen by the selector and evaluated by ``q_t``: double DQN, van Hasselt, Guez &
    Silver (2016) eq. 4, through :func:`triad.multistep.double_q_learning_td`; otherwise
    :func:`triad.multistep.q_learning_td`. Either stops the gradient at the target, so ``½δ²`` is the
    semi-gradient loss (not the residual gradient).
    """
    if q_t_selector is None:
        return multistep.q_learning_td(q_tm1, a_t, r_t, discount_t, q_t)
    return multistep.double_q_learning_td(q_tm1, a_t, r_t, discount_t, q_t, q_t_selector)


# ---------------------------------------------------------------------------- exact (linear) FQI
def fit_linear_q(x: np.ndarray, a: np.ndarray, y: np.ndarray, weight: np.ndarray, n_actions: int) -> np.ndarray:
    """Weighted least squares for ``Q̂(s, a) = W[:, a]ᵀx(s)``: ``argmin_W Σ_i w_i (W[:, a_i]ᵀx_i − y_i)²``, ``(d, A)``.

    The state-action features ``e_a ⊗ x(s)`` make the normal equations block-diagonal in the
    action, so each column is its own weighted least-squares problem, solved with the minimum-norm
    solution (``numpy.linalg.lstsq`` on ``√w·x``) — the fitted values are those of the projection
    ``Φ(ΦᵀDΦ)⁺ΦᵀD`` (:func:`triad.projections.weighted_least_squares`); a column with no data is 0.
    Shapes: ``x (N, d)``, ``a, y, weight (N,)``.
    """
    x, y, w = np.asarray(x, np.float64), np.asarray(y, np.float64), np.asarray(weight, np.float64)
    W = np.zeros((x.shape[1], n_actions))
    root = np.sqrt(w)
    for k in range(n_actions):
        rows = np.flatnonzero((np.asarray(a) == k) & (w > 0))
        if rows.size:
            W[:, k] = np.linalg.lstsq(root[rows, None] * x[rows], root[rows] * y[rows], rcond=None)[0]
    return W


def expected_transitions(mdp: Any, obs_table: np.ndarray, weighting: np.ndarray) -> dict[str, np.ndarray]:
    """The whole data distribution of a finite MDP as one weighted batch (the FQI data set in expectation).

    One row per ``(s, a, s')`` with ``d(s, a) > 0`` and ``P(s'|s, a) > 0``: ``obs = obs_table[s]``,
    ``action = a``, ``reward = R(s, a)`` (the expected reward), ``terminated = terminal[s']``,
    ``truncated = False``, ``next_obs = obs_table[s']`` and ``weight = d(s, a)·P(s'|s, a)``. The
    ``weight``-weighted squared error of a regression on these rows is, up to a constant, the
    ``d``-weighted error against the expected target ``E[y | s, a] = (B*Q̂)(s, a)``, so its least-squares
    fit is ``Π_D B* Q̂`` (the rows' reward noise and transitions average out exactly).

    Shapes: ``obs_table (S, ...)``; ``weighting (S, A)`` state-action weights ``d``.
    """
    d = np.asarray(weighting, np.float64)
    P = mdp.P_flat.toarray() if mdp.sparse else np.asarray(mdp.P_flat)
    pair, nxt = np.nonzero(d.reshape(-1)[:, None] * P > 0)
    s, a = pair // mdp.A, pair % mdp.A
    terminal = np.zeros(mdp.S, bool) if mdp.terminal is None else mdp.terminal
    return {"obs": obs_table[s], "action": a, "reward": mdp.R[s, a], "terminated": terminal[nxt],
            "truncated": np.zeros(nxt.size, bool), "next_obs": obs_table[nxt],
            "weight": d.reshape(-1)[pair] * P[pair, nxt]}


# ---------------------------------------------------------------------------------------- probes
def q_truth(mdp: Any, Q_hat: np.ndarray, Q_star: np.ndarray, weighting: Any) -> dict[str, float]:
    """The value-based truth probes of a table ``Q̂ (S, A)`` on a finite MDP.

    * ``q_error`` = ``‖Q̂ − Q*‖∞`` over the allowed actions of non-terminal states (a terminal state
      is never a state of the data, and its value is 0 by definition);
    * ``overestimation`` = ``E_{s~d_π}[max_a Q̂(s, a) − Q^π(s, π(s))]`` for π greedy in Q̂ (ties to the
      lowest action) and its exact ``Q^π`` (:func:`triad.solvers.evaluate_q`), ``d_π = weighting(π)``
      the state law along π (the loop passes the stationary law of π's stream with restarts);
      positive when the agent believes its own policy better than it is (Thrun & Schwartz 1993;
      van Hasselt et al. 2016 measure it the same way, against the policy's true return);
    * ``q_abs_max`` = ``max |Q̂|`` over the same pairs and ``return_bound`` = ``max|R|/(1 − γ)``, the
      largest possible ``|Q|``: beyond it the estimate has softly diverged.
    """
    live = np.ones(mdp.S, bool) if mdp.terminal is None else ~mdp.terminal
    allowed = np.ones((mdp.S, mdp.A), bool) if mdp.allowed is None else mdp.allowed
    pairs = live[:, None] & allowed
    pi = greedy(Q_hat, mdp.allowed)
    Q_pi = evaluate_q(mdp, pi)
    d = weighting(pi)
    gap = np.einsum("sa,sa->s", pi, Q_hat - Q_pi)
    bound = np.abs(mdp.R).max() / (1.0 - mdp.gamma) if mdp.gamma < 1 else np.inf
    return {"q_error": float(np.abs(Q_hat - Q_star)[pairs].max()), "overestimation": float(d[live] @ gap[live]),
            "q_abs_max": float(np.abs(Q_hat)[pairs].max()), "return_bound": float(bound)}


# ------------------------------------------------------------------------------------------ agent
MASKED_Q = -1e9
"""``Q̂`` of a forbidden next action: never the max, and ``0 · MASKED_Q = 0`` in a policy's expectation."""


@dataclasses.dataclass
class ValueBatch:
    """What :meth:`ValueAgent.regress` fits: transitions ``(N,)`` or sequences ``(n, N)`` (time first).

    ``obs``/``next_obs`` encoded float32 tensors (``(N, obs_dim)`` or ``(n·N, obs_dim)``, time-major),
    ``action`` int64, ``reward``/``discount`` float32 (``γ·(1 − terminated)``), ``weight`` the
    importance (prioritised replay) or data weights (the expected data set), ``None``: all 1;
    ``next_mask`` bool ``(…, A)`` or ``None``; ``data`` the replay's arrays (numpy, incl. ``key``,
    ``truncated``, ``mu``); ``steps``: ``n`` for sequences, ``None`` for transitions.
    """

    obs: Any
    action: Any
    reward: Any
    discount: Any
    next_obs: Any
    weight: Any
    next_mask: Any
    data: dict[str, np.ndarray]
    steps: int | None = None
    q_t: Any = None
    """The target network's ``Q̂'(s', ·)`` computed ahead for a phase of frozen targets (masked), or ``None``."""


PHASE_ROWS = 16_384
"""At most this many transitions are drawn ahead for one phase of frozen targets (:meth:`ValueAgent.sample`)."""


def huber(td: Any) -> Any:
    """Elementwise Huber loss of TD errors, ``½δ²`` for ``|δ| ≤ 1`` and ``|δ| − ½`` beyond (torch's
    ``smooth_l1_loss`` with β = 1, SB3 DQN's loss; Mnih et al. 2015 clip the error term to [−1, 1])."""
    return torch.nn.functional.smooth_l1_loss(td, torch.zeros_like(td), reduction="none")


class ValueAgent(OffPolicyAgent):
    """Q-learning on the three-process driver; every value-based algorithm is a config of it (module docstring).

    Stores with every transition ``mu`` = μ(a_t|s_t), the behaviour's probability of the action
    (for the n-step corrections), and ``next_mask``, the actions allowed in ``s_{t+1}`` (all on
    an env without masks).
    """

    action_spaces = ("Discrete",)
    keeps_masks = ("next_mask",)

    def __init__(self, config: Any, spaces: Any, seed: int, name: str = "dqn"):
        n = int(getattr(spaces.action_space, "n", 1))
        super().__init__(config, spaces, seed, name, extras=self.stored_extras(config, n))
        c = config
        self.q = self.make_q()
        self.nets = {"q": self.q}
        self.q_target = self.add_target("q")
        params = list(self.q.parameters())
        self.optimizers = {"q": self.adam(params) if c.optimizer == "adam" else
                           torch.optim.SGD(params, lr=c.lr)}
        self._params = params
        # the global gradient norm is that of the optimiser's one flat gradient (Adam lays them out as one tensor)
        self._clip = self.optimizers["q"].param_groups[0]["params"] if c.optimizer == "adam" else params
        self.by_hand = (c.q_net == "mlp" and not c.twin_q and c.optimizer == "adam" and c.fit == "gradient"
                        and self.sequence_length() is None and type(self).td is ValueAgent.td)
        """Whether :meth:`regress` takes its gradient by hand (:meth:`regress_by_hand`)."""
        self._phase: list[ValueBatch] = []
        self._left = 0

    # ------------------------------------------------------------------- construction
    def stored_extras(self, config: Any, n_actions: int) -> dict[str, tuple[tuple[int, ...], Any]]:
        """What the replay keeps besides the transition: ``mu`` and ``next_mask``."""
        return {"mu": ((), np.float32), "next_mask": ((n_actions,), bool)}

    def make_q(self) -> Any:
        c = self.config
        return QNetwork(self.obs_dim, self.n_actions, c.hidden, self.generator, c.q_net, c.activation,
                        members=2 if c.twin_q else 1)

    def sequence_length(self) -> int | None:
        """Steps per replayed sequence (``None``: transitions)."""
        return self.config.n_step if self.config.n_step > 1 else None

    def make_replay(self, obs_shape: tuple[int, ...], obs_dtype: Any, action_shape: tuple[int, ...],
                    action_dtype: Any) -> Any:
        c = self.config
        if not c.prioritized:
            return super().make_replay(obs_shape, obs_dtype, action_shape, action_dtype)
        return PrioritisedReplay(c.capacity, obs_shape, obs_dtype, action_shape, action_dtype, extras=self.store,
                                 alpha=c.priority_alpha, epsilon=c.priority_eps,
                                 sequence_length=self.sequence_length())

    # -------------------------------------------------------------------------- actor
    def explore_value(self) -> float:
        """ε (or τ) now: the schedule over the run (the final value when the run's length is unknown)."""
        c = self.config
        if not self.total_steps:
            return c.explore_final
        return exploration_value(self.env_steps, self.total_steps, c.explore_initial, c.explore_final,
                                 c.explore_fraction)

    def q_values(self, obs: Any) -> Any:
        """``Q̂(s, ·)`` of the online network (the mean of the two members with ``twin_q``): ``(B, A)``."""
        return self.q(obs).mean(0) if self.config.twin_q else self.q(obs)[0]

    def select(self, obs: Any, explore: bool, mask: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        q = self.q_values(obs) if self.config.twin_q else self.q.act_values(obs)[0]
        return self.choose(q, explore, mask)

    def choose(self, q: Any, explore: bool, mask: np.ndarray | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Greedy actions (``explore`` off), or draws from :func:`behaviour_probabilities` and their ``mu``."""
        if explore and mask is None and q.shape[0] == 1 and self.config.explore == "epsilon":
            return self.choose_one(q[0].tolist(), self.explore_value())
        q = q.double().numpy()
        if not explore:
            return np.argmax(q if mask is None else np.where(mask, q, -np.inf), axis=1), {}
        probs = behaviour_probabilities(q, self.config.explore, self.explore_value(), mask)
        rows = np.arange(q.shape[0])
        a = sample_actions(self.rng, probs, rows)
        return a, {"mu": probs[rows, a].astype(np.float32)}

    def choose_one(self, q: list[float], epsilon: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`choose` for one env, ε-greedy without a mask, in plain Python floats (a collection step makes
        one such draw; numpy's per-call cost dominated it): the same probabilities
        ``(1 − ε)·[a greedy]/#greedy + ε/A``, the same one uniform draw against their running sum as
        :func:`triad.sampling.sample_actions`, the same operations in the same order — the same action and
        ``mu``, bit for bit."""
        top = max(q)
        ties = sum(v == top for v in q)
        uniform = 1.0 / len(q)
        probs = [(1.0 - epsilon) * ((1.0 if v == top else 0.0) / ties) + epsilon * uniform for v in q]
        cdf, total = [], 0.0
        for p in probs:
            total += p
            cdf.append(total)
        u = self.rng.random() * total
        a = min(sum(u >= c for c in cdf), len(q) - 1)
        return np.array([a]), {"mu": np.array([probs[a]], np.float32)}

    def random_extras(self, actions: np.ndarray, mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``mu`` of a uniform action: 1 / (number of allowed actions)."""
        allowed = np.full(actions.shape[0], self.n_actions) if mask is None else np.asarray(mask, bool).sum(1)
        return {"mu": (1.0 / allowed).astype(np.float32)}

    def observe(self, step: Any) -> None:
        """Store the step (with the allowed actions of its next state: :attr:`keeps_masks`)."""
        self._stepped = bool(np.any(step.valid))
        super().observe(step)

    def update(self) -> dict[str, float] | None:
        """One driver iteration (:meth:`tick` keeps the reset step a NEXT_STEP vector env makes after an
        episode end from counting as an env step, so online Q-learning uses each transition exactly once
        and iterations count env steps as Stable-Baselines3 does); batches drawn ahead for the previous
        round are dropped."""
        if getattr(self, "_stepped", True):
            self._phase, self._left = [], self.config.grad_steps
        return super().update()

    def run_end(self, steps: int) -> int:
        """The env steps a run of ``steps`` takes: ``steps``, or with ``whole_rollouts`` rounded up to whole
        iterations of ``train_every·envs`` (SB3's ``learn``; exact with a same-step env, where every vector
        step is a transition)."""
        c = self.config
        k = c.train_every * c.envs
        return -(-steps // k) * k if c.whole_rollouts else steps

    def tick(self) -> bool:
        """The driver's clock (:meth:`OffPolicyAgent.tick`), not moved by a vector step without a real transition."""
        if not getattr(self, "_stepped", True):
            return False
        return super().tick()

    # ------------------------------------------------------------------------ learner
    def beta(self) -> float:
        """The importance-weight exponent now (annealed to 1 over the run)."""
        return beta_schedule(self.env_steps, self.total_steps or 0, self.config.priority_beta, 1.0)

    def sample(self) -> ValueBatch:
        """A batch from the replay: every stored transition (``fit=exact``), sequences of ``n_step``
        (prioritised or uniform), or transitions (prioritised or uniform)."""
        c, replay = self.config, self.replay
        if self.phased():
            if not self._phase:
                self._phase = self.draw_phase()
            self._left -= 1
            return self._phase.pop(0)
        if c.fit == "exact":
            data = {field: arr[:len(replay)] for field, arr in replay.data.items()}
        elif self.sequence_length() is not None:
            if c.prioritized:
                data = replay.sample_sequences(self.rng, c.batch_size, beta=self.beta())
            else:
                data = replay.sample_sequences(self.rng, c.batch_size, self.sequence_length())
        else:
            data = replay.sample(self.rng, c.batch_size, beta=self.beta()) if c.prioritized else \
                replay.sample(self.rng, c.batch_size)
        return self.batch(data, steps=self.sequence_length())

    def phased(self) -> bool:
        """Whether batches are drawn ahead, a phase at a time: uniform one-step transitions of a Q network."""
        c = self.config
        return not (c.prioritized or c.twin_q or c.fit == "exact" or self.sequence_length() is not None)

    def draw_phase(self) -> list[ValueBatch]:
        """The batches of the next ``k`` gradient steps of this iteration during which the target network stays
        frozen (up to its next update; at most :data:`PHASE_ROWS` transitions), drawn in one uniform sample
        of ``k·batch_size`` — the same law as ``k`` draws, the replay does not change within an iteration —
        with ``Q̂'(s', ·)`` of all of them in one forward of the target network (exactly the values the
        per-step forwards would give). What changes between the steps (the online network: ``Q̂(s, ·)``,
        double DQN's selector) is still evaluated at each step."""
        c = self.config
        k = self._left
        if c.target_period:
            k = min(k, c.target_period - self.gradient_steps % c.target_period)
        k = max(1, min(k, PHASE_ROWS // c.batch_size))
        N = c.batch_size
        big = self.batch(self.replay.sample(self.rng, k * N))
        q_t = None
        if self.q_target is not self.q:
            with torch.no_grad():
                q_t = self.q_target(big.next_obs)[0]
            if big.next_mask is not None:
                q_t = q_t.masked_fill(~big.next_mask, MASKED_Q)
        out = []
        for i in range(k):
            rows = slice(i * N, (i + 1) * N)
            out.append(ValueBatch(obs=big.obs[rows], action=big.action[rows], reward=big.reward[rows],
                                  discount=big.discount[rows], next_obs=big.next_obs[rows], weight=None,
                                  next_mask=None if big.next_mask is None else big.next_mask[rows],
                                  data={f: v[rows] for f, v in big.data.items()},
                                  q_t=None if q_t is None else q_t[rows]))
        return out

    def batch(self, data: Mapping[str, np.ndarray], steps: int | None = None) -> ValueBatch:
        """A :class:`ValueBatch` from arrays as the replay stores them (or :func:`expected_transitions`)."""
        x = multistep_inputs(data, self.config.gamma)
        flat = (lambda arr: arr.reshape(-1, *arr.shape[2:])) if steps else (lambda arr: arr)
        weight = data.get("weight")
        mask = data.get("next_mask") if self.has_masks else None
        return ValueBatch(obs=self.encode(flat(np.asarray(data["obs"]))),
                          action=torch.as_tensor(np.asarray(data["action"], np.int64)),
                          reward=torch.as_tensor(x.r_t, dtype=torch.float32),
                          discount=torch.as_tensor(x.discount_t, dtype=torch.float32),
                          next_obs=self.encode(flat(np.asarray(data["next_obs"]))),
                          weight=None if weight is None else torch.as_tensor(weight, dtype=torch.float32),
                          next_mask=None if mask is None else torch.as_tensor(np.asarray(mask, bool)),
                          data=dict(data), steps=steps)

    def bootstrap(self, b: ValueBatch) -> tuple[Any, Any]:
        """``(Q̂'(s', ·), selector)`` on the batch's next states: the target network's values (the online
        network's when there is none) and, for double Q-learning, the online network's, forbidden
        actions at :data:`MASKED_Q`."""
        with torch.no_grad():
            q_t = self.q_target(b.next_obs)[0] if b.q_t is None else b.q_t
            selector = self.q(b.next_obs)[0] if self.config.double else None
        if b.next_mask is not None:
            mask = b.next_mask.reshape(q_t.shape)
            if b.q_t is None:  # a phase's values are masked already
                q_t = q_t.masked_fill(~mask, MASKED_Q)
            selector = None if selector is None else selector.masked_fill(~mask, MASKED_Q)
        return q_t, selector

    def td(self, b: ValueBatch) -> tuple[Any, Any]:
        """``(δ, Q̂(s, ·))`` for the batch's first step: one-step TD errors (:func:`td_errors`) or, for
        sequences, ``G − Q̂(s_0, a_0)`` with ``G`` from :func:`triad.multistep.off_policy_targets`."""
        c = self.config
        if c.twin_q:
            return self.twin_td(b)
        q_t, selector = self.bootstrap(b)
        if b.steps is None:
            q_tm1 = self.q_values(b.obs)
            return td_errors(q_tm1, b.action, b.reward, b.discount, q_t, selector), q_tm1
        n, N = b.steps, b.action.shape[1]
        q_t = q_t.reshape(n, N, -1)
        pi_t = None
        if selector is not None:  # π greedy in the online network
            pi_t = torch.nn.functional.one_hot(selector.reshape(n, N, -1).argmax(-1), q_t.shape[-1]).float()
        x = multistep_inputs(b.data, c.gamma, mu="mu")
        G = multistep.off_policy_targets(b.reward, b.discount, q_t, b.action, c.correction, pi_t=pi_t,
                                         mu_t=torch.as_tensor(x.mu_t, dtype=torch.float32), lam=c.trace_lambda,
                                         truncated_t=torch.as_tensor(x.truncated_t))
        q_tm1 = self.q_values(b.obs[:N])
        return G[0] - q_tm1.gather(-1, b.action[0, :, None]).squeeze(-1), q_tm1

    def twin_td(self, b: ValueBatch) -> tuple[Any, Any]:
        """Double Q-learning (van Hasselt 2010; Sutton & Barto 2018 §6.7): a fair coin ``k`` per transition picks
        the member to update; it selects the next action and the other member evaluates it
        (:func:`triad.multistep.double_q_learning_td`), so the gradient reaches member ``k`` only."""
        N = b.action.shape[0]
        k = torch.from_numpy((self.rng.random(N) < 0.5).astype(np.int64))
        rows = torch.arange(N)
        q_tm1 = self.q(b.obs)[k, rows]
        with torch.no_grad():
            nxt = self.q_target(b.next_obs)
            if b.next_mask is not None:
                nxt = nxt.masked_fill(~b.next_mask, MASKED_Q)
        return td_errors(q_tm1, b.action, b.reward, b.discount, nxt[1 - k, rows], nxt[k, rows]), q_tm1

    def regress(self, b: ValueBatch) -> dict[str, Any]:
        """One step of process 3 on ``b``: the (importance-)weighted Huber or squared loss of δ, one
        optimiser step (global gradient norm clipped), priorities updated; ``fit=exact``: the
        least-squares fit instead."""
        c = self.config
        if c.fit == "exact":
            return self.fit_exact(b)
        if self.by_hand:
            return self.regress_by_hand(b)
        delta, q_tm1 = self.td(b)
        per = huber(delta) if c.loss == "huber" else 0.5 * delta * delta
        loss = per.mean() if b.weight is None else (b.weight * per).mean()
        self.descend("q", loss, c.max_grad_norm, self._clip)
        if c.prioritized:
            keys = b.data["key"][0] if b.steps else b.data["key"]
            self.replay.update_priorities(keys, self.priorities(delta.detach().double().numpy()))
        q_tm1 = q_tm1.detach()
        return {"loss": loss.detach(), "q_mean": q_tm1.mean(), "q_batch_max": q_tm1.abs().max()}

    def regress_by_hand(self, b: ValueBatch) -> dict[str, Any]:
        """:meth:`regress` for a one-member MLP on one-step transitions, its gradient without autograd: the loss
        ``mean_i w_i ℓ(δ_i)`` has ``∂/∂Q̂(s_i, a_i) = −w_i ℓ'(δ_i)/N`` (``ℓ' = clip(δ, −1, 1)`` for Huber, ``δ``
        for ``½δ²``; ``δ`` from :func:`td_errors`, its target held fixed), which the network's own backward
        pass (:meth:`~triad.agents.nets.StackedMLP.backward_from`) carries to the parameters, written straight
        into the optimiser's flat gradient — the same gradient as ``loss.backward()``, without building a graph."""
        c = self.config
        out, tape = self.q.net.taped(b.obs)
        q_tm1 = out[0]
        q_t, selector = self.bootstrap(b)
        delta = td_errors(q_tm1, b.action, b.reward, b.discount, q_t, selector)
        N = delta.shape[0]
        slope = delta.clamp(-1.0, 1.0) if c.loss == "huber" else delta
        per = huber(delta) if c.loss == "huber" else 0.5 * delta * delta
        if b.weight is not None:
            slope, per = slope * b.weight, per * b.weight
        g = torch.zeros_like(q_tm1)
        g[torch.arange(N), b.action] = slope * (-1.0 / N)
        grads = self.q.net.backward_from(tape, g[None])
        flat = self._clip[0]
        torch.cat([t.reshape(-1) for t in grads], out=flat.grad)
        if c.max_grad_norm > 0:
            clip_grad_norm(self._clip, c.max_grad_norm)
        adam_step(self.optimizers["q"])
        if c.prioritized:
            self.replay.update_priorities(b.data["key"], self.priorities(delta.double().numpy()))
        return {"loss": per.mean(), "q_mean": q_tm1.mean(), "q_batch_max": q_tm1.abs().max()}

    def priorities(self, delta: np.ndarray) -> np.ndarray:
        """The ``|δ|`` a batch entry's priority is made from: its TD error (one per transition or sequence)."""
        return np.abs(delta)

    def fit_exact(self, b: ValueBatch) -> dict[str, Any]:
        """FQI's regression to convergence in one solve: the weighted least-squares fit
        (:func:`fit_linear_q`) of the linear Q onto ``y = δ + Q̂(s, a)`` from the current targets."""
        with torch.no_grad():
            delta, q_tm1 = self.td(b)
        a = b.action.numpy()
        y = (delta + q_tm1.gather(-1, b.action[:, None]).squeeze(-1)).double().numpy()
        weight = np.ones(a.size) if b.weight is None else b.weight.double().numpy()
        W = fit_linear_q(b.obs.double().numpy(), a, y, weight, self.n_actions)
        with torch.no_grad():
            self.q.weight[0].copy_(torch.from_numpy(W))
        loss = float(np.sum(weight * delta.double().numpy() ** 2) / weight.sum())
        return {"loss": loss, "q_mean": q_tm1.mean(), "q_batch_max": q_tm1.abs().max()}

    # ------------------------------------------------------------------------- probes
    def q_table(self, obs_table: np.ndarray) -> np.ndarray:
        """``Q̂(s, a)`` of the online network for every state's observation: ``(S, A)`` float64."""
        with torch.no_grad():
            return self.q_values(self.encode(obs_table)).double().numpy()

    def policy_table(self, obs_table: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The greedy policy of ``Q̂`` (lowest action among ties, only ``mask``'s actions): ``(S, A)`` one-hot."""
        return greedy(self.q_table(obs_table), mask)

    def truth_rows(self, probe: Any, pi: np.ndarray, first: bool = False) -> dict[str, float]:
        """:func:`q_truth` on the probe's MDP with the state law of π's stream
        (:func:`~triad.agents.probes.stream_weighting`); the constant ``return_bound`` on the ``first`` call only."""
        rows = q_truth(probe.mdp, self.q_table(probe.obs_table), probe.Q_star,
                       lambda policy: stream_weighting(probe.mdp, policy))
        if not first:
            rows.pop("return_bound")
        return rows



def build(config: Any, spaces: Any, seed: int, name: str = "dqn") -> ValueAgent:
    """The builder the registry calls: ``build(config, env_spaces, seed) -> Agent``."""
    return ValueAgent(config, spaces, seed, name)
