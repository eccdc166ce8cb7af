"""Storing a concern exactly once, and showing it to whoever may see it."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.concerns import repository
from aggregator.concerns.models import (
    ChildRecord,
    Concern,
    RelatedPerson,
    SharingDecision,
    SharingRecord,
)
from aggregator.concerns.schemas import (
    Address,
    Child,
    ConcernDetail,
    ConcernSubmission,
    ConcernView,
    Practitioner,
    Sharing,
    SharingDecisionIn,
)
from aggregator.concerns.schemas import RelatedPerson as RelatedPersonIn
from aggregator.concerns.vocab import (
    AgencyType,
    Category,
    ChildStatus,
    ConcernOutcome,
    Condition,
    Consent,
    LawfulBasis,
    NhsNumberMissingReason,
    Purpose,
    Relationship,
    Sex,
)
from aggregator.core.canonical import body_hash
from aggregator.core.deferred import defer
from aggregator.core.rows import insert_unless_exists, new_row
from aggregator.principals.deps import unauthorised
from aggregator.principals.models import Principal
from aggregator.principals.service import Caller

WITHHELD = "withheld at the reporter's request"


class Refused(HTTPException):
    """A refusal that also names why, as a code for the audit trail (no personal data)."""

    def __init__(self, status_code: int, detail: Any, reason: str) -> None:
        super().__init__(status_code, detail)
        self.reason = reason


@dataclass(frozen=True)
class Stored:
    concern: Concern
    created: bool
    record: ChildRecord | None = None
    related: list[RelatedPerson] = field(default_factory=list)
    link: object = None  # what `before_insert` returned (identity resolution's result)


BeforeInsert = Callable[[ChildRecord], Awaitable[object]]
Locks = Callable[[ChildRecord], Sequence[int]]


def _check_authority(agency: Principal, sub: ConcernSubmission) -> None:
    if sub.child.status and agency.agency_type != AgencyType.CHILDRENS_SOCIAL_CARE:
        raise Refused(
            status.HTTP_403_FORBIDDEN,
            "child.status may only be set by children's social care",
            "status_not_permitted",
        )
    if (
        sub.sharing.condition == Condition.LAW_ENFORCEMENT_STATUTORY
        and agency.agency_type != AgencyType.POLICE
    ):
        raise Refused(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["body", "sharing", "condition"],
                    "msg": "dpa2018_sch8_para4 (Part 3) applies to police submissions only",
                    "type": "value_error",
                }
            ],
            "condition_not_permitted",
        )


def _same_or_conflict(existing: Concern | SharingDecision, digest: str, what: str) -> None:
    if existing.body_hash != digest:
        raise Refused(
            status.HTTP_409_CONFLICT,
            f"external_ref {existing.external_ref!r} was already used for a different {what}; "
            "send a new external_ref to record a new one",
            "external_ref_reused",
        )


async def submit(
    session: AsyncSession,
    agency: Principal,
    sub: ConcernSubmission,
    before_insert: BeforeInsert | None = None,
    locks: Locks | None = None,
    caller: Caller | None = None,
) -> Stored:
    """Store a concern once: a retry with the same body returns the first one.

    The unique (agency, external_ref) constraint decides races between concurrent
    retries: the loser's insert does nothing and it returns the winner's row.
    `locks` names the advisory locks (PostgreSQL) that the concern's insert takes
    for the rest of the transaction, before `before_insert` reads anything.
    When `agency` came from the `caller` cache, the insert checks its token too.
    """
    _check_authority(agency, sub)
    digest = body_hash(sub.model_dump(mode="json"))
    detail = sub.concern
    concern = new_row(
        Concern,
        agency_id=agency.id,
        external_ref=sub.external_ref,
        body_hash=digest,
        category=detail.category.value,
        severity=detail.severity,
        observed_at=detail.observed_at,
        summary=detail.summary,
        outcome=detail.outcome.value,
        practitioner_name=detail.practitioner.name,
        practitioner_role=detail.practitioner.role,
        practitioner_email=detail.practitioner.email,
        practitioner_phone=detail.practitioner.phone,
    )
    child = sub.child
    address = child.address or Address()
    record = new_row(
        ChildRecord,
        concern_id=concern.id,
        agency_id=agency.id,
        given_name=child.given_name,
        family_name=child.family_name,
        other_names=list(child.other_names),
        date_of_birth=child.date_of_birth,
        sex=child.sex.value if child.sex else None,
        nhs_number=child.nhs_number,
        nhs_number_missing_reason=(
            child.nhs_number_missing_reason.value if child.nhs_number_missing_reason else None
        ),
        upn=child.upn,
        address_line1=address.line1,
        address_line2=address.line2,
        town=address.town,
        postcode=address.postcode,
        status=child.status.value if child.status else None,
        independently_mobile=child.independently_mobile,
    )
    related = [
        new_row(
            RelatedPerson,
            child_record_id=record.id,
            position=i,
            relationship=p.relationship.value,
            given_name=p.given_name,
            family_name=p.family_name,
            date_of_birth=p.date_of_birth,
        )
        for i, p in enumerate(sub.related_people)
    ]
    s = sub.sharing
    sharing = new_row(
        SharingRecord,
        concern_id=concern.id,
        agency_id=agency.id,
        lawful_basis=s.lawful_basis.value,
        condition=s.condition.value,
        consent=s.consent.value,
        consent_reason=s.consent_reason,
        family_informed=s.family_informed,
        not_informed_reason=s.not_informed_reason,
        protect_reporter_identity=s.protect_reporter_identity,
        purpose=s.purpose.value,
    )
    locked = locks(record) if locks else ()
    guard = caller.guard() if caller is not None else None
    if not await insert_unless_exists(
        session, concern, ("agency_id", "external_ref"), locks=locked, guard=guard
    ):
        if caller is not None and not await caller.still_live(session):
            raise unauthorised()
        winner = await repository.concern_by_ref(session, agency.id, sub.external_ref)
        if winner is None:
            raise Refused(
                status.HTTP_409_CONFLICT, "concurrent submission; retry", "concurrent_submission"
            )
        _same_or_conflict(winner, digest, "concern")
        return Stored(winner, created=False)
    # Identity resolution runs here so the record is written once, with its child.
    link = await before_insert(record) if before_insert else None
    defer(session, [record, *related, sharing])
    return Stored(concern, created=True, record=record, related=related, link=link)


def to_view(concern: Concern, parts: repository.ConcernParts, viewer: Principal) -> ConcernView:
    """Rebuild the concern as submitted; a protected reporter is named only inside
    the submitting agency."""
    rec = parts.children[concern.id]
    share = parts.sharing[concern.id]
    hide_reporter = share.protect_reporter_identity and viewer.id != concern.agency_id
    practitioner = (
        Practitioner(name=WITHHELD)
        if hide_reporter
        else Practitioner(
            name=concern.practitioner_name or "",
            role=concern.practitioner_role,
            email=concern.practitioner_email,
            phone=concern.practitioner_phone,
        )
    )
    has_address = any((rec.address_line1, rec.address_line2, rec.town, rec.postcode))
    return ConcernView.model_construct(
        id=concern.id,
        received_at=concern.received_at,
        external_ref=concern.external_ref,
        child=Child.model_construct(
            given_name=rec.given_name,
            family_name=rec.family_name,
            other_names=list(rec.other_names),
            date_of_birth=rec.date_of_birth,
            sex=Sex(rec.sex) if rec.sex else None,
            nhs_number=rec.nhs_number,
            nhs_number_missing_reason=(
                NhsNumberMissingReason(rec.nhs_number_missing_reason)
                if rec.nhs_number_missing_reason
                else None
            ),
            upn=rec.upn,
            address=Address.model_construct(
                line1=rec.address_line1,
                line2=rec.address_line2,
                town=rec.town,
                postcode=rec.postcode,
            )
            if has_address
            else None,
            independently_mobile=rec.independently_mobile,
            status=ChildStatus(rec.status) if rec.status else None,
        ),
        related_people=[
            RelatedPersonIn.model_construct(
                relationship=Relationship(p.relationship),
                given_name=p.given_name,
                family_name=p.family_name,
                date_of_birth=p.date_of_birth,
            )
            for p in parts.related.get(concern.id, [])
        ],
        concern=ConcernDetail.model_construct(
            category=Category(concern.category),
            severity=concern.severity,
            observed_at=concern.observed_at,
            summary=concern.summary,
            practitioner=practitioner,
            outcome=ConcernOutcome(concern.outcome),
        ),
        sharing=Sharing.model_construct(
            lawful_basis=LawfulBasis(share.lawful_basis),
            condition=Condition(share.condition),
            consent=Consent(share.consent),
            consent_reason=share.consent_reason,
            family_informed=share.family_informed,
            not_informed_reason=share.not_informed_reason,
            protect_reporter_identity=share.protect_reporter_identity,
            purpose=Purpose(share.purpose),
        ),
    )


async def record_decision(
    session: AsyncSession, agency: Principal, body: SharingDecisionIn
) -> tuple[SharingDecision, bool]:
    digest = body_hash(body.model_dump(mode="json"))
    existing = await repository.decision_by_ref(session, agency.id, body.external_ref)
    if existing is not None:
        _same_or_conflict(existing, digest, "sharing decision")
        return existing, False
    decision = SharingDecision(
        agency_id=agency.id,
        external_ref=body.external_ref,
        body_hash=digest,
        decision=body.decision.value,
        reason=body.reason,
        purpose=body.purpose.value,
        shared_with=body.shared_with,
        decided_at=body.decided_at,
    )
    try:
        async with session.begin_nested():
            session.add(decision)
            await session.flush()
    except IntegrityError:
        winner = await repository.decision_by_ref(session, agency.id, body.external_ref)
        if winner is None:
            raise
        _same_or_conflict(winner, digest, "sharing decision")
        return winner, False
    return decision, True
