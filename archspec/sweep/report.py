"""What a sweep leaves behind: ``results.csv``, ``best.yaml``, a table, and plots.

``best.yaml`` is the spec itself with the best trial's values written in and the ``search:``
section dropped: a complete spec that ``archspec train best.yaml`` trains to the same result
(same seed, same data order). With several objectives, "best" is the Pareto-optimal trial with
the best metric; ``pareto.csv`` lists the whole front.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from archspec.pipeline import load
from archspec.sweep.space import SearchSpace
from archspec.sweep.study import SweepJob, optuna_module

__all__ = ["SweepResult", "best_trial", "summarise", "write_best", "write_results"]


class SweepResult(dict):  # type: ignore[type-arg]
    """``{"trials", "complete", "pruned", "failed", "best", "best_yaml", "sweep_dir"}``; ``str()``
    is the table the command prints."""

    def __str__(self) -> str:
        return self.get("table", "")


def best_trial(study: Any, space: SearchSpace) -> Any | None:
    """The best finished trial (with several objectives: the front's best by the metric)."""
    states = optuna_module().trial.TrialState
    done = [
        t
        for t in study.get_trials(deepcopy=False, states=(states.COMPLETE,))
        if t.values and not math.isnan(t.values[0])
    ]
    if space.objectives:
        front = {t.number for t in study.best_trials}
        done = [t for t in done if t.number in front]
    if not done:
        return None
    pick = max if space.direction == "maximize" else min
    return pick(done, key=lambda t: t.values[0])


def write_best(job: SweepJob, trial: Any, path: Path) -> Path:
    """The spec with the trial's values applied (``search:`` dropped), as YAML ``train`` reads."""
    doc = load(job.spec_file, trial.user_attrs["overrides"]).doc
    data = {k: v for k, v in doc.data.items() if k != "search"}
    values = ", ".join(f"{k}={v!r}" for k, v in trial.params.items())
    header = (
        f"# The best trial ({trial.number}) of a sweep of {job.spec_file}: {values}\n"
        f"# Train it with: archspec train {path.name}\n"
    )
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def write_results(study: Any, space: SearchSpace, path: Path) -> list[dict[str, Any]]:
    """One row per trial: state, objective values, searched values, budgets and why it stopped."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name.lower()}
        for i, name in enumerate(space.names):
            row[name] = t.values[i] if t.values else ""
        row.update({dim.path: t.params.get(dim.path, "") for dim in space.dims})
        row["params"] = t.user_attrs.get("params", "")
        row["macs"] = t.user_attrs.get("macs", "")
        row["seconds"] = round(t.duration.total_seconds(), 3) if t.duration else ""
        row["run_dir"] = t.user_attrs.get("run_dir", "")
        row["worker"] = t.user_attrs.get("worker", "")
        row["note"] = _note(t)
        rows.append(row)
    if rows:
        fields = list(dict.fromkeys(k for row in rows for k in row))
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    return rows


def _note(trial: Any) -> str:
    attrs = trial.user_attrs
    text = attrs.get("pruned") or attrs.get("failed") or ""
    if attrs.get("interrupted"):
        text = "interrupted (retried as a new trial)"
    if attrs.get("retry_of") is not None:
        text = f"retry of trial {attrs['retry_of']}" + (f"; {text}" if text else "")
    return text.splitlines()[0] if text else ""


def table_rows(
    rows: list[dict[str, Any]], space: SearchSpace, top: int = 10
) -> tuple[list[str], list[list[str]]]:
    """The finished trials, best first (at most ``top``): the column heads and the cells."""
    done = [r for r in rows if r["state"] == "complete" and r[space.metric] != ""]
    done.sort(key=lambda r: r[space.metric], reverse=space.direction == "maximize")
    heads = ["trial", *space.names, *(d.path for d in space.dims)]
    if "params" not in space.names:
        heads.append("params")
    return heads, [[_cell(r.get(h, "")) for h in heads] for r in done[:top]]


def table(rows: list[dict[str, Any]], space: SearchSpace, top: int = 10) -> str:
    """The finished trials, best first (at most ``top``), as aligned text."""
    heads, body = table_rows(rows, space, top)
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body]
    return "\n".join(lines)


def rich_table(
    rows: list[dict[str, Any]], space: SearchSpace, top: int = 10, *, color: bool = False
) -> str | None:
    """The same table drawn by rich (the ``[sweep]`` extra installs it); None without rich."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return None
    heads, body = table_rows(rows, space, top)
    drawn = Table(title=f"best trials by {space.metric} ({space.direction})")
    for i, head in enumerate(heads):
        drawn.add_column(head, justify="left" if i == 0 else "right", style="bold" if i == 0 else None)
    for row in body:
        drawn.add_row(*row)
    out = io.StringIO()
    Console(file=out, width=max(80, sum(len(h) + 3 for h in heads)), force_terminal=color).print(drawn)
    return out.getvalue().rstrip("\n")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summarise(study: Any, space: SearchSpace, job: SweepJob, log: Callable[[str], None]) -> SweepResult:
    """Write results.csv, best.yaml (and pareto.csv), and return the tally and the table."""
    rows = write_results(study, space, job.sweep_dir / "results.csv")
    states = [r["state"] for r in rows]
    result = SweepResult(
        sweep_dir=str(job.sweep_dir),
        trials=len(rows),
        complete=states.count("complete"),
        pruned=states.count("pruned"),
        failed=states.count("fail"),
        best=None,
        best_yaml=None,
    )
    best = best_trial(study, space)
    if best is not None:
        result["best"] = {"trial": best.number, **dict(zip(space.names, best.values)), "values": best.params}
        result["best_yaml"] = str(write_best(job, best, job.sweep_dir / "best.yaml"))
    if space.objectives:
        front = {t.number for t in study.best_trials}
        _write_rows([r for r in rows if r["trial"] in front], job.sweep_dir / "pareto.csv")
    result["table"] = table(rows, space)
    result["rich_table"] = rich_table(rows, space, color=sys.stdout.isatty())
    return result


def _write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    if not rows:
        return
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(study: Any, space: SearchSpace, out: Path, log: Callable[[str], None]) -> list[Path]:
    """Optimisation history, parameter importances, parallel coordinates (and the Pareto front
    with several objectives) as PNG, when matplotlib is installed and there is enough to draw."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log(
            "note: install matplotlib (pip install 'archspec[plot]') for the sweep's plots; results.csv has the numbers"
        )
        return []
    from optuna.visualization import matplotlib as vis

    target = None if not space.objectives else (lambda t: t.values[0])
    name = space.metric
    charts: dict[str, Callable[[], Any]] = {
        "history.png": lambda: vis.plot_optimization_history(study, target=target, target_name=name),
        "importances.png": lambda: vis.plot_param_importances(study, target=target, target_name=name),
        "parallel.png": lambda: vis.plot_parallel_coordinate(study, target=target, target_name=name),
    }
    if space.objectives:
        charts["pareto.png"] = lambda: vis.plot_pareto_front(study, target_names=space.names)
    written = []
    for filename, draw in charts.items():
        try:
            ax = draw()
            figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            figure.savefig(out / filename, dpi=110, bbox_inches="tight")
            plt.close(figure)
            written.append(out / filename)
        except (ValueError, RuntimeError, ImportError, ZeroDivisionError) as exc:
            log(f"note: no {filename} ({exc})")
    return written
