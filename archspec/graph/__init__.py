"""Stages 4–5, no torch: the checked DAG (``dag``), shapes and budgets (``shapes``), and the
per-node table ``archspec summary`` prints (``summary``)."""

from archspec.graph.dag import Graph as Graph
from archspec.graph.dag import build_graph as build_graph
from archspec.graph.shapes import check_expect as check_expect
from archspec.graph.shapes import infer_shapes as infer_shapes

__all__ = ["Graph", "build_graph", "check_expect", "infer_shapes"]
