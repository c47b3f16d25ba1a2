"""The DAG stage's plain-dict graph algorithms against networkx, the independent oracle, and
``Graph.dag`` (built on demand) against the graph the checks ran on."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from archspec.graph.dag import _ancestors, _find_cycle, _topological_order
from tests.conftest import EXAMPLES, analysed


@st.composite
def digraphs(draw, acyclic: bool):
    """Node names with shuffled sort keys, and edges in a drawn order (self-loops allowed when
    cycles are)."""
    n = draw(st.integers(1, 12))
    names = [f"n{i}" for i in range(n)]
    keys = draw(st.permutations(range(n)))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges = draw(st.lists(pairs, max_size=3 * n, unique=True))
    if acyclic:
        edges = [(u, v) for u, v in edges if u < v]
    return names, dict(zip(names, keys)), [(names[u], names[v]) for u, v in edges]


def _adjacency(names, edges):
    succ = {name: {} for name in names}
    pred = {name: {} for name in names}
    for u, v in edges:
        succ[u][v] = pred[v][u] = [(0, "")]
    return succ, pred


def _nx(names, edges):
    dag = nx.DiGraph()
    dag.add_nodes_from(names)
    dag.add_edges_from(edges)
    return dag


@settings(max_examples=100, deadline=None)
@given(digraphs(acyclic=True))
def test_the_topological_order_is_networkx_lexicographical_order(graph):
    names, index, edges = graph
    succ, pred = _adjacency(names, edges)
    want = list(nx.lexicographical_topological_sort(_nx(names, edges), key=index.__getitem__))
    assert _topological_order(succ, pred, index) == want
    for name in names:
        assert _ancestors(pred, name) == nx.ancestors(_nx(names, edges), name)


@settings(max_examples=150, deadline=None)
@given(digraphs(acyclic=False))
def test_a_cyclic_graph_has_no_full_order_and_the_reported_cycle_is_networkx_find_cycle(graph):
    names, index, edges = graph
    succ, pred = _adjacency(names, edges)
    dag = _nx(names, edges)
    order = _topological_order(succ, pred, index)
    if nx.is_directed_acyclic_graph(dag):
        assert len(order) == len(names)
        return
    assert len(order) < len(names)
    assert _find_cycle(succ, names) == [u for u, _ in nx.find_cycle(dag)]


def test_the_networkx_view_of_every_example_matches_the_checked_graph():
    for path in EXAMPLES:
        graph = analysed(path.read_text(), name=str(path))
        dag = graph.dag
        assert list(dag) == [*graph.spec.inputs, *graph.spec.nodes]
        assert {n for n, kind in dag.nodes(data="kind") if kind == "op"} == set(graph.spec.nodes)
        assert all(dag.nodes[n]["node"] is graph.spec.nodes[n] for n in graph.op_nodes())
        assert {(u, v): p for u, v, p in dag.edges(data="ports")} == {
            (u, v): p for u, heads in graph.succ.items() for v, p in heads.items()
        }
        assert (
            list(nx.lexicographical_topological_sort(dag, key=lambda n: dag.nodes[n]["index"])) == graph.order
        )
        assert all(list(dag.successors(n)) == graph.successors(n) for n in dag)
