"""Request and response bodies of the intake API.

Unknown fields are refused (`extra="forbid"`) so a typo in an agency's script
fails loudly instead of silently dropping data.
"""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from aggregator.concerns import checks
from aggregator.concerns.vocab import (
    Category,
    ChildStatus,
    ConcernOutcome,
    Condition,
    Consent,
    Decision,
    LawfulBasis,
    NhsNumberMissingReason,
    Purpose,
    Relationship,
    Sex,
)
from aggregator.core.inputs import visible_text

# Names and short labels are shown to hub staff: invisible and bidi-control
# characters are stripped, and a value of nothing else is refused (core.inputs).
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(visible_text),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(visible_text),
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]
ExternalRef = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[\w.:/#-]+$"),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
NhsNumber = Annotated[str, AfterValidator(checks.nhs_number)]
Upn = Annotated[str, AfterValidator(checks.upn)]
Postcode = Annotated[str, AfterValidator(checks.postcode)]
PartialDate = Annotated[str, AfterValidator(checks.partial_date)]

MAX_AGE_YEARS = 18


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(_Strict):
    line1: ShortText | None = None
    line2: ShortText | None = None
    town: Name | None = None
    postcode: Postcode | None = None


class Child(_Strict):
    """Identity is partial in real life; enough to find the child again is required."""

    given_name: Name | None = None
    family_name: Name | None = None
    other_names: list[ShortText] = Field(default_factory=list, max_length=10)
    date_of_birth: PartialDate | None = None
    sex: Sex | None = None
    nhs_number: NhsNumber | None = None
    nhs_number_missing_reason: NhsNumberMissingReason | None = Field(
        default=None,
        description="Why the NHS number is not given; only without nhs_number. "
        "'withheld_more_detrimental': sharing it would be more detrimental to the child.",
    )
    upn: Upn | None = None
    address: Address | None = None
    independently_mobile: bool | None = Field(
        default=None, description="False for a baby or a child who cannot move about alone."
    )
    status: ChildStatus | None = Field(
        default=None, description="Only children's social care may set a statutory status."
    )

    @model_validator(mode="after")
    def _enough_to_identify(self) -> Self:
        if not (self.given_name or self.family_name):
            raise ValueError("child: a given name or a family name is required")
        if self.nhs_number and self.nhs_number_missing_reason:
            raise ValueError(
                "child: nhs_number_missing_reason is for a child whose nhs_number is not "
                "given; send one or the other"
            )
        postcode = self.address.postcode if self.address else None
        if not (self.date_of_birth or postcode or self.nhs_number or self.upn):
            raise ValueError(
                "child: at least one of date_of_birth, address.postcode, nhs_number or upn "
                "is required to identify the child"
            )
        return self


class RelatedPerson(_Strict):
    relationship: Relationship
    given_name: Name | None = None
    family_name: Name | None = None
    date_of_birth: PartialDate | None = None


class Practitioner(_Strict):
    name: ShortText
    role: ShortText | None = None
    email: Email | None = None
    phone: (
        Annotated[str, StringConstraints(max_length=40, pattern=r"^[0-9 +()-]{6,40}$")] | None
    ) = None


class ConcernDetail(_Strict):
    category: Category
    severity: int = Field(ge=1, le=4, description="1 low ... 4 high")
    observed_at: date
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]
    practitioner: Practitioner
    outcome: ConcernOutcome = ConcernOutcome.OPEN


class Sharing(_Strict):
    """Golden rules 4 and 7: why sharing is lawful, consent, and whether the family knows."""

    lawful_basis: LawfulBasis
    condition: Condition
    consent: Consent
    consent_reason: Reason | None = None
    family_informed: bool
    not_informed_reason: Reason | None = None
    protect_reporter_identity: bool = False
    purpose: Purpose = Purpose.SAFEGUARDING

    @model_validator(mode="after")
    def _reasons_given(self) -> Self:
        if self.consent != Consent.GIVEN and not self.consent_reason:
            raise ValueError("sharing.consent_reason is required unless consent is 'given'")
        if not self.family_informed and not self.not_informed_reason:
            raise ValueError("sharing.not_informed_reason is required when the family was not told")
        if self.lawful_basis == LawfulBasis.CONSENT and self.consent != Consent.GIVEN:
            raise ValueError("sharing.lawful_basis 'consent' needs consent 'given'")
        return self


class ConcernSubmission(_Strict):
    external_ref: ExternalRef
    child: Child
    related_people: list[RelatedPerson] = Field(default_factory=list, max_length=20)
    concern: ConcernDetail
    sharing: Sharing

    @model_validator(mode="after")
    def _dates_consistent(self) -> Self:
        today = datetime.now(UTC).date()
        observed = self.concern.observed_at
        if observed > today + timedelta(days=1):
            raise ValueError("concern.observed_at is in the future")
        dob = self.child.date_of_birth
        if dob:
            earliest = checks.earliest(dob)
            if earliest > today:
                raise ValueError("child.date_of_birth is in the future")
            if earliest > observed:
                raise ValueError("child.date_of_birth is after concern.observed_at")
            latest = checks.latest(dob)
            if _years_between(latest, observed) >= MAX_AGE_YEARS:
                raise ValueError(
                    "child.date_of_birth is 18 or more years before concern.observed_at: "
                    "the service holds concerns about children only"
                )
        return self


def _years_between(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


class ConcernReceipt(BaseModel):
    """What the submitting agency learns: only that its concern was stored.

    Whether the child is known to other agencies is itself sensitive (golden rule 6).
    """

    id: str
    external_ref: str
    received_at: datetime


class HubResponse(BaseModel):
    """What the hub did with a concern, for the agency that raised it (closing the loop):
    no other agency's concerns and nothing about the child beyond the decision."""

    status: Literal["received", "under_review", "responded"]
    outcome: str | None = Field(default=None, description="The hub's decision, once responded")
    at: datetime
    contact: str = Field(description="Who to contact at the hub about this response")


class ConcernView(ConcernSubmission):
    id: str
    received_at: datetime
    hub_response: HubResponse | None = Field(
        default=None,
        description="Only for the submitting agency; null until the concern is evidence "
        "for an alert",
    )
    model_config = ConfigDict(extra="ignore")


class ConcernPage(BaseModel):
    items: list[ConcernView]
    total: int
    offset: int
    limit: int


class SharingDecisionIn(_Strict):
    """A decision not to share here, or to share elsewhere, with no personal data."""

    external_ref: ExternalRef
    decision: Decision
    reason: Reason
    purpose: Purpose = Purpose.SAFEGUARDING
    shared_with: ShortText | None = Field(
        default=None, description="Who it was shared with instead (an organisation, not a person)."
    )
    decided_at: date


class SharingDecisionOut(SharingDecisionIn):
    id: str
    recorded_at: datetime
