"""Gymnasium environments over triad's finite MDPs, and one constructor for any environment by name.

* :class:`FiniteEnv` — a ``gymnasium.vector.VectorEnv`` of ``num_envs`` streams of a zoo problem
  (``"chain:n=5"``, ``"baird"``), an ``.npz`` MDP, a :class:`~triad.zoo.Problem` or a
  :class:`~triad.mdp.FiniteMDP`, all advanced in one numpy call by
  :func:`triad.sampling.step_streams` — the body of :func:`triad.sampling.rollout`, so an agent
  sees exactly the process whose V^π, Q^π, ∇J and visitation the exact solvers compute (the
  *tabular twin*).
* :class:`FiniteMDPEnv` — the single-environment version (passes ``gymnasium.utils.env_checker.check_env``).
* :func:`make_env` — a zoo spec or ``.npz`` path gives a :class:`FiniteEnv`; any other string is a
  gymnasium id built by ``gymnasium.make_vec`` (the id's own vector entry point where it has one,
  as CartPole-v1 does, ``SyncVectorEnv`` otherwise). Checked: CartPole-v1, Acrobot-v1, Pendulum-v1,
  MountainCarContinuous-v0; MuJoCo ids need the ``mujoco`` extra (``pip install 'triad[mujoco]'``).

Importing this module registers ``"triad/FiniteMDP-v0"`` (idempotently), so that
``gymnasium.make("triad/FiniteMDP-v0", spec="baird")`` and
``gymnasium.make_vec("triad/FiniteMDP-v0", num_envs=4, spec="chain:n=5", obs="onehot")`` work; the
latter uses :class:`FiniteEnv` itself. Gymnasium ≥ 1.0 loads no plugin entry points, so a program
that never imports triad writes the module into the id instead: gymnasium imports it before the
lookup, ``gymnasium.make("triad.envs:triad/FiniteMDP-v0", spec="baird")``.

Conventions of both environments:

* observations (``obs=``): ``"onehot"`` — float32 ``(S,)`` indicator of the state; ``"features"``
  — the problem's row ``Φ[s]`` as float32 ``(d,)`` (zoo entries that prescribe features, e.g.
  ``baird``, ``two-state``); ``"state"`` — the integer state, ``Discrete(S)``. ``obs_table`` holds
  the observation of every state, ``(S, obs_dim)`` float32 (``(S,)`` int64 for ``"state"``), so
  ``policy(obs_table)`` is the agent's whole policy table.
* rewards are float64 (the dtype of ``mdp.R`` and of ``SyncVectorEnv``), Gaussian noise of standard
  deviation ``mdp.reward_std`` where the MDP declares it.
* ``terminated``: the transition entered a terminal state; ``truncated``: the episode reached
  ``max_episode_steps`` (``None``: no limit) in a non-terminal state. The two are never both true
  (triad's sampling convention; gymnasium's ``TimeLimit`` wrapper would set both when a terminal
  state is reached at the limit — a terminal arrival means "do not bootstrap" either way).
* forbidden actions (``mdp.allowed``): taking one raises :class:`~triad.errors.ValidationError`
  naming the stream, state and action — the exact quantities of the twin are defined only for
  policies that respect the mask. When the MDP has a mask, every ``reset``/``step`` info carries
  ``info["action_mask"]``: the allowed actions of the state the next action is taken in (``(B, A)``
  bool for :class:`FiniteEnv`, ``(A,)`` for :class:`FiniteMDPEnv`, as Taxi-v3's), and
  ``env.allowed`` holds the whole ``(S, A)`` table.
* initial states are drawn from ``mdp.mu`` (uniform if the MDP has none).
* randomness only from ``reset(seed=)`` (gymnasium's ``np_random``, one Generator for all
  streams): the same seed and actions give bit-identical observations, rewards and flags. Both
  environments pickle (generator state included), so a restored copy continues the same streams.
"""

from __future__ import annotations

import difflib
import importlib
import os
from typing import Any, ClassVar

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from triad import zoo
from triad.errors import SpecError, ValidationError
from triad.mdp import FiniteMDP
from triad.sampling import Sampler, step_streams

ENV_ID = "triad/FiniteMDP-v0"
"""The gymnasium id of :class:`FiniteMDPEnv` (single) and :class:`FiniteEnv` (vector entry point)."""

OBS_MODES = ("onehot", "features", "state")
"""Observation modes of the finite environments."""

Source = str | os.PathLike | zoo.Problem | FiniteMDP
"""What a finite environment is built from: a zoo spec, an ``.npz`` path, a Problem or an MDP."""


# ----------------------------------------------------------------------------------- the table
def _problem(source: Source) -> zoo.Problem:
    if isinstance(source, zoo.Problem):
        return source
    if isinstance(source, FiniteMDP):
        return zoo.Problem(source)
    if isinstance(source, (str, os.PathLike)):
        return zoo.make(os.fspath(source))
    raise SpecError(f"a finite environment needs a zoo spec, an .npz path, a Problem or a FiniteMDP, "
                    f"got {type(source).__name__}")


def observation_space(problem: zoo.Problem, obs: str) -> tuple[spaces.Space, np.ndarray | None]:
    """The space of one observation and, except for ``onehot``, the observation of every state.

    Returns:
        ``onehot`` → ``Box(0, 1, (S,))`` float32 and ``None`` (the table ``eye(S)`` is built only
        when asked for: ``4·S²`` bytes); ``features`` → the ``Box`` spanned by the columns of Φ and
        ``Φ`` as float32 ``(S, d)``; ``state`` → ``Discrete(S)`` and ``arange(S)`` int64.

    Raises:
        SpecError: an unknown mode, or ``features`` for a problem that prescribes none.
    """
    S = problem.mdp.S
    if obs == "onehot":
        return spaces.Box(0.0, 1.0, (S,), np.float32), None
    if obs == "features":
        if problem.features is None:
            raise SpecError(f"obs='features': {problem.mdp.name or 'this MDP'} prescribes no features "
                            f"(use obs='onehot' or obs='state')")
        table = np.array(problem.features, dtype=np.float32)
        return spaces.Box(table.min(axis=0), table.max(axis=0), (table.shape[1],), np.float32), table
    if obs == "state":
        return spaces.Discrete(S), np.arange(S, dtype=np.int64)
    raise SpecError(f"obs={obs!r} is not an observation mode (choose from {', '.join(OBS_MODES)})")


def _check_limit(max_episode_steps: int | None) -> int | None:
    if max_episode_steps is None:
        return None
    if isinstance(max_episode_steps, bool) or not float(max_episode_steps).is_integer() or max_episode_steps < 1:
        raise ValidationError(f"max_episode_steps = {max_episode_steps!r} must be a positive integer or None")
    return int(max_episode_steps)


class _Finite:
    """What both finite environments share: the problem, its sampler, tables and spaces."""

    def _setup(self, source: Source, obs: str, max_episode_steps: int | None, render_mode: str | None) -> None:
        if render_mode is not None:
            raise SpecError(f"render_mode={render_mode!r}: finite MDP environments do not render")
        self.problem = _problem(source)
        self.mdp = self.problem.mdp
        self.obs_mode = obs
        self._single_obs_space, self._table = observation_space(self.problem, obs)
        self.allowed = np.ones((self.mdp.S, self.mdp.A), bool) if self.mdp.allowed is None else self.mdp.allowed
        self.max_episode_steps = _check_limit(max_episode_steps)
        self._sampler = Sampler(self.mdp)
        self._s: np.ndarray | None = None
        self._age: np.ndarray | None = None

    @property
    def obs_table(self) -> np.ndarray:
        """``(S, obs_dim)`` float32 observation of every state (``(S,)`` int64 for ``state``), read-only."""
        if self._table is None:
            self._table = np.eye(self.mdp.S, dtype=np.float32)
        self._table.flags.writeable = False
        return self._table

    def _observe(self, s: np.ndarray) -> np.ndarray:
        """Fresh observations of the states ``s`` ``(B,)``: ``(B, obs_dim)`` or ``(B,)``."""
        if self.obs_mode != "onehot":
            return self._table[s]
        out = np.zeros((len(s), self.mdp.S), np.float32)
        out[np.arange(len(s)), s] = 1.0
        return out

    def _check_actions(self, a: np.ndarray, ignore: np.ndarray | None = None) -> None:
        """Raise naming the first stream whose action is out of range or forbidden (``ignore``: streams not checked)."""
        A = self.mdp.A
        if a.dtype.kind not in "iu":
            raise ValidationError(f"actions must be integers in [0, {A}), got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() >= A):
            bad = (a < 0) | (a >= A)
            i = int(np.argmax(bad))
            raise ValidationError(f"stream {i}: action {a.flat[i]} is outside [0, {A})")
        if self.mdp.allowed is not None:
            bad = ~self.mdp.allowed[self._s, a]
            if ignore is not None:
                bad &= ~ignore
            if bad.any():
                i = int(np.argmax(bad))
                s = int(self._s[i])
                name = f" ({self.mdp.state_names[s]})" if self.mdp.state_names else ""
                raise ValidationError(f"stream {i}: action {int(a[i])} is not allowed in state {s}{name} "
                                      f"(allowed: {np.flatnonzero(self.mdp.allowed[s]).tolist()})")

    def _info(self) -> dict[str, Any]:
        return {} if self.mdp.allowed is None else {"action_mask": self.mdp.allowed[self._s]}


# ------------------------------------------------------------------------------------- vector
def _autoreset(mode: AutoresetMode | str) -> AutoresetMode:
    if isinstance(mode, AutoresetMode):
        return mode
    for m in AutoresetMode:
        if str(mode).lower().replace("_", "") in (m.value.lower(), m.name.lower().replace("_", "")):
            return m
    raise SpecError(f"autoreset_mode={mode!r} is not one of {', '.join(m.name for m in AutoresetMode)}")


class FiniteEnv(_Finite, VectorEnv):
    """``num_envs`` streams of a finite MDP advanced in one numpy call (gymnasium's vector-env API).

    Args:
        spec: a zoo spec (``"chain:n=5"``), an ``.npz`` path, a :class:`~triad.zoo.Problem` or a
            :class:`~triad.mdp.FiniteMDP`.
        num_envs: the number of streams ``B``.
        obs: ``"onehot"``, ``"features"`` or ``"state"`` (see the module docstring).
        max_episode_steps: the time limit (``None``: none).
        autoreset_mode: what ``step`` does after an episode ends (gymnasium's :class:`AutoresetMode`
            or its name):

            * ``NEXT_STEP`` (default, as gymnasium's vector envs): the step that ends an episode
              returns the final observation; the following ``step`` ignores that stream's action
              and returns its first observation of the new episode, reward 0, both flags false.
            * ``SAME_STEP``: the ending step returns the new episode's first observation and puts
              the final one in ``info["final_obs"]`` (object array, ``None`` elsewhere) with the
              mask ``info["_final_obs"]`` (and ``info["final_info"]``/``"_final_info"``), as
              ``SyncVectorEnv`` does. This is exactly the stream :func:`triad.sampling.rollout` runs.
            * ``DISABLED``: no reset; restart streams with ``reset(options={"reset_mask": mask})``.
              A finished stream stepped without a reset continues from its last state.

    Attributes:
        problem, mdp: what the streams sample (``mdp`` = ``problem.mdp``).
        obs_table: ``(S, obs_dim)`` float32 observation of every state (``(S,)`` int64 for ``state``).
        allowed: ``(S, A)`` bool mask of available actions (all true if the MDP has none).
        max_episode_steps, autoreset_mode, num_envs.
        single_observation_space, observation_space: of one stream / of the batch.
        single_action_space, action_space: ``Discrete(A)`` / ``MultiDiscrete([A] * B)``.

    ``step(actions)`` takes ``(B,)`` integers and returns ``obs (B, obs_dim) float32`` (``(B,)``
    int64 for ``state``), ``reward (B,) float64``, ``terminated (B,) bool``, ``truncated (B,) bool``
    and ``info``. A step of 64 streams of a zoo problem costs 40–100 µs on a loaded 2-core machine,
    about what gymnasium's own ``CartPoleVectorEnv`` costs there (``SyncVectorEnv``: ~1 ms).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, spec: Source = "chain", num_envs: int = 1, *, obs: str = "onehot",
                 max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, render_mode: str | None = None):
        if isinstance(num_envs, bool) or not float(num_envs).is_integer() or num_envs < 1:
            raise ValidationError(f"num_envs = {num_envs!r} must be a positive integer")
        self._setup(spec, obs, max_episode_steps, render_mode)
        self.num_envs = int(num_envs)
        self.autoreset_mode = _autoreset(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.single_observation_space = self._single_obs_space
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.single_action_space = spaces.Discrete(self.mdp.A)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._pending = np.zeros(self.num_envs, bool)

    @property
    def states(self) -> np.ndarray:
        """``(B,)`` the state each stream's next action is taken in (a copy)."""
        if self._s is None:
            raise gymnasium.error.ResetNeeded("call reset() before reading the states")
        return self._s.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Draw every stream's start from ``mu`` (or only those in ``options["reset_mask"]``).

        ``seed`` (re)seeds ``np_random``, the environment's only random source.
        """
        super().reset(seed=seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if options:
            raise SpecError(f"FiniteEnv.reset: unknown option(s) {', '.join(map(repr, options))} "
                            f"(known: 'reset_mask')")
        s0 = self._sampler.initial_states(self.np_random, (self.num_envs,))
        if mask is None or self._s is None:
            if mask is not None:
                raise gymnasium.error.ResetNeeded("reset_mask needs a previous full reset()")
            self._s, self._age = s0, np.zeros(self.num_envs, np.int64)
            self._pending = np.zeros(self.num_envs, bool)
        else:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_:
                raise ValidationError(f"reset_mask must be a bool array of shape ({self.num_envs},), "
                                      f"got {mask.dtype} {mask.shape}")
            self._s = np.where(mask, s0, self._s)
            self._age = np.where(mask, 0, self._age)
            self._pending = self._pending & ~mask
        return self._observe(self._s), self._info()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Advance every stream one step with ``actions`` ``(B,)`` (see the class docstring)."""
        if self._s is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        a = np.asarray(actions)
        if a.shape != (self.num_envs,):
            raise ValidationError(f"actions have shape {a.shape}, expected ({self.num_envs},): one per stream")
        pending = self._pending if self.autoreset_mode is AutoresetMode.NEXT_STEP else None
        restart = pending is not None and pending.any()
        self._check_actions(a, pending if restart else None)
        s = self._s
        step = step_streams(self.np_random, self._sampler, s, a, self._age, self.max_episode_steps)
        r, term, trunc = step.r_t, step.terminated_t, step.truncated_t
        info = {}
        if self.autoreset_mode is AutoresetMode.NEXT_STEP:
            shown, self._s, self._age = step.next_s_t, step.s_tp1, step.age_tp1
            if restart:  # these streams ended last step: they now show their restart state
                shown, self._s = np.where(pending, s, shown), np.where(pending, s, self._s)
                self._age = np.where(pending, 0, self._age)
                r, term, trunc = np.where(pending, 0.0, r), term & ~pending, trunc & ~pending
            self._pending = term | trunc
        elif self.autoreset_mode is AutoresetMode.SAME_STEP:
            shown = self._s = step.s_tp1
            self._age = step.age_tp1
            done = term | trunc
            if done.any():
                final = np.full(self.num_envs, None, dtype=object)
                ended = np.flatnonzero(done)
                for i, row in zip(ended, self._observe(step.next_s_t[ended]), strict=True):
                    final[i] = row
                info = {"final_obs": final, "_final_obs": done, "final_info": {}, "_final_info": done.copy()}
        else:
            shown = self._s = step.next_s_t  # no restart: a finished stream waits for reset_mask
            self._age = step.age_tp1
        if self.mdp.allowed is not None:
            info["action_mask"] = self.mdp.allowed[self._s]
        return self._observe(shown), r, term, trunc, info


# ------------------------------------------------------------------------------------- single
class FiniteMDPEnv(_Finite, gymnasium.Env):
    """One stream of a finite MDP as a ``gymnasium.Env``; the arguments are those of :class:`FiniteEnv`.

    No autoreset: after ``terminated`` or ``truncated`` call ``reset()`` (stepping on continues from
    the last state, as a new episode). ``step`` returns ``(obs, float reward, bool, bool, info)``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, spec: Source = "chain", *, obs: str = "onehot", max_episode_steps: int | None = None,
                 render_mode: str | None = None):
        self._setup(spec, obs, max_episode_steps, render_mode)
        self.observation_space = self._single_obs_space
        self.action_space = spaces.Discrete(self.mdp.A)

    @property
    def state(self) -> int:
        """The current state (the one the next action is taken in)."""
        if self._s is None:
            raise gymnasium.error.ResetNeeded("call reset() before reading the state")
        return int(self._s[0])

    def _obs_info(self) -> tuple[Any, dict]:
        info = {} if self.mdp.allowed is None else {"action_mask": self.mdp.allowed[self._s[0]].copy()}
        return self._observe(self._s)[0], info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Draw the start state from ``mu``; ``seed`` (re)seeds ``np_random``, the only random source."""
        super().reset(seed=seed)
        if options:
            raise SpecError(f"FiniteMDPEnv.reset takes no options, got {', '.join(map(repr, options))}")
        self._s = self._sampler.initial_states(self.np_random, (1,))
        self._age = np.zeros(1, np.int64)
        return self._obs_info()

    def step(self, action: int) -> tuple[Any, float, bool, bool, dict]:
        """Take ``action`` (an integer in ``[0, A)``)."""
        if self._s is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        a = np.asarray(action)
        if a.size != 1:
            raise ValidationError(f"FiniteMDPEnv.step takes one action, got an array of shape {a.shape}")
        a = a.reshape(1)
        self._check_actions(a)
        step = step_streams(self.np_random, self._sampler, self._s, a, self._age, self.max_episode_steps)
        self._s, self._age = step.next_s_t, step.age_tp1
        obs, info = self._obs_info()
        return obs, float(step.r_t[0]), bool(step.terminated_t[0]), bool(step.truncated_t[0]), info


# ------------------------------------------------------------------------------- registration
def register() -> None:
    """Register :data:`ENV_ID` with gymnasium (single and vector entry points); a no-op if present."""
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(ENV_ID, entry_point=f"{__name__}:FiniteMDPEnv", vector_entry_point=f"{__name__}:FiniteEnv")
    from triad.agents import pomdp  # triad/CartPoleNoVel-v1 (velocities masked); gymnasium only, no torch

    pomdp.register()


register()


# ------------------------------------------------------------------------------------ make_env
def is_finite(env: Any) -> bool:
    """Whether ``env`` names (or is) a finite MDP environment rather than a gymnasium task.

    A string is finite if it ends in ``.npz`` or the part before ``:`` is a zoo entry
    (``"chain:n=5"``, ``"baird"``); a Problem, FiniteMDP or path is finite; an environment object is
    finite if it unwraps to a :class:`FiniteEnv` or :class:`FiniteMDPEnv`.
    """
    if isinstance(env, (zoo.Problem, FiniteMDP, os.PathLike)):
        return True
    if isinstance(env, str):
        return env.endswith(".npz") or env.partition(":")[0].strip() in zoo.ZOO
    return isinstance(getattr(env, "unwrapped", None), _Finite)


_MUJOCO = "gymnasium.envs.mujoco"


def _gymnasium_spec(env_id: str) -> gymnasium.envs.registration.EnvSpec:
    """The registered spec of ``env_id`` (``module:Id`` imports ``module`` first) or one clear SpecError."""
    module, _, name = env_id.partition(":") if ":" in env_id else ("", "", env_id)
    where = f"unknown environment {env_id!r}: neither a triad zoo MDP ({', '.join(zoo.ZOO)}, or an .npz path) nor "
    if module:
        try:
            importlib.import_module(module)
        except ImportError:
            close = difflib.get_close_matches(module, zoo.ZOO, n=1)
            hint = f"; did you mean {close[0]}{env_id[len(module):]}?" if close else ""
            raise SpecError(f"{where}a module:id gymnasium id ({module!r} does not import){hint}") from None
    found = gymnasium.registry.get(name)
    if found is None:
        close = difflib.get_close_matches(name, [*gymnasium.registry, *zoo.ZOO], n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise SpecError(f"{where}a registered gymnasium id{hint}")
    return found


def make_env(env: str, num_envs: int = 1, seed: int | None = None, *, obs: str = "onehot",
             max_episode_steps: int | None = None,
             autoreset_mode: AutoresetMode | str | None = None) -> VectorEnv:
    """A vector environment of ``num_envs`` copies of ``env``, reset once with ``seed``.

    Args:
        env: a zoo spec or ``.npz`` path (see :func:`is_finite`) → :class:`FiniteEnv`; any other
            string is a gymnasium id (``CartPole-v1``, ``module:Id``) → ``gymnasium.make_vec`` with
            ``vectorization_mode="vector_entry_point"`` if the id has one (and it supports the
            requested autoreset mode), ``"sync"`` otherwise.
        seed: passed to ``reset(seed=seed)``, and to the action space's ``seed``; later
            ``reset()`` calls without a seed continue the seeded streams.
        obs: the observation mode of a finite environment (gymnasium tasks keep their own).
        max_episode_steps: time limit (``None``: the finite env has none, a gymnasium id keeps its
            registered limit, e.g. 500 for CartPole-v1).
        autoreset_mode: ``None`` is NEXT_STEP, gymnasium's default.

    Raises:
        SpecError: an unknown id (one line, with close matches), a missing optional dependency
            (MuJoCo: the ``mujoco`` extra), or ``obs`` other than ``onehot`` for a gymnasium id.
    """
    limit = _check_limit(max_episode_steps)
    if is_finite(env):
        venv: VectorEnv = FiniteEnv(env, num_envs, obs=obs, max_episode_steps=limit,
                                    autoreset_mode=autoreset_mode or AutoresetMode.NEXT_STEP)
    else:
        if obs != "onehot":
            raise SpecError(f"obs={obs!r} applies to finite MDPs only; {env} has its own observations")
        venv = _make_gymnasium(env, num_envs, limit, None if autoreset_mode is None else _autoreset(autoreset_mode))
    venv.reset(seed=seed)
    venv.action_space.seed(seed)
    return venv


def _make_gymnasium(env_id: str, num_envs: int, limit: int | None, mode: AutoresetMode | None) -> VectorEnv:
    found = _gymnasium_spec(env_id)
    kwargs: dict[str, Any] = {} if limit is None else {"max_episode_steps": limit}
    vectorization = "sync"
    if found.vector_entry_point is not None:
        native = found.vector_entry_point
        native = native if callable(native) else gymnasium.envs.registration.load_env_creator(native)
        native_mode = getattr(native, "metadata", {}).get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode is None or mode is native_mode:
            vectorization = "vector_entry_point"
    if vectorization == "sync" and mode is not None:
        kwargs["vector_kwargs"] = {"autoreset_mode": mode}
    try:
        return gymnasium.make_vec(found.id, num_envs=num_envs, vectorization_mode=vectorization, **kwargs)
    except gymnasium.error.DependencyNotInstalled as exc:
        entry = found.entry_point if isinstance(found.entry_point, str) else ""
        if entry.startswith(_MUJOCO):
            raise SpecError(f"{env_id} needs MuJoCo: install triad's mujoco extra (pip install 'triad[mujoco]')") from None
        raise SpecError(f"{env_id} needs a missing dependency: {exc}") from None


def describe_space(space: spaces.Space) -> str:
    """A space in words: ``"2 discrete values"``, ``"4 continuous values (unbounded)"``, ``"1 continuous value in [-2, 2]"``."""
    if isinstance(space, spaces.Discrete):
        return f"{int(space.n)} discrete values"
    if isinstance(space, spaces.Box):
        n = int(np.prod(space.shape))
        shape = f"{n}" if len(space.shape) == 1 else "×".join(map(str, space.shape))
        kind = "integer" if np.issubdtype(space.dtype, np.integer) else "continuous"
        finite = np.isfinite(space.low) & np.isfinite(space.high)
        if finite.all():
            lo, hi = np.min(space.low), np.max(space.high)
            uniform = np.all(space.low == lo) and np.all(space.high == hi)
            bounds = f" in [{lo:.4g}, {hi:.4g}]" if uniform else " (bounded)"
        else:
            bounds = " (partly bounded)" if finite.any() else " (unbounded)"
        return f"{shape} {kind} value{'s' if n != 1 else ''}{bounds}"
    return str(space)


def describe(env: Any) -> str:
    """One line for CLI messages: the environment, its streams, observations and actions in words."""
    base = env.unwrapped
    obs_space = getattr(env, "single_observation_space", env.observation_space)
    act_space = getattr(env, "single_action_space", env.action_space)
    if isinstance(base, _Finite):
        name = base.mdp.name or "finite MDP"
        what = f"{name} (S={base.mdp.S}, A={base.mdp.A}, γ={base.mdp.gamma:g}), obs={base.obs_mode}"
    else:
        what = base.spec.id if base.spec is not None else type(base).__name__
    streams = f", {env.num_envs} envs" if hasattr(env, "num_envs") else ""
    return f"{what}{streams}: observations {describe_space(obs_space)}; actions {describe_space(act_space)}"


# The point mass of issue 15 whose true Q over actions is bimodal (gymnasium only, no torch).
from triad import envs_unimodal as _unimodal

_unimodal.register()
