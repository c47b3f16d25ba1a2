"""Live preview: serve a spec's diagram on localhost and redraw it each time the file is saved.

The standard library's HTTP server sends the page, then pushes each new drawing to it as a
server-sent event (``/events``); the page swaps it in and keeps its zoom, position and folded
clusters. A spec that no longer loads sends its located errors instead: the page shows them
over the last good drawing, dimmed. The file is watched with ``watchfiles`` when it is
installed, else by polling its modification time, size and checksum every ``POLL_S`` seconds.

It binds 127.0.0.1 unless told otherwise: a spec is not something to publish by accident.
Needs no torch.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from archspec.errors import ArchSpecError

from .html import to_html
from .layout import layout
from .model import RGraph
from .svg import to_svg

__all__ = ["POLL_S", "Preview", "PreviewServer", "serve"]

POLL_S = 0.2
KEEPALIVE_S = 10.0


@dataclass
class Drawing:
    """One state of the preview: a number that grows with each change, the last good drawing,
    and the error that replaced it (``None`` while the spec draws)."""

    version: int = 0
    graph: RGraph | None = None
    svg: str = ""
    error: str | None = None


@dataclass
class Preview:
    """Draws ``spec_path`` on demand, keeping the last good drawing when the spec breaks.

    ``options`` go to :func:`archspec.diagram.adapter.to_rgraph` (``depth``, ``part``,
    ``direction``, ``shapes``, ``losses``, ``arrangement``: ``auto`` unless given);
    ``theme`` and ``greyscale`` to the SVG.
    """

    spec_path: Path
    overrides: Sequence[str] = ()
    options: dict[str, Any] = field(default_factory=dict)
    theme: str = "light"
    greyscale: bool = False
    state: Drawing = field(default_factory=Drawing)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def redraw(self) -> Drawing:
        """Read and draw the spec again; tell everyone waiting. Never raises for a bad spec."""
        try:
            g = self._rgraph()
            svg = to_svg(g, layout(g), theme=self.theme, greyscale=self.greyscale, legend=False)
            graph, error = g, None
        except ArchSpecError as e:
            graph, svg, error = self.state.graph, self.state.svg, str(e)
        except (OSError, ValueError) as e:
            graph, svg, error = self.state.graph, self.state.svg, f"{self.spec_path}: {e}"
        with self.changed:
            self.state = Drawing(self.state.version + 1, graph, svg, error)
            self.changed.notify_all()
        return self.state

    def _rgraph(self) -> RGraph:
        from archspec.diagram.adapter import to_rgraph
        from archspec.pipeline import analyse, load

        options = {"arrangement": "auto", **self.options}
        return to_rgraph(analyse(load(self.spec_path, list(self.overrides))), **options)

    def page(self) -> str:
        """The whole page for the current state (an empty drawing until one succeeds)."""
        state = self.state
        g = state.graph if state.graph is not None else RGraph([], [], title=self.spec_path.name)
        return to_html(g, theme=self.theme, greyscale=self.greyscale, live=state.version, error=state.error)

    def wait(self, since: int, timeout: float) -> Drawing | None:
        """The state once its version passes ``since``, or ``None`` after ``timeout`` seconds."""
        with self.changed:
            self.changed.wait_for(lambda: self.state.version > since, timeout)
            return self.state if self.state.version > since else None


class _Watcher(threading.Thread):
    """Calls ``on_change`` after each change to ``path`` until ``stop`` is set."""

    def __init__(self, path: Path, on_change: Callable[[], object], stop: threading.Event) -> None:
        super().__init__(name="archspec-preview-watch", daemon=True)
        self.path, self.on_change, self.stop = path, on_change, stop

    def run(self) -> None:
        try:
            import watchfiles
        except ImportError:
            self._poll()
            return
        target = str(self.path.resolve())
        for changes in watchfiles.watch(self.path.parent, stop_event=self.stop, debounce=50, step=20):
            if any(os.path.abspath(p) == target for _, p in changes):
                self.on_change()

    def _poll(self) -> None:
        last = self._stamp()
        while not self.stop.wait(POLL_S):
            now = self._stamp()
            if now != last:
                last = now
                self.on_change()

    def _stamp(self) -> tuple[int, int, int] | None:
        """Time, size and a checksum: a same-size save within a coarse clock tick still shows."""
        try:
            st = self.path.stat()
            data = self.path.read_bytes()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, zlib.crc32(data)


def _handler(preview: Preview, stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # the terminal shows the URL and errors, not every request

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            url = urlparse(self.path)
            if url.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", preview.page().encode("utf-8"))
            elif url.path == "/drawing.svg":
                self._send(200, "image/svg+xml", preview.state.svg.encode("utf-8"))
            elif url.path == "/favicon.ico":
                self._send(204, "image/x-icon", b"")
            elif url.path == "/events":
                since = int((parse_qs(url.query).get("since") or ["0"])[0] or 0)
                self._events(since)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _events(self, since: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                while not stop.is_set():
                    state = preview.wait(since, KEEPALIVE_S)
                    if state is None:
                        self.wfile.write(b": keepalive\n\n")
                    else:
                        since = state.version
                        if state.error is None:
                            event, data = "drawing", {"svg": state.svg, "version": state.version}
                        else:
                            event, data = "failure", {"error": state.error, "version": state.version}
                        self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return

    return Handler


class PreviewServer:
    """The preview server, started and stopped by the caller (``with`` works too).

    ``port=0`` picks a free port; :attr:`url` says where it is.
    """

    def __init__(self, preview: Preview, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.preview = preview
        self.stop_event = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), _handler(preview, self.stop_event))
        self.httpd.daemon_threads = True
        self.watcher = _Watcher(preview.spec_path, preview.redraw, self.stop_event)
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="archspec-preview-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> PreviewServer:
        self.preview.redraw()
        self.watcher.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        with self.preview.changed:
            self.preview.changed.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> PreviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    spec_path: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    overrides: Sequence[str] = (),
    theme: str = "light",
    greyscale: bool = False,
    **options: Any,
) -> None:
    """Serve the live preview of ``spec_path`` until interrupted (Ctrl-C).

    ``options`` are those of :func:`~archspec.diagram.adapter.to_rgraph` (``depth``, ``part``,
    ``direction``, ``shapes``, ``losses``, ``arrangement``).
    """
    preview = Preview(Path(spec_path), overrides, dict(options), theme, greyscale)
    server = PreviewServer(preview, host, port).start()
    print(f"previewing {spec_path} at {server.url} (Ctrl-C to stop)", file=sys.stderr)
    try:
        while True:
            state = preview.wait(preview.state.version, 3600.0)
            if state is not None and state.error is not None:
                print(state.error, file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
