"""The child's neighbourhood as a typed networkx graph.

Built per request from indexed queries around one child (its records, concerns,
agencies, practitioners, related adults, addresses, and the other children who
share an address or an adult), so no process ever loads the whole database, and
every process sees the same thing after links change.
"""

from dataclasses import dataclass

import networkx as nx

from aggregator.children.display import identity_from
from aggregator.children.models import HouseholdKey
from aggregator.children.repository import SharedRecord
from aggregator.concerns.models import ChildRecord, Concern, RelatedPerson
from aggregator.principals.models import Principal


@dataclass(frozen=True)
class Neighbourhood:
    child_id: str
    records: list[ChildRecord]
    concerns: list[Concern]
    agencies: dict[str, Principal]
    related: list[RelatedPerson]
    own_keys: list[HouseholdKey]
    shared: list[SharedRecord]
    protected: set[str]  # concern ids whose reporter may not be named
    viewer_agency: str | None = None


def _name(rec: ChildRecord | SharedRecord) -> str:
    return " ".join(p for p in (rec.given_name, rec.family_name) if p) or "unnamed"


def build_graph(n: Neighbourhood) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    me = f"child:{n.child_id}"
    label = (
        identity_from(
            [r.given_name for r in n.records], [r.family_name for r in n.records], [], []
        ).name
        if n.records
        else "child"
    )
    g.add_node(me, type="child", label=label, focus=True)
    for c in n.concerns:
        cid = f"concern:{c.id}"
        g.add_node(
            cid,
            type="concern",
            label=c.category,
            date=c.observed_at.isoformat(),
            severity=c.severity,
        )
        g.add_edge(me, cid, type="subject_of")
        agency = n.agencies.get(c.agency_id)
        aid = f"agency:{c.agency_id}"
        g.add_node(
            aid,
            type="agency",
            label=agency.name if agency else "agency",
            agency_type=agency.agency_type if agency else None,
        )
        g.add_edge(cid, aid, type="raised_by")
        if c.practitioner_name and c.id not in n.protected:
            pid = f"practitioner:{c.agency_id}:{c.practitioner_name.lower()}"
            g.add_node(
                pid, type="practitioner", label=c.practitioner_name, role=c.practitioner_role
            )
            g.add_edge(cid, pid, type="recorded_by")
            g.add_edge(pid, aid, type="works_for")
    # An adult's key is scoped to a postcode district, so a mother named on this
    # child's records at two addresses has two keys; this child's records say she is
    # one person, so she is one node (children sharing either key still meet her).
    node_of: dict[str, str] = {}
    person_node: dict[str, str] = {}
    for key in n.own_keys:
        kid = f"{key.kind}:{key.key}"
        if key.kind != "address":
            kid = person_node.setdefault(key.key.split("|", 1)[-1], kid)
        node_of[f"{key.kind}:{key.key}"] = kid
        if kid not in g:
            g.add_node(kid, type="address" if key.kind == "address" else "adult", label=key.label)
            g.add_edge(me, kid, type="lives_at" if key.kind == "address" else "related_to")
    for shared in n.shared:
        other = f"child:{shared.child_id}"
        if other not in g:
            g.add_node(other, type="child", label=_name(shared), focus=False)
        kid = node_of.get(f"{shared.kind}:{shared.key}", f"{shared.kind}:{shared.key}")
        if kid not in g:
            kind = "address" if shared.kind == "address" else "adult"
            g.add_node(kid, type=kind, label=shared.label)
        g.add_edge(other, kid, type="lives_at" if shared.kind == "address" else "related_to")
    return g


def household_of(g: nx.MultiDiGraph, child_node: str) -> dict[str, list[str]]:
    """Other children reachable through a shared address or adult, with the links."""
    members: dict[str, list[str]] = {}
    hubs = dict.fromkeys(
        hub
        for _, hub, data in g.out_edges(child_node, data=True)
        if data["type"] in ("lives_at", "related_to")
    )
    for hub in hubs:  # each once: parallel edges made this quadratic in the records
        for other in dict.fromkeys(o for o, _ in g.in_edges(hub)):
            if other != child_node and g.nodes[other]["type"] == "child":
                members.setdefault(other, []).append(hub)
    return members


def to_json(g: nx.MultiDiGraph) -> dict[str, list[dict[str, object]]]:
    nodes = [{"id": n, **attrs} for n, attrs in g.nodes(data=True)]
    edges = [{"source": s, "target": t, "type": d["type"]} for s, t, d in g.edges(data=True)]
    return {"nodes": nodes, "edges": edges}
