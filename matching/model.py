"""The Fellegi-Sunter model: weights of evidence per field, summed in bits."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from matching.comparisons import Comparison, default_comparisons, same_place
from matching.features import Features, names_of, postcode_unit
from matching.records import ChildRecord

#: Probability that two records drawn at random are the same child. Fixed rather than
#: estimated so that thresholds mean the same thing from the first record onwards.
DEFAULT_PRIOR = 1e-4
#: A wrong link is as harmful as a missed one, so the link threshold is the one that
#: makes the fewest of both together (wrong + missed links) where the service works:
#: one new record against an index of 1,000,000 synthetic records (matching.synthetic,
#: which has twins, siblings and the truth), thresholds 0.5-0.995 tried, 0.8 best
#: (72 errors in 4,000 queries; 0.99 made 201, mostly missed links). On smaller data
#: chance agreements are rarer and the best threshold is lower, so 0.8 errs towards
#: not linking there. Reproduce with ``benchmarks/linkage.py`` (``threshold_sweep``).
#: FEBRL played no part in the choice.
DEFAULT_LINK_THRESHOLD = 0.8
#: Below the link threshold and at least even odds: a person decides.
DEFAULT_REVIEW_THRESHOLD = 0.5
#: Added when two records of one family (same home, or same surname) give different
#: given names: the pattern of siblings and twins, far commoner than independent
#: fields would suggest.
SIBLING_PENALTY_BITS = -8.0
#: Term frequencies are used once a table has seen this many records.
MIN_TERM_FREQUENCY_RECORDS = 1000
#: Date-of-birth levels that say "born at different times": siblings, not twins.
_FAR_DATES = frozenset({"year_month", "year_within_one", "different"})


def _vague(a: Features, child: Sequence[Features]) -> tuple[bool, bool]:
    """Whether the child's initials and partial dates should be passed over for ``a``:
    when ``a`` and some record of the child give the full given name (date of birth),
    an initial (a birth year) of another record adds nothing and must not outvote it."""
    full_given = (
        a.given is not None
        and len(a.given) > 1
        and any(b.given is not None and len(b.given) > 1 for b in child)
    )
    full_date = a.dob_digits is not None and any(b.dob_digits is not None for b in child)
    return full_given, full_date


class Decision(StrEnum):
    """What to do with a pair: merge automatically, ask a person, or keep apart."""

    LINK = "link"
    REVIEW = "review"
    NO_MATCH = "no_match"


@dataclass(frozen=True, slots=True)
class Contribution:
    """How much one field moved the weight, and why."""

    field: str
    level: str
    label: str
    bits: float
    title: str = ""

    def explain(self) -> str:
        return f"{self.title or self.field}: {self.label}, {self.bits:+.1f}"


@dataclass(frozen=True, slots=True)
class MatchScore:
    """Evidence that two records are the same child.

    ``weight`` is the log2 odds: ``prior_bits`` plus the sum of the contributions.
    """

    weight: float
    probability: float
    contributions: list[Contribution]
    prior_bits: float
    #: set when the pair holds two different exclusive identifiers (NHS numbers,
    #: UPNs): then they are different children whatever the weight says
    conflict: str | None = None

    def explain(self) -> list[str]:
        """Readable lines, one per field, starting from the prior and ending in the total."""
        lines = [f"starting point (how rare a match is by chance): {self.prior_bits:+.1f}"]
        lines += [c.explain() for c in self.contributions]
        lines.append(f"total: {self.weight:+.1f} bits, probability {self.probability:.4f}")
        return lines


def probability_from_bits(weight: float) -> float:
    """Probability from log2 odds, safe for very large or small weights."""
    if weight >= 0:
        return 1.0 / (1.0 + 2.0 ** -min(weight, 1000.0))
    odds = 2.0 ** max(weight, -1000.0)
    return odds / (1.0 + odds)


def bits_from_probability(probability: float) -> float:
    """log2 odds of a probability in (0, 1)."""
    return math.log2(probability / (1.0 - probability))


def _kin(a: Features, b: Features, household: bool) -> bool:
    return household or (a.family is not None and a.family == b.family)


#: Term-frequency fields and the `Features` attribute each one counts.
TF_ATTRIBUTES = {"given_name": "given", "family_name": "family", "postcode": "pc_unit"}


class TermFrequencies:
    """How often each normalised value occurs, updatable one record at a time.

    Agreeing on a rare name is stronger evidence than agreeing on "Smith", and a
    hostel's postcode, shared by hundreds of children, says little: the exact level's
    u becomes the value's own frequency once enough records have been seen. The
    service keeps the counts in the database (`aggregator.children.frequencies`) and
    loads them here with :meth:`load`.
    """

    fields = tuple(TF_ATTRIBUTES)

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {name: Counter() for name in self.fields}
        self.totals: dict[str, int] = dict.fromkeys(self.fields, 0)

    def add(self, record: ChildRecord | Features) -> None:
        """Count one record's names."""
        self._update(record, 1)

    def remove(self, record: ChildRecord | Features) -> None:
        """Forget one record's names (when a record is deleted)."""
        self._update(record, -1)

    def update(self, records: Iterable[ChildRecord | Features]) -> None:
        for record in records:
            self._update(record, 1)

    def load(self, counts: Iterable[tuple[str, str, int]]) -> None:
        """Replace every count with (field, value, count) rows, e.g. from the database."""
        self.counts = {name: Counter() for name in self.fields}
        self.totals = dict.fromkeys(self.fields, 0)
        for field_name, value, count in counts:
            if field_name in self.counts and count > 0:
                self.counts[field_name][value] += count
                self.totals[field_name] += count

    @staticmethod
    def values_of(record: ChildRecord | Features) -> list[tuple[str, str]]:
        """The (field, value) pairs a record adds to the tables."""
        if isinstance(record, Features):
            found = [(name, getattr(record, attr)) for name, attr in TF_ATTRIBUTES.items()]
        else:
            given, family = names_of(record)
            found = [
                ("given_name", given),
                ("family_name", family),
                ("postcode", postcode_unit(record.postcode)),
            ]
        return [(name, value) for name, value in found if value is not None]

    def _update(self, record: ChildRecord | Features, delta: int) -> None:
        for name, value in self.values_of(record):
            self.counts[name][value] += delta
            self.totals[name] += delta

    def frequency(self, field_name: str, value: str) -> float | None:
        """Share of records with this value, or None while the table is too small."""
        total = self.totals.get(field_name, 0)
        if total < MIN_TERM_FREQUENCY_RECORDS:
            return None
        return max(self.counts[field_name][value], 1) / total


class MatchModel:
    """Fellegi-Sunter model over :func:`~matching.comparisons.default_comparisons`.

    Works from the first record with shipped m and u values; ``estimate_u`` and
    ``estimate_m`` refit them from the service's own (unlabelled) records.
    """

    def __init__(
        self,
        comparisons: Sequence[Comparison] | None = None,
        *,
        prior: float = DEFAULT_PRIOR,
        link_threshold: float = DEFAULT_LINK_THRESHOLD,
        review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
    ) -> None:
        self.comparisons: tuple[Comparison, ...] = tuple(comparisons or default_comparisons())
        self.prior = prior
        self.link_threshold = link_threshold
        self.review_threshold = review_threshold
        self.term_frequencies = TermFrequencies()
        self.sibling_penalty = SIBLING_PENALTY_BITS
        self.m: dict[str, list[float]] = {
            c.field: [lv.m for lv in c.levels] for c in self.comparisons
        }
        self.u: dict[str, list[float]] = {
            c.field: [lv.u for lv in c.levels] for c in self.comparisons
        }
        #: u among different children at the same home (siblings, twins), for the
        #: fields where that differs from strangers; see ``Level.u_household``.
        self.u_household: dict[str, list[float]] = {
            c.field: [lv.u if lv.u_household is None else lv.u_household for lv in c.levels]
            for c in self.comparisons
            if any(lv.u_household is not None for lv in c.levels)
        }
        #: children known to the service; above 1/prior it lowers the prior to
        #: 1/population (`set_population`): a chance match is likelier among more
        self.population = 0
        self._cache: dict[str, tuple[ChildRecord, Features]] = {}
        self._refresh()

    @classmethod
    def default(cls) -> MatchModel:
        """A model with the shipped defaults: usable before any training."""
        return cls()

    # -- weights ---------------------------------------------------------------------

    def _refresh(self) -> None:
        """Precompute bits per level; call after changing m, u or the prior."""
        prior = self.prior
        if self.population > 0:
            prior = min(prior, 1.0 / self.population)
        self.prior_bits = bits_from_probability(prior)
        self._bits: list[list[float]] = []
        self._bits_household: list[list[float]] = []
        for c in self.comparisons:
            m, u = self.m[c.field], self.u[c.field]
            bits = [math.log2(m[i] / u[i]) for i in range(len(c.levels))]
            u_home = self.u_household.get(c.field)
            household = (
                [math.log2(m[i] / u_home[i]) for i in range(len(c.levels))]
                if u_home is not None
                else bits
            )
            self._bits.append(bits)
            self._bits_household.append(household)
        self._tf_index = [
            c.level_index(c.tf_level) if c.term_frequency else -1 for c in self.comparisons
        ]
        self._given = next(
            (i for i, c in enumerate(self.comparisons) if c.field == "given_name"), -1
        )
        self._given_different = (
            self.comparisons[self._given].level_index("different") if self._given >= 0 else -1
        )
        #: given-name levels that, within one family, mean two different first names:
        #: "different", and a family name in one given-name field ("crossed") whose
        #: given name differs, as when one twin's record has the names swapped
        given_levels = self.comparisons[self._given].levels if self._given >= 0 else ()
        self._given_unlike = frozenset(
            i for i, lv in enumerate(given_levels) if lv.name in ("different", "crossed")
        )

    def set_population(self, children: int) -> None:
        """How many children are known: the prior becomes ``min(prior, 1/children)``,
        so that thresholds keep their meaning as the population grows (one child in
        100,000 is a rarer chance match than one in 600)."""
        children = max(children, 0)
        floor = 1.0 / self.prior
        changes = max(children, self.population) > floor
        self.population = children
        if changes:
            self._refresh()

    def features(self, record: ChildRecord) -> Features:
        """Normalised forms of a record, cached by id (recomputed if the record changed)."""
        cached = self._cache.get(record.id)
        if cached is not None and cached[0] == record:
            return cached[1]
        if len(self._cache) >= 200_000:
            self._cache.clear()
        f = Features(record)
        self._cache[record.id] = (record, f)
        return f

    def _field_bits(self, i: int, level: int, a: Features, household: bool) -> float:
        if household:
            bits = self._bits_household[i][level]
            if bits != self._bits[i][level]:
                return bits
        if level == self._tf_index[i]:
            c = self.comparisons[i]
            if c.term_frequency is not None:
                value = getattr(a, TF_ATTRIBUTES[c.term_frequency])
                freq = (
                    self.term_frequencies.frequency(c.term_frequency, value)
                    if value is not None
                    else None
                )
                if freq is not None:
                    # a rare value may weigh somewhat more than the shipped u says,
                    # a common one as little as its frequency says
                    u = max(freq, self.u[c.field][level] * c.tf_min_u_ratio)
                    return math.log2(self.m[c.field][level] / u)
        return self._bits[i][level]

    def weight_features(self, a: Features, b: Features) -> float:
        """The match weight alone: the fast path for scoring many candidates (it
        inlines `_field_bits` where neither a household nor a term frequency applies)."""
        household = same_place(a, b)
        total = self.prior_bits
        bits, tf_index = self._bits, self._tf_index
        for i, c in enumerate(self.comparisons):
            level = c.compare(a, b)
            if level is None:
                continue
            if household or level == tf_index[i]:
                total += self._field_bits(i, level, a, household)
            else:
                total += bits[i][level]
            if i == self._given and level in self._given_unlike and _kin(a, b, household):
                total += self.sibling_penalty
        return total

    def score_features(self, a: Features, b: Features) -> MatchScore:
        """Full score with per-field contributions."""
        household = same_place(a, b)
        contributions: list[Contribution] = []
        total = self.prior_bits
        for i, c in enumerate(self.comparisons):
            level = c.compare(a, b)
            if level is None:
                continue
            bits = self._field_bits(i, level, a, household)
            total += bits
            lv = c.levels[level]
            label = lv.label
            if household and self._bits_household[i][level] != self._bits[i][level]:
                label += " (common at a shared address)"
            elif level == self._tf_index[i] and bits != self._bits[i][level]:
                if c.term_frequency == "postcode":
                    label += " (shared by many records)"
                else:
                    label += " (rare name)" if bits > self._bits[i][level] else " (common name)"
            contributions.append(Contribution(c.field, lv.name, label, bits, c.title))
            if i == self._given and level in self._given_unlike and _kin(a, b, household):
                total += self.sibling_penalty
                contributions.append(
                    Contribution(
                        "household",
                        "siblings",
                        "same family or home but different given names, as siblings have",
                        self.sibling_penalty,
                        "household",
                    )
                )
        conflict = (
            "nhs_number"
            if a.nhs_valid and b.nhs_valid and a.nhs is not None and a.nhs != b.nhs
            else None
        )
        return MatchScore(
            total, probability_from_bits(total), contributions, self.prior_bits, conflict
        )

    def score_child(self, a: Features, child: Sequence[Features]) -> MatchScore:
        """Evidence that record ``a`` is about the child whose records are ``child``.

        The record meets everything known about the child, not one of its records:
        each field counts its best agreement with any of the child's values (a child
        who moved has two postcodes), but a vague value never speaks over a precise
        one the child also holds (an initial when the child's given name is known, a
        birth year when its date is), so a sparse record cannot carry a match the
        child's other records refuse. Exclusive identifiers decide alone: a valid NHS
        number (or a UPN) the child does not hold, when it holds another, is a
        ``conflict``: a different child, whatever the rest says.
        """
        skip_initials, skip_partial_dates = _vague(a, child)
        # the record is at the child's home if it shares one with any of its records:
        # then every field weighs as it does among siblings, whichever record it meets
        at_home = any(same_place(a, b) for b in child)
        contributions: list[Contribution] = []
        total = self.prior_bits
        conflict = None
        for i, c in enumerate(self.comparisons):
            best: tuple[float, int, bool, Features] | None = None
            for b in child:
                if c.field == "given_name" and skip_initials and b.given and len(b.given) == 1:
                    continue
                if c.field == "date_of_birth" and skip_partial_dates and b.dob_digits is None:
                    continue
                level = c.compare(a, b)
                if level is None:
                    continue
                household = at_home
                bits = self._field_bits(i, level, a, household)
                if best is None or bits > best[0]:
                    best = (bits, level, household, b)
            if best is None:
                continue
            if c.field == "nhs_number" and a.nhs_valid:
                held = {b.nhs for b in child if b.nhs_valid}
                if held and a.nhs not in held:
                    level = c.level_index("different_valid")
                    b = next(b for b in child if b.nhs_valid)
                    best = (self._field_bits(i, level, a, at_home), level, at_home, b)
                    conflict = "nhs_number"
            elif c.field == "upn" and best[1] == c.level_index("different"):
                conflict = conflict or "upn"
            bits, level, household, b = best
            total += bits
            lv = c.levels[level]
            contributions.append(
                Contribution(
                    c.field, lv.name, self._label(i, level, bits, household), bits, c.title
                )
            )
            if i == self._given and level in self._given_unlike and _kin(a, b, household):
                total += self.sibling_penalty
                contributions.append(self._sibling_contribution())
        guard = self._twin_guard(a, child, contributions, total)
        if guard is not None:
            total += guard.bits
            contributions.append(guard)
        if conflict is not None:
            contributions.append(
                Contribution(
                    "exclusive",
                    conflict,
                    "the child already holds a different "
                    + ("NHS number" if conflict == "nhs_number" else "UPN")
                    + ": different children",
                    0.0,
                    "identifier",
                )
            )
        return MatchScore(
            total, probability_from_bits(total), contributions, self.prior_bits, conflict
        )

    def _twin_guard(
        self,
        a: Features,
        child: Sequence[Features],
        contributions: list[Contribution],
        total: float,
    ) -> Contribution | None:
        """At most a review when only the home and the birthday say "same child".

        Twins share surname, birthday and address; only the given name (or an
        identifier) tells them apart. A record at the child's home that gives no full
        given name to compare and no agreeing NHS number or UPN cannot be linked
        automatically, however well the rest agrees: it goes to a person.
        """
        if probability_from_bits(total) < self.link_threshold:
            return None
        if not any(same_place(a, b) for b in child):
            return None  # (callers pass the same child: cheap next to scoring)
        levels = {c.field: c.level for c in contributions}
        if levels.get("nhs_number") == "exact" or levels.get("upn") == "exact":
            return None
        if levels.get("given_name") not in (None, "initial"):
            return None
        cap = bits_from_probability(self.link_threshold) - 0.01
        return Contribution(
            "household",
            "twin_guard",
            "same home, but no given name to tell twins apart: a person decides",
            min(cap - total, 0.0),
            "household",
        )

    def _label(self, i: int, level: int, bits: float, household: bool) -> str:
        c = self.comparisons[i]
        label = c.levels[level].label
        if household and self._bits_household[i][level] != self._bits[i][level]:
            return label + " (common at a shared address)"
        if level == self._tf_index[i] and bits != self._bits[i][level]:
            if c.term_frequency == "postcode":
                return label + " (shared by many records)"
            return label + (" (rare name)" if bits > self._bits[i][level] else " (common name)")
        return label

    def _sibling_contribution(self) -> Contribution:
        return Contribution(
            "household",
            "siblings",
            "same family or home but different given names, as siblings have",
            self.sibling_penalty,
            "household",
        )

    def score(self, a: ChildRecord, b: ChildRecord) -> MatchScore:
        """How strongly the evidence says ``a`` and ``b`` are the same child."""
        return self.score_features(self.features(a), self.features(b))

    def decide(self, score: MatchScore | float) -> Decision:
        """Link, review or keep apart, by the two probability thresholds."""
        if isinstance(score, MatchScore) and score.conflict is not None:
            return Decision.NO_MATCH
        probability = score.probability if isinstance(score, MatchScore) else score
        if probability >= self.link_threshold:
            return Decision.LINK
        if probability >= self.review_threshold:
            return Decision.REVIEW
        return Decision.NO_MATCH

    # -- training --------------------------------------------------------------------

    def _levels(self, a: Features, b: Features) -> tuple[tuple[int | None, ...], bool]:
        return tuple(c.compare(a, b) for c in self.comparisons), same_place(a, b)

    def estimate_u(
        self,
        records: Sequence[ChildRecord],
        *,
        max_pairs: int = 50_000,
        seed: int = 0,
        prior_strength: float = 1.0,
    ) -> None:
        """Fit u from random pairs, which are almost all different children.

        ``prior_strength`` pseudo-pairs of the current u keep levels never seen in the
        sample (a shared NHS number) at their shipped values rather than zero.
        """
        if len(records) < 2:
            return
        feats = [self.features(r) for r in records]
        rng = random.Random(seed)  # noqa: S311 - sampling, not secrecy
        n = len(feats)
        counts = [[0.0] * len(c.levels) for c in self.comparisons]
        for _ in range(max_pairs):
            i, j = rng.randrange(n), rng.randrange(n)
            if i == j:
                continue
            a, b = feats[i], feats[j]
            for k, c in enumerate(self.comparisons):
                level = c.compare(a, b)
                if level is not None:
                    counts[k][level] += 1
        for k, c in enumerate(self.comparisons):
            old = self.u[c.field]
            seen = sum(counts[k])
            self.u[c.field] = [
                old[lv]
                if c.levels[lv].fixed_u
                else (counts[k][lv] + prior_strength * old[lv]) / (seen + prior_strength)
                for lv in range(len(c.levels))
            ]
        self._refresh()

    def estimate_m(
        self,
        records: Sequence[ChildRecord],
        *,
        max_pairs: int = 200_000,
        iterations: int = 25,
        prior_strength: float = 50.0,
        seed: int = 0,
    ) -> None:
        """Fit m by expectation-maximisation over blocked pairs, without labels.

        EM over all candidate pairs would learn "same family" rather than "same child":
        siblings agree on surname and address as often as duplicates do. So, as in
        Splink, it runs twice on pairs that siblings rarely form: pairs with the same
        date of birth (estimating every other field), then pairs with the same given
        and family name (estimating the date of birth). u stays fixed (see
        :meth:`estimate_u`); ``prior_strength`` pseudo-pairs of the current m keep rare
        levels sensible on small data.
        """
        feats = [self.features(r) for r in records]
        sessions = (
            (lambda f: f.dob_digits, {"date_of_birth"}),
            (
                lambda f: f"{f.given}|{f.family}" if f.given and f.family else None,
                {"given_name", "family_name"},
            ),
        )
        estimated: dict[str, list[float]] = {}
        for key, blocked in sessions:
            patterns = self._session_patterns(feats, key, blocked, max_pairs, seed)
            if not patterns:
                continue
            fitted = self._run_em(patterns, iterations, prior_strength)
            for name, values in fitted.items():
                if name not in blocked and name not in estimated:
                    estimated[name] = values
        self._estimate_u_household(feats, max_pairs, iterations, seed)
        for c in self.comparisons:
            if c.field not in estimated:
                continue
            fitted_m = estimated[c.field]
            for i, level in enumerate(c.levels):
                if level.fixed_m:
                    fitted_m[i] = level.m
            self.m[c.field] = fitted_m
        self._refresh()
        self._estimate_sibling_penalty(feats, max_pairs, seed)
        self._refresh()

    def _estimate_sibling_penalty(
        self, feats: Sequence[Features], max_pairs: int, seed: int, strength: float = 20.0
    ) -> None:
        """Scale the sibling penalty by how many siblings the data shows.

        Take pairs at one home with the same family name but different given names.
        Siblings' birthdays are years apart (twins aside: ``Level.u_household`` of the
        date levels, a fact about families, not about this data); records of one child
        with a mistyped or replaced given name have birthdays that agree (``m`` just
        fitted). The share ``s`` of such pairs that are one child follows from how
        often their birthdays are far apart, and the penalty becomes
        ``log2(s + (1 - s) * 2**SIBLING_PENALTY_BITS)``: the full penalty when they are
        siblings, none when the data has no families (FEBRL). ``strength`` pseudo-pairs
        of siblings keep the full penalty on data with few such pairs.
        """
        dob = next((c for c in self.comparisons if c.field == "date_of_birth"), None)
        if dob is None or self._given < 0:
            return
        given = self.comparisons[self._given]
        far = [i for i, lv in enumerate(dob.levels) if lv.name in _FAR_DATES]
        sibling_far = sum(dob.levels[i].u_household or dob.levels[i].u for i in far)
        match_far = sum(self.m[dob.field][i] for i in far)
        if sibling_far - match_far < 0.2:
            return
        far_pairs = pairs = 0
        for key in (lambda f: f.address, lambda f: f.pc_unit if f.pc_sector else None):
            for i, j in self._blocked_pairs(feats, key, max_pairs, seed):
                a, b = feats[i], feats[j]
                if a.dob_digits is None or b.dob_digits is None or a.family != b.family:
                    continue
                if not same_place(a, b) or given.compare(a, b) not in self._given_unlike:
                    continue
                pairs += 1
                far_pairs += dob.compare(a, b) in far
        share_far = (far_pairs + strength * sibling_far) / (pairs + strength)
        same_child = min(max((sibling_far - share_far) / (sibling_far - match_far), 0.0), 1.0)
        self.sibling_penalty = math.log2(
            same_child + (1.0 - same_child) * 2.0**SIBLING_PENALTY_BITS
        )

    @staticmethod
    def _blocked_pairs(
        feats: Sequence[Features],
        key: Callable[[Features], str | None],
        max_pairs: int,
        seed: int,
    ) -> list[tuple[int, int]]:
        blocks: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(feats):
            k = key(f)
            if k is not None:
                blocks[k].append(i)
        pairs = [
            (ids[x], j)
            for ids in blocks.values()
            if 1 < len(ids) <= 200
            for x in range(len(ids))
            for j in ids[x + 1 :]
        ]
        if len(pairs) > max_pairs:
            pairs = random.Random(seed).sample(pairs, max_pairs)  # noqa: S311 - sampling
        return pairs

    def _estimate_u_household(
        self, feats: Sequence[Features], max_pairs: int, iterations: int, seed: int
    ) -> None:
        """Fit u for records at the same home, where strangers are mostly siblings.

        EM over pairs sharing a postcode or address line, with m fixed: the
        non-matching class there tells how often siblings share a surname or
        birthday. Data without households (FEBRL) leaves these near u.
        """
        patterns: Counter[tuple[tuple[int | None, ...], bool]] = Counter()
        for key in (
            # only UK units make a home by themselves (see same_place); elsewhere the
            # address key below finds every pair at one home
            lambda f: f.pc_unit if f.pc_sector is not None else None,
            lambda f: (
                f"{f.address_number}|{f.address_street}"
                if f.address_number and f.address_street
                else None
            ),
        ):
            for pattern, count in self._session_patterns(
                feats, key, set(), max_pairs, seed
            ).items():
                if pattern[1]:
                    patterns[pattern] += count
        if not patterns:
            return
        fields = [c.field for c in self.comparisons]
        home = [f in self.u_household for f in fields]
        # given names stay at the shipped values: at one home, the rare cases (an
        # initial, a nickname) are exactly the ones too few to estimate
        # The pseudo-counts are the strangers' u: without evidence of siblings (data
        # with no households, like FEBRL), agreement at one home keeps its full weight.
        prior = {f: list(self.u[f]) for f in self.u_household if f != "given_name"}
        strength = 20.0
        share = 0.5
        items = list(patterns.items())
        for _ in range(iterations):
            sums = {f: [0.0] * len(v) for f, v in prior.items()}
            matched = total = 0.0
            for (levels, _place), count in items:
                log_m = math.log(share)
                log_u = math.log(1 - share)
                for k, level in enumerate(levels):
                    if level is None:
                        continue
                    f = fields[k]
                    log_m += math.log(self.m[f][level])
                    log_u += math.log(self.u_household[f][level] if home[k] else self.u[f][level])
                p = 1.0 / (1.0 + math.exp(max(min(log_u - log_m, 700.0), -700.0)))
                matched += p * count
                total += count
                for k, level in enumerate(levels):
                    if level is not None and fields[k] in sums:
                        sums[fields[k]][level] += (1 - p) * count
            share = min(max(matched / total, 1e-6), 1 - 1e-6)
            for f, values in sums.items():
                seen = sum(values)
                self.u_household[f] = [
                    (values[i] + strength * prior[f][i]) / (seen + strength)
                    for i in range(len(values))
                ]

    def _session_patterns(
        self,
        feats: Sequence[Features],
        key: Callable[[Features], str | None],
        blocked: set[str],
        max_pairs: int,
        seed: int,
    ) -> Counter[tuple[tuple[int | None, ...], bool]]:
        pairs = self._blocked_pairs(feats, key, max_pairs, seed)
        skip = [c.field in blocked for c in self.comparisons]
        patterns: Counter[tuple[tuple[int | None, ...], bool]] = Counter()
        for i, j in pairs:
            levels, place = self._levels(feats[i], feats[j])
            patterns[
                tuple(None if s else lv for s, lv in zip(skip, levels, strict=True)), place
            ] += 1
        return patterns

    def _run_em(
        self,
        patterns: Counter[tuple[tuple[int | None, ...], bool]],
        iterations: int,
        prior_strength: float,
    ) -> dict[str, list[float]]:
        fields = [c.field for c in self.comparisons]
        u_house = [self.u_household.get(f) for f in fields]
        start = {f: list(self.m[f]) for f in fields}
        m = {f: list(self.m[f]) for f in fields}
        share = 0.3
        items = list(patterns.items())
        for _ in range(iterations):
            sums = [[0.0] * len(c.levels) for c in self.comparisons]
            matched = 0.0
            total = 0.0
            for (levels, household), count in items:
                log_m = math.log(share)
                log_u = math.log(1 - share)
                for k, level in enumerate(levels):
                    if level is None:
                        continue
                    log_m += math.log(m[fields[k]][level])
                    uh = u_house[k] if household else None
                    log_u += math.log(uh[level] if uh is not None else self.u[fields[k]][level])
                diff = max(min(log_u - log_m, 700.0), -700.0)
                p = 1.0 / (1.0 + math.exp(diff))
                matched += p * count
                total += count
                for k, level in enumerate(levels):
                    if level is not None:
                        sums[k][level] += p * count
            share = min(max(matched / total, 1e-6), 1 - 1e-6)
            for k, f in enumerate(fields):
                seen = sum(sums[k])
                m[f] = [
                    (sums[k][lv] + prior_strength * start[f][lv]) / (seen + prior_strength)
                    for lv in range(len(sums[k]))
                ]
        return m

    # -- persistence -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Trained parameters as plain data (JSON-serialisable), without term frequencies."""
        return {
            "prior": self.prior,
            "link_threshold": self.link_threshold,
            "review_threshold": self.review_threshold,
            "m": self.m,
            "u": self.u,
            "u_household": self.u_household,
            "sibling_penalty": self.sibling_penalty,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchModel:
        model = cls(
            prior=data["prior"],
            link_threshold=data["link_threshold"],
            review_threshold=data["review_threshold"],
        )
        for name in ("m", "u", "u_household"):
            table = getattr(model, name)
            for key, values in data.get(name, {}).items():
                if key in table and len(values) == len(table[key]):
                    table[key] = [float(v) for v in values]
        model.sibling_penalty = float(data.get("sibling_penalty", SIBLING_PENALTY_BITS))
        model._refresh()
        return model
