"""Item 2 of issue 14: building a child's graph is linear in what it holds.

Every record of a child repeats its household keys; one edge per record made
`household_of` walk records x records (3,000 concerns about one child: nine
million steps on the event loop for each view of the picture).
"""

from types import SimpleNamespace
from typing import cast

from aggregator.children.graph import Neighbourhood, build_graph, household_of
from aggregator.children.models import HouseholdKey
from aggregator.children.repository import SharedRecord
from aggregator.concerns.models import ChildRecord

RECORDS = 3000


def _neighbourhood(records: int) -> Neighbourhood:
    # Keys as plain objects: the graph reads only these three attributes, and
    # thousands of ORM instances would cost more than what is measured.
    keys = [
        SimpleNamespace(key="addr:LS6|12|mill", kind="address", label="12 Mill Lane")
        for _ in range(records)
    ]
    shared = [
        SharedRecord("addr:LS6|12|mill", "address", "12 Mill Lane", f"s{i}", "Leo", "Jones", None)
        for i in range(5)
    ]
    return Neighbourhood(
        child_id="me",
        records=[ChildRecord(id="r0", concern_id="c0", agency_id="a", child_id="me")],
        concerns=[],
        agencies={},
        related=[],
        own_keys=cast(list[HouseholdKey], keys),
        shared=shared,
        protected=set(),
    )


def test_a_child_with_thousands_of_records_has_one_edge_per_household_key() -> None:
    g = build_graph(_neighbourhood(RECORDS))
    assert g.number_of_edges("child:me", "address:addr:LS6|12|mill") == 1
    # One edge from the child to its address, whatever its number of records:
    # household_of walks each hub's edges once, so its work is linear.
    assert g.in_degree("address:addr:LS6|12|mill") == 1 + 5
    members = household_of(g, "child:me")
    assert sorted(members) == [f"child:s{i}" for i in range(5)]
    assert all(via == ["address:addr:LS6|12|mill"] for via in members.values())
