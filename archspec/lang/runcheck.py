"""What ``train`` checks before it touches a tensor, checked by ``validate`` too: the data plan
(:mod:`archspec.lang.dataplan`), each stream's field names (files: they exist, and a CSV's header
names the columns; contents are not read), the loss terms' ``stream``/``pred``/``target``, and
the metrics (:mod:`archspec.lang.metricplan`). Every mistake is located, with a hint; nothing
here imports numpy or torch.
"""

from __future__ import annotations

import csv
import os
import zipfile
from collections.abc import Mapping
from typing import Any

from archspec.errors import SchemaError, SpecError, SpecErrors, did_you_mean
from archspec.lang.dataplan import data_plan
from archspec.lang.metricplan import metric_errors
from archspec.lang.model import Spec

__all__ = ["DATASET_FIELDS", "check_training", "resolve_term", "training_errors"]

# The fields of each built-in dataset; a test keeps this equal to archspec.data's.
DATASET_FIELDS: Mapping[str, tuple[str, ...]] = {
    "digits": ("image", "label", "flat"),
    "moons": ("x", "label"),
    "spirals": ("x", "label"),
    "xor": ("x", "label"),
    "shapes": ("image", "mask"),
    "paired": ("image", "sound", "label"),
    "reverse": ("tokens", "target"),
    "sort": ("tokens", "target"),
}


def check_training(spec: Spec, base: str | None = None, *, files: bool = True) -> None:
    """Raise :class:`SpecErrors` listing every mistake :func:`training_errors` finds."""
    errors = training_errors(spec, base, files=files)
    if errors:
        raise SpecErrors(errors)


def training_errors(spec: Spec, base: str | None = None, *, files: bool = True) -> list[SpecError]:
    """Every mistake of the spec's data, losses and metrics; ``files=False`` leaves the data
    files to the readers (``train`` reports an unreadable file as a data error, exit 3)."""
    if not spec.data and not spec.losses:
        return []
    base = base if base is not None else os.path.dirname(os.path.abspath(spec.file))
    errors: list[SpecError] = []
    try:
        data_plan(spec, base)
    except SpecErrors as exc:
        errors += exc.errors
    fields = {
        name: _stream_fields(spec, name, raw or {}, base, errors if files else [], files)
        for name, raw in spec.data.items()
    }
    known = {k: v for k, v in fields.items() if v is not None}
    train = [s for s in spec.data if (spec.data[s] or {}).get("role", "train") == "train"]
    fed = [s for s in spec.data if (spec.data[s] or {}).get("role", "train") in ("val", "test")]
    for name, raw in spec.losses.items():
        if isinstance(raw, Mapping) and not (raw.get("fn") in ("l1", "l2") and "params" in raw):
            found = resolve_term(spec, name, raw, known, train, unknown_fields=set(fields) - set(known))
            if isinstance(found, SpecError):
                errors.append(found)
            else:
                fed.insert(0, found[0])
    errors += _input_errors(spec, known, fed)
    return errors + metric_errors(spec, lambda stream, target: _holds_labels(spec, stream, target))


def _input_errors(spec: Spec, known: Mapping[str, set[str]], fed: list[str]) -> list[SpecError]:
    """Every stream the model reads (those the losses read, and the val/test streams) gives
    every model input: what ``train`` checks on the loaded streams, with the same words."""
    errors: list[SpecError] = []
    for name in dict.fromkeys(fed):
        have = known.get(name)
        missing = [i for i in spec.inputs if have is not None and i not in have]
        if missing:
            errors.append(
                SchemaError(
                    f"stream {name!r} does not provide model input {missing[0]!r}",
                    loc=spec.doc.loc(("data", name), key=True),
                    hint=f"map it with fields: {{{missing[0]}: <field>}}; the stream has {', '.join(sorted(have or ()))}",
                )
            )
    return errors


def _holds_labels(spec: Spec, stream: str, target: str) -> bool | None:
    """Whether a field holds class labels, where that is known without reading data: a CSV
    gives floats; a built-in dataset's ``label`` and ``mask`` are integers."""
    raw = spec.data.get(stream) or {}
    if "csv" in raw:
        return False
    if "dataset" in raw:
        source = (raw.get("fields") or {}).get(target, target)
        return source in ("label", "mask")
    return None


def resolve_term(
    spec: Spec,
    name: str,
    raw: Mapping[str, Any],
    stream_fields: Mapping[str, set[str] | tuple[str, ...]],
    train_streams: list[str],
    unknown_fields: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[str, str, str] | SpecError:
    """A data term's ``(stream, pred, target)``, or the located error about the first of them
    that names nothing (``unknown_fields``: streams whose fields could not be known)."""

    def loc(key: str) -> Any:
        return spec.doc.loc(("losses", name, key))

    stream = raw.get("stream") or (train_streams[0] if len(train_streams) == 1 else None)
    if stream not in stream_fields and stream not in unknown_fields:
        return SchemaError(
            f"loss {name!r} reads unknown stream {stream!r}",
            loc=loc("stream"),
            hint=did_you_mean(stream, stream_fields)
            or f"streams: {', '.join(stream_fields) or 'none (add data:)'}",
        )
    pred = raw.get("pred") or (next(iter(spec.outputs)) if len(spec.outputs) == 1 else None)
    if pred not in spec.outputs:
        return SchemaError(
            f"loss {name!r} reads unknown output {pred!r}",
            loc=loc("pred"),
            hint=did_you_mean(pred, spec.outputs) or f"outputs: {', '.join(spec.outputs)}",
        )
    target = str(raw.get("target", "")).removeprefix("input:")
    if stream in stream_fields and target not in stream_fields[stream]:
        have = stream_fields[stream]
        return SchemaError(
            f"stream {stream!r} has no field {target!r} for loss {name!r}",
            loc=loc("target"),
            hint=did_you_mean(target, have) or f"fields: {', '.join(sorted(have))}",
        )
    return str(stream), str(pred), target


def _stream_fields(
    spec: Spec, name: str, raw: Mapping[str, Any], base: str, errors: list[SpecError], files: bool
) -> set[str] | None:
    """The field names a stream gives (after ``fields:``), or None when they cannot be known."""
    mapping = raw.get("fields") or {}
    if "csv" in raw:
        if files:
            _check_csv(spec, name, raw, base, errors)
        return set(mapping)
    if not files and "dataset" not in raw:
        return None
    source = _source_fields(spec, name, raw, base, errors)
    if source is None:
        return None
    if not mapping:
        return set(source)
    for key, field in mapping.items():
        if field not in source:
            errors.append(
                SchemaError(
                    f"stream {name!r} has no field {field!r}",
                    loc=spec.doc.loc(("data", name, "fields", key)),
                    hint=did_you_mean(field, source) or f"fields: {', '.join(source)}",
                )
            )
    return set(mapping)


def _missing(spec: Spec, name: str, kind: str, path: str, errors: list[SpecError], *at: str) -> None:
    errors.append(
        SchemaError(
            f"no such {'folder' if kind == 'images' else 'file'}: {path}",
            loc=spec.doc.loc(("data", name, kind, *at)),
            hint="paths are relative to the spec's folder",
        )
    )


def _source_fields(
    spec: Spec, name: str, raw: Mapping[str, Any], base: str, errors: list[SpecError]
) -> tuple[str, ...] | None:
    if "dataset" in raw:
        return DATASET_FIELDS.get(str(raw["dataset"]))
    if "npz" in raw:
        path = os.path.join(base, str(raw["npz"]))
        if not os.path.isfile(path):
            _missing(spec, name, "npz", path, errors)
            return None
        try:
            with zipfile.ZipFile(path) as zf:
                return tuple(n.removesuffix(".npy") for n in zf.namelist() if n.endswith(".npy"))
        except (OSError, zipfile.BadZipFile):
            return None  # the reader says what is wrong with it, at train time
    if "npy" in raw and isinstance(raw["npy"], Mapping):
        for key, rel in raw["npy"].items():
            if not os.path.isfile(os.path.join(base, str(rel))):
                _missing(spec, name, "npy", os.path.join(base, str(rel)), errors, key)
        return tuple(raw["npy"])
    if "images" in raw:
        path = os.path.join(base, str(raw["images"]))
        if not os.path.isdir(path):
            _missing(spec, name, "images", path, errors)
        return ("image", "label")
    return None


def _check_csv(spec: Spec, name: str, raw: Mapping[str, Any], base: str, errors: list[SpecError]) -> None:
    """The file exists and its header names every column ``fields:`` reads."""
    path = os.path.join(base, str(raw["csv"]))
    if not os.path.isfile(path):
        _missing(spec, name, "csv", path, errors)
        return
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next((row for row in csv.reader(fh) if row), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return  # the reader reports it, with the line, at train time
    header = [h.strip() for h in header]
    for key, columns in (raw.get("fields") or {}).items():
        for i, column in enumerate(columns if isinstance(columns, list) else [columns]):
            if column not in header:
                at = ("data", name, "fields", key, *([i] if isinstance(columns, list) else []))
                errors.append(
                    SchemaError(
                        f"{raw['csv']} has no column {column!r}",
                        loc=spec.doc.loc(at),
                        hint=did_you_mean(column, header) or f"its header: {', '.join(header)}",
                    )
                )
