"""Whole-list deduplication and linkage, built on the same keys and model as the index."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

from matching.blocking import keys_for
from matching.cluster import cluster
from matching.features import Features
from matching.model import MatchModel, MatchScore, probability_from_bits
from matching.records import ChildRecord

#: Blocks larger than this are skipped: a key shared by thousands of records says
#: too little to be worth the pairs, and the other keys still find true pairs.
MAX_BLOCK = 1000


def candidate_pairs(
    left: Sequence[Features], right: Sequence[Features] | None = None, *, max_block: int = MAX_BLOCK
) -> Iterator[tuple[int, int]]:
    """Index pairs sharing at least one blocking key, each once.

    With one list, pairs (i, j) with i < j within it; with two, (i, j) across them.
    """
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, f in enumerate(left):
        for key in keys_for(f):
            blocks[key].append(i)
    seen: set[int] = set()
    if right is None:
        n = len(left)
        for ids in blocks.values():
            if len(ids) < 2 or len(ids) > max_block:
                continue
            for x, i in enumerate(ids):
                for j in ids[x + 1 :]:
                    code = i * n + j
                    if code not in seen:
                        seen.add(code)
                        yield i, j
        return
    m = len(right)
    for j, f in enumerate(right):
        for key in keys_for(f):
            block = blocks.get(key)
            if not block or len(block) > max_block:
                continue
            for i in block:
                code = i * m + j
                if code not in seen:
                    seen.add(code)
                    yield i, j


def score_candidates(
    records: Sequence[ChildRecord],
    right: Sequence[ChildRecord] | None = None,
    *,
    model: MatchModel | None = None,
) -> list[tuple[str, str, float]]:
    """(id, id, probability) for every candidate pair: links and non-links alike."""
    model = model or MatchModel.default()
    left_f = [model.features(r) for r in records]
    right_f = [model.features(r) for r in right] if right is not None else None
    other = right_f if right_f is not None else left_f
    weight = model.weight_features
    return [
        (left_f[i].id, other[j].id, probability_from_bits(weight(left_f[i], other[j])))
        for i, j in candidate_pairs(left_f, right_f)
    ]


def deduplicate(records: Sequence[ChildRecord], model: MatchModel | None = None) -> list[set[str]]:
    """Every record's id in exactly one group; a group is one child."""
    model = model or MatchModel.default()
    scored = score_candidates(records, model=model)
    groups = cluster(scored, link_threshold=model.link_threshold)
    placed = set().union(*groups) if groups else set()
    return groups + [{r.id} for r in records if r.id not in placed]


def link(
    left: Sequence[ChildRecord],
    right: Sequence[ChildRecord],
    model: MatchModel | None = None,
) -> list[tuple[str, str, MatchScore]]:
    """Pairs (left id, right id, score) the model would link, strongest first."""
    model = model or MatchModel.default()
    left_f = [model.features(r) for r in left]
    right_f = [model.features(r) for r in right]
    found = []
    for i, j in candidate_pairs(left_f, right_f):
        w = model.weight_features(left_f[i], right_f[j])
        if probability_from_bits(w) >= model.link_threshold:
            found.append((left_f[i].id, right_f[j].id, model.score_features(left_f[i], right_f[j])))
    found.sort(key=lambda item: item[2].weight, reverse=True)
    return found
