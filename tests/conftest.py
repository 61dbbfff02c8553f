"""Shared pytest configuration: hypothesis profiles.

The default, ``ci``, is derandomized: every run replays the same examples, so the README's test
command gives the same verdict on every machine. ``HYPOTHESIS_PROFILE=dev`` draws at random and
``stress`` draws ten times as many examples, to hunt for new counterexamples before they land.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.register_profile("stress", parent=settings.get_profile("dev"), max_examples=600, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))



@pytest.fixture
def triad_cli(capsys, monkeypatch):
    """Run the ``triad`` command in-process: ``triad_cli("solve", "chain") -> (status, stdout, stderr)``."""
    from triad import cli

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.argv", ["triad", *args])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance for a test module: ``ray.init(num_cpus=2, include_dashboard=False)``, imported the way
    triad imports it; skipped only where the ``distributed`` extra is not installed.

    Modules using it take turns across xdist workers (a file lock): two Ray instances of 2 CPUs at once on a
    2-core machine would halve every process's speed and make the timing bounds of these tests meaningless.
    """
    import fcntl
    import tempfile
    from pathlib import Path

    from triad import distributed

    try:
        distributed.require_ray()
    except distributed.RayMissing:
        pass
    ray = pytest.importorskip("ray")
    with open(Path(tempfile.gettempdir()) / "triad-tests-ray-local.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        try:
            yield ray
        finally:
            ray.shutdown()
