"""What every command shares: the error boundary, the lazy command table, options defined once,
and path types that say what to give instead.

Exit codes: 0 ok, 1 usage error, 2 spec error, 3 runtime failure. Domain errors
(:class:`~archspec.errors.ArchSpecError`) are caught once, in :meth:`ArchSpecGroup.invoke`, and
turned into text and their exit code. Nothing here imports torch or a later stage.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

from archspec.errors import ArchSpecError, SpecError, printable
from archspec.sources import is_run_dir, runs_in

EXIT_OK, EXIT_USAGE, EXIT_SPEC, EXIT_RUNTIME = 0, 1, 2, 3


# -- the boundary and the lazy command table ---------------------------------------------------


@dataclass(frozen=True)
class LazyCommand:
    """A command imported from ``module.attr`` only when it runs (or its own help is asked for);
    ``short_help`` is what ``archspec --help`` lists, so listing imports no command module."""

    module: str
    attr: str
    short_help: str


class ArchSpecGroup(click.Group):
    """The ``archspec`` group: commands load lazily; usage errors exit 1, archspec errors with
    their own code, other failures with a one-line message instead of a traceback."""

    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.lazy.get(cmd_name)
        if entry is not None and cmd_name not in self.commands:
            command = getattr(importlib.import_module(entry.module), entry.attr)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, self.lazy[name].short_help if name in self.lazy else self._short_help(ctx, name))
            for name in self.list_commands(ctx)
        ]
        rows = [(name, text) for name, text in rows if text is not None]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _short_help(self, ctx: click.Context, name: str) -> str | None:
        command = self.get_command(ctx, name)
        return None if command is None or command.hidden else command.get_short_help_str(80)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise
        except ArchSpecError as exc:
            click.echo(error_text(exc), err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `archspec ops | head`: the reader left; nothing more to say
            _silence_stdout()
            ctx.exit(EXIT_OK)
        except OSError as exc:  # a file the OS refused: say which and why, not a traceback
            click.echo(f"error: {_os_error_text(exc)}", err=True)
            ctx.exit(EXIT_RUNTIME)
        except Exception as exc:  # a bug in archspec or torch: say so plainly, keep the details on request
            if os.environ.get("ARCHSPEC_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n(this is a bug in archspec; rerun with ARCHSPEC_DEBUG=1 for the traceback and please report it)",
                err=True,
            )
            ctx.exit(EXIT_RUNTIME)


def error_text(exc: ArchSpecError) -> str:
    """A spec error is located text already; any other archspec error reads ``error: ...``.
    Control characters that reached a message (from a file name, say) are shown escaped."""
    return printable(str(exc) if isinstance(exc, SpecError) else f"error: {exc}")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _os_error_text(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    text = f"{where}: {reason}" if where else reason
    if isinstance(exc, PermissionError):
        text += " (hint: choose a path you can write, e.g. in your home or project directory)"
    return text


# -- shared options, defined once --------------------------------------------------------------


def format_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output for people (text) or tools (json).",
    )(fn)


def shapes_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:  # noqa: A002 - click's name
    """``--shapes/--no-shapes``, on by default: whether the command infers shapes; ``help`` says
    what that means for this command."""
    return click.option("--shapes/--no-shapes", default=True, show_default=True, help=help)


def _check_overrides(ctx: click.Context, param: click.Parameter, items: Sequence[str]) -> Sequence[str]:
    """``--set`` must be KEY=VALUE with a dotted KEY: a malformed one is a usage error (exit 1)."""
    from archspec.lang.overrides import parse_override

    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE (e.g. --set training.optimizer.lr=0.01)", ctx, param
            )
        if any(not part.strip() for part in key.split(".")):
            raise click.BadParameter(
                f"{item!r}: the key {key!r} has an empty part (write dotted keys like training.optimizer.lr)",
                ctx,
                param,
            )
        try:
            parse_override(item)
        except SpecError as exc:
            raise click.BadParameter(f"{item!r}: {exc.message}", ctx, param) from None
    return items


def set_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_check_overrides,
        help="Override a spec value, e.g. --set training.optimizer.lr=0.01 (repeatable).",
    )(fn)


seed_option = click.option("--seed", type=int, help="Initialisation seed [default: the spec's seed].")

device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
    help="Where to run (auto: cuda, else mps, else cpu).",
)


# -- paths -----------------------------------------------------------------------------------------


class SpecPath(click.Path):
    """A spec file; a directory gets a message that says what to give instead."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and os.path.isdir(value):
            if is_run_dir(value):
                self.fail(
                    f"{value!r} is a training run, not a spec; continue it with: archspec train --resume {value}",
                    param,
                    ctx,
                )
            self.fail(
                f"{value!r} is a directory; give a spec file (e.g. {os.path.join(value, '*.yaml')})",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


class RunDirPath(click.Path):
    """A training run directory, as ``archspec train`` wrote it."""

    name = "run directory"

    def __init__(self) -> None:
        super().__init__(file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = str(value)
        if not os.path.exists(path):
            self.fail(
                f"{path!r} does not exist (a run directory is what `archspec train --run-dir DIR` writes)",
                param,
                ctx,
            )
        if not os.path.isdir(path):
            if path.endswith((".yaml", ".yml")):
                self.fail(
                    f"{path!r} is a spec, not a training run; train it first: archspec train {path}",
                    param,
                    ctx,
                )
            self.fail(f"{path!r} is a file, not a run directory", param, ctx)
        if not os.path.isfile(os.path.join(path, "spec.yaml")):
            self.fail(f"{path!r} is not a training run (no spec.yaml){_runs_hint(path)}", param, ctx)
        return super().convert(value, param, ctx)


def _runs_hint(path: str) -> str:
    runs = runs_in(path)
    if not runs:
        return "; a run directory is what `archspec train` writes (runs/<spec name> by default)"
    return f"; runs in it: {', '.join(runs[:5])}" + (", ..." if len(runs) > 5 else "")


class OptionalArgument(click.Argument):
    """An optional argument shown as [NAME] in usage lines but named NAME in error messages."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return f"'{(self.metavar or self.name or '').strip('[]')}'"


spec_argument = click.argument("spec_file", metavar="SPEC", type=SpecPath())
source_argument = click.argument("source", metavar="SPEC|RUN|ARTEFACT", type=click.Path(exists=True))


def check_output(path: str | None, param_hint: str, suffixes: Sequence[str] = ()) -> None:
    """Refuse, before any work, an output path that cannot be written or has the wrong suffix."""
    if path is None:
        return
    if suffixes and os.path.splitext(path)[1].lower() not in suffixes:
        raise click.BadParameter(
            f"{path!r}: the file name must end in {' or '.join(suffixes)}", param_hint=param_hint
        )
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise click.BadParameter(
            f"cannot write {path!r}: {parent!r} is a file, not a directory", param_hint=param_hint
        )
    if not os.access(parent, os.W_OK):
        raise click.BadParameter(
            f"cannot write {path!r}: no permission to write in {parent!r}", param_hint=param_hint
        )


def write_text(text: str, output: str | None) -> None:
    """``text`` to stdout, or to ``output`` with a ``wrote`` line on stderr."""
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(f"wrote {output}", err=True)
