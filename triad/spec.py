"""``key=value`` strings, as in MDP specs (``garnet:S=1000,A=4``) and ``triad run --set``.

One parser and one typed coercion serve them all (MDP specs, ``--set``, the feature and
weighting specs of ``triad contraction``), so a value is read the same way wherever it is typed,
and every error names where it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def options(text: str, types: Mapping[str, Any], where: str, *, positional: str | None = None,
            ignore_case: bool = False) -> dict[str, Any]:
    """The options of a spec's argument part, typed: ``"4,seed=1"`` → ``{"K": 4, "seed": 1}``.

    ``text`` holds comma-separated ``key=value`` items (:func:`key_values`); each value is
    coerced to the type of its key's entry in ``types`` (:func:`coerce`). Only the keys given are
    returned, so the caller supplies defaults and decides what is required.

    Args:
        types: every accepted key, mapped to a value of its type (e.g. its default).
        where: names the spec in errors, e.g. ``"features 'random:4'"``.
        positional: a first item without ``=`` is the value of this key (``random:4`` is
            ``random:K=4``).
        ignore_case: keys match ``types`` regardless of case (``k=4`` is ``K=4``).

    Raises:
        SpecError: an item that is not ``key=value``, a key given twice, an unknown key (the
            message lists the accepted ones) or a value that does not parse.
    """
    items = [item.strip() for item in text.split(",")] if text.strip() else []
    if positional is not None and items and items[0] and "=" not in items[0]:
        items[0] = f"{positional}={items[0]}"
    names = {(key.lower() if ignore_case else key): key for key in types}
    out: dict[str, Any] = {}
    for key, value in key_values(items, where).items():
        name = names.get(key.lower() if ignore_case else key)
        if name is None:
            accepted = f"parameters: {', '.join(types)}" if types else "it takes none"
            raise SpecError(f"{where}: unknown parameter {key!r} ({accepted})")
        if name in out:
            raise SpecError(f"{where}: {name} is given twice")
        out[name] = coerce(value, types[name], f"{where}: {name}")
    return out
