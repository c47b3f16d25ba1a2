"""``archspec sweep SPEC --trials N``: the command, a thin layer over :func:`archspec.sweep.run_sweep`.

Registered in the CLI group with ``cli.add_command(sweep)``; archspec errors raised here reach
the group's single handler (exit 2 for a spec error, 3 for a runtime one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from archspec.cli._common import format_option, set_option

__all__ = ["sweep"]


@click.command("sweep")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--trials",
    "-n",
    type=click.IntRange(min=1),
    required=True,
    help="Trials in the whole study (a rerun runs only the missing ones).",
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Local worker processes sharing the study.",
)
@click.option(
    "--storage",
    default=None,
    help="Optuna storage URL shared by workers on many machines (e.g. postgresql://...), or a .journal file path. Default: SQLite in the sweep directory.",
)
@click.option(
    "--sweep-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where trials, results.csv and best.yaml go. Default: sweeps/<spec name>.",
)
@click.option("--study-name", default=None, help="Study name in the storage. Default: the spec's name.")
@click.option(
    "--sampler",
    type=click.Choice(["tpe", "random", "grid"]),
    default=None,
    help="Overrides search.sampler (default tpe).",
)
@click.option(
    "--pruner",
    type=click.Choice(["median", "hyperband", "none"]),
    default=None,
    help="Overrides search.pruner (default median).",
)
@click.option(
    "--seed", type=int, default=None, help="Sampler seed (default: search.seed, else the spec's seed)."
)
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Device for every trial; with several GPUs, auto spreads workers over them.",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@format_option
@set_option
def sweep(
    spec: str,
    trials: int,
    workers: int,
    storage: str | None,
    sweep_dir: str | None,
    study_name: str | None,
    sampler: str | None,
    pruner: str | None,
    seed: int | None,
    device: str,
    no_plots: bool,
    fmt: str,
    overrides: Sequence[str],
) -> None:
    """Search the spec's search: space with Optuna: invalid or over-budget candidates are
    rejected before they train; the rest train as ordinary runs in SWEEP_DIR/trials/."""
    from archspec.sweep import run_sweep

    result = run_sweep(
        spec,
        trials=trials,
        workers=workers,
        storage=storage,
        sweep_dir=sweep_dir,
        study_name=study_name,
        overrides=list(overrides),
        sampler=sampler,
        pruner=pruner,
        seed=seed,
        device=device,
        plots=not no_plots,
        log=lambda line: click.echo(line, err=True),
    )
    if fmt == "json":
        tables = ("table", "rich_table")
        click.echo(json.dumps({k: v for k, v in result.items() if k not in tables}, indent=2, default=str))
        return
    click.echo(result.get("rich_table") or result["table"])  # rich draws it when installed
    click.echo(
        f"{result['trials']} trial(s): {result['complete']} complete, {result['pruned']} pruned, "
        f"{result['failed']} failed; results in {result['sweep_dir']}"
    )
    if result["best_yaml"]:
        click.echo(
            f"best: trial {result['best']['trial']}; train it with: archspec train {result['best_yaml']}"
        )
