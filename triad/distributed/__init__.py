"""Ray plumbing: start or join a Ray cluster, run functions as Ray tasks and classes as Ray actors.

triad never builds a distributed engine of its own: whatever outgrows one process runs on **Ray**
(the ``distributed`` extra, ``pip install 'triad[distributed]'``). Ray is imported only here and
only when one of these functions is called, so ``import triad`` and every serial command stay
numpy-light.

* :func:`session` — a context manager: ``ray.init()`` of a local instance (``num_cpus=N``, no
  dashboard, logs in :func:`temp_dir`, on the loopback interface) or, with ``address``, joining
  an existing cluster; if Ray is already running in this process it is used as it is. It shuts
  down only what it started.
* :func:`task` / :func:`actor` — ``ray.remote`` with triad's fault settings: a task is retried
  when its worker process dies (:data:`TASK_RETRIES`); an actor is restarted when its process
  dies and its pending calls are retried (:data:`ACTOR_RESTARTS`).
* :func:`gather` / :func:`as_completed` — wait for task results (all, or each as it finishes with
  a bounded number in flight), turning a :class:`~triad.errors.TriadError` raised in a
  task into the same exception in the caller (so the CLI prints the same one line as a serial run)
  and a worker lost for good into a :class:`DistributedError`.
* :func:`attempt` — inside a task: 0 on the first try, ``k`` on the ``k``-th retry.
* :func:`require_ray` — Ray, or a :class:`RayMissing` naming the extra to install.

Sweeps on Ray (``triad run EXPERIMENT --workers N``) are :mod:`triad.distributed.sweeps`.
"""

from triad.distributed.cluster import (
    ACTOR_RESTARTS,
    OBJECT_STORE_BYTES,
    TASK_RETRIES,
    Cluster,
    DistributedError,
    RayMissing,
    actor,
    as_completed,
    attempt,
    check_address,
    gather,
    require_ray,
    session,
    task,
    temp_dir,
)

__all__ = ["ACTOR_RESTARTS", "OBJECT_STORE_BYTES", "TASK_RETRIES", "Cluster", "DistributedError", "RayMissing",
           "actor", "as_completed", "attempt", "check_address", "gather", "require_ray", "session", "task", "temp_dir"]
