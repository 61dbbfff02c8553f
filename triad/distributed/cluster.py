"""Starting or joining Ray, tasks and actors with restart settings, and errors that read like serial ones.

Nothing here imports Ray at module import time: :func:`require_ray` does, on first use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import itertools
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from triad.errors import TriadError, ValidationError

INSTALL_HINT = "pip install 'triad[distributed]'"
"""What a :class:`RayMissing` tells the user to run."""

TASK_RETRIES = 3
"""Times a task is run again when the worker process running it dies (Ray's ``max_retries``).

An exception raised *by* the task is never retried: triad's computations are deterministic, so it
would be raised again."""

ACTOR_RESTARTS = 3
"""Times an actor is restarted when its process dies (Ray's ``max_restarts``); the calls it had not
finished are run again on the restarted actor as many times (``max_task_retries``)."""

OBJECT_STORE_BYTES = 256 * 2**20
"""The object store of a local instance (Ray's default is 30 % of memory). Sweeps pass parameters in
and get tidy tables back, so 256 MiB holds many cells' results at once; Ray spills to disk past it."""


class DistributedError(TriadError, RuntimeError):
    """A Ray cluster cannot be joined, or a task's worker was lost for good (after its retries)."""


class RayMissing(DistributedError, ImportError):
    """Ray is not installed: ``--workers needs Ray: pip install 'triad[distributed]'``."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The Ray cluster a :func:`session` is connected to.

    Attributes:
        address: the GCS address (``host:port``) other drivers can join with ``--address``.
        cpus: CPUs the cluster offers (``num_cpus`` of a local instance).
        started: whether this session started it (and so shuts it down at its end).
        logs: Ray's log folder on this machine (a local instance's session); ``None`` for a remote cluster.
    """

    address: str
    cpus: float
    started: bool
    logs: Path | None


def temp_dir() -> Path:
    """Where local instances keep their sockets and logs: ``$TMPDIR/triad-ray`` (``/tmp/triad-ray``).

    Each instance has a ``session_*`` folder there; ``session_latest`` links to the newest, whose
    ``logs/`` holds every worker's output (workers' output is not echoed to the terminal).
    """
    return Path(tempfile.gettempdir()) / "triad-ray"


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables unless the user set them, and restore the environment afterwards."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


_LOCAL_ONLY = {
    # Ray's switch for machines that cannot be cluster nodes: on Linux it makes a local instance
    # bind and advertise 127.0.0.1 instead of the address of the machine's network interface.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",  # never report usage to Ray's servers
}
"""Environment of a local instance: it listens on the loopback interface only and reports nothing."""


def _joining(address: str | None) -> dict[str, str]:
    """Environment of a driver joining the cluster at ``address``: the loopback setting of a head on
    127.0.0.1 and, where Ray's token exists (``~/.ray/auth_token``), token mode, which a head started by
    ``ray start`` then requires but a joining driver only uses if set before Ray is imported (Ray 2.60)."""
    token = {"RAY_AUTH_MODE": "token"} if (Path.home() / ".ray" / "auth_token").exists() else {}
    return {**(_LOCAL_ONLY if _on_loopback(address) else {}), **token}


def _on_loopback(address: str | None) -> bool:
    """Whether a session with ``address`` stays on this machine's loopback interface: a local instance
    (``None``) or a cluster whose head listens on 127.0.0.1 / localhost / ::1."""
    if address is None:
        return True
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]") or address
    return host == "localhost" or host == "::1" or host.startswith("127.")


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse at once a ``host:port`` where no Ray head listens (Ray itself retries for minutes).

    ``auto`` (the cluster ``ray start`` began on this machine) and ``ray://`` client addresses are
    left to Ray.

    Raises:
        DistributedError: ``cannot join the Ray cluster at 127.0.0.1:1: Connection refused``, or an
            address that is not ``host:port``.
    """
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DistributedError(f"cannot join the Ray cluster at {address!r}: expected HOST:PORT of its head, or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise DistributedError(f"cannot join the Ray cluster at {address}: {exc.strerror or exc}") from None


def require_ray(what: str = "triad.distributed", address: str | None = None) -> Any:
    """The ``ray`` module, imported on first use.

    Ray reads some settings once, when it is imported, so the first import is prepared for what the
    process will do: start local instances on 127.0.0.1 (``address=None``) or join the cluster at
    ``address``.

    Args:
        what: what needs Ray, for the error message (``--workers``, ``triad train apex``).
    Raises:
        RayMissing: ``--workers needs Ray: pip install 'triad[distributed]'``.
    """
    if sys.modules.get("ray") is not None:
        return sys.modules["ray"]
    try:
        with _environment(**(_LOCAL_ONLY if address is None else _joining(address))):
            return importlib.import_module("ray")
    except ImportError:
        raise RayMissing(f"{what} needs Ray: {INSTALL_HINT}") from None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _logs(ray: Any) -> Path | None:
    with contextlib.suppress(Exception):
        node = ray._private.worker._global_node  # set only where this process started the instance
        if node is not None:
            return Path(node.get_logs_dir_path())
    return None


def _cluster(ray: Any, started: bool) -> Cluster:
    return Cluster(address=ray.get_runtime_context().gcs_address, cpus=float(ray.cluster_resources().get("CPU", 0)),
                   started=started, logs=_logs(ray))


@contextlib.contextmanager
def session(workers: int | None = None, address: str | None = None, what: str = "--workers",
            object_store_bytes: int = OBJECT_STORE_BYTES, gpus: int = 0) -> Iterator[Cluster]:
    """Ray for the duration of a ``with`` block: a local instance, a joined cluster, or the one already running.

    * Ray already initialised in this process (a test's ``ray.init``, a user's script, an outer
      session): it is used as it is and left running.
    * ``address`` given (``host:port`` of a cluster's head, or ``auto`` for the one ``ray start``
      began on this machine): ``ray.init(address=address)`` joins it; the cluster's own CPUs decide
      how many tasks run at once.
    * otherwise a local instance: ``ray.init(num_cpus=workers, include_dashboard=False, ...)`` with
      an object store of ``object_store_bytes``, logs under :func:`temp_dir`, listening on 127.0.0.1
      only, Ray's own messages below errors silenced and workers' output kept in the log files.
      ``RAY_ADDRESS`` is ignored (a local instance is always new).

    While the session lasts, output to ``sys.stdout`` goes to ``sys.stderr``: Ray prints its notices
    (a worker died, a task will be retried) on stdout, which must hold nothing but a command's result.

    Args:
        workers: CPUs of a local instance (default: the machine's).
        what: what needs Ray, for :class:`RayMissing`.
        gpus: GPUs a local instance offers to tasks and actors that ask for them (``num_gpus``).
    Raises:
        RayMissing: Ray is not installed.
        DistributedError: the cluster at ``address`` cannot be joined.
        ValidationError: ``workers`` is not a positive integer.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValidationError(f"{what}: the number of workers must be a positive integer, got {workers!r}")
    ray = require_ray(what, address)
    with contextlib.ExitStack() as stack:
        # Ray's driver prints notices (a worker died, a task is retried) on stdout from a thread of
        # its own; they go to stderr while the session lasts, so --json output stays one object.
        stack.enter_context(contextlib.redirect_stdout(sys.stderr))
        if ray.is_initialized():
            yield _cluster(ray, started=False)
            return
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
        if address is None:
            with _environment(**_LOCAL_ONLY):
                ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, num_gpus=gpus, include_dashboard=False,
                         object_store_memory=object_store_bytes, _temp_dir=str(temp_dir()), **quiet)
        else:
            check_address(address)
            try:
                with _environment(**_joining(address)):
                    ray.init(address=address, **quiet)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
                raise DistributedError(f"cannot join the Ray cluster at {address}: {_first_line(exc)}") from None
        stack.callback(ray.shutdown)
        yield _cluster(ray, started=True)


def task(fn: Callable, retries: int = TASK_RETRIES, **options: Any) -> Any:
    """``fn`` as a Ray remote function, run again up to ``retries`` times if its worker process dies.

    ``options`` go to ``ray.remote`` (``num_cpus``, ``memory``, ...); call ``.remote(*args)`` on
    the result and :func:`gather` (or :func:`as_completed`) the references.
    """
    return require_ray().remote(max_retries=retries, **options)(fn)


def actor(cls: type, restarts: int = ACTOR_RESTARTS, **options: Any) -> Any:
    """``cls`` as a Ray actor class that is restarted up to ``restarts`` times when its process dies.

    A restarted actor runs ``cls.__init__`` again (it starts from its constructor's state, so an
    actor that must survive with its state pulls it from elsewhere, e.g. the learner's latest
    weights; inside it, ``ray.get_runtime_context().was_current_actor_reconstructed`` tells a
    restart); the method calls it had not finished are run again on it (``max_task_retries``), so
    they should tolerate running twice. ``restarts=-1`` restarts it without limit. ``options`` go
    to ``ray.remote`` (an actor reserves no CPU while it runs unless given ``num_cpus``).
    """
    return require_ray().remote(max_restarts=restarts, max_task_retries=restarts, **options)(cls)


def attempt() -> int | None:
    """Inside a Ray task: 0 on its first run, ``k`` on its ``k``-th retry; ``None`` outside one."""
    ray = sys.modules.get("ray")
    with contextlib.suppress(Exception):
        return int(ray._private.worker.global_worker.core_worker.get_current_task_attempt_number())
    return None


def gather(refs: Any, what: str = "a Ray task") -> Any:
    """``ray.get(refs)``, with Ray's wrappers taken off the errors.

    A :class:`~triad.errors.TriadError` raised inside a task is raised here as itself (so the CLI
    prints the one line a serial run would); any other exception raised by the task keeps Ray's
    wrapper, whose message holds the remote traceback.

    Raises:
        DistributedError: the task's worker, actor or node was lost and its retries are spent
            (the message names ``what`` and where Ray's logs are).
    """
    ray = require_ray()
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, TriadError):
            raise cause from None
        raise
    except ray.exceptions.RayError as exc:
        logs = _logs(ray)
        where = f"; Ray's logs are in {logs}" if logs else ""
        raise DistributedError(f"{what}: {type(exc).__name__}: {_first_line(exc)}{where}") from exc


def as_completed(submit: Callable[[int], Any], count: int, window: int, label: Callable[[int], str] = str,
                 started: Callable[[int], None] | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``count`` tasks with at most ``window`` in flight; ``(i, result)`` as each finishes.

    Args:
        submit: ``i -> ObjectRef`` (e.g. ``lambda i: remote_fn.remote(items[i])``), called in order
            ``0, 1, …`` as room frees up.
        label: ``i -> text`` naming task ``i`` in errors (:func:`gather`).
        started: called with ``i`` when task ``i`` is submitted.
    The first error stops the loop; tasks still in flight then (or when the caller stops
    iterating) are cancelled.
    """
    if window < 1:
        raise ValidationError(f"as_completed: window must be at least 1, got {window}")
    ray = require_ray()
    pending: dict[Any, int] = {}
    upcoming = iter(range(count))
    try:
        while True:
            for i in itertools.islice(upcoming, max(window - len(pending), 0)):
                pending[submit(i)] = i
                if started is not None:
                    started(i)
            if not pending:
                return
            [ref], _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(ref)
            yield i, gather(ref, label(i))
    finally:
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
