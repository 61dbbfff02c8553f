"""How much memory the machine can give, and refusing work that would not fit, before allocating it.

A spec such as ``garnet:S=100000000,A=4,b=10`` asks for arrays of tens of GiB. Allocating them
would swap the machine to a halt or be killed without a word; triad estimates what a request
needs and refuses with the estimate, what is available and, where there is one, a smaller way.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from triad.errors import ValidationError

_CGROUP_LIMITS = (
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),  # cgroup v2
    (Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"), Path("/sys/fs/cgroup/memory/memory.usage_in_bytes")),  # v1
)


def _meminfo_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (Linux ≥ 3.14), or ``None``."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom() -> int | None:
    """``limit − usage`` of this process's memory cgroup, if it has a finite limit."""
    for limit_file, usage_file in _CGROUP_LIMITS:
        try:
            limit = limit_file.read_text().strip()
            if limit == "max" or int(limit) >= 2**60:
                continue
            return max(int(limit) - int(usage_file.read_text().strip()), 0)
        except (OSError, ValueError):
            continue
    return None


def available_bytes() -> int | None:
    """Memory a new allocation can get without swapping: the smaller of the kernel's
    ``MemAvailable`` (or ``sysconf`` free pages) and the memory cgroup's headroom; ``None`` if unknown."""
    free = _meminfo_available()
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            free = None
    headroom = _cgroup_headroom()
    known = [x for x in (free, headroom) if x is not None]
    return min(known) if known else None


def format_bytes(n: float) -> str:
    """``32e9 -> '29.8 GiB'``: binary units, three significant digits."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


LARGE = 2**30
"""Requests above this many bytes that do fit get a warning, so a long allocation is not silent."""


class MemoryWarning(UserWarning):
    """A request that fits in memory but is large enough to say so."""


def require(needed: float, what: str, alternative: str = "", stored: float | None = None,
            available: int | None = None) -> None:
    """Refuse (before allocating) when ``needed`` bytes exceed the memory available; warn above :data:`LARGE`.

    Args:
        needed: estimated peak bytes of the request.
        what: the request, e.g. ``"garnet:S=100000000,A=4,b=10"``.
        alternative: a smaller way to get the same, appended to the message (e.g. the sparse form).
        stored: bytes of the result itself, if worth telling apart from the peak.
        available: bytes available; default :func:`available_bytes` (nothing is refused if unknown).

    Raises:
        ValidationError: ``{what} needs about 167 GiB of memory (P alone is 29.8 GiB), but only
            21.4 GiB are available; ...``.
    """
    if needed <= LARGE:
        return
    available = available_bytes() if available is None else available
    kept = f" (P alone is {format_bytes(stored)})" if stored else ""
    if available is not None and needed > available:
        hint = f"; {alternative}" if alternative else ""
        raise ValidationError(f"{what} needs about {format_bytes(needed)} of memory{kept}, but only "
                              f"{format_bytes(available)} are available{hint}")
    free = f" ({format_bytes(available)} available)" if available is not None else ""
    warnings.warn(f"{what} needs about {format_bytes(needed)} of memory{free}", MemoryWarning, stacklevel=3)
