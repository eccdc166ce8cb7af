"""The child page's SVG pictures, drawn without a browser."""

import itertools
import re
from datetime import date

from aggregator.web.pictures import network_svg, timeline_svg

TIMELINE = [
    {"date": "2026-10-01", "agency": {"name": "School"}, "category": "neglect", "severity": 2},
    {
        "date": "2026-11-01",
        "agency": {"name": "GP <Riverside>"},
        "category": "injury",
        "severity": 4,
    },
    {"date": "2026-11-03", "agency": {"name": "School"}, "category": "attendance", "severity": 1},
]
GRAPH = {
    "nodes": [
        {"id": "child:c1", "type": "child", "label": "Ava Jones"},
        {"id": "child:c2", "type": "child", "label": "Leo Jones"},
        {"id": "concern:x", "type": "concern", "label": "neglect"},
        {"id": "agency:a", "type": "agency", "label": "School"},
        {"id": "address:h", "type": "address", "label": "12 Mill Lane, LS6 2AB"},
        {"id": "practitioner:p", "type": "practitioner", "label": "A. Patel"},
    ],
    "edges": [
        {"source": "child:c1", "target": "concern:x", "type": "subject_of"},
        {"source": "concern:x", "target": "agency:a", "type": "raised_by"},
        {"source": "concern:x", "target": "practitioner:p", "type": "recorded_by"},
        {"source": "child:c1", "target": "address:h", "type": "lives_at"},
        {"source": "child:c2", "target": "address:h", "type": "lives_at"},
    ],
}


def test_timeline_has_one_mark_per_concern_in_agency_rows() -> None:
    svg = str(timeline_svg(TIMELINE, date(2026, 11, 25)))
    assert svg.count('class="mark"') == 3
    assert svg.count('class="lane-label"') == 2
    assert "GP &lt;Riverside&gt;" in svg and "<Riverside>" not in svg  # escaped
    radii = [int(r) for r in re.findall(r'class="mark" cx="[\d.]+" cy="[\d.]+" r="(\d+)"', svg)]
    assert radii == [8, 12, 6]  # sized by severity


def test_network_shows_household_and_agencies_not_concerns() -> None:
    svg = str(network_svg(GRAPH, "c1"))
    labels = re.findall(r'class="node-label">([^<]*)<', svg)
    assert sorted(labels) == ["12 Mill Lane, LS6 2AB", "Ava Jones", "Leo Jones", "School"]
    assert svg.count("<line") == 3  # child-agency, child-address, sibling-address
    assert network_svg(GRAPH, "c1") == network_svg(GRAPH, "c1")  # deterministic


def test_empty_pictures_say_so() -> None:
    assert "No concerns" in str(timeline_svg([], date(2026, 1, 1)))
    assert "Nothing to draw" in str(network_svg({"nodes": [], "edges": []}, "c1"))


def test_timeline_marks_link_to_their_concern_and_month_labels_do_not_collide() -> None:
    long = [
        {
            "concern_id": f"c{i}",
            "date": f"20{24 + i // 12}-{i % 12 + 1:02d}-15",
            "agency": {"name": "School"},
            "category": "neglect",
            "severity": 1,
        }
        for i in range(30)  # two and a half years
    ]
    svg = str(timeline_svg(long, date(2026, 11, 25)))
    assert svg.count('class="mark-link" href="#concern-c') == 30
    ticks = [float(x) for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+" class="tick">', svg)]
    assert len(ticks) >= 4
    assert min(b - a for a, b in itertools.pairwise(ticks)) >= 44  # labels apart


def test_network_edges_are_labelled_with_the_relationship() -> None:
    svg = str(network_svg(GRAPH, "c1"))
    edge_labels = re.findall(r'class="edge-label">([^<]*)<', svg)
    assert sorted(edge_labels) == ["lives at", "lives at", "raised concerns"]
