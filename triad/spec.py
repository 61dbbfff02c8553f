"""``key=value`` strings, as in MDP specs (``garnet:S=1000,A=4``) and ``triad run --set``.

One parser and one typed coercion serve both, so a value is read the same way wherever it is
typed, and every error names where it came from.
"""

from __future__ import annotations

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


def coerce(value: str, default: Any, where: str) -> Any:
    """Parse ``value`` to the type of ``default`` (bool, int, float, str or a tuple of one of them).

    A tuple takes items separated by ``;`` if the value contains one (so items may hold commas,
    as MDP specs do: ``chain:n=5;garnet:S=10,A=2``), by ``,`` otherwise.

    Raises:
        SpecError: ``value`` does not parse, e.g. ``chain: n='2.5' is not a valid int``.
    """
    if isinstance(default, tuple):
        element = default[0] if default else ""
        items = value.split(";") if ";" in value else value.split(",")
        return tuple(coerce(v.strip(), element, where) for v in items if v.strip())
    try:
        if isinstance(default, bool):
            lowered = value.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            number = float(value)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if isinstance(default, float):
            return float(value)
        return value if default is None or isinstance(default, str) else type(default)(value)
    except ValueError:
        raise SpecError(f"{where}={value!r} is not a valid {type(default).__name__}") from None
