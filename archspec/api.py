"""The Python API in one place: what the commands do, as functions (Keras' ``fit``/``summary``/
``plot_model``, Ludwig's ``LudwigModel.train``).

``summary`` and ``render`` need no torch; ``train``, ``resume``, ``evaluate`` and ``predict``
import it when called. Every user mistake raises an :class:`~archspec.errors.ArchSpecError`
with the file, line, column and YAML path, as the CLI shows it.

>>> import archspec
>>> print(archspec.summary("examples/mlp.yaml"))             # doctest: +SKIP
>>> run = archspec.train("examples/mlp.yaml", run_dir="runs/mlp", overrides=["training.epochs=2"])  # doctest: +SKIP
>>> archspec.evaluate(run.run_dir)                           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archspec.errors import ArchSpecError, RunError

if TYPE_CHECKING:
    from archspec.graph.dag import Graph
    from archspec.training.runner import RunResult

__all__ = ["Summary", "evaluate", "predict", "render", "resume", "summary", "train"]

SpecLike = "str | os.PathLike[str] | Spec | Graph"
DIAGRAM_FORMATS = ("svg", "html", "dot", "mermaid", "png", "pdf")


class ApiError(ArchSpecError):
    """A call that does not fit (an unknown diagram format, a missing output path): exit code 2."""

    exit_code = 2


def _graph(spec: Any, overrides: Sequence[str] = (), *, shapes: bool = True) -> Graph:
    """A checked graph from a path, a loaded :class:`Spec` or a :class:`Graph`."""
    from archspec.graph.dag import Graph
    from archspec.lang.model import Spec
    from archspec.pipeline import analyse, load

    if isinstance(spec, Graph):
        return spec
    if not isinstance(spec, Spec):
        spec = load(spec, overrides)
    elif overrides:
        raise ApiError("overrides apply to a spec file; this Spec is already loaded")
    return analyse(spec, shapes=shapes)


class Summary(dict):  # type: ignore[type-arg]
    """The per-node rows and totals as a dict; ``str()`` is the table ``archspec summary`` prints."""

    def __str__(self) -> str:
        from archspec.graph.summary import summary_table

        return summary_table(self)


def summary(spec: Any, *, overrides: Sequence[str] = ()) -> Summary:
    """Shapes, parameters (trainable, frozen), buffers and MACs of every node, without torch.

    ``spec`` is a path, a :class:`Spec` or a :class:`Graph`; ``overrides`` are ``--set`` items.
    """
    from archspec.graph.summary import summarise

    return Summary(summarise(_graph(spec, overrides)))


def render(
    spec: Any,
    output: str | os.PathLike[str] | None = None,
    *,
    format: str | None = None,  # noqa: A002 - the CLI's name for it
    depth: int | None = None,
    part: str | None = None,
    direction: str = "TB",
    shapes: bool = True,
    losses: bool = True,
    overrides: Sequence[str] = (),
    layout: str = "auto",
    theme: str = "light",
    greyscale: bool = False,
) -> str:
    """Draw the architecture, without torch, and return the text (SVG, HTML, DOT or Mermaid).

    With ``output``, also write it there; its suffix picks the format unless ``format`` is
    given. ``png`` and ``pdf`` need an ``output`` and return the path; they are drawn from the
    SVG by cairosvg (``pip install "archspec[diagrams]"``), else by Graphviz.
    ``theme`` is ``light`` or ``dark``; ``greyscale`` prints every colour as grey.
    ``layout`` places the boxes: ``auto`` (a U for an encoder–decoder, folded columns for a
    tall network, else one column), ``column``, ``u`` or ``fold``; DOT and Mermaid leave
    placing to their own tools.
    """
    from archspec.diagram import dot_to_file, to_dot, to_html, to_mermaid, to_svg
    from archspec.diagram._style import THEMES
    from archspec.diagram.adapter import to_rgraph
    from archspec.diagram.layout import ARRANGEMENTS
    from archspec.diagram.layout import layout as place
    from archspec.diagram.raster import have_cairosvg, svg_to_file

    fmt = diagram_format(format, None if output is None else str(output))
    if layout not in ARRANGEMENTS:
        raise ApiError(f"unknown layout {layout!r}; layouts: {', '.join(ARRANGEMENTS)}")
    if theme not in THEMES:
        raise ApiError(f"unknown theme {theme!r}; themes: {', '.join(THEMES)}")
    graph = _graph(spec, overrides, shapes=shapes)
    if part is not None:
        graph.part(part)  # the located unknown-part error, with did-you-mean
    g = to_rgraph(
        graph,
        depth=depth,
        part=part,
        direction=direction.upper(),
        shapes=shapes,
        losses=losses,
        arrangement=layout,
    )
    if fmt in ("png", "pdf") and output is None:
        raise ApiError(f"format {fmt} writes a file: give an output path")
    if fmt in ("png", "pdf") and not have_cairosvg():
        dot_to_file(to_dot(g), str(output), fmt)
        return str(output)
    if fmt in ("dot", "mermaid"):
        text = (to_dot if fmt == "dot" else to_mermaid)(g)
    else:
        try:
            placed = place(g)
        except ValueError as e:
            raise ApiError(str(e)) from e
        draw = to_html if fmt == "html" else to_svg
        text = draw(g, placed, theme=theme, greyscale=greyscale)
        if fmt in ("png", "pdf"):
            svg_to_file(text, str(output), fmt)
            return str(output)
    if output is not None:
        Path(output).write_text(text, encoding="utf-8")
    return text


def diagram_format(fmt: str | None, output: str | None) -> str:
    """The diagram format: as given, else from the output's suffix, else SVG."""
    if fmt is not None:
        if fmt not in DIAGRAM_FORMATS:
            raise ApiError(f"unknown diagram format {fmt!r}; formats: {', '.join(DIAGRAM_FORMATS)}")
        return fmt
    if output is None:
        return "svg"
    suffix = Path(output).suffix.lower()
    by_suffix = {".svg": "svg", ".html": "html", ".htm": "html", ".dot": "dot", ".gv": "dot"}
    by_suffix |= {".mmd": "mermaid", ".mermaid": "mermaid", ".png": "png", ".pdf": "pdf"}
    if suffix not in by_suffix:
        raise ApiError(
            f"cannot tell the diagram format from {output!r}: use a suffix "
            f"({', '.join(sorted(by_suffix))}) or give the format"
        )
    return by_suffix[suffix]


def train(
    spec: str | os.PathLike[str],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    device: str = "auto",
    max_steps: int | None = None,
    checkpoint_every: int | None = None,
    progress: bool = False,
    plots: bool = True,
    detect_anomaly: bool = False,
    log: Callable[[str], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train the spec file on the data, losses and training settings it names.

    The run is written to ``run_dir`` (default ``runs/<name>``, or ``runs/<name>-2``, … when
    taken): the resolved spec, metrics, curves and checkpoints. Returns the run's result:
    ``run_dir``, ``steps``, ``epochs``, the last ``metrics`` and the per-epoch ``history``.
    ``on_epoch`` is called with each epoch's row (the ``metrics.csv`` values) once that epoch
    is checkpointed; an exception it raises stops the run there. ``plots=False`` skips
    ``curves.png`` (metrics.csv has the numbers).
    """
    from archspec.pipeline import analyse, load

    if run_dir is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ApiError("under torchrun, give every rank the same run_dir")
    loaded = load(spec, overrides)
    graph = analyse(loaded)  # a bad spec fails here, before torch is imported
    from archspec.training.session import start_run

    options = _run_options(run_dir, device, max_steps, checkpoint_every, progress, detect_anomaly, log)
    options = dataclasses.replace(options, plots=plots)
    options = dataclasses.replace(options, on_epoch=on_epoch)
    return start_run(str(spec), overrides, options, spec=loaded, graph=graph)


def resume(
    run_dir: str | os.PathLike[str],
    *,
    device: str = "auto",
    max_steps: int | None = None,
    checkpoint_every: int | None = None,
    progress: bool = False,
    plots: bool = True,
    detect_anomaly: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Continue a run exactly where it stopped (same weights, optimiser, data order)."""
    from archspec.training.session import resume_run

    options = _run_options(run_dir, device, max_steps, checkpoint_every, progress, detect_anomaly, log)
    options = dataclasses.replace(options, plots=plots)
    return resume_run(Path(run_dir), options)


def evaluate(
    run_dir: str | os.PathLike[str], roles: Sequence[str] = ("test", "val"), *, device: str = "auto"
) -> dict[str, float]:
    """Metrics of a trained run's best checkpoint on its streams with these roles."""
    from archspec.training.session import evaluate_run

    return evaluate_run(run_dir, roles, device=device)


def predict(
    run_dir: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    stream: str | None = None,
    inputs: str | os.PathLike[str] | None = None,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
    classes: bool = False,
    id_field: str | None = None,
) -> Path:
    """Save a trained run's outputs on a stream (default: test, else val) or on an ``.npz`` of
    inputs, as ``.npz`` arrays or ``.csv`` columns; returns the path written. ``classes`` adds
    each classification output's predicted class and probabilities; ``id_field`` copies that
    field (or array) first."""
    from archspec.training.session import predict_run

    if stream is not None and inputs is not None:
        raise ApiError("give a stream or inputs, not both")
    if Path(output).suffix.lower() not in (".npz", ".csv"):
        raise ApiError(f"cannot write predictions to {str(output)!r}: use a .npz or .csv path")
    return predict_run(
        run_dir,
        str(output),
        stream=stream,
        inputs=None if inputs is None else str(inputs),
        device=device,
        log=log or (lambda _m: None),
        classes=classes,
        id_field=id_field,
    )


def _run_options(
    run_dir: str | os.PathLike[str] | None,
    device: str,
    max_steps: int | None,
    checkpoint_every: int | None,
    progress: bool,
    detect_anomaly: bool,
    log: Callable[[str], None] | None,
) -> Any:
    from archspec.training.runner import RunOptions

    if not isinstance(device, str) or not device:
        raise RunError(f"device must be a name such as 'auto', 'cpu' or 'cuda:0', got {device!r}")
    return RunOptions(
        run_dir=None if run_dir is None else Path(run_dir),
        device=device,
        progress=progress,
        checkpoint_every=checkpoint_every,
        max_steps=max_steps,
        detect_anomaly=detect_anomaly,
        **({"log": log} if log is not None else {}),
    )
