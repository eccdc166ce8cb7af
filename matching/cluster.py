"""Grouping pairwise links into people without chaining strangers together.

Plain connected components let one weak or wrong link join two families: twin A
links to a vague record "J Smith", which links to twin B. Here clusters merge
strongest link first, and a merge is refused when any pair across the two groups
was scored as clearly different people (probability below ``veto_threshold``).
Pairs never scored (never candidates) do not veto: there is no evidence about them.
"""

from __future__ import annotations

from collections.abc import Iterable

from matching.model import DEFAULT_LINK_THRESHOLD, MatchScore

DEFAULT_VETO_THRESHOLD = 0.01


def cluster(
    pairs: Iterable[tuple[str, str, MatchScore | float]],
    *,
    link_threshold: float = DEFAULT_LINK_THRESHOLD,
    veto_threshold: float = DEFAULT_VETO_THRESHOLD,
) -> list[set[str]]:
    """Groups of record ids that are the same child.

    ``pairs`` are every scored pair (id, id, score or probability), links and
    non-links alike: the non-links are what stops chaining. Only ids that appear in
    some pair are returned; each appears in exactly one group.
    """
    probability: dict[tuple[str, str], float] = {}
    for a, b, score in pairs:
        p = score.probability if isinstance(score, MatchScore) else float(score)
        key = (a, b) if a < b else (b, a)
        probability[key] = max(p, probability.get(key, 0.0))
    group_of: dict[str, int] = {}
    members: list[set[str]] = []
    for a, b in probability:
        for node in (a, b):
            if node not in group_of:
                group_of[node] = len(members)
                members.append({node})
    links = sorted(
        ((p, key) for key, p in probability.items() if p >= link_threshold), reverse=True
    )
    for _, (a, b) in links:
        ga, gb = group_of[a], group_of[b]
        if ga == gb or _vetoed(members[ga], members[gb], probability, veto_threshold):
            continue
        if len(members[ga]) < len(members[gb]):
            ga, gb = gb, ga
        for node in members[gb]:
            group_of[node] = ga
        members[ga] |= members[gb]
        members[gb] = set()
    return [group for group in members if group]


def _vetoed(
    left: set[str],
    right: set[str],
    probability: dict[tuple[str, str], float],
    veto_threshold: float,
) -> bool:
    for a in left:
        for b in right:
            p = probability.get((a, b) if a < b else (b, a))
            if p is not None and p < veto_threshold:
                return True
    return False
