"""Controlled vocabularies, defined once and published in the OpenAPI schema.

They follow UK law (UK GDPR Article 6 bases, DPA 2018 conditions) and the
categories hubs already report in, so a value means the same thing everywhere.
"""

from enum import StrEnum


class AgencyType(StrEnum):
    SCHOOL = "school"
    HEALTH = "health"
    POLICE = "police"
    HOUSING = "housing"
    CHILDRENS_SOCIAL_CARE = "childrens_social_care"
    YOUTH_SERVICE = "youth_service"
    OTHER = "other"


class Role(StrEnum):
    HUB = "hub"
    LEAD = "lead"
    ADMIN = "admin"


class Category(StrEnum):
    PHYSICAL = "physical"
    EMOTIONAL = "emotional"
    SEXUAL = "sexual"
    NEGLECT = "neglect"
    DOMESTIC_ABUSE = "domestic_abuse"
    INJURY = "injury"
    MISSING = "missing"
    EXPLOITATION = "exploitation"
    SELF_HARM = "self_harm"
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_MISUSE = "substance_misuse"
    ATTENDANCE = "attendance"
    ONLINE_SAFETY = "online_safety"
    RADICALISATION = "radicalisation"
    OTHER = "other"


# Nearest Children in Need census "factors identified at the end of assessment"
# code, so that hubs can report in the codes they already use. Categories with no
# direct factor map to the closest one; check against the DfE guide of the year.
CIN_FACTOR: dict[Category, str] = {
    Category.PHYSICAL: "18A",
    Category.EMOTIONAL: "17A",
    Category.SEXUAL: "19A",
    Category.NEGLECT: "16A",
    Category.DOMESTIC_ABUSE: "3A",
    Category.INJURY: "18A",
    Category.MISSING: "10A",
    Category.EXPLOITATION: "11A",
    Category.SELF_HARM: "15A",
    Category.MENTAL_HEALTH: "4A",
    Category.SUBSTANCE_MISUSE: "2A",
    Category.ATTENDANCE: "20",
    Category.ONLINE_SAFETY: "11A",
    Category.RADICALISATION: "24A",
    Category.OTHER: "20",
}


class LawfulBasis(StrEnum):
    """UK GDPR Article 6(1) bases."""

    PUBLIC_TASK = "public_task"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    LEGITIMATE_INTERESTS = "legitimate_interests"
    CONSENT = "consent"


class Condition(StrEnum):
    """Special-category (Art. 9 / DPA 2018 Sch 1) or Part 3 (Sch 8) condition."""

    SAFEGUARDING_CHILDREN = "dpa2018_sch1_para18"
    STATUTORY_PURPOSES = "dpa2018_sch1_para6"
    LAW_ENFORCEMENT_STATUTORY = "dpa2018_sch8_para4"


class Consent(StrEnum):
    GIVEN = "given"
    REFUSED = "refused"
    NOT_SOUGHT = "not_sought"


class Purpose(StrEnum):
    SAFEGUARDING = "safeguarding"
    WELFARE = "welfare"
    PREVENTING_HARM = "preventing_harm"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class ChildStatus(StrEnum):
    """Statutory statuses only children's social care may assert."""

    CHILD_PROTECTION_PLAN = "child_protection_plan"
    LOOKED_AFTER = "looked_after"
    CHILD_IN_NEED = "child_in_need"


class NhsNumberMissingReason(StrEnum):
    """Why a child's NHS number is not given (issue 17: the consistent child identifier)."""

    UNKNOWN = "unknown"
    NOT_YET_ISSUED = "not_yet_issued"
    WITHHELD_MORE_DETRIMENTAL = "withheld_more_detrimental"


class Relationship(StrEnum):
    MOTHER = "mother"
    FATHER = "father"
    STEP_PARENT = "step_parent"
    PARTNER_OF_PARENT = "partner_of_parent"
    CARER = "carer"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    OTHER_ADULT = "other_adult"
    OTHER = "other"


class ConcernOutcome(StrEnum):
    """What the agency did next; accumulation rules count NFA concerns too."""

    OPEN = "open"
    NO_FURTHER_ACTION = "no_further_action"
    REFERRED = "referred"
    CLOSED = "closed"


class Decision(StrEnum):
    """A decision recorded without a concern (golden rule 7)."""

    NOT_SHARED = "not_shared"
    SHARED_ELSEWHERE = "shared_elsewhere"
