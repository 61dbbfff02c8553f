"""``key=value`` strings, as in MDP specs (``garnet:S=1000,A=4``) and ``triad run --set``.

One parser and one typed coercion serve them all (MDP specs, ``--set``, the feature and
weighting specs of ``triad contraction``), so a value is read the same way wherever it is typed,
and every error names where it came from.
"""

from __future__ import annotations

import contextlib
import re
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
