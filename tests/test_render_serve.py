"""The live preview without a browser: what the server sends, and what a broken spec does.

Only loopback addresses are used (port 0: a free port); every wait is bounded.
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from pathlib import Path

from archspec.diagram.serve import Preview, PreviewServer
from tests.conftest import ROOT


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "net.yaml"
    shutil.copy(ROOT / "examples" / "mlp.yaml", spec)
    return spec


def test_a_broken_save_keeps_the_last_good_drawing_and_says_where_it_broke(tmp_path):
    spec = _spec(tmp_path)
    preview = Preview(spec)
    good = preview.redraw()
    assert good.error is None and 'data-id="hidden"' in good.svg
    spec.write_text(spec.read_text().replace("op: relu", "op: relux"), encoding="utf-8")
    bad = preview.redraw()
    assert bad.version == good.version + 1
    assert bad.svg == good.svg and bad.graph is good.graph
    assert "net.yaml:" in bad.error and "unknown" in bad.error
    page = preview.page()
    assert 'id="error" style="display:block"' in page and 'class="stale"' in page


def test_the_server_binds_localhost_sends_the_page_and_pushes_each_change(tmp_path):
    spec = _spec(tmp_path)
    with PreviewServer(Preview(spec), port=0) as server:
        assert server.httpd.server_address[0] == "127.0.0.1"
        page = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert "<svg" in page and "new EventSource('events?since=1')" in page
        events: list[str] = []

        def listen() -> None:
            with urllib.request.urlopen(server.url + "events?since=1", timeout=10) as stream:
                for raw in stream:
                    line = raw.decode().strip()
                    if line.startswith("event:") or line.startswith("data:"):
                        events.append(line)
                    if len(events) == 2:
                        return

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        spec.write_text(spec.read_text().replace("out_features: 128", "out_features: 96"), encoding="utf-8")
        reader.join(timeout=10)
        assert events[0] == "event: drawing"
        data = json.loads(events[1].removeprefix("data:"))
        assert data["version"] >= 2 and "→96" in data["svg"]
        missing = urllib.request.Request(server.url + "nothing-here")
        try:
            urllib.request.urlopen(missing, timeout=5)
        except urllib.error.HTTPError as e:
            assert e.code == 404
