"""The one training driver: stepping, episode statistics, logging, progress, checkpoints, resume,
the NaN guard, deterministic evaluation and the truth probes.

Files of a run (``out``, default ``runs/ALGO/ENV/seed=S/``):

* ``config.json``: algorithm, env, seed, steps, the resolved config and the run's options;
* ``log.csv``: tidy rows ``step,quantity,value``, appended and flushed as the run goes
  (``episode_return`` / ``episode_length`` at every episode end; losses averaged over the updates
  of each ``log_every`` window; ``steps_per_second``; ``eval_return``; probes);
* ``checkpoint.pt``: written atomically every ``checkpoint_every`` steps and at the end — agent
  state (networks, optimisers, generator, buffer), the pickled vector env (with its RNG), the
  stepper, counters and the length of ``log.csv`` at that moment;
* ``summary.json``: the ``--json`` object at the end.

An agent that steps environments of its own — A3C's worker processes — has ``drive(options,
start_step)``: the loop then records the events that generator yields instead of stepping its env
(:meth:`_Run._events`), and closes it at the end of the run, on an error or on Ctrl-C.

Resuming cuts ``log.csv`` back to the checkpoint and continues. Where the env could be pickled
(CartPole's vector env, triad's FiniteEnv) a resumed run reproduces the uninterrupted run bit for
bit; otherwise the env is rebuilt and reseeded and the continuation is a different (equally valid)
sample path.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import math
import os
import pickle
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from triad import agents as registry
from triad.agents import config as cfg
from triad.errors import ValidationError
from triad.progress import Progress

RECENT = 10
"""``final_return`` is the mean of the last this many training episodes."""


class Diverged(RuntimeError):
    """A loss or parameter became NaN/inf: a result of the run, not a user error (CLI exit status 1)."""


# ------------------------------------------------------------------------------------ stepping
@dataclasses.dataclass
class Step:
    """One vector step, numpy arrays with leading axis ``B``.

    ``obs`` is s_t, ``next_obs`` the TRUE s_{t+1} (the final observation where the episode ended),
    ``valid`` is False for the ignored reset step a NEXT_STEP vector env produces after an episode
    end, ``episode_step`` is t counted from the episode's start, ``extras`` what the actor returned.
    """

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_obs: np.ndarray
    valid: np.ndarray
    episode_step: np.ndarray
    extras: dict[str, np.ndarray]
    mask: np.ndarray | None = None
    """``(B, A)`` actions allowed in s_t (a FiniteEnv's ``info["action_mask"]``), ``None`` without one."""
    next_mask: np.ndarray | None = None
    """``(B, A)`` actions allowed in ``next_obs`` (what a max over the next state's actions may range over);
    all allowed where a SAME_STEP env ended an episode (its info describes the next episode's start)."""


def _autoreset_mode(env: Any) -> str:
    mode = env.metadata.get("autoreset_mode", "NextStep")
    value = getattr(mode, "value", mode)
    if value not in ("NextStep", "SameStep"):
        raise ValidationError(f"vector env autoreset mode {value!r} is not supported (NextStep or SameStep)")
    return value


class VectorStepper:
    """Steps a gymnasium vector env and normalises its autoreset semantics into :class:`Step` records.

    SAME_STEP envs: ``next_obs`` comes from ``info["final_obs"]`` where an episode ended. NEXT_STEP
    envs: the observation returned at the end is already the final one, and the following step (the
    env's reset, whose action is ignored) is marked invalid. Episode returns and lengths are counted
    here over valid steps; finished episodes collect in :attr:`finished` until the loop drains them.
    """

    def __init__(self, env: Any, seed: int | None, reset: bool = True):
        self.env = env
        self.B = int(env.num_envs)
        self.same_step = _autoreset_mode(env) == "SameStep"
        self.obs, info = env.reset(seed=seed) if reset else (None, {})
        self.mask = info.get("action_mask")
        self.prev_done = np.zeros(self.B, bool)
        self.episode_step = np.zeros(self.B, np.int64)
        self.ret = np.zeros(self.B)
        self.length = np.zeros(self.B, np.int64)
        self.finished: list[tuple[float, int]] = []

    def step(self, action: np.ndarray, extras: dict[str, np.ndarray] | None = None) -> Step:
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        valid = ~self.prev_done
        reward = np.where(valid, np.asarray(reward, np.float64), 0.0)
        terminated = np.asarray(terminated, bool) & valid
        truncated = np.asarray(truncated, bool) & valid
        done = terminated | truncated
        true_next = next_obs
        if self.same_step and done.any():
            true_next = np.array(next_obs, copy=True)
            final = info["final_obs"]
            for b in np.flatnonzero(done):
                true_next[b] = final[b]
        next_mask = info.get("action_mask")
        if next_mask is not None and self.same_step and done.any():
            next_mask = np.where(done[:, None], True, next_mask)
        step = Step(self.obs, action, reward, terminated, truncated, true_next, valid, self.episode_step.copy(),
                    extras or {}, self.mask, next_mask)
        self.mask = info.get("action_mask")
        self.ret += reward
        self.length += valid
        if done.any():
            for b in np.flatnonzero(done):
                self.finished.append((float(self.ret[b]), int(self.length[b])))
            self.ret[done] = 0.0
            self.length[done] = 0
        self.episode_step = np.where(done, 0, self.episode_step + valid)
        self.prev_done = done if not self.same_step else self.prev_done
        self.obs = next_obs
        return step

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("obs", "mask", "prev_done", "episode_step", "ret", "length", "finished")}

    def load_state_dict(self, d: Mapping) -> None:
        for k, v in d.items():
            setattr(self, k, v)


def act(agent: Any, stepper: VectorStepper, explore: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``agent.act`` on the stepper's observation, with the env's action mask when it has one."""
    if stepper.mask is None:
        return agent.act(stepper.obs, explore=explore)
    return agent.act(stepper.obs, explore=explore, mask=stepper.mask)


# ----------------------------------------------------------------------------------- envs
def make_env(env: str, num_envs: int, seed: int | None = None, obs: str | None = None,
             max_episode_steps: int | None = None, autoreset: str = "next-step") -> Any:
    """The vector env for ``env`` through :func:`triad.envs.make_env` (the one place ``--env`` is resolved):
    a zoo spec / ``.npz`` path gives a FiniteEnv, anything else a gymnasium id. ``obs`` is passed
    only when given (it applies to finite MDPs); ``autoreset``: ``next-step`` (gymnasium's default) or
    ``same-step`` (a config's ``autoreset``)."""
    from triad.envs import make_env as resolve

    kwargs = {} if obs is None else {"obs": obs}
    if autoreset != "next-step":
        kwargs["autoreset_mode"] = autoreset.replace("-", "")
    return resolve(env, num_envs=num_envs, seed=seed, max_episode_steps=max_episode_steps, **kwargs)


def _finite_id(env: str) -> bool:
    from triad import envs

    return envs.is_finite(env)


def env_spaces(env: Any) -> Any:
    from triad.agents.onpolicy import EnvSpaces

    return EnvSpaces(env.single_observation_space, env.single_action_space, int(env.num_envs))


def is_finite(env: Any) -> bool:
    """Whether ``env`` is a tabular twin (:func:`triad.envs.is_finite`: a FiniteEnv, with ``mdp`` and ``obs_table``)."""
    from triad import envs

    return envs.is_finite(env)


# ---------------------------------------------------------------------------------- logging
class CsvLog:
    """Tidy ``step,quantity,value`` rows, buffered and flushed on :meth:`flush`; mirrored to TensorBoard."""

    def __init__(self, path: Path, keep_bytes: int | None = None, tensorboard: Path | None = None):
        self.path = path
        if keep_bytes is None or not path.exists():
            path.write_text("step,quantity,value\n")
        else:
            with open(path, "r+b") as f:
                f.truncate(keep_bytes)
        self._file = open(path, "a")  # noqa: SIM115 (kept open for the run, closed by close())
        self._writer = None
        if tensorboard is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ValidationError("--tensorboard needs the tensorboard extra (pip install 'triad[tensorboard]')") \
                    from None
            self._writer = SummaryWriter(str(tensorboard))

    def row(self, step: int, quantity: str, value: float) -> None:
        self._file.write(f"{step},{quantity},{float(value)!r}\n")
        if self._writer is not None:
            self._writer.add_scalar(quantity, float(value), step)

    def flush(self) -> int:
        """Write everything out; return the file's length (what a checkpoint remembers)."""
        self._file.flush()
        if self._writer is not None:
            self._writer.flush()
        return self._file.tell()

    def close(self) -> None:
        self.flush()
        self._file.close()
        if self._writer is not None:
            self._writer.close()


def read_log(path: str | os.PathLike) -> Any:
    """``log.csv`` as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(path)


# ------------------------------------------------------------------------------- evaluation
def evaluate(agent: Any, env_id: str, episodes: int, seed: int, obs: str | None = None,
             max_episode_steps: int | None = None, cap: int = 10_000) -> float:
    """Mean return of ``episodes`` deterministic episodes (the first of each stream of a fresh env seeded ``seed``).

    A function of the agent's parameters alone, so evaluating never disturbs training or resume.
    An episode still running after ``max_episode_steps`` (or ``cap`` steps without a time limit —
    a deterministic policy on a finite MDP may never reach a terminal state) counts its return so far.
    """
    env = make_env(env_id, num_envs=episodes, seed=seed, obs=obs, max_episode_steps=max_episode_steps)
    if hasattr(agent, "reset_evaluation"):  # an agent with memory starts the evaluation episodes afresh
        agent.reset_evaluation(episodes)
    try:
        stepper = VectorStepper(env, seed)
        returns = np.full(episodes, np.nan)
        acc = np.zeros(episodes)
        for _ in range(max_episode_steps or cap):
            action, _ = act(agent, stepper, explore=False)
            step = stepper.step(action)
            acc += step.reward
            ended = (step.terminated | step.truncated) & np.isnan(returns)
            returns[ended] = acc[ended]
            if not np.isnan(returns).any():
                break
        return float(np.where(np.isnan(returns), acc, returns).mean())
    finally:
        env.close()


# ------------------------------------------------------------------------------- the run
@dataclasses.dataclass(frozen=True)
class RunOptions:
    """Everything about a run besides the algorithm's config (stored in ``config.json``)."""

    algorithm: str
    env: str
    steps: int
    seed: int = 0
    eval_episodes: int = 10
    eval_every: int = 0
    checkpoint_every: int = 0
    obs: str | None = None
    max_episode_steps: int | None = None


def default_out(algorithm: str, env: str, seed: int) -> Path:
    safe = env.replace("/", "_").replace(":", "_").replace(",", "_")
    return Path("runs") / algorithm / safe / f"seed={seed}"


def _seeds(seed: int) -> tuple[int, int, int]:
    """Independent seeds for the training env, the agent and the evaluation env (SeedSequence spawn)."""
    env_s, agent_s, eval_s = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(int(seed)).spawn(3))
    return env_s, agent_s, eval_s


def train(algorithm: str, env: str, steps: int, seed: int = 0, overrides: Mapping[str, Any] | None = None,
          out: str | os.PathLike | None = None, eval_episodes: int = 10, eval_every: int = 0,
          checkpoint_every: int = 0, obs: str | None = None, max_episode_steps: int | None = None,
          tensorboard: str | os.PathLike | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Train ``algorithm`` on ``env`` for ``steps`` env steps; write the run's files; return the summary.

    Args:
        overrides: config fields (``--set``), applied after the env's preset. On a tabular twin
            ``gamma`` defaults to the MDP's own discount.
        eval_every: also log ``eval_return`` every this many env steps (0: only at the end).
        checkpoint_every: env steps between checkpoints (0: only at the end).
        obs, max_episode_steps: FiniteEnv observation kind and time limit (passed to ``make_env``).
    Raises:
        SpecError / ValidationError: bad input (one line). Diverged: a NaN/inf loss or parameter.
    """
    algo = registry.get(algorithm)
    _check_counts(steps=steps, eval_episodes=eval_episodes, eval_every=eval_every, checkpoint_every=checkpoint_every)
    overrides = dict(overrides or {})
    if "gamma" not in overrides and _finite_id(env):
        # A tabular twin: discount as the MDP does, so that the probes' exact V^π, ∇J are of the agent's objective.
        from triad import zoo

        overrides["gamma"] = zoo.make(env).mdp.gamma
    config = algo.resolve(env, overrides)
    options = RunOptions(algorithm, env, int(steps), int(seed), int(eval_episodes), int(eval_every),
                         int(checkpoint_every), obs, max_episode_steps)
    out = Path(out) if out is not None else default_out(algorithm, env, seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({**dataclasses.asdict(options), "config": cfg.to_json(config)},
                                                indent=2) + "\n")
    for stale in ("checkpoint.pt", "summary.json"):
        (out / stale).unlink(missing_ok=True)
    run = _Run(algo, config, options, out, tensorboard)
    return run.loop(progress)


def resume(out: str | os.PathLike, steps: int | None = None, tensorboard: str | os.PathLike | None = None,
           progress: Progress | None = None) -> dict[str, Any]:
    """Continue the run in ``out`` from its last checkpoint (to its own ``steps``, or to ``steps`` if given)."""
    out = Path(out)
    stored, algo, config = _stored_run(out, "--resume ")
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    options = RunOptions(**{k: v for k, v in stored.items() if k in fields})
    if steps is not None:
        _check_counts(steps=steps)
        options = dataclasses.replace(options, steps=int(steps))
    run = _Run(algo, config, options, out, tensorboard, checkpoint=out / "checkpoint.pt")
    return run.loop(progress)


def _stored_run(out: Path, where: str = "") -> tuple[dict, registry.Algorithm, cfg.AgentConfig]:
    """``config.json`` of the run in ``out``, its algorithm and its config (a checkpoint must exist too)."""
    if not (out / "config.json").exists() or not (out / "checkpoint.pt").exists():
        raise ValidationError(f"{where}{out}: no config.json and checkpoint.pt there")
    stored = json.loads((out / "config.json").read_text())
    algo = registry.get(stored["algorithm"])
    return stored, algo, cfg.from_json(algo.config, stored["config"])


def load_agent(out: str | os.PathLike) -> Any:
    """The agent of the run in ``out`` as of its last checkpoint (e.g. to draw its policy)."""
    out = Path(out)
    stored, algo, config = _stored_run(out)
    env = make_env(stored["env"], num_envs=config.envs, obs=stored.get("obs"),
                   max_episode_steps=stored.get("max_episode_steps"))
    try:
        agent = algo.build(config, env_spaces(env), 0)
    finally:
        env.close()
    agent.load_state_dict(_load_checkpoint(out / "checkpoint.pt")["agent"])
    return agent


def _check_counts(**counts: int) -> None:
    for name, value in counts.items():
        low = 1 if name in ("steps", "eval_episodes") else 0
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValidationError(f"{name} = {value!r} must be an integer ≥ {low}")


class _Run:
    """One training run's state, built fresh or from a checkpoint."""

    def __init__(self, algo: registry.Algorithm, config: cfg.AgentConfig, options: RunOptions, out: Path,
                 tensorboard: str | os.PathLike | None, checkpoint: Path | None = None):
        import torch

        self.algo, self.config, self.options, self.out = algo, config, options, out
        torch.set_num_threads(config.threads)
        env_seed, agent_seed, self.eval_seed = _seeds(options.seed)
        saved = _load_checkpoint(checkpoint) if checkpoint is not None else None
        env = pickle.loads(saved["env"]) if saved is not None and saved["env"] is not None else None
        self.env = env if env is not None else make_env(options.env, num_envs=config.envs, seed=env_seed,
                                                        obs=options.obs, max_episode_steps=options.max_episode_steps,
                                                        autoreset=getattr(config, "autoreset", "next-step"))
        self.agent = algo.build(config, env_spaces(self.env), agent_seed)
        self.agent.total_steps = options.steps
        self.end = self.agent.run_end(options.steps) if hasattr(self.agent, "run_end") else options.steps
        """The env step the run stops at (an agent may round the budget up to whole iterations)."""
        self.finite = is_finite(self.env)
        self.agent.track_direction = self.finite and hasattr(self.agent, "policy_direction")
        self.probe = None
        if self.finite:
            from triad.agents.probes import TruthProbe

            self.probe = TruthProbe(self.env)
        if saved is None:
            self.stepper = VectorStepper(self.env, env_seed)
            self.step = 0
            self.recent: collections.deque = collections.deque(maxlen=RECENT)
            self.window: dict[str, list[float]] = {}
            self.log = CsvLog(out / "log.csv", tensorboard=Path(tensorboard) if tensorboard else None)
        else:
            if saved["env"] is None:  # the env could not be saved: a fresh, reseeded sample path
                self.stepper = VectorStepper(self.env, env_seed + saved["step"])
            else:
                self.stepper = VectorStepper(self.env, None, reset=False)
                self.stepper.load_state_dict(saved["stepper"])
            self.agent.load_state_dict(saved["agent"])
            if saved["env"] is None and hasattr(self.agent, "env_replaced"):
                self.agent.env_replaced()
            if self.probe is not None:
                self.probe.first = saved["probe_first"]
            self.step = saved["step"]
            self.recent = collections.deque(saved["recent"], maxlen=RECENT)
            self.window = saved["window"]
            self.log = CsvLog(out / "log.csv", keep_bytes=saved["log_bytes"],
                              tensorboard=Path(tensorboard) if tensorboard else None)

    # ------------------------------------------------------------------------------ checkpoint
    def save(self) -> None:
        import torch

        self._check_parameters()
        log_bytes = self.log.flush()
        try:
            env_state = pickle.dumps(self.env)
        except (pickle.PicklingError, TypeError, AttributeError):
            env_state = None
        state = {"agent": self.agent.state_dict(), "env": env_state, "stepper": self.stepper.state_dict(),
                 "step": self.step, "recent": list(self.recent), "window": self.window, "log_bytes": log_bytes,
                 "probe_first": self.probe.first if self.probe is not None else False}
        tmp = self.out / "checkpoint.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, self.out / "checkpoint.pt")

    # ------------------------------------------------------------------------------ logging
    def _log_window(self, seconds: float, steps: int) -> None:
        for quantity, values in sorted(self.window.items()):
            self.log.row(self.step, quantity, float(np.mean(values)))
        self.window = {}
        if seconds > 0:
            self.log.row(self.step, "steps_per_second", steps / seconds)
        if self.probe is not None:
            for quantity, value in self.probe(self.agent).items():
                self.log.row(self.step, quantity, value)

    def _check_losses(self, logs: Mapping[str, float]) -> None:
        for quantity, value in logs.items():
            if not math.isfinite(value):
                raise Diverged(f"step {self.step}: {quantity} is {'NaN' if math.isnan(value) else 'inf'}")

    def _check_parameters(self) -> None:
        """At log steps and before every checkpoint (a checkpoint never holds a NaN)."""
        bad = self.agent.parameters_finite()
        if bad is not None:
            raise Diverged(f"step {self.step}: parameter {bad} is NaN or inf")

    def _evaluate(self) -> float:
        o = self.options
        return evaluate(self.agent, o.env, o.eval_episodes, self.eval_seed, o.obs, o.max_episode_steps)

    # ------------------------------------------------------------------------------ the loop
    def loop(self, progress: Progress | None) -> dict[str, Any]:
        o = self.options
        if self.step >= self.end and (self.out / "summary.json").exists():  # a finished run: nothing to resume
            self.log.close()
            self.env.close()
            return json.loads((self.out / "summary.json").read_text())
        if progress is not None:
            progress.total(self.end)
            progress.advance(min(self.step, self.end))
        start = time.perf_counter()
        start_step = self.step
        self._timer = (start, self.step)  # (time, step) at which the current log window began
        self._shown = self.step  # steps the progress bar has been told of
        try:
            with contextlib.closing(self._events()) as events:  # closing stops an agent's workers, whatever happens
                for added, logs, finished in events:
                    before = self.step
                    self.step += added
                    self._record(before, logs, finished, progress, start, start_step)
            seconds = time.perf_counter() - start
            eval_return = self._evaluate()
            self.log.row(self.step, "eval_return", eval_return)
            self.save()
        finally:
            self.log.close()
            self.env.close()
        summary = {"algorithm": o.algorithm, "env": o.env, "steps": self.step, "seed": o.seed,
                   "final_return": self._recent(), "eval_return": eval_return, "seconds": seconds,
                   "steps_per_second": (self.step - start_step) / seconds if seconds > 0 else None}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def _events(self) -> Iterator[tuple[int, dict[str, float] | None, list[tuple[float, int]]]]:
        """What the loop records, one item per env step of the run: ``(env steps, update logs or None,
        finished episodes as (return, length))``.

        An agent that steps environments of its own (A3C's worker processes) provides them as
        ``agent.drive(options, start_step)``, a generator that ends when the run's steps are spent
        and stops its workers when closed; otherwise the loop steps its vector env here.
        """
        if hasattr(self.agent, "drive"):
            yield from self.agent.drive(self.options, self.step)
            return
        agent, stepper = self.agent, self.stepper
        while self.step < self.end:
            action, extras = act(agent, stepper)
            agent.observe(stepper.step(action, extras))
            logs = agent.update()
            finished = list(stepper.finished)
            stepper.finished.clear()
            yield stepper.B, logs, finished

    def _record(self, before: int, logs: Mapping[str, float] | None, finished: list[tuple[float, int]],
                progress: Progress | None, start: float, start_step: int) -> None:
        """Log what one item of :meth:`_events` brought (the run is at ``self.step``, it was at ``before``)."""
        o, log_every, ckpt_every = self.options, self.config.log_every, self.options.checkpoint_every
        if logs is not None:
            self._check_losses(logs)
            for quantity, value in logs.items():
                self.window.setdefault(quantity, []).append(value)
        for ret, length in finished:
            self.log.row(self.step, "episode_return", ret)
            self.log.row(self.step, "episode_length", length)
            self.recent.append(ret)
        if self.step // log_every > before // log_every or before < self.end <= self.step:
            self._check_parameters()
            now = time.perf_counter()
            self._log_window(now - self._timer[0], self.step - self._timer[1])
            self._timer = (time.perf_counter(), self.step)
            if o.eval_every and self.step // o.eval_every > before // o.eval_every:
                self.log.row(self.step, "eval_return", self._evaluate())
            self.log.flush()
            if progress is not None:
                elapsed = now - start
                progress.advance(self.step - self._shown, recent_return=self._recent(),
                                 steps_per_second=(self.step - start_step) / elapsed if elapsed > 0 else 0.0)
                self._shown = self.step
        if ckpt_every and self.step // ckpt_every > before // ckpt_every:
            self.save()

    def _recent(self) -> float | None:
        return float(np.mean(self.recent)) if self.recent else None


def _load_checkpoint(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, weights_only=False)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        raise ValidationError(f"checkpoint {path} cannot be read ({exc})") from None
