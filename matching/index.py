"""An in-memory index that finds a new record's candidates without scanning."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from matching.batch import MAX_BLOCK
from matching.blocking import keys_for
from matching.features import Features
from matching.model import MatchModel, MatchScore
from matching.records import ChildRecord


class OnlineIndex:
    """Blocking keys -> record numbers, plus each record's precomputed features.

    Postings are keyed by the hash of the key string (collisions only add candidates,
    which scoring then rejects) and hold a bare int until a key has a second record:
    most keys are unique, and this keeps a million records well under a gigabyte.
    Blocks beyond ``max_block`` records answer with their most recent entries, and
    when a query gathers more than ``max_candidates`` records (a common name with no
    date of birth), those sharing the most keys with it are kept: latency stays
    bounded whatever the name.
    """

    def __init__(
        self,
        model: MatchModel | None = None,
        *,
        max_block: int = MAX_BLOCK,
        max_candidates: int = 300,
        update_term_frequencies: bool = True,
    ) -> None:
        self.model = model or MatchModel.default()
        self.max_block = max_block
        self.max_candidates = max_candidates
        self.update_term_frequencies = update_term_frequencies
        self._features: list[Features | None] = []
        self._number: dict[str, int] = {}
        self._postings: dict[int, int | list[int]] = {}

    def __len__(self) -> int:
        return len(self._number)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._number

    def add(self, record: ChildRecord) -> None:
        """Index a record (replacing any earlier version with the same id)."""
        if record.id in self._number:
            self.remove(record.id)
        f = Features(record)
        number = len(self._features)
        self._features.append(f)
        self._number[record.id] = number
        postings = self._postings
        for key in keys_for(f):
            h = hash(key)
            found = postings.get(h)
            if found is None:
                postings[h] = number
            elif isinstance(found, int):
                postings[h] = [found, number]
            else:
                found.append(number)
        if self.update_term_frequencies:
            self.model.term_frequencies.add(f)

    def remove(self, record_id: str) -> None:
        """Forget a record; its postings are skipped from now on."""
        number = self._number.pop(record_id, None)
        if number is None:
            return
        f = self._features[number]
        self._features[number] = None
        if f is not None and self.update_term_frequencies:
            self.model.term_frequencies.remove(f)

    def _candidate_features(self, f: Features) -> list[Features]:
        postings = self._postings
        limit = self.max_block
        blocks: list[list[int]] = []
        total = 0
        for key in keys_for(f):
            found = postings.get(hash(key))
            if found is None:
                continue
            block = [found] if isinstance(found, int) else found[-limit:]
            blocks.append(block)
            total += len(block)
        numbers: Iterable[int]
        if total <= self.max_candidates:
            numbers = {n for block in blocks for n in block}
        else:
            shared = Counter(n for block in blocks for n in block)
            numbers = [n for n, _ in shared.most_common(self.max_candidates)]
        features = self._features
        out = []
        for n in numbers:
            other = features[n]
            if other is not None and other.id != f.id:
                out.append(other)
        return out

    def candidates(self, record: ChildRecord) -> list[str]:
        """Ids of indexed records sharing a blocking key with ``record`` (not itself)."""
        return [other.id for other in self._candidate_features(Features(record))]

    def query(
        self,
        record: ChildRecord,
        model: MatchModel | None = None,
        *,
        limit: int = 10,
        min_probability: float = 0.0,
    ) -> list[tuple[str, MatchScore]]:
        """The ``limit`` best-scoring candidates, strongest first, with explanations."""
        model = model or self.model
        f = Features(record)
        weighed = [
            (model.weight_features(f, other), other) for other in self._candidate_features(f)
        ]
        weighed.sort(key=lambda item: item[0], reverse=True)
        results = []
        for _, other in weighed[:limit]:
            score = model.score_features(f, other)
            if score.probability >= min_probability:
                results.append((other.id, score))
        return results
