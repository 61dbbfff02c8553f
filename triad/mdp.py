"""The finite MDP: one validated type that every part of triad computes with.

Conventions (used throughout triad):

* ``P`` has shape ``(S, A, S)`` when dense, ``P[s, a, s'] = Pr(s' | s, a)``; large problems store it
  as a scipy CSR matrix of shape ``(S·A, S)`` whose row ``s·A + a`` is ``P[s, a, :]``.
* ``R`` has shape ``(S, A)``: the expected reward of taking ``a`` in ``s``.
* Value functions carry the state on the *last* axis, any batch axes before it: ``V: (..., S)``,
  ``Q: (..., S, A)``. Policies are row-stochastic ``(S, A)`` arrays.
* Terminal states are absorbing with zero reward, so for γ < 1 exact values need no special case;
  the ``terminal`` flags tell samplers where an episode ends.
* γ = 1 (undiscounted, episodic) is allowed. Values then exist for a policy only if it is *proper*:
  from every state it reaches a terminal state with probability 1, i.e. ``I − P^π`` restricted to
  the non-terminal states is non-singular (Bertsekas & Tsitsiklis 1996, §2.1, stochastic shortest
  paths). Terminal states are worth 0. :func:`improper_class` finds, by a graph computation, a
  closed class of ``P^π`` without a terminal state (the witness that a policy is improper);
  :func:`trap_states` finds the states from which *some* policy can avoid termination forever.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from triad.errors import ValidationError

PROB_ATOL = 1e-8
"""Tolerance on |Σ_s' P[s, a, s'] − 1| and on policy rows."""


def _at(name: str, idx: tuple[int, ...]) -> str:
    """``P[3, 1]`` for a named array and an index; just ``mu`` for an empty index."""
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]" if len(idx) else name


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_finite(x: np.ndarray, name: str) -> None:
    """Raise naming the first NaN or infinite entry of ``x``."""
    bad = ~np.isfinite(x)
    if bad.any():
        i = _first(bad)
        kind = "NaN" if np.isnan(x[i]) else "infinite"
        raise ValidationError(f"{_at(name, i)} is {kind}")


def check_distribution_rows(x: np.ndarray, name: str, atol: float = PROB_ATOL) -> None:
    """Check that the last axis of ``x`` holds probability distributions; name the first bad row."""
    check_finite(x, name)
    neg = x < 0
    if neg.any():
        i = _first(neg)
        raise ValidationError(f"{_at(name, i)} = {x[i]:.6g} is negative")
    sums = x.sum(axis=-1)
    off = np.abs(sums - 1.0) > atol
    if off.any():
        i = _first(off)
        raise ValidationError(f"{_at(name, i)} sums to {sums[i]:.10g} (expected 1 within {atol:g})")


def _as_float_array(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} is not a numeric array ({exc})") from None
    return arr


def _readonly(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x)
    x.flags.writeable = False
    return x


@dataclasses.dataclass(frozen=True, eq=False)
class FiniteMDP:
    """A finite Markov decision process, discounted or (γ = 1) episodic, validated on construction.

    Args:
        P: transition probabilities, dense ``(S, A, S)`` or scipy sparse ``(S·A, S)``
            (row ``s·A + a`` holds ``P[s, a, :]``).
        R: expected rewards ``(S, A)``, or ``(S, A, S)`` rewards of transitions, which are reduced
            to their expectation ``Σ_s' P[s, a, s'] R[s, a, s']``.
        gamma: discount factor in ``[0, 1]``; at γ = 1 only proper policies (which terminate with
            probability 1, see the module docstring) have values, and they need ``terminal`` flags.
        mu: initial state distribution ``(S,)``; ``None`` means uniform where needed.
        state_names, action_names: optional labels.
        allowed: optional ``(S, A)`` boolean mask of available actions (``None``: all). Rows of
            ``P`` for unavailable actions must still be distributions; they are never used by
            greedy or optimal operators, and policies must give them probability 0.
        terminal: optional ``(S,)`` boolean flags of terminal states. A terminal state must be
            absorbing with zero reward under every action, so values need no special case;
            samplers end episodes there.
        reward_std: optional ``(S, A)`` standard deviation of Gaussian reward noise, used only by
            samplers (exact computations use the expected ``R``).
        name: a label, e.g. the spec string the MDP was built from.

    Raises:
        ValidationError: naming the first offending entry, e.g. ``P[3, 1] sums to 0.9``.
    """

    P: np.ndarray | sp.csr_array
    R: np.ndarray
    gamma: float
    mu: np.ndarray | None = None
    state_names: tuple[str, ...] | None = None
    action_names: tuple[str, ...] | None = None
    allowed: np.ndarray | None = None
    terminal: np.ndarray | None = None
    reward_std: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)
        set_("gamma", _check_gamma(self.gamma))
        P, S, A = _check_P(self.P, self.R)
        set_("P", P)
        set_("R", _check_R(self.R, P, S, A))
        if self.mu is not None:
            mu = _as_float_array(self.mu, "mu")
            if mu.shape != (S,):
                raise ValidationError(f"mu has shape {mu.shape}, expected ({S},)")
            check_distribution_rows(mu, "mu")
            set_("mu", _readonly(mu))
        for field, n in (("state_names", S), ("action_names", A)):
            names = getattr(self, field)
            if names is not None:
                names = tuple(str(x) for x in names)
                if len(names) != n:
                    raise ValidationError(f"{field} has {len(names)} entries, expected {n}")
                set_(field, names)
        if self.allowed is not None:
            allowed = np.asarray(self.allowed, dtype=bool)
            if allowed.shape != (S, A):
                raise ValidationError(f"allowed has shape {allowed.shape}, expected ({S}, {A})")
            none = ~allowed.any(axis=1)
            if none.any():
                raise ValidationError(f"allowed[{int(np.argmax(none))}] allows no action")
            set_("allowed", None if allowed.all() else _readonly(allowed))
        if self.terminal is not None:
            terminal = np.asarray(self.terminal, dtype=bool)
            if terminal.shape != (S,):
                raise ValidationError(f"terminal has shape {terminal.shape}, expected ({S},)")
            self._check_terminal(terminal)
            set_("terminal", _readonly(terminal))
        if self.reward_std is not None:
            std = _as_float_array(self.reward_std, "reward_std")
            if std.shape != (S, A):
                raise ValidationError(f"reward_std has shape {std.shape}, expected ({S}, {A})")
            check_finite(std, "reward_std")
            if (std < 0).any():
                raise ValidationError(f"{_at('reward_std', _first(std < 0))} is negative")
            set_("reward_std", _readonly(std))

    def _check_terminal(self, terminal: np.ndarray) -> None:
        for s in np.flatnonzero(terminal):
            stay = self.P_flat[s * self.A : (s + 1) * self.A, [s]]
            stay = np.asarray(stay.todense() if sp.issparse(stay) else stay).ravel()
            if np.any(np.abs(stay - 1.0) > PROB_ATOL):
                raise ValidationError(f"terminal state {s} is not absorbing (P[{s}, a, {s}] < 1)")
            if np.any(self.R[s] != 0.0):
                raise ValidationError(f"terminal state {s} has non-zero reward R[{s}]")

    # ----------------------------------------------------------------------------------- shape
    @property
    def S(self) -> int:
        """Number of states."""
        return int(self.R.shape[0])

    @property
    def A(self) -> int:
        """Number of actions."""
        return int(self.R.shape[1])

    @property
    def sparse(self) -> bool:
        """Whether ``P`` is stored as a sparse ``(S·A, S)`` CSR matrix."""
        return sp.issparse(self.P)

    @property
    def P_flat(self) -> np.ndarray | sp.csr_array:
        """``P`` as an ``(S·A, S)`` matrix (a view when dense)."""
        return self.P if self.sparse else self.P.reshape(self.S * self.A, self.S)

    @property
    def nnz(self) -> int:
        """Number of stored transition probabilities."""
        return int(self.P.nnz) if self.sparse else int(self.P.size)

    @property
    def initial(self) -> np.ndarray:
        """The initial distribution ``mu``, uniform over states if none was given."""
        return self.mu if self.mu is not None else np.full(self.S, 1.0 / self.S)

    # ----------------------------------------------------------------------------- expectations
    def expect(self, V: np.ndarray) -> np.ndarray:
        """``E[V(s') | s, a] = Σ_s' P[s, a, s'] V[..., s']``.

        Args:
            V: ``(..., S)`` values.
        Returns:
            ``(..., S, A)`` expected next values.
        """
        V = np.asarray(V, dtype=np.float64)
        if V.shape[-1:] != (self.S,):
            raise ValidationError(f"value array has shape {V.shape}, expected (..., {self.S})")
        batch = V.shape[:-1]
        flat = V.reshape(-1, self.S)
        out = (self.P_flat @ flat.T).T
        return np.asarray(out).reshape(*batch, self.S, self.A)

    # ---------------------------------------------------------------------------- conversions
    def to_sparse(self) -> FiniteMDP:
        """The same MDP with ``P`` stored as CSR ``(S·A, S)``."""
        if self.sparse:
            return self
        return dataclasses.replace(self, P=sp.csr_array(self.P_flat))

    def to_dense(self) -> FiniteMDP:
        """The same MDP with a dense ``(S, A, S)`` ``P`` (memory ``8·S²·A`` bytes)."""
        if not self.sparse:
            return self
        dense = self.P.toarray().reshape(self.S, self.A, self.S)
        return dataclasses.replace(self, P=dense)

    def with_gamma(self, gamma: float) -> FiniteMDP:
        """The same MDP with another discount factor."""
        return dataclasses.replace(self, gamma=gamma)

    # -------------------------------------------------------------------------------------- IO
    def save(self, path: str | os.PathLike) -> Path:
        """Write the MDP to ``.npz`` atomically (arrays ``P``, ``R``, ``gamma`` and optional ones).

        A sparse ``P`` is stored as ``P_data``, ``P_indices``, ``P_indptr`` and ``P_shape``.
        """
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"R": np.asarray(self.R), "gamma": np.float64(self.gamma)}
        if self.sparse:
            arrays.update(P_data=self.P.data, P_indices=self.P.indices, P_indptr=self.P.indptr,
                          P_shape=np.array(self.P.shape))
        else:
            arrays["P"] = np.asarray(self.P)
        for key in ("mu", "allowed", "terminal", "reward_std"):
            if getattr(self, key) is not None:
                arrays[key] = np.asarray(getattr(self, key))
        for key in ("state_names", "action_names"):
            if getattr(self, key) is not None:
                arrays[key] = np.array(getattr(self, key))
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
            np.savez_compressed(tmp, **arrays)
        os.replace(tmp.name, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FiniteMDP:
        """Read an MDP written by :meth:`save` (or any ``.npz`` with ``P``, ``R``, ``gamma``).

        Raises:
            ValidationError: naming the file and what is wrong with it: missing, empty, not an
                ``.npz`` archive (e.g. a single ``.npy`` array), an array missing, stored as Python
                objects or as text where numbers belong, or an invalid MDP.
        """
        path = Path(path)
        if not path.exists():
            raise ValidationError(f"MDP file {path} does not exist")
        if path.is_file() and path.stat().st_size == 0:
            raise ValidationError(f"MDP file {path} is empty (0 bytes): expected an .npz archive with P, R and gamma")
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            # numpy reads a file that is no .npy/.npz as a pickle, which allow_pickle=False refuses.
            why = "not an .npz archive of arrays" if "pickle" in str(exc) else " ".join(str(exc).split())
            raise ValidationError(f"{path} is not a readable .npz file ({why})") from None
        if isinstance(data, np.ndarray):
            raise ValidationError(f"{path} holds a single array of shape {data.shape} (an .npy file), not an MDP: "
                                  "expected an .npz archive with arrays P, R and gamma (see FiniteMDP.save)")
        with data:
            arrays = _read_npz_arrays(path, data)
        if not arrays:
            raise ValidationError(f"{path} holds no arrays: expected P, R and gamma")
        keys = set(arrays)
        if "P" in keys:
            P = arrays["P"]
        elif {"P_data", "P_indices", "P_indptr", "P_shape"} <= keys:
            try:
                P = sp.csr_array((arrays["P_data"], arrays["P_indices"], arrays["P_indptr"]),
                                 shape=tuple(int(n) for n in arrays["P_shape"]))
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"{path}: the sparse P (P_data, P_indices, P_indptr, P_shape) is "
                                      f"inconsistent ({' '.join(str(exc).split())})") from None
        else:
            raise ValidationError(f"{path} has no array 'P' (found: {', '.join(sorted(keys))})")
        for key in ("R", "gamma"):
            if key not in keys:
                raise ValidationError(f"{path} has no array '{key}' (found: {', '.join(sorted(keys))})")
        optional = {k: arrays[k] for k in ("mu", "allowed", "terminal", "reward_std",
                                            "state_names", "action_names") if k in keys}
        gamma = arrays["gamma"]
        if gamma.size != 1:
            raise ValidationError(f"{path}: gamma must be a scalar, got shape {gamma.shape}")
        try:
            return cls(P=P, R=arrays["R"], gamma=float(gamma.reshape(())), name=str(path), **optional)
        except ValidationError as exc:
            raise ValidationError(f"{path}: {exc}") from None


_NPZ_KINDS = {"P": "biuf", "R": "biuf", "gamma": "biuf", "mu": "biuf", "reward_std": "biuf", "P_data": "biuf",
              "P_indices": "iu", "P_indptr": "iu", "P_shape": "iu", "allowed": "b", "terminal": "b"}
"""dtype kinds (numpy ``dtype.kind``) each array of an MDP file may have (booleans and integers are
numbers too); names (``state_names``, ``action_names``) may be anything."""


def _read_npz_arrays(path: Path, data: Any) -> dict[str, np.ndarray]:
    """Every array of an open ``.npz`` archive, refusing pickled objects and text where numbers belong."""
    arrays = {}
    for key in data.files:
        try:
            arr = data[key]
        except ValueError as exc:
            if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
                raise ValidationError(f"{path}: array {key!r} holds Python objects (dtype=object), which triad "
                                      "does not unpickle; store it as a numeric array") from None
            raise ValidationError(f"{path}: array {key!r} cannot be read ({' '.join(str(exc).split())})") from None
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValidationError(f"{path}: array {key!r} cannot be read ({' '.join(str(exc).split())})") from None
        kinds = _NPZ_KINDS.get(key)
        if kinds is not None and arr.dtype.kind not in kinds:
            what = "text" if arr.dtype.kind in "US" else f"dtype {arr.dtype}"
            first = f" (first entry {arr.reshape(-1)[0].item()!r})" if arr.size else ""
            need = {"biuf": "a number" if key == "gamma" else "numbers", "iu": "integers", "b": "booleans"}[kinds]
            raise ValidationError(f"{path}: {key} is stored as {what}{first}; expected {need}")
        arrays[key] = arr
    return arrays


def _check_gamma(gamma: Any) -> float:
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise ValidationError(f"gamma = {gamma!r} is not a number") from None
    if not (0.0 <= g <= 1.0):
        raise ValidationError(f"gamma = {g:g} is outside [0, 1]")
    return g


def _check_P(P: Any, R: Any) -> tuple[np.ndarray | sp.csr_array, int, int]:
    if sp.issparse(P):
        R_shape = np.shape(R)
        if len(R_shape) not in (2, 3):
            raise ValidationError(f"R has shape {R_shape}, expected (S, A) or (S, A, S)")
        S, A = R_shape[:2]
        if P.shape != (S * A, S):
            raise ValidationError(f"sparse P has shape {P.shape}, expected (S·A, S) = ({S * A}, {S}) "
                                  f"for R of shape {R_shape}")
        P = sp.csr_array(P, dtype=np.float64)
        P.sum_duplicates()
        P.sort_indices()
        if P.nnz and P.nnz < np.iinfo(np.int32).max:
            P.indices = P.indices.astype(np.int32, copy=False)
            P.indptr = P.indptr.astype(np.int32, copy=False)
        bad = ~np.isfinite(P.data) | (P.data < 0)
        if bad.any():
            j = int(np.argmax(bad))
            row = int(np.searchsorted(P.indptr, j, side="right") - 1)
            where = _at("P", (row // A, row % A, int(P.indices[j])))
            value = P.data[j]
            what = "is NaN" if np.isnan(value) else ("is infinite" if np.isinf(value) else f"= {value:.6g} is negative")
            raise ValidationError(f"{where} {what}")
        sums = np.asarray(P.sum(axis=1)).ravel()
        off = np.abs(sums - 1.0) > PROB_ATOL
        if off.any():
            row = int(np.argmax(off))
            raise ValidationError(f"P[{row // A}, {row % A}] sums to {sums[row]:.10g} "
                                  f"(expected 1 within {PROB_ATOL:g})")
        P.data.flags.writeable = False
        return P, S, A
    P = _as_float_array(P, "P")
    if P.ndim != 3 or P.shape[0] != P.shape[2]:
        raise ValidationError(f"P has shape {P.shape}, expected (S, A, S)")
    if P.shape[0] == 0 or P.shape[1] == 0:
        raise ValidationError(f"P has shape {P.shape}: an MDP needs at least one state and action")
    check_distribution_rows(P, "P")
    return _readonly(P), P.shape[0], P.shape[1]


def _check_R(R: Any, P: np.ndarray | sp.csr_array, S: int, A: int) -> np.ndarray:
    R = _as_float_array(R, "R")
    check_finite(R, "R")
    if R.shape == (S, A, S):
        if sp.issparse(P):
            R = np.asarray(P.multiply(R.reshape(S * A, S)).sum(axis=1)).reshape(S, A)
        else:
            R = np.einsum("sat,sat->sa", P, R)
    elif R.shape != (S, A):
        raise ValidationError(f"R has shape {R.shape}, expected ({S}, {A}) or ({S}, {A}, {S})")
    return _readonly(R)


def load_npy(path: str | os.PathLike, what: str) -> np.ndarray:
    """Read one array from an ``.npy`` file; ``what`` names it in the error (``"policy"``, ``"features"``)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{what} file {path} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{what} file {path} is not a readable .npy array ({exc})") from None


def validate_policy(pi: Any, mdp: FiniteMDP, name: str = "policy") -> np.ndarray:
    """Return ``pi`` as a read-only float ``(S, A)`` array after checking it is a policy of ``mdp``.

    Raises:
        ValidationError: wrong shape, NaN or negative entries, rows not summing to 1, or
            probability on an action ``mdp.allowed`` forbids.
    """
    pi = _as_float_array(pi, name)
    if pi.shape != (mdp.S, mdp.A):
        raise ValidationError(f"{name} has shape {pi.shape}, expected (S, A) = ({mdp.S}, {mdp.A})")
    check_distribution_rows(pi, name)
    if mdp.allowed is not None:
        forbidden = (pi > 0) & ~mdp.allowed
        if forbidden.any():
            s, a = _first(forbidden)
            raise ValidationError(f"{name}[{s}, {a}] = {pi[s, a]:.6g} but action {a} is not allowed "
                                  f"in state {s}")
    return _readonly(pi)


def uniform_policy(mdp: FiniteMDP) -> np.ndarray:
    """The policy that picks uniformly among the allowed actions of each state: ``(S, A)``."""
    mask = np.ones((mdp.S, mdp.A)) if mdp.allowed is None else mdp.allowed.astype(np.float64)
    return _readonly(mask / mask.sum(axis=1, keepdims=True))


# ------------------------------------------------------------------------- termination (γ = 1)
def _terminal_mask(mdp: FiniteMDP) -> np.ndarray:
    return np.zeros(mdp.S, bool) if mdp.terminal is None else np.asarray(mdp.terminal)


def describe_states(mdp: FiniteMDP, states: np.ndarray, limit: int = 6) -> str:
    """``state 3`` or ``states 3, 4 (A, B)``: indices, with names when the MDP has them."""
    states = np.asarray(states, dtype=np.int64)
    shown = [int(s) for s in states[:limit]]
    more = f", … ({len(states)} states)" if len(states) > limit else ""
    text = ("state " if len(states) == 1 else "states ") + ", ".join(map(str, shown)) + more
    if mdp.state_names is not None:
        names = ", ".join(mdp.state_names[s] for s in shown) + (", …" if more else "")
        text += f" {names}" if names.startswith("(") else f" ({names})"
    return text


def improper_class(mdp: FiniteMDP, P_pi: np.ndarray | sp.sparray) -> np.ndarray | None:
    """A closed class of the chain ``P^π`` that holds no terminal state, or ``None`` if ``π`` is proper.

    A finite chain reaches the terminal set with probability 1 from every state iff each of its
    closed (recurrent) classes contains a terminal state; terminal states are absorbing, so a
    closed class either is one terminal state or has none. Found from the strongly connected
    components of the support graph of ``P^π`` (a component is closed when no edge leaves it),
    without factorising ``I − P^π``. Returns the sorted states of the class holding the lowest
    such state.

    Args:
        P_pi: ``(S, S)`` transition matrix of the policy, dense or sparse.
    """
    rows, cols = sp.csr_array(P_pi).nonzero()  # explicit zeros are no edges
    S = mdp.S
    graph = sp.csr_array((np.ones(len(rows), np.int8), (rows, cols)), shape=(S, S))
    n, labels = csgraph.connected_components(graph, directed=True, connection="strong")
    leaves = np.zeros(n, bool)
    leaves[labels[rows[labels[rows] != labels[cols]]]] = True
    holds_terminal = np.zeros(n, bool)
    holds_terminal[labels[_terminal_mask(mdp)]] = True
    bad = ~leaves & ~holds_terminal
    if not bad.any():
        return None
    first = int(np.flatnonzero(bad[labels])[0])
    return np.flatnonzero(labels == labels[first])


def check_proper(mdp: FiniteMDP, P_pi: np.ndarray | sp.sparray, what: str = "this policy") -> None:
    """Raise a ``ValidationError`` naming a closed class without terminal state if ``P^π`` has one."""
    trapped = improper_class(mdp, P_pi)
    if trapped is not None:
        verb = "forms" if len(trapped) == 1 else "form"
        raise ValidationError(f"with γ = 1 every episode must terminate, but under {what} "
                              f"{describe_states(mdp, trapped)} {verb} a closed class with no terminal state, "
                              f"so its values are undefined (give a proper policy, flag an absorbing state "
                              f"terminal, or use γ < 1)")


def _support(mdp: FiniteMDP) -> tuple[sp.csc_array, np.ndarray]:
    """The support of ``P`` as a CSC ``(S·A, S)`` matrix (column ``s'`` lists the rows leading to it)
    and the flat ``(S·A,)`` mask of allowed rows."""
    rows, cols = sp.csr_array(mdp.P_flat).nonzero()
    support = sp.csc_array((np.ones(len(rows), np.int8), (rows, cols)), shape=(mdp.S * mdp.A, mdp.S))
    allowed = np.ones(mdp.S * mdp.A, bool) if mdp.allowed is None else mdp.allowed.ravel()
    return support, allowed


def _rows_into(support: sp.csc_array, states: np.ndarray) -> np.ndarray:
    """Rows ``s·A + a`` of ``P`` with positive probability of moving into any of ``states``."""
    starts, stops = support.indptr[states], support.indptr[states + 1]
    lengths = stops - starts
    offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
    return support.indices[offsets]


def trap_states(mdp: FiniteMDP) -> np.ndarray:
    """The largest set ``C`` of non-terminal states in which every state has an allowed action whose
    successors all lie in ``C``: a ``(S,)`` boolean mask.

    Some stationary policy is improper iff ``C`` is non-empty: choosing such an action in every
    state of ``C`` never leaves ``C``; conversely the closed class of an improper deterministic
    policy is a set with this property, so it lies in ``C``. Computed as a greatest fixed point by
    removing, in waves, states all of whose allowed actions can leave the current set (starting
    from the terminal states), in time linear in the number of transitions.
    """
    S, A = mdp.S, mdp.A
    support, ok = _support(mdp)
    ok = ok.copy()  # rows that so far stay inside C
    inside = ~_terminal_mask(mdp)
    wave = np.flatnonzero(~inside)
    while wave.size:
        rows = _rows_into(support, wave)
        ok[rows] = False
        touched = np.unique(rows // A)
        touched = touched[inside[touched]]
        wave = touched[~ok.reshape(S, A)[touched].any(axis=1)]
        inside[wave] = False
    return inside


def proper_actions(mdp: FiniteMDP) -> np.ndarray:
    """A deterministic proper policy ``(S,)`` (actions), or a ``ValidationError`` if none exists.

    Backward breadth-first search from the terminal states over allowed actions: a state at
    distance ``k + 1`` takes the action most likely to move to distance ≤ ``k`` (so that the
    policy's expected episode is not needlessly long). From
    every state a positive-probability path to termination of at most ``S`` steps follows, so the
    policy terminates with probability 1 (Bertsekas & Tsitsiklis 1996, §2.1). A state the search
    never reaches cannot terminate under any policy.
    """
    S, A = mdp.S, mdp.A
    support, allowed = _support(mdp)
    terminal = _terminal_mask(mdp)
    actions = np.full(S, -1, dtype=np.int64)
    actions[terminal] = np.argmax(allowed.reshape(S, A)[terminal], axis=1)
    flat = mdp.P_flat
    wave = np.flatnonzero(terminal)
    while wave.size:
        rows = np.unique(_rows_into(support, wave))
        rows = rows[allowed[rows] & (actions[rows // A] < 0)]
        # Among a state's actions that can reach the layer below, take the one most likely to.
        mass = np.asarray(flat[rows] @ (actions >= 0).astype(np.float64)).ravel()
        order = np.lexsort((-mass, rows // A))
        states, first = np.unique((rows // A)[order], return_index=True)
        actions[states] = rows[order][first] % A
        wave = states
    stuck = np.flatnonzero(actions < 0)
    if stuck.size:
        raise ValidationError(f"with γ = 1 every episode must terminate, but from {describe_states(mdp, stuck)} "
                              f"no policy can reach a terminal state, so optimal values are not finite "
                              f"(flag an absorbing state terminal or use γ < 1)")
    return actions
