"""``--set training.optimizer.lr=0.01``: command-line overrides applied to a loaded document.

Values are read with the spec loader's own YAML 1.2 rules, so ``--set lr=1e-3`` is a float and
``--set nodes.fc.out_features=[10]`` a list. Overrides are applied before validation, so a bad
override gets the same clear error a bad file would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archspec.errors import LoadError, Location, did_you_mean, format_path
from archspec.lang.loader import Document, loads

__all__ = ["apply_overrides", "parse_override"]


def parse_override(item: str) -> tuple[list[str | int], Any]:
    """Split ``a.b.0.c=value`` into a path and a value."""
    key, sep, text = item.partition("=")
    loc = Location("--set", None, None, ())
    if not sep or not key.strip():
        raise LoadError(
            f"override {item!r} is not KEY=VALUE", loc=loc, hint="e.g. --set training.optimizer.lr=0.01"
        )
    path: list[str | int] = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
    value = loads(f"v: {text}" if text.strip() else "v: ''", name="--set").data["v"]
    return path, value


def apply_overrides(doc: Document, items: Sequence[str]) -> Document:
    """Set each ``KEY=VALUE`` in ``doc.data`` (creating mappings on the way); returns ``doc``.

    Errors about an overridden value are then located at its ``--set`` (``Document.overridden``),
    and so are the errors found here: ``--set nodes.fc.out_features=3: nodes.fc: ...``.
    """
    for item in items:
        path, value = parse_override(item)
        target: Any = doc.data
        real: list[str | int] = []
        for part in path[:-1]:
            real.append(part if isinstance(target, list) else str(part))
            target = _step(target, real, item)
        last = path[-1]
        if isinstance(target, list):
            if not isinstance(last, int) or last >= len(target):
                raise _error(item, [*real, last], f"no such list item (the list has {len(target)})")
            target[last] = value
        else:
            last = str(last)
            target[last] = value
        doc.overridden[(*real, last)] = item
    return doc


def _error(item: str, path: Sequence[str | int], message: str, hint: str | None = None) -> LoadError:
    return LoadError(message, loc=Location(f"--set {item}", None, None, tuple(path)), hint=hint)


def _step(target: Any, path: list[str | int], item: str) -> Any:
    """The container at the end of ``path`` (its last part inside ``target``), made if missing."""
    part = path[-1]
    if isinstance(target, list):
        if not (isinstance(part, int) and part < len(target)):
            raise _error(item, path, f"no such list item (the list has {len(target)})")
        return _container(target[part], item, path)
    key = str(part)
    if key not in target and (hint := did_you_mean(key, [str(k) for k in target])):
        # a typo would silently create a new, incomplete entry next to the one meant
        where = format_path(path)
        meant = format_path([*path[:-1], hint.split("'")[1]])
        raise _error(
            item,
            path,
            f"there is no {where} to set a key in",
            hint=f"did you mean {meant}? To add {where}, set it whole: --set {where}={{...}}",
        )
    if target.get(key) is None:
        target[key] = {}
    return _container(target[key], item, path)


def _container(value: Any, item: str, path: list[str | int]) -> Any:
    """``value`` if a key or item can be set in it, else the located error."""
    if isinstance(value, dict | list):
        return value
    raise _error(
        item,
        path,
        f"expected a mapping to set a key in, got {value!r}",
        hint=f"set it whole: --set {'.'.join(map(str, path))}=...",
    )
