"""Pure rule evaluation over one child's facts, at an injected `now`.

No database and no clock here: the same facts and `now` always give the same
findings, which is what makes sweeps idempotent and the rules testable.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from aggregator.concerns import checks
from alerts.rules import (
    Clause,
    CountClause,
    HouseholdClause,
    InfantClause,
    NewAdultClause,
    PairClause,
    Rule,
    RuleSet,
    Selector,
    StatusClause,
)

NFA = "no_further_action"


@dataclass(frozen=True, slots=True)
class ConcernFact:
    id: str
    agency_id: str
    agency_type: str | None
    category: str
    observed_at: date
    received_at: datetime
    outcome: str = "open"


@dataclass(frozen=True, slots=True)
class AdultFact:
    """An adult household key and the record (concern) that named it; `first_seen` is
    the start of the day that concern was observed."""

    key: str
    first_seen: datetime
    concern_id: str
    agency_id: str


@dataclass(frozen=True)
class ChildFacts:
    child_id: str
    concerns: tuple[ConcernFact, ...] = ()
    dates_of_birth: tuple[str, ...] = ()
    independently_mobile: bool | None = None
    status: str | None = None
    first_record_at: datetime | None = None
    adults: tuple[AdultFact, ...] = ()
    # Other children sharing an address or an adult, with their concerns.
    household: Mapping[str, tuple[ConcernFact, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """Why a rule fires for a child now: the evidence an alert carries."""

    rule_id: str
    severity: str
    concern_ids: tuple[str, ...]
    agency_ids: tuple[str, ...]
    window_start: date
    window_end: date
    why: tuple[str, ...]
    text: str

    def evidence(self) -> dict[str, object]:
        return {
            "concern_ids": list(self.concern_ids),
            "agency_ids": list(self.agency_ids),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "why": list(self.why),
        }


@dataclass(frozen=True)
class _Match:
    concerns: tuple[ConcernFact, ...]
    window_days: int
    why: str


def _day(c: ConcernFact, by: str) -> date:
    return c.received_at.date() if by == "received" else c.observed_at


def _in_window(
    concerns: Iterable[ConcernFact], now: datetime, days: int, by: str = "observed"
) -> list[ConcernFact]:
    end = now.date()
    start = end - timedelta(days=days)
    if by == "received":
        return [c for c in concerns if start <= c.received_at.date() <= end]
    return [c for c in concerns if start <= c.observed_at <= end]


def _selects(sel: Selector, c: ConcernFact) -> bool:
    if sel.categories is not None and c.category not in sel.categories:
        return False
    if c.category in sel.exclude_categories:
        return False
    return sel.agency_types is None or c.agency_type in sel.agency_types


def _agencies(concerns: Iterable[ConcernFact]) -> set[str]:
    return {c.agency_id for c in concerns}


def latest_possible_birth(partial: str) -> date | None:
    """The youngest the child can be: a partial date of birth errs towards a baby."""
    try:
        return checks.latest(partial)
    except (ValueError, TypeError):
        return None


def age_in_months(born: date, on: date) -> int:
    return (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)


def _count(cl: CountClause, f: ChildFacts, now: datetime) -> _Match | None:
    found = [
        c
        for c in _in_window(f.concerns, now, cl.window_days, cl.date)
        if _selects(cl, c) and (cl.include_no_further_action or c.outcome != NFA)
    ]
    if len(found) < cl.min_concerns or len(_agencies(found)) < cl.min_agencies:
        return None
    nfa = sum(c.outcome == NFA for c in found)
    what = f"{len(found)} concern(s) from {len(_agencies(found))} agency(ies)"
    if cl.categories:
        what += f" about {'/'.join(cl.categories)}"
    note = f", {nfa} closed with no further action" if nfa else ""
    return _Match(tuple(found), cl.window_days, f"{what} within {cl.window_days} days{note}")


def _infant(cl: InfantClause, f: ChildFacts, now: datetime) -> _Match | None:
    births = [b for b in (latest_possible_birth(d) for d in f.dates_of_birth) if b]
    not_mobile = cl.not_mobile and f.independently_mobile is False
    found = []
    for c in _in_window(f.concerns, now, cl.window_days):
        if c.category not in cl.categories:
            continue
        baby = any(age_in_months(b, c.observed_at) < cl.max_age_months for b in births)
        if baby or not_mobile:
            found.append(c)
    if not found:
        return None
    who = (
        f"a baby under {cl.max_age_months} months"
        if any(age_in_months(b, c.observed_at) < cl.max_age_months for b in births for c in found)
        else "a child recorded as not independently mobile"
    )
    return _Match(
        tuple(found),
        cl.window_days,
        f"{'/'.join(cl.categories)} concern about {who} within {cl.window_days} days",
    )


def _pair(cl: PairClause, f: ChildFacts, now: datetime) -> _Match | None:
    recent = _in_window(f.concerns, now, cl.window_days)
    firsts = [c for c in recent if _selects(cl.first, c)]
    seconds = [c for c in recent if _selects(cl.second, c)]
    used: dict[str, ConcernFact] = {}
    for a in firsts:
        for b in seconds:
            if a.id != b.id and (not cl.other_agency or a.agency_id != b.agency_id):
                used[a.id] = a
                used[b.id] = b
    if not used:
        return None
    first = _phrase(cl.first.categories, "a")
    second = _phrase(cl.second.categories, "another")
    other = " from another agency" if cl.other_agency else ""
    return _Match(
        tuple(sorted(used.values(), key=lambda c: (c.observed_at, c.id))),
        cl.window_days,
        f"{first} and {second}{other} within {cl.window_days} days",
    )


def _phrase(categories: Sequence[str] | None, unnamed: str) -> str:
    """ "an attendance concern", "a neglect/injury concern"; with no category named,
    "a concern" or "another concern" (never "a any other concern")."""
    if not categories:
        return f"{unnamed} concern"
    named = "/".join(c.replace("_", " ") for c in categories)
    return f"{_a(named)} {named} concern"


def _a(word: str) -> str:
    """The article for a word in an explanation: "an attendance", "an any other"."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _new_adult(cl: NewAdultClause, f: ChildFacts, now: datetime) -> _Match | None:
    if f.first_record_at is None:
        return None
    start = now - timedelta(days=cl.window_days)
    first_seen: dict[str, AdultFact] = {}
    for a in sorted(f.adults, key=lambda a: a.first_seen):
        first_seen.setdefault(a.key, a)
    new = [
        a
        for a in first_seen.values()
        if a.first_seen > f.first_record_at and start <= a.first_seen <= now
    ]
    if not new:
        return None
    by_id = {c.id: c for c in f.concerns}
    concerns = tuple(by_id[a.concern_id] for a in new if a.concern_id in by_id)
    return _Match(
        concerns,
        cl.window_days,
        f"{len(new)} adult(s) named in the household for the first time within {cl.window_days} days",
    )


def _status(cl: StatusClause, f: ChildFacts, now: datetime) -> _Match | None:
    if f.status not in cl.statuses:
        return None
    found = _in_window(f.concerns, now, cl.window_days)
    if not found:
        return None
    return _Match(
        tuple(found),
        cl.window_days,
        f"{len(found)} new concern(s) about a child with status {f.status} "
        f"within {cl.window_days} days",
    )


def _household(cl: HouseholdClause, f: ChildFacts, now: datetime) -> _Match | None:
    own = _in_window(f.concerns, now, cl.window_days)
    if not own:
        return None
    others = {cid: _in_window(cs, now, cl.window_days) for cid, cs in f.household.items()}
    others = {cid: cs for cid, cs in others.items() if cs}
    children = 1 + len(others)
    found = own + [c for cs in others.values() for c in cs]
    if children < cl.min_children or len(_agencies(found)) < cl.min_agencies:
        return None
    return _Match(
        tuple(found),
        cl.window_days,
        f"concerns about {children} children of one household from "
        f"{len(_agencies(found))} agencies within {cl.window_days} days",
    )


def _match(clause: Clause, f: ChildFacts, now: datetime) -> _Match | None:
    if isinstance(clause, CountClause):
        return _count(clause, f, now)
    if isinstance(clause, InfantClause):
        return _infant(clause, f, now)
    if isinstance(clause, PairClause):
        return _pair(clause, f, now)
    if isinstance(clause, NewAdultClause):
        return _new_adult(clause, f, now)
    if isinstance(clause, StatusClause):
        return _status(clause, f, now)
    if isinstance(clause, HouseholdClause):
        return _household(clause, f, now)
    return None


def evaluate_rule(rule: Rule, facts: ChildFacts, now: datetime) -> Finding | None:
    """The rule's finding if any of its clauses matches, with all matching evidence."""
    matches = [m for m in (_match(c, facts, now) for c in rule.when) if m]
    if not matches:
        return None
    concerns = {c.id: c for m in matches for c in m.concerns}
    window = max(m.window_days for m in matches)
    start, end = now.date() - timedelta(days=window), now.date()
    agencies = _agencies(concerns.values())
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        concern_ids=tuple(sorted(concerns)),
        agency_ids=tuple(sorted(agencies)),
        window_start=start,
        window_end=end,
        why=tuple(m.why for m in matches),
        text=rule.render(
            concerns=len(concerns),
            agencies=len(agencies),
            window_days=window,
            window_start=start.isoformat(),
            window_end=end.isoformat(),
        ),
    )


def evaluate(
    rules: RuleSet, facts: ChildFacts, now: datetime, only: Sequence[Rule] | None = None
) -> list[Finding]:
    """Every rule (of `only`, if given) that fires for this child at `now`.

    Every clause needs a concern or a newly named adult within its window, and the
    facts hold only those within the longest: with neither, nothing can fire.
    """
    if not facts.concerns and not facts.adults:
        return []
    chosen = rules.evaluated if only is None else only
    return [f for r in chosen if (f := evaluate_rule(r, facts, now)) is not None]


def new_agency_concerns(
    facts: ChildFacts, known_agencies: Sequence[str], since: datetime
) -> list[ConcernFact]:
    """Rule 9: concerns received since `since` from agencies an alert does not yet name."""
    known = set(known_agencies)
    return [c for c in facts.concerns if c.agency_id not in known and c.received_at >= since]
