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

The text is parsed exactly as written, so a spec means the same to archspec as to any other YAML
tool. ``{op: conv2d, out_channels: ${ch}}`` is not YAML (``{``, ``}`` and ``,`` are flow
indicators); it is a located error whose hint shows the quoted form, ``out_channels: "${ch}"``.

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
from archspec.lang.yamlhints import explain, quoted

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "MAX_INT_DIGITS",
    "Document",
    "load_document",
    "dumps",
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
    included: dict[str, Document] = field(default_factory=dict, repr=False)  # block -> its file

    def loc(self, path: Sequence[PathPart], *, key: bool = False) -> Location:
        """Location for ``path``; falls back to the nearest ancestor that has a mark.

        With ``key=True`` the mark of the mapping key that introduces a path is preferred to
        the mark of its value. A value set on the command line is located at its ``--set``;
        one inside a block included from another file, in that file.

        The command line also wins for an entry that a ``--set`` created (``nodes.extra`` of
        ``--set nodes.extra.op=relu``: the file has no line for it) and for an entry a
        ``--set`` changed inside (a shape error at ``nodes.act`` after ``--set nodes.act.dim=5``):
        the file's line of it would point away from the value that broke it. Top-level
        sections (``training``) keep their line: a ``--set`` inside one rarely causes its error.
        """
        full = tuple(path)
        if len(full) > 1 and full[0] == "blocks" and full[1] in self.included:
            return self.included[str(full[1])].loc(full, key=key)
        item = self._override_of(full)
        if item is not None:
            return Location(f"--set {item}", None, None, full)
        for end in range(len(full), -1, -1):
            mark = self._mark(full[:end], key)
            if mark is not None:
                return Location(self.file, mark[0], mark[1], full)
        return Location(self.file, None, None, full)

    def _override_of(self, path: Path) -> str | None:
        """The ``--set`` item that set ``path`` or one of its ancestors, else (below the top
        level) the items that set its descendants; None if no ``--set`` touched it."""
        if not self.overridden:  # the usual case, asked once per node built
            return None
        for end in range(len(path), 0, -1):
            if path[:end] in self.overridden:
                return self.overridden[path[:end]]
        if len(path) < 2 and path in self.marks:
            return None
        inside = [item for set_path, item in self.overridden.items() if set_path[: len(path)] == path]
        return " --set ".join(inside) or None

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


#: libyaml's emitter where PyYAML was built with it (4x faster than the pure-Python one, and
#: the same text for the plain data archspec writes); the pure-Python one otherwise.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dumps(data: Any, *, pure: bool = False, **options: Any) -> str:
    """YAML text of plain data (``yaml.safe_dump``'s options), through libyaml's emitter when
    PyYAML has it; ``pure`` forces the pure-Python emitter."""
    return yaml.dump(data, Dumper=yaml.SafeDumper if pure else _DUMPER, **options)


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
    try:
        root = _compose(decoded, name)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, decoded, name) from None
    root = _check_top_level(root, name)
    builder = _Builder()
    data = builder.build(root, (), root.mark)
    return Document(data, name, decoded, builder.marks, builder.key_marks)


# --- syntax errors ---------------------------------------------------------------------------


def _yaml_error(exc: yaml.YAMLError, text: str, name: str) -> LoadError:
    """A PyYAML syntax error as a LoadError at the problem's position."""
    if isinstance(exc, yaml.reader.ReaderError):
        return _reader_error(exc, text, name)
    if not isinstance(exc, yaml.MarkedYAMLError):
        return LoadError(f"invalid YAML: {exc}", loc=Location(name))
    mark = exc.problem_mark or exc.context_mark
    flow = _FLOW_KINDS.get((exc.context or "").removeprefix("while parsing a "))
    if flow and mark and text[mark.index - 1 : mark.index + 1] == "${":
        return _unquoted_expression(flow, mark, text, name)
    plain = explain(exc, text)
    if plain is not None:  # the common mistakes, in plain words at the line to edit
        return LoadError(
            f"invalid YAML: {plain.message}", loc=Location(name, plain.line, plain.col), hint=plain.hint
        )
    problem = exc.problem or exc.context or "syntax error"
    if exc.context and exc.problem:
        problem += f" ({exc.context})"
    loc = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
    return LoadError(f"invalid YAML: {problem}", loc=loc)


# ``{op: conv2d, out_channels: ${ch}}`` is not YAML: ``{``, ``}`` and ``,`` are flow indicators,
# so PyYAML (like every other parser) stops at the ``{`` after the ``$``. The fix is to quote the
# expression, as OmegaConf and Hydra users do; the error says so, with the user's own value.
_FLOW_KINDS = {"flow mapping": "a flow mapping {...}", "flow sequence": "a flow sequence [...]"}


def _unquoted_expression(flow: str, mark: yaml.Mark, text: str, name: str) -> LoadError:
    """The error for ``${`` in a flow collection (``mark`` is at its ``{``), with the fix."""
    line = text[mark.index - mark.column :].split("\n", 1)[0].rstrip("\r")
    dollar = mark.column - 1
    start, end = _value_span(line, dollar)
    key = re.search(r"([^\s{}\[\],'\"]+)\s*:\s*$", line[:start])
    value = quoted(line[start:end])
    fix = f"{key.group(1)}: {value}" if key else value
    return LoadError(
        f"invalid YAML: unquoted expression {line[dollar : _expression_end(line, dollar)]} inside {flow}",
        loc=Location(name, mark.line + 1, dollar + 1),
        hint=f"quote the expression: {fix}",
    )


def _expression_end(line: str, dollar: int) -> int:
    """Index just past the ``}`` that closes the ``${`` at ``dollar`` (or the end of the line)."""
    depth = 0
    for i in range(dollar + 1, len(line)):
        depth += {"{": 1, "}": -1}.get(line[i], 0)
        if depth == 0:
            return i + 1
    return len(line)


def _value_span(line: str, dollar: int) -> tuple[int, int]:
    """The whole plain value around the expression: ``a${w}b`` in ``{x: a${w}b, y: 1}``."""
    start = dollar
    while start > 0 and line[start - 1] not in ",[{" and line[start - 1 : start + 1] not in (": ", ":\t"):
        start -= 1
    while line[start] in " \t":
        start += 1
    end = _expression_end(line, dollar)
    while end < len(line) and line[end] not in ",]}#":
        end += 1
    return start, len(line[:end].rstrip())


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


# --- deep flow nesting, refused before the parser's lookahead -----------------------------------

# PyYAML's scanner is quadratic in deep flow nesting: every bracket adds a pending "simple key"
# and every token re-checks them all, over a lookahead of up to 1,024 characters, so a line of
# 1,000 '[' takes 0.3 s to reach the composer's depth limit. When a cheap scan sees flow brackets
# nested deeper than MAX_DEPTH, the text up to that bracket is composed first: if it stops at the
# depth limit, or at a syntax error before its end, that is the whole text's error too (see
# _same_prefix_events), found in milliseconds. Anything else, and every normal spec, goes
# through the full parse.
_QUOTED_OR_COMMENT = r""""(?<![^\s\[{,:]")(?:[^"\\]|\\.)*"|'(?<![^\s\[{,:]')(?:[^']|'')*'|#(?<!\S#).*"""
_FLOW_SCAN = re.compile(r"[\[\]{}]|" + _QUOTED_OR_COMMENT)
_SKIPPED = re.compile(_QUOTED_OR_COMMENT + r"|[^\[\]{}]+")
_BRACKET_PAIR = re.compile(r"[\[{][\]}]")
_INERT = re.compile(r"[\[\]{}, A-Za-z0-9_]*")
_BETWEEN_TOKENS = re.compile(r"(?:[ \r\n]|#[^\r\n]*)*")  # what the scanner skips
_LOOKAHEAD = 1025  # PyYAML forgets a pending simple key 1,024 characters on (or at a line break)
_TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels"


def _compose(text: str, name: str) -> _Node | None:
    """The node tree of ``text`` (raises LoadError or yaml.YAMLError)."""
    cut = _deep_flow_end(text)
    if cut is not None and _same_prefix_events(text, cut):
        try:
            _Composer(name).compose(yaml.parse(text[:cut], Loader=yaml.SafeLoader))
        except LoadError as exc:
            if exc.message.startswith(_TOO_DEEP):
                raise
        except yaml.MarkedYAMLError as exc:
            if exc.problem_mark is not None and exc.problem_mark.index < cut:
                raise  # a syntax error before the cut, not at the end of the prefix
    return _Composer(name).compose(yaml.parse(text, Loader=yaml.SafeLoader))


def _deep_flow_end(text: str) -> int | None:
    """The index just past the first '[' or '{' that opens flow nesting level MAX_DEPTH + 1,
    skipping quoted scalars and comments; None if there is none. A guess is harmless: the
    parser decides."""
    if _flow_depth_bound(text) <= MAX_DEPTH:
        return None
    depth = 0
    for m in _FLOW_SCAN.finditer(text):
        token = m.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return m.end()
        elif token in "]}":
            depth = max(depth - 1, 0)
    return None


def _flow_depth_bound(text: str) -> int:
    """An upper bound of the flow nesting depth, found at C speed: of the brackets alone, matched pairs
    are removed innermost first, one layer per pass; the depth is at most the passes plus the
    openers left over. Deeper than a few layers, it gives up (MAX_DEPTH + 1)."""
    openers = text.count("[") + text.count("{")
    if openers <= MAX_DEPTH:
        return openers
    brackets = _SKIPPED.sub("", text)
    for passes in range(8):
        reduced = _BRACKET_PAIR.sub("", brackets)
        if reduced == brackets:
            return passes + brackets.count("[") + brackets.count("{")
        brackets = reduced
    return MAX_DEPTH + 1


def _same_prefix_events(text: str, cut: int) -> bool:
    """Whether PyYAML reads ``text[:cut]`` into the same events as ``text`` up to ``cut``.

    To decide whether a pending token is a mapping key (a ':' would say so), the scanner reads
    on past ``cut`` to the line break or _LOOKAHEAD characters, and then scans one more token:
    when that stretch holds only brackets, commas, spaces and words and the next token is one of
    those too, nothing there makes a key or fails. The reader checks every character of the
    whole text before the first event, so that check must pass too.
    """
    end = min(cut + _LOOKAHEAD, len(text))
    ahead = _INERT.match(text, cut, end).end()
    if ahead < end and text[ahead] not in "\r\n":
        return False
    token = _BETWEEN_TOKENS.match(text, ahead).end()
    if token < len(text) and not _INERT.fullmatch(text[token]):
        return False
    try:
        yaml.reader.Reader(text)
    except yaml.reader.ReaderError:
        return False
    return True


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
            raise self._error(_TOO_DEEP, mark)
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
