"""``key=value`` strings, as in MDP specs (``garnet:S=1000,A=4``) and ``triad run --set``.

One parser and one typed coercion serve both, so a value is read the same way wherever it is
typed, and every error names where it came from.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from typing import Any

from triad.errors import SpecError


def key_values(items: Iterable[str], where: str) -> dict[str, str]:
    """``["a=1", " b = x "] -> {"a": "1", "b": "x"}``; empty items are skipped.

    Raises:
        SpecError: an item without ``=`` or a key, or a key given twice (``where`` names the source).
    """
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in items)):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not key:
            raise SpecError(f"{where}: expected key=value, got {item!r}")
        if key in out:
            raise SpecError(f"{where}: {key} is given twice")
        out[key] = value
    return out


_KEY_VALUE = re.compile(r"\s*[A-Za-z_][\w.-]*\s*=")


def split_items(value: str) -> list[str]:
    """The items of a list value: ``"1,2" -> ["1", "2"]``, ``"chain:n=5,slip=0.1" -> ["chain:n=5,slip=0.1"]``.

    The quoting rule for lists whose items may hold commas (MDP specs): items are separated by
    ``;`` if the value contains one; otherwise by ``,``, where a piece that starts with ``key=``
    continues the item before it (it is that spec's next parameter). So
    ``chain:n=5,slip=0.1,garnet:S=10,A=2`` and ``chain:n=5,slip=0.1;garnet:S=10,A=2`` are both the
    two specs ``chain:n=5,slip=0.1`` and ``garnet:S=10,A=2``. Blank items are dropped.
    """
    if ";" in value:
        pieces = value.split(";")
    else:
        pieces = []
        for piece in value.split(","):
            if pieces and _KEY_VALUE.match(piece):
                pieces[-1] += "," + piece
            else:
                pieces.append(piece)
    return [p.strip() for p in pieces if p.strip()]


def coerce(value: str, default: Any, where: str) -> Any:
    """Parse ``value`` to the type of ``default`` (bool, int, float, str or a tuple of one of them).

    A tuple takes the items of :func:`split_items` (``;``-separated, or ``,``-separated with MDP
    specs kept whole: ``chain:n=5,slip=0.1,garnet:S=10,A=2`` is two items). Integers are read
    exactly (``12345678901234567891`` stays that number; ``1e3`` is 1000).

    Raises:
        SpecError: ``value`` does not parse, e.g. ``chain: n='2.5' is not a valid int``.
    """
    if isinstance(default, tuple):
        element = default[0] if default else ""
        return tuple(coerce(v, element, where) for v in split_items(value))
    try:
        if isinstance(default, bool):
            lowered = value.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            with contextlib.suppress(ValueError):
                return int(value)
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if isinstance(default, float):
            return float(value)
        return value if default is None or isinstance(default, str) else type(default)(value)
    except (ValueError, OverflowError):
        raise SpecError(f"{where}={value!r} is not a valid {type(default).__name__}") from None
