"""Stage 1: read a spec file into plain Python data, safely, remembering where everything was.

Safety first: PyYAML is used only for its pure-Python event stream (its scanner and parser are
iterative state machines). The tree is composed here, from those events, with an explicit stack
and hard limits, so a hostile file gives a located :class:`LoadError` and never a
``RecursionError``, a crash, a memory blow-up or a constructed object:

* at most :data:`MAX_BYTES` bytes, checked before parsing;
* at most :data:`MAX_DEPTH` nested mappings/lists, counted after alias expansion too;
* at most :data:`MAX_EXPANDED_NODES` nodes once every alias is expanded, counted while
  composing and before any Python object is built ("billion laughs" stops at once);
* only the core tags ``!!str !!int !!float !!bool !!null !!map !!seq``; archspec never builds
  objects from YAML, so ``!!python/...`` and local ``!tags`` are errors and nothing can run.

Scalars follow the YAML 1.2 core schema, not PyYAML's YAML 1.1 one. Only *plain* (unquoted)
scalars are resolved; quoted and block scalars are always strings:

* ``null Null NULL ~`` and empty -> ``None``; ``true True TRUE false False FALSE`` -> bool;
* ``yes no on off y n`` stay strings (a schema check then complains where a bool was wanted);
* ``[-+]?[0-9]+`` without a leading zero, ``0x1F`` and ``0o17`` -> int (at most
  :data:`MAX_INT_DIGITS` digits); ``010`` and sexagesimal ``12:30`` stay strings;
* ``1e-3 1E5 -2.5e+3 .5 5. .inf -.inf .nan`` -> float (so ``lr: 1e-3`` is ``0.001``).

Mapping keys are always the raw text of a scalar (``1: x`` has the key ``"1"``; ``null: x`` the
key ``"null"``); a list or mapping used as a key is an error, and so is a duplicate key. Merge
keys (``<<: *base`` or ``<<: [*a, *b]``) are supported: explicit keys win, then earlier merged
mappings win over later ones; merged keys take the place of the ``<<`` entry.

Text must be UTF-8 (a BOM is skipped); CRLF line ends are fine.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from archspec.errors import LoadError, Location, did_you_mean

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "MAX_INT_DIGITS",
    "Document",
    "load_document",
    "loads",
]

#: Largest spec file accepted, in bytes (5 MiB); checked before anything is parsed.
MAX_BYTES = 5 * 1024 * 1024
#: Deepest nesting of mappings and lists accepted, counted after aliases are expanded.
MAX_DEPTH = 100
#: Most nodes (keys, values, items, containers) a document may have once aliases are expanded.
MAX_EXPANDED_NODES = 200_000
#: Most digits a plain integer (or a float's mantissa and exponent) may have.
MAX_INT_DIGITS = 100

Mark = tuple[int, int]
PathPart = str | int
Path = tuple[PathPart, ...]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_CORE + t for t in ("str", "int", "float", "bool", "null"))
_COLLECTION_TAGS = {"seq": _CORE + "seq", "map": _CORE + "map"}
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_DEC_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_HEX_INT = re.compile(r"0x([0-9a-fA-F]+)")
_OCT_INT = re.compile(r"0o([0-7]+)")
_FLOAT = re.compile(
    r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"  # with a point
    r"|[-+]?[0-9]+[eE][-+]?[0-9]+"  # or with an exponent
)
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_KIND_NAMES = {"map": "a mapping", "seq": "a list"}
_VALUE_NAMES = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number"}
_NO_OBJECTS = "archspec never constructs objects from YAML; write plain values instead"


@dataclass
class Document:
    """A loaded spec: plain data plus the (line, col) of every key and value, both 1-based."""

    data: dict[str, Any]
    file: str
    text: str = field(repr=False)
    marks: dict[Path, Mark] = field(repr=False)
    key_marks: dict[Path, Mark] = field(repr=False)
    overridden: dict[Path, str] = field(default_factory=dict, repr=False)  # path -> the --set item

    def loc(self, path: Sequence[PathPart], *, key: bool = False) -> Location:
        """Location for ``path``; falls back to the nearest ancestor that has a mark.

        With ``key=True`` the mark of the mapping key that introduces a path is preferred to
        the mark of its value. A value set on the command line is located at its ``--set``.
        """
        full = tuple(path)
        for end in range(len(full), 0, -1):
            if full[:end] in self.overridden:
                return Location(f"--set {self.overridden[full[:end]]}", None, None, full)
        for end in range(len(full), -1, -1):
            mark = self._mark(full[:end], key)
            if mark is not None:
                return Location(self.file, mark[0], mark[1], full)
        return Location(self.file, None, None, full)

    def _mark(self, path: Path, key: bool) -> Mark | None:
        if key and path in self.key_marks:
            return self.key_marks[path]
        return self.marks.get(path)


def load_document(path: str | os.PathLike[str]) -> Document:
    """Read and load the spec file at ``path``; every failure is a :class:`LoadError`."""
    name = os.fspath(path)
    return loads(_read_bytes(name), name)


def loads(text: str | bytes, name: str = "<string>") -> Document:
    """Load a spec from text (or UTF-8 bytes); ``name`` is the file shown in error messages."""
    try:
        return _load(text, name)
    except LoadError:
        raise
    except Exception as exc:  # the safety boundary: nothing but LoadError may escape
        raise LoadError(f"could not load the file: {type(exc).__name__}: {exc}", loc=Location(name)) from exc


# --- reading ---------------------------------------------------------------------------------


def _read_bytes(name: str) -> bytes:
    try:
        with open(name, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise LoadError("no such file", loc=Location(name)) from None
    except IsADirectoryError:
        raise LoadError("is a directory, not a spec file", loc=Location(name)) from None
    except OSError as exc:
        raise LoadError(f"cannot read the file: {exc.strerror or exc}", loc=Location(name)) from None
    _check_size(len(raw), name)
    return raw


def _check_size(size: int, name: str) -> None:
    if size > MAX_BYTES:
        raise LoadError(
            f"the file is larger than the limit of {MAX_BYTES:,} bytes",
            loc=Location(name),
            hint="a spec is normally a few kilobytes; is this the right file?",
        )


def _decode(text: str | bytes, name: str) -> str:
    if isinstance(text, str):
        _check_size(len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass")), name)
        return text.removeprefix("\ufeff")
    _check_size(len(text), name)
    try:
        return text.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise _not_utf8(text, exc.start, name) from None


def _not_utf8(raw: bytes, offset: int, name: str) -> LoadError:
    line = raw.count(b"\n", 0, offset) + 1
    col = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
    return LoadError(
        f"the file is not UTF-8 text (byte {raw[offset]:#04x} at offset {offset})",
        loc=Location(name, line, col),
        hint="a spec must be a UTF-8 text file",
    )


def _load(text: str | bytes, name: str) -> Document:
    decoded = _decode(text, name)
    quoted, shifts = quote_expressions(decoded)
    try:
        try:
            root = _Composer(name).compose(yaml.parse(quoted, Loader=yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise _yaml_error(exc, quoted, name) from None
        root = _check_top_level(root, name)
    except LoadError as exc:
        if shifts and exc.loc.line is not None and exc.loc.col is not None:
            line, col = _unshift((exc.loc.line, exc.loc.col), shifts)
            raise LoadError(exc.message, loc=Location(name, line, col, exc.loc.path), hint=exc.hint) from None
        raise
    builder = _Builder()
    data = builder.build(root, (), root.mark)
    marks, key_marks = builder.marks, builder.key_marks
    if shifts:
        marks = {k: _unshift(m, shifts) for k, m in marks.items()}
        key_marks = {k: _unshift(m, shifts) for k, m in key_marks.items()}
    return Document(data, name, decoded, marks, key_marks)


# --- ${...} expressions in flow mappings ----------------------------------------------------

# ``{op: conv2d, out_channels: ${ch * 2}}`` is how people write specs, but ``{``, ``}`` and
# ``,`` are flow indicators in YAML, so such a value is a syntax error. Before parsing, a
# ``${...}`` that forms a whole unquoted value is wrapped in double quotes (it is a string to
# YAML either way); marks are shifted back so every position still points into the user's text.
_EXPR_VALUE = re.compile(r"(?<=[\[{,:\s])\$\{[^{}\n\"]*\}(?=\s*(?:[,\]}#]|$))")


def quote_expressions(text: str) -> tuple[str, dict[int, list[int]]]:
    """Quote whole-value ``${...}`` expressions; returns the text and, per line (1-based), the
    original 1-based columns before which a quote was inserted."""
    if "${" not in text:
        return text, {}
    shifts: dict[int, list[int]] = {}
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "${" in line:
            lines[i] = _quote_line(line, shifts.setdefault(i + 1, []))
    return "\n".join(lines), {k: v for k, v in shifts.items() if v}


def _quote_line(line: str, inserted: list[int]) -> str:
    out, pos = [], 0
    for m in _EXPR_VALUE.finditer(line):
        if _inside_quotes_or_comment(line, m.start()):
            continue
        out.append(line[pos : m.start()])
        out.append('"' + m.group(0) + '"')
        inserted += [m.start() + 1, m.end() + 1]  # original columns of the two quotes
        pos = m.end()
    out.append(line[pos:])
    return "".join(out)


def _inside_quotes_or_comment(line: str, end: int) -> bool:
    single = double = False
    prev = " "
    for ch in line[:end]:
        if ch == "'" and not double:
            single = not single
        elif ch == '"' and not single and prev != "\\":
            double = not double
        elif ch == "#" and not single and not double and prev in " \t":
            return True
        prev = ch
    return single or double


def _unshift(mark: Mark, shifts: dict[int, list[int]]) -> Mark:
    """A mark in the quoted text back to the user's text (``shifts`` from quote_expressions)."""
    line, col = mark
    inserted = shifts.get(line)
    if not inserted:
        return mark
    orig = col
    for n, at in enumerate(inserted):
        # the n-th inserted quote sits at column at + n in the quoted text
        if at + n < col:
            orig -= 1
    return (line, max(orig, 1))


def _yaml_error(exc: yaml.YAMLError, text: str, name: str) -> LoadError:
    """A PyYAML syntax error as a LoadError at the problem's position."""
    if isinstance(exc, yaml.reader.ReaderError):
        return _reader_error(exc, text, name)
    if not isinstance(exc, yaml.MarkedYAMLError):
        return LoadError(f"invalid YAML: {exc}", loc=Location(name))
    problem = exc.problem or exc.context or "syntax error"
    if exc.context and exc.problem:
        problem += f" ({exc.context})"
    mark = exc.problem_mark or exc.context_mark
    loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
    hint = "YAML does not allow tabs for indentation; use spaces" if "\\t" in problem else None
    return LoadError(f"invalid YAML: {problem}", loc=loc, hint=hint)


def _reader_error(exc: yaml.reader.ReaderError, text: str, name: str) -> LoadError:
    """A character YAML does not allow (control characters, lone surrogates)."""
    line = text.count("\n", 0, exc.position) + 1
    col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    char = exc.character if isinstance(exc.character, int) else ord(exc.character)
    message = f"invalid YAML: unacceptable character #x{char:04x}: {exc.reason}"
    return LoadError(message, loc=Location(name, line, col))


def _check_top_level(root: _Node | None, name: str) -> _Node:
    if root is None:
        got, loc = "an empty document", Location(name, 1, 1)
    elif root.kind == "map":
        return root
    else:
        got, loc = _describe(root), Location(name, *root.mark)
    raise LoadError(
        f"a spec must be a YAML mapping at the top level, got {got}",
        loc=loc,
        hint="a spec is a set of 'key: value' entries, starting at the first column",
    )


def _describe(node: _Node) -> str:
    if node.kind in _KIND_NAMES:
        return _KIND_NAMES[node.kind]
    return _VALUE_NAMES.get(type(node.value), "a string")


# --- scalars ---------------------------------------------------------------------------------


class _BadScalar(Exception):
    """A scalar that cannot be read; the composer adds its position."""


def _resolve_plain(text: str) -> Any:
    """The value of a plain (unquoted, untagged) scalar under the YAML 1.2 core schema."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    number = _number(text)
    return text if number is None else number


def _number(text: str) -> int | float | None:
    for pattern, base in ((_DEC_INT, 10), (_HEX_INT, 16), (_OCT_INT, 8)):
        match = pattern.fullmatch(text)
        if match:
            digits = match.group(match.lastindex or 0)  # hex/octal: the digits after the prefix
            _check_digits(len(digits.lstrip("+-")), "integer")
            return int(digits, base)
    return _float(text)


def _float(text: str) -> float | None:
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    if not _FLOAT.fullmatch(text):
        return None
    _check_digits(sum(ch.isdigit() for ch in text), "number")
    value = float(text)
    if math.isinf(value):
        raise _BadScalar(f"number {text!r} is too large for a float")
    return value


def _check_digits(count: int, what: str) -> None:
    if count > MAX_INT_DIGITS:
        raise _BadScalar(f"{what} with {count} digits is too long")


def _resolve_tagged(tag: str, text: str) -> Any:
    """The value of a scalar with an explicit core tag (``!!int "3"`` is 3)."""
    kind = tag.removeprefix(_CORE)
    if kind == "str":
        return text
    value = _resolve_plain(text)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    wanted = {"null": type(None), "bool": bool, "int": int, "float": float}[kind]
    if type(value) is not wanted:
        raise _BadScalar(f"{text!r} is not a valid !!{kind}")
    return value


def _show_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


# --- composing -------------------------------------------------------------------------------

_MERGE = "<<"


class _Entry(NamedTuple):
    """One mapping entry: its key (None for a ``<<`` merge), the key's mark, the value node."""

    key: str | None
    key_mark: Mark
    node: _Node
    mark: Mark  # where the value appears here (an alias's own position, not its anchor's)


class _Item(NamedTuple):
    node: _Node
    mark: Mark


@dataclass(eq=False)
class _Node:
    """A composed node. Aliases share nodes, so the tree is a DAG; sizes count it expanded."""

    kind: str  # "scalar", "seq" or "map"
    mark: Mark
    value: Any = None  # scalars: the resolved value
    raw: str = ""  # scalars: the source text, used when the scalar is a mapping key
    is_merge: bool = False  # a plain '<<' scalar
    items: list[Any] = field(default_factory=list)  # seq: _Item, map: _Entry
    size: int = 1  # nodes once expanded, including mapping keys
    height: int = 0  # nesting levels below and including this node
    done: bool = False


@dataclass(eq=False)
class _Frame:
    """An open mapping or list on the composer's stack."""

    node: _Node
    key: _Node | None = None  # a mapping's key waiting for its value
    key_mark: Mark = (0, 0)
    seen: dict[str, int] = field(default_factory=dict)  # key -> line of first definition


# C0 and C1 control characters but tab and line feed: only a double-quoted escape ("\e", "\x1b")
# can put one in a scalar (the YAML reader refuses them raw), and they would reach terminals as
# escape sequences and make SVG ill-formed XML.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _mark(event: yaml.Event) -> Mark:
    return (event.start_mark.line + 1, event.start_mark.column + 1)


class _Composer:
    """Builds a bounded node DAG from parser events, iteratively, with an explicit stack."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Node] = {}
        self.total = 0
        self.root: _Node | None = None
        self.documents = 0

    def compose(self, events: Iterable[yaml.Event]) -> _Node | None:
        for event in events:
            self._on(event)
        return self.root

    def _on(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self._start_document(event)
        elif isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.CollectionStartEvent):
            self._open(event)
        elif isinstance(event, yaml.CollectionEndEvent):
            self._close()

    def _error(self, message: str, mark: Mark, hint: str | None = None) -> LoadError:
        return LoadError(message, loc=Location(self.file, *mark), hint=hint)

    def _start_document(self, event: yaml.DocumentStartEvent) -> None:
        self.documents += 1
        if self.documents > 1:
            raise self._error(
                "a spec file must hold exactly one YAML document, found a second one",
                _mark(event),
                hint="remove the extra '---' or split the file",
            )

    def _count(self, size: int, mark: Mark) -> None:
        self.total += size
        if self.total > MAX_EXPANDED_NODES:
            raise self._error(
                f"the document has more than {MAX_EXPANDED_NODES:,} nodes once aliases are expanded",
                mark,
                hint="an alias bomb ('billion laughs')? archspec caps the expanded size of a spec",
            )

    def _check_tag(self, tag: str | None, allowed: frozenset[str], what: str, mark: Mark) -> None:
        if tag is None or tag in allowed:
            return
        if tag in _SCALAR_TAGS or tag in _COLLECTION_TAGS.values():
            raise self._error(f"tag {_show_tag(tag)!r} cannot be used on {what}", mark)
        raise self._error(f"tag {_show_tag(tag)!r} is not allowed", mark, hint=_NO_OBJECTS)

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        mark = _mark(event)
        self._check_tag(event.tag, _SCALAR_TAGS, "a scalar", mark)
        control = _CONTROL.search(event.value)
        if control is not None:
            raise self._error(
                f"control character {control.group()!r} in {event.value[:60]!r}",
                mark,
                hint="names, descriptions and other text end up on terminals and in SVG, HTML, DOT and Mermaid files: "
                "remove it (tabs and line breaks are fine)",
            )
        plain = event.style is None and event.tag is None
        try:
            value = _resolve_plain(event.value) if plain else event.value
            if event.tag is not None:
                value = _resolve_tagged(event.tag, event.value)
        except _BadScalar as exc:
            hint = "quote it if you meant a string" if plain else None
            raise self._error(str(exc), mark, hint=hint) from None
        node = _Node("scalar", mark, value=value, raw=event.value, is_merge=plain and event.value == _MERGE)
        self._new(node, event.anchor)
        node.done = True
        self._attach(node, mark)

    def _open(self, event: yaml.CollectionStartEvent) -> None:
        mark = _mark(event)
        kind = "seq" if isinstance(event, yaml.SequenceStartEvent) else "map"
        self._check_tag(event.tag, frozenset({_COLLECTION_TAGS[kind]}), _KIND_NAMES[kind], mark)
        self._check_not_key(kind, mark)
        if len(self.stack) + 1 > MAX_DEPTH:
            raise self._error(f"nesting deeper than {MAX_DEPTH} levels", mark)
        node = _Node(kind, mark)
        self._new(node, event.anchor)
        self.stack.append(_Frame(node))

    def _new(self, node: _Node, anchor: str | None) -> None:
        self._count(1, node.mark)
        if anchor is not None:
            self.anchors[anchor] = node

    def _check_not_key(self, kind: str, mark: Mark) -> None:
        frame = self.stack[-1] if self.stack else None
        if frame and frame.node.kind == "map" and frame.key is None:
            raise self._error(f"a mapping key must be a plain value, got {_KIND_NAMES[kind]}", mark)

    def _alias(self, event: yaml.AliasEvent) -> None:
        mark, name = _mark(event), event.anchor
        target = self.anchors.get(name)
        if target is None:
            hint = did_you_mean(name, self.anchors)
            raise self._error(f"alias '*{name}' has no anchor '&{name}' before it", mark, hint=hint)
        if not target.done:
            raise self._error(
                f"alias '*{name}' is inside its own anchor (recursive aliases are not allowed)", mark
            )
        if target.kind != "scalar":
            self._check_not_key(target.kind, mark)
        if len(self.stack) + target.height > MAX_DEPTH:
            raise self._error(f"nesting deeper than {MAX_DEPTH} levels (through alias '*{name}')", mark)
        self._count(target.size, mark)
        self._attach(target, mark)

    def _close(self) -> None:
        frame = self.stack.pop()
        node = frame.node
        if node.kind == "map":
            node.items = _resolve_merges(node.items, frame.seen, self)
        children = [item.node for item in node.items]
        node.size = 1 + sum(child.size for child in children) + (len(children) if node.kind == "map" else 0)
        node.height = 1 + max((child.height for child in children), default=0)
        node.done = True
        self._attach(node, node.mark)

    def _attach(self, node: _Node, mark: Mark) -> None:
        """Put a finished node (or an alias to one) into its parent, or make it the root."""
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        if frame.node.kind == "seq":
            frame.node.items.append(_Item(node, mark))
        elif frame.key is None:
            self._set_key(frame, node, mark)
        else:
            key = None if frame.key.is_merge else frame.key.raw
            frame.node.items.append(_Entry(key, frame.key_mark, node, mark))
            frame.key = None

    def _set_key(self, frame: _Frame, key: _Node, mark: Mark) -> None:
        first = frame.seen.get(key.raw)
        if first is not None:
            raise self._error(f"duplicate key {key.raw!r} (first defined on line {first})", mark)
        frame.seen[key.raw] = mark[0]
        frame.key, frame.key_mark = key, mark


def _resolve_merges(entries: list[_Entry], explicit: dict[str, int], composer: _Composer) -> list[_Entry]:
    """Replace a ``<<`` entry by the entries it merges that no explicit key overrides."""
    if all(entry.key is not None for entry in entries):
        return entries
    taken = set(explicit)
    out: list[_Entry] = []
    for entry in entries:
        if entry.key is not None:
            out.append(entry)
            continue
        for source in _merge_sources(entry, composer):
            fresh = [inner for inner in source.items if inner.key not in taken]
            taken.update(inner.key for inner in fresh)
            out.extend(fresh)
    return out


def _merge_sources(entry: _Entry, composer: _Composer) -> list[_Node]:
    node = entry.node
    sources = [item.node for item in node.items] if node.kind == "seq" else [node]
    bad = next((source for source in sources if source.kind != "map"), None)
    if bad is not None:
        raise composer._error(
            f"merge key '<<' takes a mapping or a list of mappings, got {_describe(bad)}", entry.mark
        )
    return sources


# --- building --------------------------------------------------------------------------------


class _Builder:
    """Turns the node DAG into fresh plain values, recording the marks of every expanded path.

    Recursion is safe here: the composer has already bounded the expanded depth by MAX_DEPTH
    and the expanded size by MAX_EXPANDED_NODES.
    """

    def __init__(self) -> None:
        self.marks: dict[Path, Mark] = {}
        self.key_marks: dict[Path, Mark] = {}

    def build(self, node: _Node, path: Path, mark: Mark) -> Any:
        self.marks[path] = mark
        if node.kind == "scalar":
            return node.value
        if node.kind == "seq":
            return [self.build(item.node, (*path, i), item.mark) for i, item in enumerate(node.items)]
        return {entry.key: self._entry(entry, path) for entry in node.items}

    def _entry(self, entry: _Entry, path: Path) -> Any:
        child = (*path, entry.key)
        self.key_marks[child] = entry.key_mark
        return self.build(entry.node, child, entry.mark)
