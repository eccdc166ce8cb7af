"""The child page's two pictures, drawn as SVG on the server.

Server-side SVG needs no JavaScript or external library, prints, and can be read
by a screen reader (each picture has a title, a description and per-mark titles;
the concerns table below it carries the same facts as text).
"""

import math
from collections import Counter
from datetime import date, timedelta
from html import escape
from typing import Any

import networkx as nx
from markupsafe import Markup

# Colour-blind-safe palette (Okabe-Ito and friends), each dark enough on white.
CATEGORY_COLOURS = {
    "physical": "#d55e00",
    "injury": "#b42318",
    "sexual": "#7a2e8e",
    "emotional": "#cc79a7",
    "neglect": "#8c5a00",
    "domestic_abuse": "#0072b2",
    "missing": "#2b6f39",
    "exploitation": "#5b21b6",
    "self_harm": "#9f1239",
    "mental_health": "#0e7490",
    "substance_misuse": "#4d7c0f",
    "attendance": "#475569",
    "online_safety": "#1d4ed8",
    "radicalisation": "#7c2d12",
    "other": "#6b7280",
}
NODE_COLOURS = {
    "child": "#12355b",
    "sibling": "#0e7490",
    "agency": "#0f5132",
    "adult": "#8c5a00",
    "address": "#5b21b6",
    "more": "#4b5563",
}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _swatch(colour: str) -> str:
    """An SVG square, not a styled span: the dashboard's CSP allows no inline styles."""
    return (
        '<svg class="swatch" width="14" height="14" aria-hidden="true" focusable="false">'
        f'<rect width="14" height="14" fill="{_e(colour)}" stroke="#1b1b1b"/></svg>'
    )


def timeline_svg(timeline: list[dict[str, Any]], today: date | None = None) -> Markup:
    """Concerns by agency over time: one row per agency, one mark per concern,
    coloured by category and sized by severity."""
    today = today or date.today()
    if not timeline:
        return Markup('<p class="muted">No concerns to draw.</p>')
    agencies = list(dict.fromkeys(t["agency"]["name"] for t in timeline))
    dates = [date.fromisoformat(str(t["date"])) for t in timeline]
    start = min(dates) - timedelta(days=10)
    end = max(max(dates), today) + timedelta(days=5)
    span = max((end - start).days, 1)
    left, right, top, row_h = 190, 20, 30, 38
    width = 960
    height = top + row_h * len(agencies) + 40
    plot_w = width - left - right

    def x(d: date) -> float:
        return left + plot_w * (d - start).days / span

    parts = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="tl-title tl-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="tl-title">Timeline of concerns by agency</title>',
        f'<desc id="tl-desc">{len(timeline)} concerns from {len(agencies)} agencies between '
        f"{_e(min(dates).isoformat())} and {_e(max(dates).isoformat())}.</desc>",
    ]
    # month gridlines and labels, far enough apart that labels never collide
    # ("Sep 26" is about 40 units wide at the tick font size)
    month_w = plot_w * 30.44 / span
    step = next(s for s in (1, 2, 3, 4, 6, 12, 24, 60) if s * month_w >= 48 or s == 60)
    tick = date(start.year, start.month, 1)
    tick = date(tick.year, ((tick.month - 1) // step * step) % 12 + 1, 1) if step <= 12 else tick
    while tick <= end:
        if tick >= start:
            tx = x(tick)
            parts.append(
                f'<line x1="{tx:.1f}" y1="{top - 10}" x2="{tx:.1f}" y2="{height - 30}" class="grid"/>'
            )
            parts.append(
                f'<text x="{tx + 3:.1f}" y="{height - 14}" class="tick">'
                f"{_MONTHS[tick.month - 1]} {str(tick.year)[2:]}</text>"
            )
        month = tick.month - 1 + step
        tick = date(tick.year + month // 12, month % 12 + 1, 1)
    tx = x(today)
    parts.append(
        f'<line x1="{tx:.1f}" y1="{top - 14}" x2="{tx:.1f}" y2="{height - 30}" class="today"/>'
    )
    parts.append(
        f'<text x="{tx - 4:.1f}" y="{top - 16}" class="tick" text-anchor="end">today</text>'
    )
    for i, name in enumerate(agencies):
        y = top + row_h * i + row_h / 2
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - right}" y2="{y}" class="lane"/>')
        label = name if len(name) <= 24 else name[:23] + "…"
        parts.append(
            f'<text x="{left - 10}" y="{y + 4}" class="lane-label" text-anchor="end">{_e(label)}</text>'
        )
    for t, d in zip(timeline, dates, strict=True):
        y = top + row_h * agencies.index(t["agency"]["name"]) + row_h / 2
        r = 4 + 2 * int(t["severity"])
        colour = CATEGORY_COLOURS.get(t["category"], "#6b7280")
        tip = f"{d.isoformat()}: {t['category'].replace('_', ' ')}, severity {t['severity']}, {t['agency']['name']}"
        mark = (
            f'<circle class="mark" cx="{x(d):.1f}" cy="{y}" r="{r}" fill="{colour}" '
            f'fill-opacity="0.8" stroke="#1b1b1b" stroke-width="1"><title>{_e(tip)}</title></circle>'
        )
        if t.get("concern_id"):
            # A link to the concern's row: reachable by keyboard and touch, not hover only.
            mark = (
                f'<a class="mark-link" href="#concern-{_e(t["concern_id"])}" '
                f'aria-label="{_e(tip)}">{mark}</a>'
            )
        parts.append(mark)
    parts.append("</svg>")
    legend = "".join(
        f"<li>{_swatch(CATEGORY_COLOURS.get(c, '#6b7280'))}{_e(c.replace('_', ' '))} ({n})</li>"
        for c, n in Counter(t["category"] for t in timeline).most_common()
    )
    note = '<p class="hint">Larger marks are more severe (1-4).</p>'
    return Markup(  # noqa: S704 (every value passed through _e)
        "".join(parts) + f'<ul class="legend" aria-label="Categories">{legend}</ul>' + note
    )


_RING_ORDER = {"agency": 0, "address": 1, "adult": 2, "sibling": 3, "child": 4, "more": 5}
_PLURAL = {
    "agency": "agencies",
    "address": "addresses",
    "adult": "related adults",
    "sibling": "children",
}
# At most this many marks on each ring; the rest are one mark with a count (the
# household list below the picture names them all). Beyond about two dozen the
# labels overlap, and a big hostel or refuge must not make the drawing grow.
RING_MAX = 24
# Outer children sit at least this far apart (radians); about 25 slots a ring.
_MIN_GAP = 0.25


def _keep_per_kind(nodes: list[str], kinds: dict[str, str], room: int) -> list[str]:
    """Up to `room` of `nodes` (in their order), taken in turn from each kind so
    that thirty agencies do not hide every address."""
    by_kind: dict[str, list[str]] = {}
    for n in nodes:
        by_kind.setdefault(kinds[n], []).append(n)
    kept: list[str] = []
    depth = 0
    while len(kept) < room:
        row = [ns[depth] for ns in by_kind.values() if depth < len(ns)]
        if not row:
            break
        kept.extend(row[: room - len(kept)])
        depth += 1
    chosen = set(kept)
    return [n for n in nodes if n in chosen]


def _more_label(hidden: list[str], kinds: dict[str, str]) -> str:
    counts = Counter(kinds[n] for n in hidden)
    return "+" + ", ".join(
        f"{n} more {_PLURAL.get(kind, kind)}"
        for kind, n in sorted(counts.items(), key=lambda kv: _RING_ORDER.get(kv[0], 9))
    )


def collapse(
    g: nx.Graph, me: str, kinds: dict[str, str], labels: dict[str, str], ring_max: int = RING_MAX
) -> nx.Graph:
    """The graph with at most `ring_max` nodes on each ring around `me`.

    What does not fit is contracted into one node per ring labelled with a
    count ("+37 more children"); its edges go to the collapsed node, so the
    picture still shows what the hidden ones are linked to. `kinds` and `labels`
    gain the collapsed nodes.
    """
    if me not in g:
        return g
    inner = sorted(g.neighbors(me), key=lambda n: (_RING_ORDER[kinds[n]], labels[n], n))
    on_inner = set(inner)
    outer = sorted(
        (n for n in g.nodes if n != me and n not in on_inner), key=lambda n: (labels[n], n)
    )
    out = g
    for ring, nodes in (("inner", inner), ("outer", outer)):
        if len(nodes) <= ring_max:
            continue
        kept = set(_keep_per_kind(nodes, kinds, ring_max - 1))
        hidden = [n for n in nodes if n not in kept]
        more = f"more:{ring}"
        kinds[more] = "more"
        labels[more] = _more_label(hidden, kinds)
        if out is g:
            out = g.copy()
        out.add_node(more)
        gone = set(hidden)
        for n in hidden:
            for m in out.neighbors(n):
                if m not in gone and m != more and not out.has_edge(more, m):
                    out.add_edge(more, m, kind="linked")
        out.remove_nodes_from(hidden)
    return out


def _radial_layout(
    g: nx.Graph, me: str, kinds: dict[str, str], labels: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """The child in the middle, what touches it on a ring, other children outside.

    Deterministic (the same picture every time) and needs no numerical library;
    each outer child takes the free slot nearest the mean angle of what connects
    it to the child. The slots are fixed (at least one per outer node), so the
    work is bounded by nodes times slots whatever the graph: a search for a free
    angle that could wrap round for ever once ~22 children were placed froze the
    whole service.
    """
    inner = sorted(g.neighbors(me), key=lambda n: (_RING_ORDER[kinds[n]], labels[n], n))
    pos: dict[str, tuple[float, float]] = {me: (0.0, 0.0)}
    angle: dict[str, float] = {}
    for i, n in enumerate(inner):
        angle[n] = 2 * math.pi * i / max(len(inner), 1)
        pos[n] = (math.cos(angle[n]), math.sin(angle[n]))
    outer = sorted((n for n in g.nodes if n not in pos), key=lambda n: (labels[n], n))
    slots = max(len(outer), math.floor(2 * math.pi / _MIN_GAP))
    free = list(range(slots))
    for i, n in enumerate(outer):
        linked = [angle[m] for m in g.neighbors(n) if m in angle]
        a = (
            math.atan2(sum(map(math.sin, linked)), sum(map(math.cos, linked)))
            if linked
            else 2 * math.pi * i / max(len(outer), 1)
        )
        wanted = (a % (2 * math.pi)) * slots / (2 * math.pi)
        best = min(
            free,
            key=lambda s: (min(abs(s - wanted), slots - abs(s - wanted)), s),
        )
        free.remove(best)
        a = 2 * math.pi * best / slots
        pos[n] = (1.9 * math.cos(a), 1.9 * math.sin(a))
    return pos


def network_svg(graph: dict[str, Any], child_id: str) -> Markup:
    """The child, household, siblings, related adults and agencies as a network."""
    g = nx.Graph()
    me = f"child:{child_id}"
    kinds: dict[str, str] = {}
    labels: dict[str, str] = {}
    for node in graph["nodes"]:
        kind = node["type"]
        if kind in ("concern", "practitioner"):
            continue
        if kind == "child" and node["id"] != me:
            kind = "sibling"
        kinds[node["id"]] = kind
        labels[node["id"]] = str(node.get("label") or kind)
        g.add_node(node["id"])
    concern_agency = {e["source"]: e["target"] for e in graph["edges"] if e["type"] == "raised_by"}
    for e in graph["edges"]:
        s, t = e["source"], e["target"]
        if e["type"] == "subject_of" and t in concern_agency:
            g.add_edge(s, concern_agency[t], kind="raised concerns")
        elif s in kinds and t in kinds:
            g.add_edge(s, t, kind=e["type"].replace("_", " "))
    if me not in g:
        return Markup('<p class="muted">Nothing to draw.</p>')
    counts = Counter(kinds.values())  # before collapsing: the description tells all
    g = collapse(g, me, kinds, labels)
    pos = _radial_layout(g, me, kinds, labels)
    width, height, pad_x, pad_y = 960, 480, 130, 50
    xs = [p[0] for p in pos.values()] or [0]
    ys = [p[1] for p in pos.values()] or [0]
    sx = (width - 2 * pad_x) / max(max(xs) - min(xs), 1e-6)
    sy = (height - 2 * pad_y) / max(max(ys) - min(ys), 1e-6)

    def at(n: str) -> tuple[float, float]:
        return pad_x + (pos[n][0] - min(xs)) * sx, pad_y + (pos[n][1] - min(ys)) * sy

    parts = [
        f'<svg class="network" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="nw-title nw-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="nw-title">Network around the child</title>',
        f'<desc id="nw-desc">{counts.get("agency", 0)} agencies, {counts.get("sibling", 0)} other '
        f"children in the household, {counts.get('adult', 0)} related adults and "
        f"{counts.get('address', 0)} addresses.</desc>",
    ]
    for s, t, data in g.edges(data=True):
        (x1, y1), (x2, y2) = at(s), at(t)
        relation = str(data.get("kind", ""))
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="edge">'
            f"<title>{_e(relation)}</title></line>"
        )
        if relation:  # labelled on the line itself, not only on hover
            parts.append(
                f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 3:.1f}" '
                f'text-anchor="middle" class="edge-label">{_e(relation)}</text>'
            )
    for n in g.nodes:
        cx, cy = at(n)
        kind = kinds[n]
        r = 16 if n == me else 11
        parts.append(
            f'<g class="node node-{kind}"><circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" '
            f'fill="{NODE_COLOURS[kind]}"><title>{_e(kind)}: {_e(labels[n])}</title></circle>'
            f'<text x="{cx:.1f}" y="{cy + r + 14:.1f}" text-anchor="middle" class="node-label">'
            f"{_e(labels[n][:40])}</text></g>"
        )
    parts.append("</svg>")
    legend = "".join(
        f"<li>{_swatch(colour)}{kind}</li>"
        for kind, colour in NODE_COLOURS.items()
        if counts.get(kind) or kind == "child"
    )
    return Markup("".join(parts) + f'<ul class="legend" aria-label="Node types">{legend}</ul>')  # noqa: S704 (every value passed through _e)
