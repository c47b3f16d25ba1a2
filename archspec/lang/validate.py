"""Stage 2: check a spec against its schemas and report every mistake, located.

Two passes. :func:`validate` checks the loaded document against the structural schema, before
expansion. :func:`validate_op_args` checks each expanded op node's arguments against its op's
catalogue schema, after expansion, when ``${...}`` expressions have values.

jsonschema finds the violations; this module turns each into a located :class:`SchemaError`
that reads like ``spec.yaml:14:12: nodes.dec1: unknown key 'kernal_size' (hint: did you mean
'kernel_size'?)``. An argument error inside a block is located in the block definition and
names the instance it came through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from archspec.errors import Location, SchemaError, SpecError, SpecErrors, did_you_mean
from archspec.lang.errorlog import ErrorLog
from archspec.lang.keys import FORMAT_VERSION, NODE_KEYS, NodeKey
from archspec.lang.loader import Document
from archspec.lang.model import Node, Spec
from archspec.lang.schema import NAME, structural_schema
from archspec.lang.shapeexpr import Deferred
from archspec.ops import CATALOGUE, OpDef, get_op

__all__ = ["op_arg_errors", "op_args_valid", "schema_errors", "validate", "validate_op_args"]

_SHARE = NodeKey.SHARE.value

_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}

_METRICS = ["accuracy", "accuracy:0.5", "top5", "topk:3", "iou", "dice", "mse", "mae"]
_YAML11 = {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF"}


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(structural_schema())


def validate(doc: Document) -> Document:
    """Return ``doc`` unchanged when it matches the schema; raise :class:`SpecErrors` otherwise."""
    _check_version(doc)
    errors = schema_errors(doc, _validator(), doc.data)
    if errors:
        raise SpecErrors(errors)
    return doc


def _check_version(doc: Document) -> None:
    data = doc.data
    if "archspec" not in data:
        raise SchemaError(
            "missing format version",
            loc=Location(doc.file, 1, 1),
            hint=f"add 'archspec: {FORMAT_VERSION}' as the first line",
        )
    version = data["archspec"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise SchemaError(
            f"unsupported format version {version!r}",
            loc=doc.loc(("archspec",)),
            hint=f"this archspec reads 'archspec: {FORMAT_VERSION}'",
        )


def validate_op_args(spec: Spec) -> Spec:
    """Return ``spec`` when every op node's arguments fit its op; raise :class:`SpecErrors`."""
    errors = op_arg_errors(spec.doc, spec.nodes.values())
    if errors:
        raise SpecErrors(errors)
    return spec


def op_arg_errors(doc: Document, nodes: Iterable[Node]) -> list[SpecError]:
    """Every argument mistake of ``nodes`` (expanded from ``doc``), each distinct one once.

    A node's ``arg_locs`` name every key written on it, so an unknown argument is found even
    though expansion left it out of ``args``; a node one of whose arguments did not expand
    (an error already reported) is not checked further.
    """
    log = ErrorLog()
    valid: set[tuple[str, bool, str]] = set()  # arguments already found valid: large specs repeat them
    for node in nodes:
        op = get_op(node.op)
        if op is None:
            continue
        written = [k for k in node.arg_locs if k not in NODE_KEYS]
        unknown = [k for k in written if k not in op.args]
        for key in unknown:
            log.add(_unknown_arg(doc, op, node, key))
        seen = (op.name, _shares(node), repr(node.args))
        deferred = any(isinstance(v, Deferred) for v in node.args.values())  # checked after shapes
        if unknown or deferred or len(node.args) != len(written) or seen in valid:
            continue
        errors = _arg_schema_errors(doc, op, node)
        for err in errors:
            log.add(err)
        if not errors:
            valid.add(seen)
    return log.errors


def op_args_valid(op: OpDef, args: Mapping[str, Any]) -> bool:
    """Whether ``args`` fit ``op``'s schema (for expansion, which needs a valid op's outputs)."""
    return bool(_op_validator(op.name).is_valid(args))


def _unknown_arg(doc: Document, op: OpDef, node: Node, key: str) -> SpecError:
    hint = did_you_mean(key, [*op.args, *NODE_KEYS]) or (
        f"{op.name} takes: {', '.join(op.args)}" if op.args else f"{op.name} takes no arguments"
    )
    return SchemaError(
        f"{op.name} has no argument {key!r}",
        loc=doc.loc(node.loc.path + (key,), key=True),
        hint=hint,
        via=node.via,
    )


def _arg_schema_errors(doc: Document, op: OpDef, node: Node) -> list[SpecError]:
    """The schema violations of one node's arguments, located under the node's YAML path."""
    path = node.loc.path
    out: list[SpecError] = []
    for err in schema_errors(doc, _op_validator(op.name), node.args, base=path):
        if err.message.startswith("missing required key"):
            if _shares(node) and op.outputs is None:  # a multi-output op's own arguments name its outputs
                continue
            err = SchemaError(f"{op.name} {err.message}", loc=doc.loc(path, key=True), hint=err.hint)
        out.append(SchemaError(err.message, loc=err.loc, hint=err.hint, via=node.via))
    return out


def _shares(node: Node) -> bool:
    """Whether ``share:`` is written on the node: it takes its arguments from the node it names."""
    return _SHARE in node.arg_locs


_OP_VALIDATORS: dict[str, tuple[Any, Any]] = {}  # op name -> (the OpDef, its validator)


def _op_validator(name: str) -> Any:
    """One compiled jsonschema validator per op (cached: large specs repeat ops), made again
    when the catalogue's entry for the name has changed (a plugin or an import replacing it)."""
    op = CATALOGUE[name]
    cached = _OP_VALIDATORS.get(name)
    if cached is None or cached[0] is not op:
        from jsonschema import Draft202012Validator

        cached = _OP_VALIDATORS[name] = (op, Draft202012Validator(op.args_schema()))
    return cached[1]


def schema_errors(
    doc: Document, validator: Any, instance: Any, base: Sequence[str | int] = ()
) -> list[SpecError]:
    """Every violation of ``validator`` by ``instance`` (found at ``base`` in ``doc``), located."""
    out: list[SpecError] = []
    seen: set[tuple[str, str]] = set()
    for err in validator.iter_errors(instance):
        for leaf in _leaves(err):
            spec_err = _convert(doc, leaf, tuple(base))
            key = (spec_err.loc.yaml_path, spec_err.message)
            if key not in seen:
                seen.add(key)
                out.append(spec_err)
    return out


def _leaves(err: Any) -> Iterable[Any]:
    """Descend into anyOf/oneOf to the most specific failures (jsonschema's best_match idea)."""
    if err.validator in ("anyOf", "oneOf") and err.context:
        best = _most_relevant(err)
        if best is not None:
            yield from _leaves(best)
            return
    yield err


def _most_relevant(err: Any) -> Any | None:
    """The deepest sub-error, preferring the branch whose type matched the instance."""
    typed = [e for e in err.context if e.validator != "type"]
    if not typed:
        return None  # every branch wanted another type: report the anyOf as a type error
    if err.validator == "oneOf" and all(e.validator == "required" for e in err.context):
        return None
    return max(typed, key=lambda e: (len(e.absolute_path), e.validator != "required"))


def _convert(doc: Document, err: Any, base: tuple[str | int, ...]) -> SpecError:
    path = base + tuple(err.absolute_path)
    handler = _HANDLERS.get(err.validator, _generic)
    return handler(doc, err, path)


def _generic(doc: Document, err: Any, path: tuple) -> SpecError:
    return SchemaError(err.message, loc=doc.loc(path))


def _additional(doc: Document, err: Any, path: tuple) -> SpecError:
    allowed = list(err.schema.get("properties", {}))
    extra = [k for k in err.instance if k not in allowed] if isinstance(err.instance, Mapping) else []
    key = extra[0] if extra else "?"
    return SchemaError(
        f"unknown key {key!r}",
        loc=doc.loc(path + (key,), key=True),
        hint=did_you_mean(key, allowed) or _allowed_hint(allowed),
    )


def _allowed_hint(allowed: list[str]) -> str | None:
    return f"allowed keys: {', '.join(allowed)}" if allowed and len(allowed) <= 12 else None


def _required(doc: Document, err: Any, path: tuple) -> SpecError:
    missing = re.findall(r"'([^']+)' is a required property", err.message)
    name = missing[0] if missing else err.message
    return SchemaError(f"missing required key {name!r}", loc=doc.loc(path, key=True))


def _type(doc: Document, err: Any, path: tuple) -> SpecError:
    wanted = err.validator_value
    names = [wanted] if isinstance(wanted, str) else list(wanted)
    expected = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
    return SchemaError(
        f"expected {expected}, got {err.instance!r}", loc=doc.loc(path), hint=_type_hint(err.instance, path)
    )


def _any_of(doc: Document, err: Any, path: tuple) -> SpecError:
    wanted: list[str] = []
    for sub in err.context:
        if sub.validator == "type":
            names = [sub.validator_value] if isinstance(sub.validator_value, str) else sub.validator_value
            wanted += [_TYPE_NAMES.get(n, n) for n in names]
        elif sub.validator == "enum":
            wanted.append("one of " + ", ".join(map(repr, sub.validator_value)))
        elif sub.validator == "pattern" and "${" in str(sub.validator_value).replace("\\", ""):
            wanted.append("a ${...} expression")
    expected = " or ".join(dict.fromkeys(wanted)) or "a different value"
    return SchemaError(
        f"expected {expected}, got {err.instance!r}", loc=doc.loc(path), hint=_type_hint(err.instance)
    )


def _type_hint(instance: Any, path: tuple = ()) -> str | None:
    if not isinstance(instance, str):
        return None
    if path and path[-1] in ("optimizer", "schedule"):
        return f"write {path[-1]}: {{name: {instance}}}"
    if instance in _YAML11:
        return "archspec reads YAML 1.2: write true or false"
    if re.fullmatch(r"[-+]?0[0-9]+", instance):
        return "numbers with a leading zero are ambiguous (octal in YAML 1.1): drop the zero"
    if re.fullmatch(r"[-+]?[0-9]+(:[0-5]?[0-9])+(\.[0-9]*)?", instance):
        return "this looks like a YAML 1.1 sexagesimal number: quote it or write a plain number"
    if re.fullmatch(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*", instance):
        return f"remove the quotes: {instance.strip()} is a number, {instance!r} a string"
    return None


def _enum(doc: Document, err: Any, path: tuple) -> SpecError:
    options = [str(o) for o in err.validator_value]
    hint = did_you_mean(err.instance, options) or f"one of {', '.join(options)}"
    return SchemaError(f"unknown value {err.instance!r}", loc=doc.loc(path), hint=hint)


def _const(doc: Document, err: Any, path: tuple) -> SpecError:
    return SchemaError(f"expected {err.validator_value!r}, got {err.instance!r}", loc=doc.loc(path))


def _one_of(doc: Document, err: Any, path: tuple) -> SpecError:
    if isinstance(err.instance, Mapping) and {"op", "block"} <= set(err.instance):
        return SchemaError("a node has either 'op' or 'block', not both", loc=doc.loc(path, key=True))
    if isinstance(err.instance, Mapping) and "op" not in err.instance and "block" not in err.instance:
        return SchemaError(
            "a node needs 'op' (a layer or tensor operation) or 'block' (a block instance)",
            loc=doc.loc(path, key=True),
        )
    return _any_of(doc, err, path)


def _pattern(doc: Document, err: Any, path: tuple) -> SpecError:
    if path == ("name",):
        return SchemaError(
            f"invalid spec name {err.instance!r}: it names the folders build/<name> and runs/<name>",
            loc=doc.loc(path),
            hint="use one folder name: letters, digits, '.', '_' and '-', starting with a letter, a digit or '_' (at most 100 characters)",
        )
    if err.validator_value == NAME["pattern"] and isinstance(err.instance, str):
        return _invalid_name(doc, path, err.instance)
    if "metrics" in path:
        return SchemaError(
            f"unknown metric {err.instance!r}",
            loc=doc.loc(path),
            hint=did_you_mean(err.instance, _METRICS) or f"metrics: {', '.join(_METRICS)}",
        )
    return SchemaError(f"{err.instance!r} does not match {err.validator_value!r}", loc=doc.loc(path))


def _property_names(doc: Document, err: Any, path: tuple) -> SpecError:
    sub = err.context[0] if err.context else err
    name = sub.instance
    if sub.validator == "enum":
        return _enum(doc, sub, path + (name,))
    return _invalid_name(doc, path, name)


def _invalid_name(doc: Document, path: tuple, name: str) -> SpecError:
    """A name that is not an identifier: a key of the mapping at ``path`` (a node, input, block,
    stream...), or the list item at ``path`` (a block's ``inputs``)."""
    item = bool(path) and isinstance(path[-1], int)
    return SchemaError(
        f"invalid name {name!r}",
        loc=doc.loc(path if item else path + (name,), key=not item),
        hint="names use letters, digits and _, and do not start with a digit",
    )


def _bounds(doc: Document, err: Any, path: tuple) -> SpecError:
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
        "minItems": "at least",
        "maxItems": "at most",
        "minProperties": "at least",
        "maxProperties": "at most",
    }
    unit = {
        "minItems": " items",
        "maxItems": " items",
        "minProperties": " entries",
        "maxProperties": " entries",
    }
    what = f"{words[err.validator]} {err.validator_value}{unit.get(err.validator, '')}"
    shown = err.instance if not isinstance(err.instance, (list, dict)) else f"{len(err.instance)}"
    return SchemaError(f"expected {what}, got {shown!r}", loc=doc.loc(path))


_HANDLERS = {
    "additionalProperties": _additional,
    "required": _required,
    "type": _type,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "propertyNames": _property_names,
    "minimum": _bounds,
    "maximum": _bounds,
    "exclusiveMinimum": _bounds,
    "exclusiveMaximum": _bounds,
    "minItems": _bounds,
    "maxItems": _bounds,
    "minProperties": _bounds,
    "maxProperties": _bounds,
}
