"""Item 2 of issue 14: the network picture is bounded for any number of nodes.

The old layout searched for a free angle in steps that wrapped round for ever
once about 22 children sat on the outer ring, pinning the event loop.
"""

import random
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.web.pictures import RING_MAX, _radial_layout, collapse, network_svg


@contextmanager
def seconds(limit: float) -> Iterator[None]:
    """Fail instead of hanging when the code under test does not end."""

    def _late(signum: int, frame: Any) -> None:
        raise TimeoutError(f"did not finish within {limit} s")

    previous = signal.signal(signal.SIGALRM, _late)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def picture_graph(
    children: int, addresses: int, adults: int, agencies: int, rnd: random.Random
) -> dict[str, Any]:
    """A child's graph as `build_picture` returns it, of the given sizes."""
    nodes: list[dict[str, Any]] = [{"id": "child:me", "type": "child", "label": "Ava Jones"}]
    edges: list[dict[str, Any]] = []
    keys = [f"address:a{i}" for i in range(addresses)] + [f"adult:p{i}" for i in range(adults)]
    for k in keys:
        kind = k.split(":")[0]
        nodes.append({"id": k, "type": kind, "label": f"{kind} {k[-3:]}"})
        edges.append({"source": "child:me", "target": k, "type": "lives_at"})
    for i in range(agencies):
        nodes += [
            {"id": f"agency:g{i}", "type": "agency", "label": f"Agency {i}"},
            {"id": f"concern:c{i}", "type": "concern", "label": "neglect"},
        ]
        edges += [
            {"source": "child:me", "target": f"concern:c{i}", "type": "subject_of"},
            {"source": f"concern:c{i}", "target": f"agency:g{i}", "type": "raised_by"},
        ]
    for i in range(children):
        nodes.append(
            {"id": f"child:s{i}", "type": "child", "label": f"Sibling {rnd.randint(0, 50)}"}
        )
        for k in rnd.sample(keys, min(len(keys), rnd.randint(1, 3))):
            edges.append({"source": f"child:s{i}", "target": k, "type": "related_to"})
    return {"nodes": nodes, "edges": edges}


sizes = st.tuples(st.integers(0, 300), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=sizes, seed=st.integers(0, 2**32 - 1))
def test_network_picture_ends_and_stays_bounded(
    sizes: tuple[int, int, int, int], seed: int
) -> None:
    graph = picture_graph(*sizes, random.Random(seed))
    with seconds(5):
        svg = str(network_svg(graph, "me"))
    circles = svg.count("<circle")
    assert circles <= 1 + 2 * RING_MAX
    children, addresses, adults, agencies = sizes
    if 1 + children + addresses + adults + agencies <= 1 + RING_MAX:
        # Nothing to collapse: every node drawn.
        assert circles == 1 + children + addresses + adults + agencies
    titles = re.findall(r"<title>more: ([^<]*)</title>", svg)
    hidden = sum(int(n) for t in titles for n in re.findall(r"(\d+) more ", t))
    assert (
        circles - (svg.count("node-more")) + hidden == 1 + children + addresses + adults + agencies
    )


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 400), seed=st.integers(0, 2**32 - 1))
def test_layout_alone_ends_for_any_number_of_outer_nodes(n: int, seed: int) -> None:
    """Without collapsing, too: each outer node gets its own slot, in bounded time."""
    rnd = random.Random(seed)
    g = nx.Graph()
    kinds = {"me": "child", "a": "address", "b": "adult"}
    labels = {"me": "me", "a": "a", "b": "b"}
    g.add_edges_from([("me", "a"), ("me", "b")])
    for i in range(n):
        node = f"s{i}"
        kinds[node], labels[node] = "sibling", f"s{rnd.randint(0, 9)}"
        g.add_edge(node, rnd.choice("ab"))
    with seconds(5):
        pos = _radial_layout(g, "me", kinds, labels)
    assert set(pos) == set(g.nodes)
    outer = [pos[f"s{i}"] for i in range(n)]
    assert len(set(outer)) == n  # no two on one spot


def test_three_hundred_children_collapse_into_one_counted_node() -> None:
    graph = picture_graph(300, 1, 1, 2, random.Random(1))
    svg = str(network_svg(graph, "me"))
    assert svg.count('class="node node-sibling"') == RING_MAX - 1
    assert f"+{300 - RING_MAX + 1} more children" in svg
    assert "300 other children" in svg  # the description counts them all


def test_collapse_keeps_small_graphs_whole() -> None:
    g = nx.Graph([("me", "a"), ("s", "a")])
    kinds = {"me": "child", "a": "address", "s": "sibling"}
    labels = dict.fromkeys(kinds, "x")
    assert collapse(g, "me", kinds, labels) is g
