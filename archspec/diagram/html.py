"""A self-contained HTML page: the SVG inline, and what a reader needs to find their way in it.

- It opens with boxes at their 1:1 size and the first input in view; drag to pan, wheel to
  zoom, ``0`` (or the *fit* button) shows all of it, ``1`` goes back to 1:1.
- A minimap in the corner shows the whole drawing and where the view is; click or drag in it to
  go there.
- Block and part clusters collapse and expand when their label is clicked (a collapsed one is
  drawn filled, with its member count, where it was: the layout does not move). In a drawing of
  more than ``COLLAPSE_ABOVE`` boxes the innermost clusters start collapsed.
- The search box finds a node by id (exact, then prefix, then anywhere in the id), expands
  what hides it and centres it.
- The legend stays fixed in the corner; the tooltip shows the op, all arguments, input and
  output shapes, parameters, MACs and the ``file:line`` of the node in the spec.

No external scripts, fonts or styles, so it opens offline and from an attachment. With
``live`` set the page also listens to the preview server (:mod:`archspec.diagram.serve`) and
swaps in each new drawing, keeping the view.
"""

from __future__ import annotations

import json

from . import _style
from .layout import Layout
from .model import EDGE_KINDS, FAMILIES, HIGHLIGHTS, RGraph
from .svg import highlight_swatch, to_svg

__all__ = ["COLLAPSE_ABOVE", "to_html"]

COLLAPSE_ABOVE = 250  # boxes; beyond this, the innermost clusters start collapsed

_CSS = """
html,body{margin:0;height:100%;font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);
background:var(--bg)}
body{display:flex;flex-direction:column}
#bar{padding:6px 12px;border-bottom:1px solid var(--frame);font-size:13px;display:flex;gap:12px;align-items:center;
flex-wrap:wrap}
#bar b{font-size:14px}#bar .hint{color:var(--muted)}
#bar input{font:13px monospace;padding:3px 6px;width:18ch;border:1px solid var(--frame);border-radius:4px;
background:var(--bg);color:var(--fg)}
#bar button{font-size:12px;padding:3px 8px;border:1px solid var(--frame);border-radius:4px;background:var(--bg);
color:var(--fg);cursor:pointer}
#view{flex:1;overflow:hidden;position:relative;cursor:grab;background:var(--bg);touch-action:none}
#view.drag{cursor:grabbing}
#view>svg{position:absolute;left:0;top:0;transform-origin:0 0;user-select:none}
#view.stale>svg{opacity:.3}
#tip{position:fixed;display:none;pointer-events:none;background:#0f172a;color:#f8fafc;padding:6px 9px;
border-radius:6px;font:12px/1.45 'DejaVu Sans Mono',Menlo,Consolas,monospace;white-space:pre-wrap;max-width:70ch;
box-shadow:0 2px 8px rgba(0,0,0,.25);z-index:5}
#tip .t{font-weight:bold}#tip .k{color:#94a3b8}
#legend{position:absolute;left:8px;bottom:8px;max-width:calc(100% - 260px);background:var(--bg);
border:1px solid var(--frame);border-radius:6px;padding:3px 9px;font-size:11px;line-height:17px;opacity:.95;
cursor:default;z-index:3;display:flex;flex-wrap:wrap;column-gap:12px}
#legend i{display:inline-block;width:16px;height:10px;border-radius:3px;margin-right:6px;vertical-align:-1px;
border:1px solid}
#legend svg{margin-right:6px;vertical-align:middle}
#mini{position:absolute;right:8px;bottom:8px;background:var(--bg);border:1px solid var(--frame);border-radius:6px;
overflow:hidden;cursor:pointer;z-index:3}
#mini svg{display:block;pointer-events:none}
#mini .vp{position:absolute;border:2px solid #2563eb;background:rgba(37,99,235,.08);pointer-events:none}
#error{display:none;position:absolute;left:50%;top:12px;transform:translateX(-50%);max-width:80%;z-index:4;
background:#fef2f2;color:#7f1d1d;border:1px solid #fca5a5;border-radius:6px;padding:8px 12px;
font:12px/1.5 'DejaVu Sans Mono',Menlo,monospace;white-space:pre-wrap}
.edge.hot{stroke-width:3px}.edge.off,.node.off,.cluster.off,.cluster-label.off{display:none}
g.node:hover rect.box{stroke-width:2.5px}
g.node.found rect.box{stroke:#f59e0b;stroke-width:4px}
g.cluster-label{cursor:pointer}
g.cluster.collapsed rect{fill-opacity:1;stroke-width:2px;cursor:pointer}
"""

_JS = r"""
(function () {
  var view = document.getElementById('view'), tip = document.getElementById('tip');
  var mini = document.getElementById('mini'), vp = mini.querySelector('.vp'), err = document.getElementById('error');
  var search = document.getElementById('search');
  var svg, s = 1, tx = 0, ty = 0, drag = null, moved = 0, miniScale = 1, collapsed = {}, D = {};
  var NS = 'http://www.w3.org/2000/svg', AUTO = %(collapse_above)d;

  function size() { return {w: svg.width.baseVal.value, h: svg.height.baseVal.value}; }
  function apply() {
    svg.style.transform = 'translate(' + tx + 'px,' + ty + 'px) scale(' + s + ')';
    var r = view.getBoundingClientRect();
    vp.style.left = (-tx / s * miniScale) + 'px'; vp.style.top = (-ty / s * miniScale) + 'px';
    vp.style.width = (r.width / s * miniScale) + 'px'; vp.style.height = (r.height / s * miniScale) + 'px';
  }
  function fit() {
    var r = view.getBoundingClientRect(), z = size();
    s = Math.min(1, (r.width - 16) / z.w, (r.height - 16) / z.h);
    tx = Math.max(8, (r.width - z.w * s) / 2); ty = 8; apply();
  }
  function rectOf(g) {
    var b = g.querySelector('rect');
    return {x: b.x.baseVal.value, y: b.y.baseVal.value, w: b.width.baseVal.value, h: b.height.baseVal.value};
  }
  function actual() {  // 1:1, the first input in view (the drawing's top-left corner when it fits)
    var r = view.getBoundingClientRect(), first = svg.querySelector('g.node.family-input') || svg.querySelector('g.node');
    s = 1; tx = 8; ty = 8;
    if (first) {
      var b = rectOf(first);
      if (b.x + b.w + 16 > r.width) tx = r.width / 2 - (b.x + b.w / 2);
      if (b.y + b.h + 16 > r.height) ty = r.height / 3 - b.y;
    }
    apply();
  }
  function centre(g) {
    var r = view.getBoundingClientRect(), b = rectOf(g);
    if (s < 0.9) s = 1;
    tx = r.width / 2 - (b.x + b.w / 2) * s; ty = r.height / 2 - (b.y + b.h / 2) * s; apply();
  }

  // -- the index: nodes, their clusters, edges ------------------------------------------------
  function index() {
    D = {nodes: {}, clusters: {}, labels: {}, parent: {}, members: {}, edges: []};
    svg.querySelectorAll('g.node').forEach(function (g) {
      var path = g.dataset.clusters ? g.dataset.clusters.split('\n') : [];
      D.nodes[g.dataset.id] = {el: g, path: path};
      path.forEach(function (c, i) {
        if (!(c in D.parent)) D.parent[c] = i ? path[i - 1] : null;
        (D.members[c] = D.members[c] || []).push(g.dataset.id);
      });
    });
    svg.querySelectorAll('g.cluster').forEach(function (g) { D.clusters[g.dataset.id] = g; });
    svg.querySelectorAll('g.cluster-label').forEach(function (g) {
      D.labels[g.dataset.id] = g;
      g.setAttribute('title', 'click to fold or unfold');
    });
    svg.querySelectorAll('path.edge').forEach(function (p) {
      var label = p.nextElementSibling && p.nextElementSibling.classList.contains('edge-label') ? p.nextElementSibling : null;
      D.edges.push({el: p, label: label, src: p.dataset.src, dst: p.dataset.dst});
    });
    var list = document.getElementById('ids'); list.textContent = '';
    Object.keys(D.nodes).forEach(function (id) { var o = document.createElement('option'); o.value = id; list.appendChild(o); });
  }
  function hiddenBy(path) {  // the outermost collapsed cluster on a path, or null
    for (var i = 0; i < path.length; i++) if (collapsed[path[i]]) return path[i];
    return null;
  }
  function ancestors(c) { var out = []; while (D.parent[c]) { c = D.parent[c]; out.unshift(c); } return out; }
  function refresh() {
    Object.keys(D.nodes).forEach(function (id) { D.nodes[id].el.classList.toggle('off', !!hiddenBy(D.nodes[id].path)); });
    Object.keys(D.clusters).forEach(function (c) {
      var off = !!hiddenBy(ancestors(c)), g = D.clusters[c], lab = D.labels[c];
      g.classList.toggle('off', off); g.classList.toggle('collapsed', !!collapsed[c]);
      if (lab) {
        lab.classList.toggle('off', off);
        var n = lab.querySelector('text.count');
        if (collapsed[c] && !n) {
          var t = lab.querySelector('text'); n = document.createElementNS(NS, 'text');
          n.setAttribute('class', 'count'); n.setAttribute('x', t.getAttribute('x'));
          n.setAttribute('y', +t.getAttribute('y') + 16); n.setAttribute('font-size', '11');
          n.setAttribute('fill', t.getAttribute('fill'));
          n.textContent = (D.members[c] || []).length + ' boxes \u00b7 click to expand'; lab.appendChild(n);
        } else if (!collapsed[c] && n) n.remove();
      }
    });
    D.edges.forEach(function (e) {
      var a = D.nodes[e.src], b = D.nodes[e.dst];
      var ha = a && hiddenBy(a.path), hb = b && hiddenBy(b.path);
      var off = !!(ha && hb && ha === hb);
      e.el.classList.toggle('off', off); if (e.label) e.label.classList.toggle('off', off);
    });
  }
  function toggle(c) { if (collapsed[c]) delete collapsed[c]; else collapsed[c] = true; refresh(); }
  function defaults() {  // a big drawing starts with its innermost clusters collapsed
    collapsed = {};
    if (Object.keys(D.nodes).length <= AUTO) return;
    var inner = {};
    Object.keys(D.parent).forEach(function (c) { if (D.parent[c]) inner[D.parent[c]] = true; });
    Object.keys(D.members).forEach(function (c) { if (!inner[c] && D.members[c].length >= 3) collapsed[c] = true; });
  }
  function find(q) {
    q = q.trim(); if (!q) return null;
    var ids = Object.keys(D.nodes), low = q.toLowerCase();
    return ids.find(function (i) { return i === q; }) ||
      ids.find(function (i) { return i.toLowerCase().indexOf(low) === 0; }) ||
      ids.find(function (i) { return i.toLowerCase().indexOf(low) >= 0; }) || null;
  }
  function reveal(id) {
    var n = D.nodes[id]; if (!n) return;
    n.path.forEach(function (c) { delete collapsed[c]; }); refresh();
    svg.querySelectorAll('g.node.found').forEach(function (g) { g.classList.remove('found'); });
    n.el.classList.add('found'); centre(n.el);
  }

  // -- the minimap ----------------------------------------------------------------------------
  function minimap() {
    var old = mini.querySelector('svg'); if (old) old.remove();
    var z = size(); miniScale = Math.min(220 / Math.max(z.w, 1), 160 / Math.max(z.h, 1));
    var c = svg.cloneNode(true);
    c.querySelectorAll('*').forEach(function (el) {  // a picture only: no ids, classes or data to find
      if (el.tagName !== 'marker') el.removeAttribute('id');
      el.removeAttribute('class');
      Object.keys(el.dataset || {}).forEach(function (k) { delete el.dataset[k]; });
    });
    c.removeAttribute('class');
    c.querySelectorAll('text,title').forEach(function (el) { el.remove(); });
    c.removeAttribute('style'); c.setAttribute('width', z.w * miniScale); c.setAttribute('height', z.h * miniScale);
    mini.style.width = (z.w * miniScale) + 'px'; mini.style.height = (z.h * miniScale) + 'px';
    mini.insertBefore(c, vp);
  }
  function miniGo(e) {
    var r = mini.getBoundingClientRect(), v = view.getBoundingClientRect();
    var x = (e.clientX - r.left) / miniScale, y = (e.clientY - r.top) / miniScale;
    tx = v.width / 2 - x * s; ty = v.height / 2 - y * s; apply();
  }
  mini.addEventListener('pointerdown', function (e) {
    e.stopPropagation(); miniGo(e); mini.setPointerCapture(e.pointerId);
    mini.onpointermove = function (m) { miniGo(m); };
  });
  mini.addEventListener('pointerup', function () { mini.onpointermove = null; });

  // -- pointer, wheel, keys ------------------------------------------------------------------
  view.addEventListener('wheel', function (e) {
    e.preventDefault();
    var r = view.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
    var n = Math.min(8, Math.max(0.03, s * Math.exp(-e.deltaY * 0.0015)));
    tx = mx - (mx - tx) * n / s; ty = my - (my - ty) * n / s; s = n; apply();
  }, {passive: false});
  view.addEventListener('pointerdown', function (e) {
    if (e.target.closest('#legend,#mini,#error')) return;
    drag = {x: e.clientX - tx, y: e.clientY - ty, x0: e.clientX, y0: e.clientY}; moved = 0;
    view.setPointerCapture(e.pointerId); view.classList.add('drag');
  });
  view.addEventListener('pointermove', function (e) {
    if (!drag) return;
    moved = Math.max(moved, Math.abs(e.clientX - drag.x0) + Math.abs(e.clientY - drag.y0));
    tx = e.clientX - drag.x; ty = e.clientY - drag.y; apply();
  });
  function end(e) {
    var was = drag; drag = null; view.classList.remove('drag');
    if (!was || moved > 4 || e.type !== 'pointerup') return;
    var el = document.elementFromPoint(e.clientX, e.clientY);
    var hit = el && (el.closest('g.cluster-label') || el.closest('g.cluster.collapsed'));
    if (hit) toggle(hit.dataset.id);
  }
  view.addEventListener('pointerup', end); view.addEventListener('pointercancel', end);
  view.addEventListener('dblclick', fit);
  document.getElementById('fit').onclick = fit;
  document.getElementById('one').onclick = actual;
  document.getElementById('expand').onclick = function () { collapsed = {}; refresh(); };
  document.getElementById('collapse').onclick = function () {
    Object.keys(D.members).forEach(function (c) { collapsed[c] = true; }); refresh();
  };
  search.addEventListener('keydown', function (e) {
    if (e.key === 'Enter') { var id = find(search.value); search.classList.toggle('miss', !id); if (id) reveal(id); }
    e.stopPropagation();
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === '0') fit(); else if (e.key === '1') actual();
    else if (e.key === '/') { e.preventDefault(); search.focus(); }
  });
  window.addEventListener('resize', apply);

  // -- the tooltip ----------------------------------------------------------------------------
  function hot(id, on) {
    D.edges.forEach(function (e) { if (e.src === id || e.dst === id) e.el.classList.toggle('hot', on); });
  }
  view.addEventListener('mouseover', function (e) {
    var g = e.target.closest && e.target.closest('g.node'); if (!g || drag) return;
    var d = g.dataset, info = {}; tip.textContent = '';
    try { info = JSON.parse(d.info || '{}'); } catch (x) { info = {}; }
    var t = document.createElement('div'); t.className = 't'; t.textContent = d.title; tip.appendChild(t);
    var rows = [['id', d.id], ['kind', d.op + ' (' + d.family + ')']];
    if (d.highlight) rows.push(['diff', d.highlight]);
    Object.keys(info).forEach(function (k) { if (info[k]) rows.push([k, info[k]]); });
    if (!Object.keys(info).length && d.lines) d.lines.split('\n').forEach(function (l) { rows.push(['', l]); });
    rows.forEach(function (row) {
      var r = document.createElement('div'), k = document.createElement('span');
      k.className = 'k'; k.textContent = row[0] ? row[0] + ': ' : ''; r.appendChild(k);
      r.appendChild(document.createTextNode(row[1])); tip.appendChild(r);
    });
    tip.style.display = 'block'; hot(d.id, true);
  });
  view.addEventListener('mouseout', function (e) {
    var g = e.target.closest && e.target.closest('g.node');
    if (g && !g.contains(e.relatedTarget)) { tip.style.display = 'none'; hot(g.dataset.id, false); }
  });
  view.addEventListener('mousemove', function (e) {  // beside the pointer, flipped to stay on screen
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + tip.offsetWidth > innerWidth - 4) x = Math.max(4, e.clientX - 14 - tip.offsetWidth);
    if (y + tip.offsetHeight > innerHeight - 4) y = Math.max(4, e.clientY - 14 - tip.offsetHeight);
    tip.style.left = x + 'px'; tip.style.top = y + 'px';
  });

  // -- set up, and swap in a new drawing (live preview) ----------------------------------------
  function prepare(first) {
    svg = view.querySelector('svg');
    svg.querySelectorAll('title').forEach(function (t) { t.remove(); });
    var keep = collapsed; index();
    if (first) defaults(); else { collapsed = {}; Object.keys(keep).forEach(function (c) { if (D.members[c]) collapsed[c] = true; }); }
    refresh(); minimap();
  }
  window.archspec = {
    show: function (svgText) {
      var holder = document.createElement('div'); holder.innerHTML = svgText;
      var next = holder.querySelector('svg'); if (!next) return;
      view.replaceChild(next, svg); prepare(false); apply();
      view.classList.remove('stale'); err.style.display = 'none';
    },
    error: function (text) { err.textContent = text; err.style.display = 'block'; view.classList.add('stale'); },
    state: function () { return {scale: s, tx: tx, ty: ty, collapsed: Object.keys(collapsed)}; },
    toggle: toggle, reveal: reveal
  };
  prepare(true); actual();
})();
"""

_LIVE_JS = r"""
(function () {
  var source = new EventSource('events?since=%(version)d');
  source.addEventListener('drawing', function (e) { window.archspec.show(JSON.parse(e.data).svg); });
  source.addEventListener('failure', function (e) { window.archspec.error(JSON.parse(e.data).error); });
})();
"""


def to_html(
    g: RGraph,
    layout: Layout | None = None,
    *,
    theme: str = "light",
    greyscale: bool = False,
    live: int | None = None,
    error: str | None = None,
) -> str:
    """A standalone page showing ``g``'s SVG (see the module docstring).

    ``live`` (the number of this drawing at the preview server, :mod:`archspec.diagram.serve`)
    adds the client that swaps in later drawings; ``error`` shows a located error over the
    drawing, which is then dimmed.
    """
    pal = _style.palette(theme, greyscale)
    title = _esc(g.title or "architecture")
    variables = f":root{{--bg:{pal.background};--fg:{pal.text};--muted:{pal.muted};--frame:{pal.frame}}}"
    script = _JS.replace("%(collapse_above)d", str(COLLAPSE_ABOVE))
    stale = ' class="stale"' if error else ""
    error_div = (
        f'<div id="error" style="display:block">{_esc(error)}</div>' if error else '<div id="error"></div>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{variables}{_CSS}</style>\n</head>\n<body>\n"
        f'<div id="bar"><b>{title}</b><span class="hint">{len(g.nodes)} boxes</span>'
        '<input id="search" list="ids" placeholder="find a node (/)" aria-label="find a node by id">'
        '<datalist id="ids"></datalist>'
        '<button id="one" title="boxes at their size (1)">1:1</button>'
        '<button id="fit" title="all of it (0)">fit</button>'
        '<button id="expand">expand all</button><button id="collapse">collapse all</button>'
        '<span class="hint">drag to pan · wheel to zoom · click a cluster label to fold it · '
        "hover a box for details</span></div>\n"
        f'<div id="view"{stale}>\n{to_svg(g, layout, theme=theme, greyscale=greyscale, legend=False)}'
        f"{_legend(g, pal)}"
        '<div id="mini" title="overview: click to go there"><div class="vp"></div></div>'
        f"{error_div}</div>\n"
        '<div id="tip"></div>\n'
        f"<script>{script}</script>\n"
        + (f"<script>{_LIVE_JS.replace('%(version)d', str(live))}</script>\n" if live is not None else "")
        + "</body>\n</html>\n"
    )


def _legend(g: RGraph, pal: _style.Palette) -> str:
    """The legend as HTML, outside the drawing, so it stays put while the drawing moves."""
    present = {n.family for n in g.nodes}
    families = [f for f in FAMILIES if f in present] + sorted(present - set(FAMILIES))
    rows = []
    for fam in families:
        fill, stroke = pal.family(fam)
        rows.append(f'<div><i style="background:{fill};border-color:{stroke}"></i>{_esc(fam)}</div>')
    for kind in [k for k in EDGE_KINDS if k in {e.kind for e in g.edges}]:
        colour, dash = pal.edge(kind)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        rows.append(
            f'<div><svg width="18" height="8"><path d="M0,4 L18,4" stroke="{colour}" stroke-width="1.6"'
            f"{dash_attr}/></svg>{kind} edge</div>"
        )
    marks = {n.highlight for n in g.nodes}
    for mark in [h for h in HIGHLIGHTS if h in marks]:
        rows.append(
            f'<div class="legend-{mark}"><svg width="20" height="13">{highlight_swatch(mark, pal, 1, 1)}</svg>{mark}</div>'
        )
    return f'<div id="legend" data-families={json.dumps(" ".join(families))}>{"".join(rows)}</div>'


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
