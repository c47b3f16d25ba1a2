"""A self-contained HTML page: the SVG inline, pan by dragging, zoom with the wheel, details
on hover. No external scripts, fonts or styles, so it opens offline and from an attachment."""

from __future__ import annotations

from .layout import Layout
from .model import RGraph
from .svg import to_svg

__all__ = ["to_html"]

_CSS = """
html,body{margin:0;height:100%;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#0f172a}
body{display:flex;flex-direction:column}
#bar{padding:6px 12px;border-bottom:1px solid #e2e8f0;font-size:13px;display:flex;gap:16px;align-items:center}
#bar b{font-size:14px}#bar span{color:#64748b}
#view{flex:1;overflow:hidden;position:relative;cursor:grab;background:#fafafa;touch-action:none}
#view.drag{cursor:grabbing}
#view>svg{position:absolute;left:0;top:0;transform-origin:0 0;user-select:none}
#tip{position:fixed;display:none;pointer-events:none;background:#0f172a;color:#f8fafc;padding:6px 9px;
border-radius:6px;font:12px/1.45 'DejaVu Sans Mono',Menlo,Consolas,monospace;white-space:pre;max-width:60ch;
box-shadow:0 2px 8px rgba(0,0,0,.25)}
#tip .t{font-weight:bold}
.edge.hot{stroke-width:3px}
g.node:hover rect.box{stroke-width:2.5px}
"""

_JS = """
(function () {
  var view = document.getElementById('view'), svg = view.querySelector('svg');
  var tip = document.getElementById('tip'), s = 1, tx = 0, ty = 0, drag = null;
  svg.querySelectorAll('title').forEach(function (t) { t.remove(); });
  function apply() { svg.style.transform = 'translate(' + tx + 'px,' + ty + 'px) scale(' + s + ')'; }
  function fit() {
    var r = view.getBoundingClientRect(), w = svg.width.baseVal.value, h = svg.height.baseVal.value;
    s = Math.min(1, (r.width - 16) / w, (r.height - 16) / h);
    tx = Math.max(8, (r.width - w * s) / 2); ty = 8; apply();
  }
  view.addEventListener('wheel', function (e) {
    e.preventDefault();
    var r = view.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    var n = Math.min(8, Math.max(0.05, s * Math.exp(-e.deltaY * 0.0015)));
    tx = mx - (mx - tx) * n / s; ty = my - (my - ty) * n / s; s = n; apply();
  }, {passive: false});
  view.addEventListener('pointerdown', function (e) {
    drag = {x: e.clientX - tx, y: e.clientY - ty}; view.setPointerCapture(e.pointerId); view.classList.add('drag');
  });
  view.addEventListener('pointermove', function (e) {
    if (drag) { tx = e.clientX - drag.x; ty = e.clientY - drag.y; apply(); }
  });
  function end() { drag = null; view.classList.remove('drag'); }
  view.addEventListener('pointerup', end); view.addEventListener('pointercancel', end);
  view.addEventListener('dblclick', fit);
  document.addEventListener('keydown', function (e) { if (e.key === '0') fit(); });
  window.addEventListener('resize', fit);
  function hot(id, on) {
    svg.querySelectorAll('path.edge').forEach(function (p) {
      if (p.dataset.src === id || p.dataset.dst === id) p.classList.toggle('hot', on);
    });
  }
  svg.addEventListener('mouseover', function (e) {
    var g = e.target.closest('g.node'); if (!g || drag) return;
    var d = g.dataset; tip.textContent = '';
    var t = document.createElement('div'); t.className = 't'; t.textContent = d.title; tip.appendChild(t);
    var rows = ['id: ' + d.id, 'op: ' + d.op + ' (' + d.family + ')'];
    if (d.highlight) rows.push('diff: ' + d.highlight);
    if (d.lines) rows = rows.concat(d.lines.split('\\n'));
    rows.forEach(function (row) { var r = document.createElement('div'); r.textContent = row; tip.appendChild(r); });
    tip.style.display = 'block'; hot(d.id, true);
  });
  svg.addEventListener('mouseout', function (e) {
    var g = e.target.closest('g.node');
    if (g && !g.contains(e.relatedTarget)) { tip.style.display = 'none'; hot(g.dataset.id, false); }
  });
  view.addEventListener('mousemove', function (e) {
    tip.style.left = (e.clientX + 14) + 'px'; tip.style.top = (e.clientY + 14) + 'px';
  });
  fit();
})();
"""


def to_html(g: RGraph, layout: Layout | None = None) -> str:
    """A standalone page showing ``g``'s SVG with pan, zoom and hover details."""
    title = _esc(g.title or "architecture")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<div id="bar"><b>{title}</b><span>{len(g.nodes)} nodes · drag to pan · wheel to zoom · '
        "double-click or 0 to fit · hover a box for details</span></div>\n"
        f'<div id="view">\n{to_svg(g, layout)}</div>\n<div id="tip"></div>\n'
        f"<script>{_JS}</script>\n</body>\n</html>\n"
    )


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
