"""Online identity resolution: which child is a new record about?

Runs inside the submission's transaction. A sure match links, an uncertain one
creates a provisional child and a review item, and a record that ties two known
children together with high confidence merges them, unless a person has ruled
those records to be different children or the two children clearly differ.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import Actor
from aggregator.children import frequencies, model_store
from aggregator.children import repository as repo
from aggregator.children.identity import (
    address_key,
    adult_key,
    features_of,
    match_values,
    to_match_record,
)
from aggregator.children.models import BlockingKey, Child, HouseholdKey, ReviewItem
from aggregator.concerns.models import ChildRecord, RelatedPerson
from aggregator.concerns.schemas import ConcernSubmission
from aggregator.concerns.service import Stored, submit
from aggregator.core import metrics
from aggregator.core.deferred import defer, touched
from aggregator.core.driver import write_deferred
from aggregator.core.rows import new_row
from aggregator.core.types import utcnow
from aggregator.principals.models import Principal
from aggregator.principals.service import Caller
from matching import ChildRecord as MatchRecord
from matching import Decision, MatchModel, MatchScore, blocking_keys
from matching.blocking import keys_for
from matching.features import Features
from matching.model import bits_from_probability

# At most this many possible matches are queued for review for one record.
MAX_REVIEW_ITEMS = 3
# A merge joins two whole histories, so the bridge must match both children far
# more surely than a link needs: at a million records, children who share a
# common name and a birthday otherwise get merged (the benchmark saw 3% of
# submissions merge at the 0.8 link threshold). Below this, a person decides.
MERGE_THRESHOLD = 0.995
# Children whose best candidate record is at least this likely (about 1%) are
# scored as whole children; the rest cannot reach review however their other
# records look (a whole child's score is its records' best per field, less
# conflicts), so their records are not read.
NEAR_BITS = bits_from_probability(0.01)
# At most this many children are scored as whole children for one record.
MAX_NEAR_CHILDREN = 12
# A record that matches two children who cannot be merged, the second within this
# many bits of the first, is linked to neither: a person decides.
AMBIGUOUS_BITS = 6.0
# Two children merge automatically only if no record of one scores below this
# against the whole of the other.
VETO_PROBABILITY = 0.01
# At most this many distinct records per child take part in child-to-child checks
# (identifiers are compared over all of them): a merge check stays a few ms.
PROFILE_COMPARE = 16


def model() -> MatchModel:
    """The model in force: the newest trained one in the database, else the shipped
    defaults (every process loads the same; see `model_store`)."""
    return model_store.current()


@dataclass
class _Best:
    record: MatchRecord
    score: MatchScore


@dataclass
class LinkResult:
    outcome: str  # linked | new | review | merged
    child_id: str
    probability: float | None = None
    merged: list[str] = field(default_factory=list)
    review_items: list[str] = field(default_factory=list)
    pending_reviews: list[_Best] = field(default_factory=list)
    candidates: int = 0
    keys: list[str] = field(default_factory=list)  # the record's blocking keys
    touch_deferred: bool = False  # the child is touched with the record's rows


def contributions_json(score: MatchScore) -> list[dict[str, object]]:
    """Per-field bits, starting with the prior, so that they add up to the weight."""
    prior = {
        "field": "prior",
        "level": "prior",
        "label": "starting point: how rare a match between two records is by chance",
        "bits": round(score.prior_bits, 3),
    }
    return [prior] + [
        {"field": c.field, "level": c.level, "label": c.label, "bits": round(c.bits, 3)}
        for c in score.contributions
    ]


def _review_item(new: ChildRecord, best: _Best) -> ReviewItem:
    return new_row(
        ReviewItem,
        record_id=new.id,
        candidate_record_id=best.record.id,
        probability=best.score.probability,
        weight=best.score.weight,
        contributions=contributions_json(best.score),
    )


async def index_record(
    session: AsyncSession,
    rec: ChildRecord,
    related: list[RelatedPerson],
    keys: list[str] | None = None,
) -> list[str]:
    """Store the record's blocking and household keys; returns the blocking keys."""
    if keys is None:
        keys = sorted(blocking_keys(to_match_record(rec)))
    defer(session, [new_row(BlockingKey, key=k[:80], child_record_id=rec.id) for k in keys])
    found = [("address", address_key(rec))]
    found += [("adult", adult_key(person, rec)) for person in related]
    household: dict[str, HouseholdKey] = {}
    for kind, key in found:
        if key and key[0] not in household:
            household[key[0]] = new_row(
                HouseholdKey,
                key=key[0][:120],
                child_record_id=rec.id,
                kind=kind,
                label=key[1][:300],
            )
    defer(session, list(household.values()))
    return keys


Profile = list[tuple[str, Features]]


def _identifiers(profile: Profile) -> tuple[set[str], set[str]]:
    nhs = {f.nhs for _, f in profile if f.nhs_valid and f.nhs is not None}
    upns = {f.upn for _, f in profile if f.upn is not None}
    return nhs, upns


def children_conflict(left: Profile, right: Profile) -> str | None:
    """Why two children cannot be one: each holds a valid NHS number (or a UPN) and
    they share none. Only a person can join them."""
    nhs_a, upn_a = _identifiers(left)
    nhs_b, upn_b = _identifiers(right)
    if nhs_a and nhs_b and not nhs_a & nhs_b:
        return "different NHS numbers"
    if upn_a and upn_b and not upn_a & upn_b:
        return "different UPNs"
    return None


def children_agree(m: MatchModel, left: Profile, right: Profile) -> bool:
    """No record of either child clearly describes someone other than the other child
    (a whole-child score below the veto), and no exclusive identifier differs: one
    sparse record cannot chain two children whose records disagree."""
    if children_conflict(left, right) is not None:
        return False
    right_f = [f for _, f in right[:PROFILE_COMPARE]]
    left_f = [f for _, f in left[:PROFILE_COMPARE]]
    return all(m.score_child(f, right_f).probability >= VETO_PROBABILITY for f in left_f) and all(
        m.score_child(f, left_f).probability >= VETO_PROBABILITY for f in right_f
    )


async def may_merge_automatically(
    session: AsyncSession,
    a: _Best,
    b: _Best,
    child_a: str,
    child_b: str,
    profiles: dict[str, Profile],
) -> bool:
    """A bridge merges two children only if nothing says they are different.

    The bridge must match both whole children very surely (MERGE_THRESHOLD); a
    person's `different_children` ruling between any of their records vetoes it, and
    so does any record of one child that clearly describes someone else than the
    other child, or two different NHS numbers (UPNs). Otherwise a review item asks.
    """
    if min(a.score.probability, b.score.probability) < MERGE_THRESHOLD:
        return False
    if not children_agree(model(), profiles.get(child_a, []), profiles.get(child_b, [])):
        return False
    left = await repo.record_ids_of(session, child_a)
    right = await repo.record_ids_of(session, child_b)
    return not await repo.decisions_between(session, left, right, "different_children")


async def merge_children(
    session: AsyncSession,
    survivor: Child,
    absorbed: Child,
    actor: Actor | None,
    *,
    reason: str,
    detail: dict[str, object],
) -> None:
    """Move every record (and so every concern) of `absorbed` onto `survivor`.

    `absorbed` is marked merged before its records are read and moved: the update
    waits for a submission that has touched it (`touch_unless_merged`) to commit, so
    that submission's record moves too, and a later one sees the merge and follows it
    (`follow_merge`).
    """
    absorbed.merged_into = survivor.id
    await session.flush()
    absorbed_records = await repo.record_ids_of(session, absorbed.id)
    survivor_records = await repo.record_ids_of(session, survivor.id)
    await repo.move_records(session, None, absorbed.id, survivor.id)
    await repo.repoint_merged(session, absorbed.id, survivor.id)
    for item in await repo.open_items_between(session, absorbed_records, survivor_records):
        item.state = "superseded"
    survivor.provisional = survivor.provisional and absorbed.provisional
    survivor.touched_at = utcnow()
    record(
        session,
        actor,
        AuditEntry(
            action="child.merge",
            purpose="identity_resolution",
            object_type="child",
            object_id=survivor.id,
            detail={"merged": absorbed.id, "reason": reason, **detail},
        ),
    )


async def _link_and_bridge(
    session: AsyncSession,
    rec: ChildRecord,
    sure: list[tuple[str, _Best]],
    maybe: list[tuple[str, _Best]],
    actor: Actor,
    result: LinkResult,
    profiles: dict[str, Profile],
) -> bool:
    """Link to the best sure child, merging the other sure ones it bridges to (or
    queueing them for review when a merge is not safe).

    Returns False, linking nothing, when another child whose records disagree with
    the first's matches it nearly as well (within AMBIGUOUS_BITS): a record that fits
    two different children (one twin's name missing) is no evidence for either.
    """
    target_id, target_best = sure[0]
    for other_id, other_best in sure[1:]:
        if (
            other_best.score.weight >= target_best.score.weight - AMBIGUOUS_BITS
            and not children_agree(model(), profiles.get(target_id, []), profiles.get(other_id, []))
        ):
            # (children kept apart only by a person's ruling look alike: the record
            # goes to the likelier, and the other is queued for review as before)
            return False
    target = await repo.get_child(session, target_id)
    assert target is not None
    for other_id, other_best in sure[1:]:
        other = await repo.get_child(session, other_id)
        if other is None or other.id == target.id:
            continue
        if await may_merge_automatically(
            session, target_best, other_best, target.id, other.id, profiles
        ):
            survivor, absorbed = sorted((target, other), key=lambda c: c.created_at)
            await merge_children(
                session,
                survivor,
                absorbed,
                actor,
                reason="bridging record",
                detail={
                    "bridging_record": rec.id,
                    "probabilities": [
                        round(target_best.score.probability, 4),
                        round(other_best.score.probability, 4),
                    ],
                },
            )
            profiles[survivor.id] = profiles.get(target.id, []) + profiles.get(other.id, [])
            target = survivor
            result.merged.append(absorbed.id)
        else:
            maybe.insert(0, (other_id, other_best))
    result.child_id = target.id
    result.outcome = "merged" if result.merged else "linked"
    await repo.touch(session, [target.id])
    return True


async def _revisit(
    session: AsyncSession,
    rec: ChildRecord,
    mine: Features,
    maybe: list[tuple[str, _Best]],
    actor: Actor,
    result: LinkResult,
    profiles: dict[str, Profile],
) -> None:
    """Reconsider the children this record touched now that it has a home.

    A child the record matched only possibly, or could not be merged with (often a
    provisional child made by an earlier, sparser record), joins the record's child
    when, with this record's values added, one of its records matches the whole
    child: at the link threshold for a child of one record (as if that record
    arrived now), very surely (MERGE_THRESHOLD) for a longer history; and nothing
    speaks against it (`may_merge_automatically`'s
    checks): so a sparse record that came first ends on the child it belongs to.
    """
    m = model()
    target = await repo.get_child(session, result.child_id)
    if target is None:
        return
    for other_id, other_best in list(maybe):
        if other_id == target.id or other_id in result.merged:
            continue
        home = [*profiles.get(target.id, []), (rec.id, mine)]
        theirs = profiles.get(other_id, [])
        if not theirs or children_conflict(home, theirs) is not None:
            continue
        home_f = [f for _, f in home[:PROFILE_COMPARE]]
        joined = max(
            (m.score_child(f, home_f) for _, f in theirs[:PROFILE_COMPARE]),
            key=lambda score: score.weight,
        )
        # a child of one record joins as that record would link now; whole
        # histories need the surer evidence of a merge
        needed = m.link_threshold if len(theirs) == 1 else MERGE_THRESHOLD
        if joined.probability < needed or joined.conflict is not None:
            continue
        if not children_agree(m, home, theirs):
            continue
        left = await repo.record_ids_of(session, target.id)
        right = await repo.record_ids_of(session, other_id)
        if await repo.decisions_between(session, left, right, "different_children"):
            continue
        other = await repo.get_child(session, other_id)
        if other is None or other.id == target.id:
            continue
        survivor, absorbed = sorted((target, other), key=lambda c: c.created_at)
        await merge_children(
            session,
            survivor,
            absorbed,
            actor,
            reason="revisited: a new record completed the evidence",
            detail={
                "bridging_record": rec.id,
                "probabilities": [round(joined.probability, 4)],
            },
        )
        profiles[survivor.id] = home + theirs
        target = survivor
        result.merged.append(absorbed.id)
        maybe.remove((other_id, other_best))
    if result.merged:
        result.child_id = target.id
        result.outcome = "merged"
        await repo.touch(session, [target.id])


def record_keys(rec: ChildRecord) -> list[str]:
    """The record's blocking keys, sorted."""
    return sorted(keys_for(features_of(match_values(rec))))


async def resolve_record(
    session: AsyncSession, rec: ChildRecord, actor: Actor, keys: list[str]
) -> LinkResult:
    """Decide which child a record (not yet inserted) is about, before it is stored.

    Runs with the advisory locks of the record's `keys` (`record_keys`) held
    (`repository.lock_ids`).

    Sets `rec.child_id` and how it was decided, so the record is written once with
    its link. Candidate records are ranked on the fast weight (once per distinct set
    of values); the children whose best record comes near a match are then scored as
    whole children (every distinct value their records hold, `MatchModel.score_child`),
    with the explanation, and that decides.
    """
    m = model()
    mine = features_of(match_values(rec))
    weights: dict[tuple[Any, ...], float] = {}
    fast: dict[str, tuple[float, str, tuple[Any, ...]]] = {}
    for record_id, child_id, values in await repo.candidate_records(session, keys, rec.id):
        weight = weights.get(values)
        if weight is None:
            weight = weights[values] = m.weight_features(mine, features_of(values))
        if child_id not in fast or weight > fast[child_id][0]:
            fast[child_id] = (weight, record_id, values)
    near = sorted(
        (child_id for child_id, (weight, _, _) in fast.items() if weight >= NEAR_BITS),
        key=lambda child_id: -fast[child_id][0],
    )[:MAX_NEAR_CHILDREN]
    profiles: dict[str, Profile] = {
        child_id: [(record_id, features_of(values)) for record_id, values in held]
        for child_id, held in (await repo.child_profiles(session, near)).items()
    }
    best: dict[str, _Best] = {}
    for child_id in near:
        held = profiles.get(child_id) or [(fast[child_id][1], features_of(fast[child_id][2]))]
        profiles[child_id] = held
        score = m.score_child(mine, [f for _, f in held])
        if m.decide(score) != Decision.NO_MATCH:
            _, record_id, values = fast[child_id]
            best[child_id] = _Best(MatchRecord(record_id, *values), score)
    ranked = sorted(best.items(), key=lambda kv: kv[1].score.weight, reverse=True)
    sure = [(c, b) for c, b in ranked if m.decide(b.score) == Decision.LINK]
    maybe = [(c, b) for c, b in ranked if m.decide(b.score) == Decision.REVIEW]

    result: LinkResult
    linked = False
    if sure:
        target_id, target_best = sure[0]
        result = LinkResult("linked", target_id, target_best.score.probability)
        if len(sure) == 1:
            linked = True
            if maybe:
                await _revisit(session, rec, mine, maybe, actor, result, profiles)
            if not result.merged:
                # The common case, one sure child: it is touched in the statement that
                # writes the record (`follow_merge` checks it was not merged meanwhile).
                defer(session, [repo.touch_unless_merged(target_id)])
                result.touch_deferred = True
        else:
            linked = await _link_and_bridge(session, rec, sure, maybe, actor, result, profiles)
            if linked and maybe:
                await _revisit(session, rec, mine, maybe, actor, result, profiles)
            if not linked:
                maybe = sure + maybe
    if not linked:
        child = new_row(Child, provisional=bool(maybe))
        defer(session, [child])
        result = LinkResult("review" if maybe else "new", child.id)
    result.pending_reviews = [cand for _, cand in maybe[:MAX_REVIEW_ITEMS]]
    if result.probability is None and maybe:
        result.probability = maybe[0][1].score.probability
    result.candidates = len(fast)
    result.keys = keys
    frequencies.note(mine, new_child=not linked)
    rec.child_id, rec.link_outcome = result.child_id, result.outcome
    rec.link_probability = result.probability
    return result


async def finish_record(
    session: AsyncSession,
    rec: ChildRecord,
    related: list[RelatedPerson],
    result: LinkResult,
    actor: Actor,
) -> None:
    """After the record is stored: its keys, its review items, and the audit event."""
    await index_record(session, rec, related, result.keys or None)
    items = [_review_item(rec, candidate) for candidate in result.pending_reviews]
    defer(session, items)
    metrics.LINK_OUTCOMES.labels(result.outcome).inc()
    result.review_items = [item.id for item in items]
    _link_event(
        session,
        actor,
        rec.id,
        {
            "outcome": result.outcome,
            "child_id": result.child_id,
            "probability": round(result.probability, 4) if result.probability else None,
            "merged": result.merged,
            "review_items": result.review_items,
            "candidates": result.candidates,
        },
    )


def _link_event(
    session: AsyncSession, actor: Actor, record_id: str, detail: dict[str, Any]
) -> None:
    entry = AuditEntry(
        action="record.link",
        purpose="identity_resolution",
        object_type="child_record",
        object_id=record_id,
        detail=detail,
    )
    record(session, actor, entry)


async def follow_merge(
    session: AsyncSession, rec: ChildRecord, result: LinkResult, actor: Actor
) -> None:
    """Write the record's rows now; if its child was merged away after the candidates
    were read (so its touch found it merged), move the record to the survivor.

    The merge marks the child merged before moving its records, and the touch waits
    for that mark: either the touch comes first and the merge then moves this record
    too, or the merge comes first and the record follows it here.
    """
    await write_deferred(session)
    if touched(session, result.child_id):
        return
    child = await repo.get_child(session, result.child_id)
    assert child is not None  # a merged child stays, pointing at its survivor
    await repo.set_link(session, rec.id, child.id, result.outcome, result.probability)
    await repo.touch(session, [child.id])
    detail = {"outcome": "followed_merge", "from": result.child_id, "child_id": child.id}
    _link_event(session, actor, rec.id, detail)
    result.child_id = rec.child_id = child.id


async def submit_linked(
    session: AsyncSession, agency: Principal | Caller, body: ConcernSubmission
) -> Stored:
    """Store a concern and link its child in one transaction (the intake path), with
    the audit event of the share (`concern.create`, or `concern.retry`).

    A `Caller` (the API's) is checked again by the concern's insert (`Caller.guard`).
    """
    caller = agency if isinstance(agency, Caller) else None
    principal = caller.principal if caller is not None else agency
    assert isinstance(principal, Principal)
    keys: list[str] = []  # the record's keys, found once for its locks and candidates

    def locks(rec: ChildRecord) -> list[int]:
        keys.extend(record_keys(rec))
        return repo.lock_ids(keys)

    async def resolve(rec: ChildRecord) -> LinkResult:
        return await resolve_record(session, rec, principal, keys)

    stored = await submit(
        session, principal, body, before_insert=resolve, locks=locks, caller=caller
    )
    record(
        session,
        principal,
        AuditEntry(
            action="concern.create" if stored.created else "concern.retry",
            purpose=body.sharing.purpose.value,
            object_type="concern",
            object_id=stored.concern.id,
            detail={
                "category": body.concern.category.value,
                "basis": body.sharing.lawful_basis.value,
            },
        ),
    )
    link = stored.link
    if stored.record is not None and isinstance(link, LinkResult):
        await finish_record(session, stored.record, stored.related, link, principal)
        if link.touch_deferred:
            await follow_merge(session, stored.record, link, principal)
    return stored
