"""MDPs by name: the classic examples of the theory, each with its source.

Every entry is a function returning a :class:`Problem` (an MDP plus, where the literature fixes
them, features, target and behaviour policies, initial weights and policy features). On the command line a *spec*
string names one: ``chain:n=20``, ``garnet:S=10000,A=4,b=10,seed=0``, ``baird`` or a path to an
``.npz`` file written by :meth:`FiniteMDP.save`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from triad import memory
from triad.errors import SpecError, ValidationError
from triad.mdp import FiniteMDP, check_finite, load_npy, uniform_policy, validate_policy
from triad.spec import coerce, key_values


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """An MDP and what its source specifies alongside it.

    Attributes:
        mdp: the MDP.
        features: ``(S, d)`` linear features, if the example prescribes them.
        target: ``(S, A)`` target policy (the policy to evaluate), if prescribed.
        behaviour: ``(S, A)`` behaviour policy generating the data, if prescribed.
        w0: ``(d,)`` initial weights, if prescribed.
        policy_features: ``(S, A, k)`` features of a log-linear softmax policy,
            ``π_θ(a|s) ∝ exp(policy_features[s, a] · θ)`` with ``θ: (k,)`` (as
            :func:`triad.analysis.policy_gradient.softmax_policy` takes them), if prescribed;
            ``None`` means tabular logits ``θ: (S, A)``.
        source: citation.
    """

    mdp: FiniteMDP
    features: np.ndarray | None = None
    target: np.ndarray | None = None
    behaviour: np.ndarray | None = None
    w0: np.ndarray | None = None
    policy_features: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("target", "behaviour"):
            pi = getattr(self, name)
            if pi is not None:
                object.__setattr__(self, name, validate_policy(pi, self.mdp, name))
        if self.features is not None:
            Phi = np.asarray(self.features, dtype=np.float64)
            if Phi.ndim != 2 or Phi.shape[0] != self.mdp.S:
                raise ValidationError(f"features have shape {Phi.shape}, expected (S, d) with S = {self.mdp.S}")
            object.__setattr__(self, "features", Phi)
            if self.w0 is not None and np.shape(self.w0) != (Phi.shape[1],):
                raise ValidationError(f"w0 has shape {np.shape(self.w0)}, expected ({Phi.shape[1]},): one initial "
                                      f"weight per column of the features {Phi.shape}")
        if self.policy_features is not None:
            X = np.asarray(self.policy_features, dtype=np.float64)
            if X.ndim != 3 or X.shape[:2] != (self.mdp.S, self.mdp.A):
                raise ValidationError(f"policy_features have shape {X.shape}, expected (S, A, k) with "
                                      f"(S, A) = ({self.mdp.S}, {self.mdp.A})")
            check_finite(X, "policy_features")
            object.__setattr__(self, "policy_features", X)

    def policy(self, choice: str) -> np.ndarray:
        """A policy by name: ``uniform``, ``target`` or ``behaviour`` (where prescribed), or a ``.npy`` path."""
        if choice == "uniform":
            return uniform_policy(self.mdp)
        if choice in ("target", "behaviour"):
            pi = getattr(self, choice)
            if pi is None:
                raise ValidationError(f"{self.mdp.name or 'this MDP'} defines no {choice} policy")
            return pi
        if not choice.endswith(".npy") and not Path(choice).is_file():
            raise ValidationError(f"policy {choice!r} is neither uniform/target/behaviour nor an .npy file")
        return validate_policy(load_npy(choice, "policy"), self.mdp, f"policy {Path(choice).name}")


# ---------------------------------------------------------------------------------------- chain
def chain(n: int = 10, slip: float = 0.0, gamma: float = 0.9) -> Problem:
    """A corridor of ``n`` states; reaching the right end pays 1 and ends the episode.

    States ``0 … n−1``; actions ``0 = left``, ``1 = right``. A move goes the other way with
    probability ``slip``; walking into the left wall stays put. Taking ``right`` in state ``n−2``
    enters the terminal state ``n−1`` with reward 1. With ``slip = 0`` the optimal values are
    ``V*(s) = γ^(n−2−s)`` for ``s < n−1`` and ``V*(n−1) = 0``: checkable by hand.
    """
    if n < 2:
        raise ValidationError(f"chain needs n ≥ 2 states, got n = {n}")
    if not 0.0 <= slip <= 1.0:
        raise ValidationError(f"slip = {slip:g} is outside [0, 1]")
    P = np.zeros((n, 2, n))
    R = np.zeros((n, 2))
    for s in range(n - 1):
        left, right = max(s - 1, 0), s + 1
        for a, (want, other) in enumerate(((left, right), (right, left))):
            P[s, a, want] += 1.0 - slip
            P[s, a, other] += slip
            R[s, a] = P[s, a, n - 1]
    P[n - 1, :, n - 1] = 1.0
    terminal = np.zeros(n, bool)
    terminal[-1] = True
    mu = np.zeros(n)
    mu[0] = 1.0
    mdp = FiniteMDP(P, R, gamma, mu=mu, action_names=("left", "right"), terminal=terminal,
                    name=f"chain:n={n},slip={slip:g}")
    return Problem(mdp, source="a hand-checkable corridor (triad)")


# ------------------------------------------------------------------------------------ gridworld
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
_MOVE_NAMES = ("up", "right", "down", "left")


def gridworld(rows: int = 4, cols: int = 4, layout: str = "", slip: float = 0.0, goal_reward: float = 1.0,
              pit_reward: float = -1.0, step_reward: float = 0.0, gamma: float = 0.9) -> Problem:
    """A grid with walls, slippery moves and absorbing goal and pit states.

    ``layout`` lists rows separated by ``/`` (e.g. ``S..#/..#G/...X``): ``.`` floor, ``#`` wall
    (not a state), ``S`` start, ``G`` goal, ``X`` pit. Empty: a ``rows × cols`` room with the
    start top-left and the goal bottom-right. Actions: up, right, down, left; with probability
    ``slip`` the move is replaced by a uniformly random one of the four. Bumping into a wall or the
    edge stays put. Every move costs ``step_reward``; entering G pays ``goal_reward``, entering X
    pays ``pit_reward``; both are terminal (absorbing, zero reward), as in Russell & Norvig's
    4×3 world (AIMA 3rd ed., §17.1).
    """
    if not layout:
        if rows < 1 or cols < 1 or rows * cols < 2:
            raise ValidationError(f"gridworld needs at least 2 cells, got rows={rows}, cols={cols}")
        grid = [["." for _ in range(cols)] for _ in range(rows)]
        grid[0][0], grid[-1][-1] = "S", "G"
    else:
        grid = [list(r) for r in layout.split("/")]
        if len({len(r) for r in grid}) != 1:
            raise ValidationError(f"gridworld layout {layout!r} has rows of different lengths")
        bad = {c for r in grid for c in r} - set(".#SGX")
        if bad:
            raise ValidationError(f"gridworld layout has unknown cells {sorted(bad)} (use . # S G X)")
    if not 0.0 <= slip <= 1.0:
        raise ValidationError(f"slip = {slip:g} is outside [0, 1]")
    cells = [(i, j) for i, r in enumerate(grid) for j, c in enumerate(r) if c != "#"]
    index = {cell: k for k, cell in enumerate(cells)}
    S = len(cells)
    P = np.zeros((S, 4, S))
    R = np.zeros((S, 4))
    kind = [grid[i][j] for i, j in cells]
    terminal = np.array([k in "GX" for k in kind])
    enter = {"G": goal_reward, "X": pit_reward}

    def dest(cell: tuple[int, int], move: tuple[int, int]) -> int:
        nxt = (cell[0] + move[0], cell[1] + move[1])
        return index.get(nxt, index[cell])

    for s, cell in enumerate(cells):
        if terminal[s]:
            P[s, :, s] = 1.0
            continue
        for a, move in enumerate(_MOVES):
            outcomes = [(1.0 - slip, move)] + [(slip / 4, m) for m in _MOVES]
            for p, m in outcomes:
                t = dest(cell, m)
                P[s, a, t] += p
                R[s, a] += p * (step_reward + enter.get(kind[t], 0.0))
    starts = np.array([k == "S" for k in kind], dtype=float)
    mu = starts / starts.sum() if starts.any() else None
    names = tuple(f"({i},{j})" for i, j in cells)
    mdp = FiniteMDP(P, R, gamma, mu=mu, state_names=names, action_names=_MOVE_NAMES, terminal=terminal,
                    name="gridworld")
    return Problem(mdp, source="Russell & Norvig, AIMA 3rd ed. §17.1 (grid conventions)")


def sutton_barto_grid(gamma: float = 0.9) -> Problem:
    """The 5×5 gridworld of Sutton & Barto (2018), Example 3.5.

    Any action in A = (0, 1) jumps to A' = (4, 1) with reward +10; any action in B = (0, 3) jumps
    to B' = (2, 3) with reward +5; moves off the grid leave the state unchanged with reward −1;
    all other moves earn 0. States are numbered row-major; actions up, right, down, left. The book
    prints V^π for the uniform random policy (Figure 3.2) and V* (Figure 3.5) at γ = 0.9.
    """
    n = 5
    P = np.zeros((n * n, 4, n * n))
    R = np.zeros((n * n, 4))
    jumps = {(0, 1): ((4, 1), 10.0), (0, 3): ((2, 3), 5.0)}
    for i in range(n):
        for j in range(n):
            s = i * n + j
            for a, (di, dj) in enumerate(_MOVES):
                if (i, j) in jumps:
                    (ti, tj), r = jumps[(i, j)]
                elif 0 <= i + di < n and 0 <= j + dj < n:
                    (ti, tj), r = (i + di, j + dj), 0.0
                else:
                    (ti, tj), r = (i, j), -1.0
                P[s, a, ti * n + tj] = 1.0
                R[s, a] = r
    names = tuple(f"({i},{j})" for i in range(n) for j in range(n))
    mdp = FiniteMDP(P, R, gamma, state_names=names, action_names=_MOVE_NAMES, name="sutton-barto-grid")
    return Problem(mdp, source="Sutton & Barto (2018), Example 3.5, Figures 3.2 and 3.5")


# --------------------------------------------------------------------------------------- Garnet
def _distinct_successors(rng: np.random.Generator, rows: int, S: int, b: int) -> np.ndarray:
    """``(rows, b)`` sorted, distinct state indices per row, uniformly among all b-subsets."""
    if S <= 1000:
        return np.sort(np.argpartition(rng.random((rows, S)), b - 1, axis=1)[:, :b], axis=1)
    idx = np.sort(rng.integers(0, S, size=(rows, b)), axis=1)
    while True:
        dup = (np.diff(idx, axis=1) == 0).any(axis=1)
        if not dup.any():
            return idx
        idx[dup] = np.sort(rng.integers(0, S, size=(int(dup.sum()), b)), axis=1)


def garnet(S: int = 100, A: int = 4, b: int = 10, seed: int = 0, gamma: float = 0.99, sparse: bool = True) -> Problem:
    """A random Garnet MDP ("Generic Average Reward Non-stationary Environment Test-bench").

    Each (s, a) moves to ``b`` distinct successors chosen uniformly at random, with probabilities
    given by the gaps between ``b − 1`` sorted uniform cut points of [0, 1]; rewards
    ``R(s, a) ~ U(0, 1)``. Stored sparse (CSR, ``S·A·b`` entries) unless ``sparse=False``.
    Deterministic given ``seed``. Sources: Archibald, McKinnon & Thomas (1995);
    Bhatnagar, Sutton, Ghavamzadeh & Lee (2009), §6.
    """
    if S < 1 or A < 1 or not 1 <= b <= S:
        raise ValidationError(f"garnet needs S ≥ 1, A ≥ 1 and 1 ≤ b ≤ S; got S={S}, A={A}, b={b}")
    rng = np.random.default_rng(seed)
    rows = S * A
    successors = _distinct_successors(rng, rows, S, b)
    cuts = np.sort(rng.random((rows, b - 1)), axis=1)
    probs = np.diff(cuts, prepend=0.0, append=1.0, axis=1)
    R = rng.random((S, A))
    P = sp.csr_array((probs.ravel(), successors.ravel().astype(np.int32), np.arange(0, rows * b + 1, b)),
                     shape=(rows, S))
    mdp = FiniteMDP(P, R, gamma, name=f"garnet:S={S},A={A},b={b},seed={seed}")
    return Problem(mdp if sparse else mdp.to_dense(), source="Archibald, McKinnon & Thomas (1995)")


# ---------------------------------------------------------------------------------------- Baird
def baird(gamma: float = 0.99) -> Problem:
    """Baird's (1995) star counterexample in the form of Sutton & Barto (2018), §11.2, Figure 11.1.

    Seven states; action 0 (*dashed*) moves to one of the six upper states uniformly, action 1
    (*solid*) moves to the seventh (lower) state; all rewards are 0, so ``v_π = 0``. The behaviour
    policy takes dashed with probability 6/7 (its on-policy distribution is uniform); the target
    policy always takes solid. The value of upper state ``i`` is ``2w_i + w_8`` and of the lower
    state ``w_7 + 2w_8``; the book starts from ``w = (1, 1, 1, 1, 1, 1, 10, 1)``.
    """
    S = 7
    P = np.zeros((S, 2, S))
    P[:, 0, :6] = 1.0 / 6.0
    P[:, 1, 6] = 1.0
    features = np.zeros((S, 8))
    features[np.arange(6), np.arange(6)] = 2.0
    features[:6, 7] = 1.0
    features[6, 6], features[6, 7] = 1.0, 2.0
    behaviour = np.tile([6.0 / 7.0, 1.0 / 7.0], (S, 1))
    target = np.tile([0.0, 1.0], (S, 1))
    mdp = FiniteMDP(P, np.zeros((S, 2)), gamma, mu=np.full(S, 1.0 / S), action_names=("dashed", "solid"),
                    name="baird")
    return Problem(mdp, features=features, target=target, behaviour=behaviour,
                   w0=np.array([1.0, 1, 1, 1, 1, 1, 10, 1]),
                   source="Baird (1995); Sutton & Barto (2018) §11.2, Figure 11.1")


def two_state(epsilon: float = 0.1, gamma: float = 0.99) -> Problem:
    """The w→2w example of Sutton & Barto (2018), §11.2.

    State 0 (feature 1) moves to state 1 (feature 2) with reward 0; state 1 stays with probability
    ``1 − ε`` and terminates with probability ``ε`` (reward 0), into the absorbing state 2 (feature
    0). With one weight ``w`` the estimates are ``w`` and ``2w``. The TD(0) update on the 0→1
    transition alone is ``w ← w + α(2γ − 1)w`` (diverges for γ > 1/2); least-squares projected
    value iteration gives ``w_{k+1} = (6 − 4ε)/5 · γ w_k`` (diverges for γ > 5/(6 − 4ε)).
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValidationError(f"epsilon = {epsilon:g} is outside [0, 1]")
    P = np.zeros((3, 1, 3))
    P[0, 0, 1] = 1.0
    P[1, 0, 1], P[1, 0, 2] = 1.0 - epsilon, epsilon
    P[2, 0, 2] = 1.0
    one = np.ones((3, 1))
    mdp = FiniteMDP(P, np.zeros((3, 1)), gamma, mu=np.array([1.0, 0.0, 0.0]),
                    terminal=np.array([False, False, True]), name=f"two-state:epsilon={epsilon:g}")
    return Problem(mdp, features=np.array([[1.0], [2.0], [0.0]]), target=one, behaviour=one, w0=np.ones(1),
                   source="Sutton & Barto (2018) §11.2 (the w→2w example)")


def maximization_bias(n_actions: int = 10, mean: float = -0.1, std: float = 1.0, gamma: float = 0.99) -> Problem:
    """The maximisation-bias MDP of Sutton & Barto (2018), Example 6.7 (after van Hasselt 2010).

    From start state A (0), ``left`` (action 0) leads to B (1) and ``right`` (action 1) terminates,
    both with reward 0. In B each of ``n_actions`` actions terminates with reward ``N(mean, std²)``.
    Only actions 0 and 1 exist in A (see ``allowed``). Every action from A has expected return
    ``≤ 0``, so right is optimal, yet Q-learning first prefers left because ``max_a Q(B, a)`` is
    biased upwards. The book uses γ = 1, which triad accepts too (every episode ends within two
    steps); the default 0.99 keeps the discounted analyses (visitation weightings, moment horizons)
    defined.
    """
    if n_actions < 2:
        raise ValidationError(f"n_actions = {n_actions} must be at least 2")
    A = n_actions
    P = np.zeros((3, A, 3))
    P[0, 0, 1] = 1.0
    P[0, 1:, 2] = 1.0
    P[1, :, 2] = 1.0
    P[2, :, 2] = 1.0
    R = np.zeros((3, A))
    R[1, :] = mean
    std_arr = np.zeros((3, A))
    std_arr[1, :] = std
    allowed = np.ones((3, A), bool)
    allowed[0, 2:] = False
    mdp = FiniteMDP(P, R, gamma, mu=np.array([1.0, 0.0, 0.0]), allowed=allowed, reward_std=std_arr,
                    terminal=np.array([False, False, True]), state_names=("A", "B", "terminal"),
                    name=f"maximization-bias:n_actions={n_actions}")
    return Problem(mdp, source="Sutton & Barto (2018) Example 6.7; van Hasselt (2010)")


# -------------------------------------------------------------------------------------- A-split
def a_split(gamma: float = 1.0) -> Problem:
    """The A-split example of Sutton & Barto (2018), Example 11.2: episodes start in A and split.

    From A (state 0) half the episodes go to B (1) and half to C (2), reward 0 either way; B then
    terminates with reward 1, C with reward 0 (into the absorbing state 3). One action (on-policy,
    ρ = 1) and tabular features for A, B and C (the terminal state has zero features). True values
    at γ = 1 (the book's, well defined because every episode terminates): A = ½, B = 1, C = 0; the
    naive residual gradient instead converges to B = ¾, C = ¼.
    """
    P = np.zeros((4, 1, 4))
    P[0, 0, 1] = P[0, 0, 2] = 0.5
    P[1:, 0, 3] = 1.0
    R = np.zeros((4, 1))
    R[1, 0] = 1.0
    mdp = FiniteMDP(P, R, gamma, mu=np.array([1.0, 0.0, 0.0, 0.0]), terminal=np.array([False, False, False, True]),
                    state_names=("A", "B", "C", "end"), name="a-split")
    one = np.ones((4, 1))
    return Problem(mdp, features=np.vstack([np.eye(3), np.zeros((1, 3))]), target=one, behaviour=one,
                   w0=np.zeros(3), source="Sutton & Barto (2018) Example 11.2 (the A-split example)")


# ------------------------------------------------------------------------ off-policy two-state
def off_policy_two_state_arrays(p: Any) -> tuple[list, list, list, list, list]:
    """The arrays of :func:`off_policy_two_state` as nested lists: ``(P, R, Phi, target, behaviour)``.

    ``P[s][a][s']``, ``R[s][a]``, ``Phi[s][0]``, ``target[s][a]``, ``behaviour[s][a]``; entries are
    whatever ``p`` is (a float, or a sympy symbol for :mod:`triad.analysis.symbolic`), so the
    numeric and the symbolic example come from one construction.
    """
    P = [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]
    R = [[1, 1], [1, 1]]
    return P, R, [[1], [2]], [[0, 1], [0, 1]], [[1 - p, p], [1 - p, p]]


def off_policy_two_state(p: float = 0.5, gamma: float = 0.9) -> Problem:
    """A two-state off-policy example (triad's) where off-policy LSTD's solution has the wrong sign.

    States 0 (feature 1) and 1 (feature 2); action 0 moves to state 0, action 1 to state 1, from
    either state, with reward 1. The target policy always takes action 1; the behaviour policy
    takes action 1 with probability ``p``. The true values are ``1/(1 − γ)`` in both states, which
    a single weight cannot represent, so the TD fixed point depends on the state weighting — here
    the behaviour's stationary law ``(1 − p, p)``. Below ``p* = (2γ − 1)/(3 − 2γ)`` (2/3 at γ = 0.9)
    the TD matrix ``A`` is positive: expected TD(0) diverges and LSTD's solution is negative
    (:func:`triad.analysis.symbolic.lstd_sign_threshold` derives ``p*``).
    """
    if not 0.0 < p <= 1.0:
        raise ValidationError(f"behaviour probability p = {p:g} must be in (0, 1]")
    P, R, Phi, target, behaviour = off_policy_two_state_arrays(p)
    mdp = FiniteMDP(np.array(P, float), np.array(R, float), gamma, name=f"off-policy-two-state:p={p:g}")
    return Problem(mdp, features=np.array(Phi, float), target=np.array(target, float),
                   behaviour=np.array(behaviour, float), w0=np.zeros(1),
                   source="triad: two-state off-policy example for the sign of LSTD's solution")


# ----------------------------------------------------------------------------- aliased decision
def aliased_decision(gamma: float = 0.9, delay: int = 20, late_reward: float = 4.0) -> Problem:
    """An episodic MDP where the γ^t-dropped policy gradient converges to the worst policy of its class.

    In the spirit of the counterexample of Nota & Thomas (2020, §5), built here from scratch. Two
    actions, ``quit`` (0) and ``go`` (1), and one policy parameter: every state has the policy
    features ``(0, 1)`` (``policy_features: (S, 2, 1)``), so ``π(go) = σ(θ)`` everywhere (the agent
    cannot tell its decisions apart).

    * start (state 0): ``quit`` pays 1 and ends; ``go`` pays 0 and enters a corridor;
    * corridor (states 1 … ``delay``): either action moves one step on, reward 0;
    * late decision (state ``delay + 1``): ``quit`` pays 0, ``go`` pays ``late_reward``; both end.

    With ``p = π(go)`` and ``g = γ^(delay+1)``, ``J(p) = 1 − p + g·late_reward·p²``. The exact
    gradient is ``σ'(θ)(2g·late_reward·p − 1)``, negative for every ``p`` when
    ``2g·late_reward < 1``: it drives ``p → 0`` and ``J → 1 = J*``. The late state is visited with
    probability ``p`` per episode but weighted ``g·p`` by the gradient; dropping γ^t weights it
    ``p``, giving ``σ'(θ)((1 + g)·late_reward·p − 1)``, positive for ``p > 1/((1 + g)·late_reward)``,
    so from ``θ = 0`` it drives ``p → 1``, where ``J = g·late_reward`` is the minimum of ``J`` over
    the class. Defaults: ``g = 0.9²¹ ≈ 0.109``, ``J(p=1) ≈ 0.438``, dropped fixed point ``p ≈ 0.225``.
    The fields are computed by :mod:`triad.analysis.policy_gradient`.
    """
    if delay < 0:
        raise ValidationError(f"delay = {delay} must be non-negative")
    late, end = delay + 1, delay + 2
    S = delay + 3
    P = np.zeros((S, 2, S))
    R = np.zeros((S, 2))
    P[0, 0, end] = 1.0
    R[0, 0] = 1.0
    P[0, 1, 1 if delay else late] = 1.0
    for s in range(1, late):
        P[s, :, s + 1] = 1.0
    P[late, :, end] = 1.0
    R[late, 1] = late_reward
    P[end, :, end] = 1.0
    terminal = np.zeros(S, bool)
    terminal[end] = True
    mu = np.zeros(S)
    mu[0] = 1.0
    names = ("start", *(f"corridor{i}" for i in range(1, late)), "late", "end")
    mdp = FiniteMDP(P, R, gamma, mu=mu, state_names=names, action_names=("quit", "go"), terminal=terminal,
                    name=f"aliased-decision:gamma={gamma:g},delay={delay},late_reward={late_reward:g}")
    policy_features = np.zeros((S, 2, 1))
    policy_features[:, 1, 0] = 1.0
    return Problem(mdp, policy_features=policy_features,
                   source="after Nota & Thomas (2020), §5 (triad's construction)")


# ----------------------------------------------------------------------------------------- specs
ZOO: dict[str, Callable[..., Problem]] = {
    "chain": chain,
    "gridworld": gridworld,
    "sutton-barto-grid": sutton_barto_grid,
    "garnet": garnet,
    "baird": baird,
    "two-state": two_state,
    "maximization-bias": maximization_bias,
    "a-split": a_split,
    "off-policy-two-state": off_policy_two_state,
    "aliased-decision": aliased_decision,
}
"""Every named MDP; ``make("name:key=value,...")`` builds one."""


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``name:key=value,key=value`` into the name and raw string values."""
    name, _, rest = spec.partition(":")
    return name.strip(), key_values(rest.split(","), f"spec {spec!r}")


_SIZES: dict[str, tuple[str, ...]] = {
    "chain": ("n",), "gridworld": ("rows", "cols"), "garnet": ("S", "A", "b"), "maximization-bias": ("n_actions",),
}
"""The parameters of each zoo entry that are sizes of arrays (checked before anything is allocated)."""

_DENSE_PEAK = 2.25
"""Peak bytes per byte of a dense ``P`` while it is built and validated (measured with tracemalloc:
2.1–2.2× for chain, gridworld and dense Garnet, the validation's temporaries included)."""

_SPARSE_PEAK = 44
"""Peak bytes per stored transition while a sparse Garnet is built and validated (measured: 38–42)."""


def _dense_bytes(S: int, A: int) -> tuple[float, float]:
    """Peak and stored bytes of a dense ``(S, A, S)`` ``P`` with its ``(S, A)`` rewards."""
    stored = 8.0 * S * S * A
    return _DENSE_PEAK * stored + 24.0 * S * A, stored


def _footprint(name: str, kw: dict) -> tuple[float, float, str]:
    """Estimated peak bytes of building zoo entry ``name`` with parameters ``kw``, the bytes of its
    ``P`` alone, and a smaller alternative where there is one."""
    if name == "chain":
        return *_dense_bytes(kw["n"], 2), ""
    if name == "gridworld":
        layout = kw["layout"]
        S = sum(c != "#" for c in layout.replace("/", "")) if layout else kw["rows"] * kw["cols"]
        return *_dense_bytes(S, 4), ""
    if name == "maximization-bias":
        return *_dense_bytes(3, kw["n_actions"]), ""
    if name == "garnet":
        S, A, b = kw["S"], kw["A"], kw["b"]
        entries = float(S) * A * b
        sparse = _SPARSE_PEAK * entries + 8.0 * S * A + (16.0 * S * A * S if S <= 1000 else 0.0)
        if kw["sparse"]:
            return sparse, 12.0 * entries, ""
        peak, stored = _dense_bytes(S, A)  # built from the sparse form, whose temporaries are gone by then
        alternative = (f"sparse=true stores only the S·A·b = {S * A * b:,} transitions "
                       f"({memory.format_bytes(12.0 * entries)}, about {memory.format_bytes(sparse)} to build)")
        return max(sparse, 12.0 * entries + peak), stored, alternative
    return 0.0, 0.0, ""


def _check_sizes(name: str, spec: str, kw: dict) -> None:
    """Refuse sizes no array can have, and arrays the machine cannot hold, before allocating."""
    for key in _SIZES.get(name, ()):
        value = kw[key]
        if isinstance(value, int) and abs(value) >= 2**63:
            shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:8]}…({len(str(value))} digits)"
            raise SpecError(f"{name}: {key} = {shown} is too large to be a size (at most 2^63 − 1)")
    needed, stored, alternative = _footprint(name, kw)
    memory.require(needed, spec, alternative, stored=stored)


def _parse(spec: str) -> tuple[str, Callable[..., Problem], dict]:
    """The zoo entry a spec names, its factory and its typed parameters (sizes checked)."""
    name, raw = parse_spec(spec)
    if name not in ZOO:
        raise SpecError(f"unknown MDP {name!r} (available: {', '.join(ZOO)}, or a path to an .npz file)")
    factory = ZOO[name]
    sig = inspect.signature(factory).parameters
    kwargs = {}
    for key, value in raw.items():
        if key not in sig:
            raise SpecError(f"{name} has no parameter {key!r} (parameters: {', '.join(sig)})")
        kwargs[key] = coerce(value, sig[key].default, f"{name}: {key}")
    _check_sizes(name, spec, {**{k: p.default for k, p in sig.items()}, **kwargs})
    return name, factory, kwargs


def _is_file(spec: str) -> bool:
    return spec.endswith(".npz") or Path(spec).is_file()


def make(spec: str) -> Problem:
    """Build a problem from a spec string or an ``.npz`` path (see the module docstring).

    Sizes are checked before anything is allocated: a spec whose arrays would not fit in the
    memory available is refused with the estimate (and the sparse form, where there is one).

    Raises:
        SpecError: unknown name or parameter, or a value of the wrong type or too large to be a size.
        ValidationError: parameters that make an invalid MDP, an invalid file, or arrays that
            would not fit in memory.
    """
    if _is_file(spec):
        return Problem(FiniteMDP.load(spec), source=spec)
    _, factory, kwargs = _parse(spec)
    return factory(**kwargs)


VALIDATE_BUILD_LIMIT = 64 * 2**20
""":func:`validate` builds specs estimated below this many bytes (and only parses larger ones)."""


def validate(spec: str) -> None:
    """Raise the error :func:`make` would raise for ``spec``, without keeping the MDP.

    Names, parameters, types and sizes are always checked; the MDP itself (whose parameter
    values its factory checks, e.g. ``slip`` in [0, 1]) is built only if it is small
    (:data:`VALIDATE_BUILD_LIMIT`), so checking a sweep's specs up front costs little.
    """
    import warnings

    if _is_file(spec):
        FiniteMDP.load(spec)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", memory.MemoryWarning)  # make() warns when the run builds it
        name, factory, kwargs = _parse(spec)
    sig = inspect.signature(factory).parameters
    if _footprint(name, {**{k: p.default for k, p in sig.items()}, **kwargs})[0] <= VALIDATE_BUILD_LIMIT:
        factory(**kwargs)


def make_mdp(spec: str) -> FiniteMDP:
    """The MDP of :func:`make`."""
    return make(spec).mdp


def describe() -> list[tuple[str, str, str]]:
    """``(name, parameters with defaults, one-line summary)`` of every zoo entry."""
    out = []
    for name, factory in ZOO.items():
        params = ", ".join(f"{k}={p.default}" for k, p in inspect.signature(factory).parameters.items())
        summary = (inspect.getdoc(factory) or "").splitlines()[0].replace("``", "")
        out.append((name, params, summary))
    return out
