"""PyYAML's syntax errors in plain words: what probably happened, the line to edit, the fix.

PyYAML says where its scanner or parser gave up (``problem_mark``) and often where the construct
it was reading began (``context_mark``); the line a user must edit is sometimes neither. A key
written ``epochs:30`` fails on the *next* line ("could not find expected ':'"); an unclosed
``[`` fails wherever the next ``:`` happens to be. :func:`explain` recognises the common cases
from the marks and the text and returns a :class:`Syntax` located at the line to edit, with a
message that says what happened and a hint that says how to fix it; None for anything else
(the loader then shows PyYAML's own words). Pure-Python PyYAML only: libyaml's wordings
("did not find expected key") never reach here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

__all__ = ["Syntax", "explain", "quoted"]

_CLOSERS = {"[": "]", "{": "}"}
_KEY_VALUE = re.compile(r"(?P<key>[^\s#'\"][^#]*?):[ \t]+(?P<value>\S.*?)\s*(?:\s#.*)?$")
_GLUED = re.compile(r"(?P<key>[^\s:#'\"][^\s:]*):(?P<value>[^\s:].*?)\s*(?:\s#.*)?$")


@dataclass(frozen=True)
class Syntax:
    """A syntax error in plain words, at the line (and column, both 1-based) to edit."""

    line: int
    col: int
    message: str
    hint: str | None = None


def explain(exc: yaml.MarkedYAMLError, text: str) -> Syntax | None:
    """Plain words for ``exc``, raised while parsing ``text``; None when no case fits."""
    problem, context = exc.problem or "", exc.context or ""
    mark, opened = exc.problem_mark, exc.context_mark
    if mark is None:
        return None
    lines = _Lines(text)
    if "'\\t'" in problem:
        return _tab(lines, mark)
    if problem.startswith("found character"):
        return _reserved(lines, mark)
    if context == "while scanning a simple key" and opened is not None:
        return _no_colon(lines, opened)
    if problem == "mapping values are not allowed here":
        return _second_colon(lines, mark)
    if context.startswith("while parsing a block") and problem.startswith("expected <block end>"):
        return _block_end(lines, mark, problem.rpartition("found ")[2].strip("'"))
    if context.startswith("while parsing a flow") and opened is not None:
        return _flow(lines, mark, opened)
    if context.startswith("while scanning a") and context.endswith("quoted scalar") and opened is not None:
        return _quoted(lines, mark, opened, problem)
    return None


class _Lines:
    """The text's lines, with what the hints need to know about each (0-based indices)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def __getitem__(self, index: int) -> str:
        return self.lines[index] if 0 <= index < len(self.lines) else ""

    def indent(self, index: int) -> int:
        line = self[index]
        return len(line) - len(line.lstrip(" "))

    def previous(self, index: int) -> int | None:
        """The nearest line above ``index`` with content (not blank, not only a comment)."""
        for i in range(min(index, len(self.lines)) - 1, -1, -1):
            if self[i].strip() and not self[i].lstrip().startswith("#"):
                return i
        return None

    def enclosing(self, index: int, below: int) -> int | None:
        """The nearest content line above ``index`` indented less than ``below`` spaces."""
        i = self.previous(index)
        while i is not None and self.indent(i) >= below:
            i = self.previous(i)
        return i


def _spaces(n: int) -> str:
    return f"{n} space" + ("" if n == 1 else "s")


def _by(n: int) -> str:
    return f"by {_spaces(n)}" if n else "not at all"


def _tab(lines: _Lines, mark: yaml.Mark) -> Syntax:
    where = (mark.line + 1, mark.column + 1)
    if not lines[mark.line][: mark.column].strip(" \t"):
        return Syntax(
            *where,
            f"a tab in the indentation of line {mark.line + 1}",
            "YAML indents with spaces only: replace the tab by spaces",
        )
    return Syntax(*where, "a tab where YAML expects a space", "replace the tab by a space")


def _reserved(lines: _Lines, mark: yaml.Mark) -> Syntax:
    line = lines[mark.line]
    value = line[mark.column :].split(" #")[0].strip()
    if _in_flow(line[: mark.column]):  # inside [...] or {...}: the value ends at , ] or }
        value = re.split(r"[,\]}]", value, maxsplit=1)[0].strip()
    char = value[:1]
    return Syntax(
        mark.line + 1,
        mark.column + 1,
        f"a plain value cannot start with {char!r}: YAML reserves it",
        f"quote the value: {quoted(value)}",
    )


def _in_flow(before: str) -> bool:
    """Whether a line's text up to a point leaves a ``[`` or ``{`` open (quotes aside)."""
    depth, quote = 0, ""
    for ch in before:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return depth > 0


def _no_colon(lines: _Lines, opened: yaml.Mark) -> Syntax:
    """A line where a key was expected has no ``: ``: a glued ``key:value``, or no colon at all."""
    text = lines[opened.line][opened.column :].strip()
    where = (opened.line + 1, opened.column + 1)
    glued = _glued(text, *where)
    if glued is not None:
        return glued
    return Syntax(
        *where,
        f"{text!r} is not 'key: value', where a key was expected",
        "write the key, a colon and a space before the value (key: value); in a list, start the item with '- '",
    )


def _glued(text: str, line: int, column: int) -> Syntax | None:
    """A glued ``key:value`` (no space after the colon), which YAML reads as one string."""
    glued = _GLUED.match(text)
    if glued is None:
        return None
    return Syntax(
        line,
        column,
        f"{text!r} has no space after ':', so YAML reads it as one string, not a key and its value",
        f"put a space after the colon: {glued['key']}: {glued['value']}",
    )


def _second_colon(lines: _Lines, mark: yaml.Mark) -> Syntax:
    """A ``:`` that cannot start a value: a second one on the line, or one on a line that YAML
    read as more of a value begun above (indented too far, or the line above lacks its colon)."""
    line = lines[mark.line]
    before = line[: mark.column]
    pair = _KEY_VALUE.match(line.strip().removeprefix("- "))
    if pair and ": " in before:
        value = pair["value"]
        return Syntax(
            mark.line + 1,
            mark.column + 1,
            f"a second ': ' on one line: {value!r} cannot be a value",
            f"quote the value if the ':' belongs to it ({pair['key']}: {quoted(value)}), "
            "or put the next key on a line of its own",
        )
    above = lines.previous(mark.line)
    if above is None:
        return Syntax(mark.line + 1, mark.column + 1, "a ':' where YAML cannot start a value")
    start = (mark.line + 1, lines.indent(mark.line) + 1)
    above_text = lines[above].strip()
    item = above_text.startswith("- ")
    glued = _glued(above_text.removeprefix("- "), above + 1, lines.indent(above) + 1 + 2 * item)
    if glued is not None:  # 'name:adam' above: one string, which the key on this line continues
        return glued
    if ":" not in lines[above]:
        return Syntax(
            above + 1,
            lines.indent(above) + 1,
            f"line {above + 1} has no ':', so YAML reads it and line {mark.line + 1} as one value",
            f"add ':' after the key on line {above + 1}, or remove that line",
        )
    if lines.indent(mark.line) <= lines.indent(above):  # not the indentation: a ':' inside a value
        return Syntax(
            mark.line + 1,
            mark.column + 1,
            "a ':' where YAML cannot start a value",
            "quote the value if the ':' belongs to it, or put the next key on a line of its own",
        )
    return Syntax(
        *start,
        f"line {mark.line + 1} is indented more than line {above + 1} above it "
        f"({_spaces(lines.indent(mark.line))}, not {lines.indent(above)}), "
        "so YAML reads it as more of that line's value",
        f"if it is the next key, indent it {_by(lines.indent(above))} like line {above + 1}",
    )


def _block_end(lines: _Lines, mark: yaml.Mark, found: str) -> Syntax | None:
    """Something that cannot continue the mapping or list around it: a line indented to no
    level of the lines above, a list item among keys, text after a quoted value, a stray bracket."""
    row, col = mark.line, mark.column
    where = (row + 1, col + 1)
    if found in ("]", "}"):
        return Syntax(
            *where, f"a {found!r} that closes nothing", "remove it, or add the bracket it should close"
        )
    if col > lines.indent(row):
        if found == "<scalar>" and lines[row][:col].rstrip()[-1:] in ("'", '"'):
            return Syntax(
                *where,
                "text after the closing quote of a value",
                "put the whole value inside the quotes, or remove what follows them",
            )
        return None
    above = lines.previous(row)
    if above is None:
        return None
    have, want = lines.indent(row), lines.indent(above)
    if have > want:
        return Syntax(
            *where,
            f"line {row + 1} is indented more than line {above + 1} above it ({_spaces(have)}, not {want})",
            f"indent it {_by(want)} like line {above + 1}, or put it under a key that ends with ':'",
        )
    if have < want:
        outer = lines.enclosing(row, have + 1)
        hint = f"indent it {_by(want)} like line {above + 1}"
        if outer is not None:
            hint += f", or {_by(lines.indent(outer))} like line {outer + 1}"
        return Syntax(
            *where,
            f"line {row + 1} is indented less than line {above + 1} above it ({_spaces(have)}, not {want}), "
            "and lines up with nothing above it",
            hint,
        )
    if found == "-":
        return Syntax(
            *where,
            "a list item '-' among the keys of a mapping",
            "a list is the value of a key: write 'key:' on a line of its own and the items under it, indented",
        )
    return None


def _flow(lines: _Lines, mark: yaml.Mark, opened: yaml.Mark) -> Syntax | None:
    """Inside ``[...]`` or ``{...}``: a bracket never closed, or a ':' where ',' was due."""
    bracket = lines[opened.line][opened.column : opened.column + 1]
    close = _CLOSERS.get(bracket)
    if close is None:
        return None
    where = (opened.line + 1, opened.column + 1)
    if mark.line > opened.line and close not in lines[opened.line][opened.column :]:
        return Syntax(
            *where,
            f"the {bracket!r} on line {opened.line + 1} is never closed",
            f"add {close!r} at the end of its value",
        )
    if mark.line == opened.line and lines[mark.line][mark.column : mark.column + 1] == ":":
        return Syntax(
            mark.line + 1,
            mark.column + 1,
            f"a ':' inside {bracket}...{close} where ',' or {close!r} was expected",
            "separate the entries with commas ({a: 1, b: 2}), and quote a value that holds ': '",
        )
    return None


def _quoted(lines: _Lines, mark: yaml.Mark, opened: yaml.Mark, problem: str) -> Syntax | None:
    quote = lines[opened.line][opened.column : opened.column + 1]
    where = (opened.line + 1, opened.column + 1)
    if problem == "found unexpected end of stream":
        inner = (
            "write '' for a ' inside single quotes"
            if quote == "'"
            else 'write \\" for a " inside double quotes'
        )
        return Syntax(
            *where,
            f"the quote {quote} opened on line {opened.line + 1} is never closed",
            f"add the closing {quote} at the end of the value ({inner})",
        )
    if problem.startswith("found unknown escape character"):
        return Syntax(
            mark.line + 1,
            mark.column,  # the backslash, just before the character PyYAML points at
            "a backslash in double quotes starts an escape, and this one is not a YAML escape",
            "write \\\\ for a backslash, or use single quotes, which keep backslashes as they are",
        )
    return None


def quoted(value: str) -> str:
    """``value`` as a YAML quoted scalar: double quotes, or single where it holds one."""
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"
