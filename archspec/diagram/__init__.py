"""Architecture diagrams, from an :class:`RGraph`, in pure Python (no torch, no system packages).

``archspec.diagram.layout.layout`` places boxes and routes edges (it is not re-exported here,
so that ``archspec.diagram.layout`` stays the module); ``to_svg``, ``to_html``, ``to_mermaid`` and ``to_dot``
write text; ``dot_to_file`` runs Graphviz when it is installed, for PNG or PDF.
"""

from .dot import dot_to_file as dot_to_file
from .dot import to_dot as to_dot
from .html import to_html as to_html
from .layout import Layout as Layout
from .mermaid import to_mermaid as to_mermaid
from .model import RCluster as RCluster
from .model import REdge as REdge
from .model import RGraph as RGraph
from .model import RNode as RNode
from .svg import to_svg as to_svg

__all__ = [
    "Layout",
    "RCluster",
    "REdge",
    "RGraph",
    "RNode",
    "dot_to_file",
    "to_dot",
    "to_html",
    "to_mermaid",
    "to_svg",
]
