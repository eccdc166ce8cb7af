"""Turning stored records into what the matching library and the household index need."""

from typing import Any, Protocol

import jellyfish

from aggregator.concerns.models import ChildRecord, RelatedPerson
from matching import ChildRecord as MatchRecord
from matching.features import Features
from matching.normalise import address_tokens, ascii_lower, split_postcode

# Adults whose shared presence makes children one household.
HOUSEHOLD_RELATIONSHIPS = {
    "mother",
    "father",
    "step_parent",
    "partner_of_parent",
    "carer",
    "grandparent",
}


class _IdentityColumns(Protocol):
    id: str
    given_name: str | None
    family_name: str | None
    other_names: Any
    date_of_birth: str | None
    sex: str | None
    nhs_number: str | None
    upn: str | None
    postcode: str | None
    address_line1: str | None
    town: str | None


def to_match_record(record: ChildRecord | _IdentityColumns) -> MatchRecord:
    """A stored record, or a row of its identity columns, as the matcher sees it."""
    return MatchRecord(record.id, *match_values(record))


# Features by identity values (not by record): records of one child often repeat
# the same values, and names, dates and postcodes recur across children. Online
# scoring never reads `Features.id`, so records with equal values share one.
_FEATURES: dict[tuple[Any, ...], Features] = {}
_FEATURES_MAX = 200_000


def match_values(record: ChildRecord | _IdentityColumns) -> tuple[Any, ...]:
    """A record's `MatchRecord` fields after the id, the key of `features_of`."""
    return (
        record.given_name,
        record.family_name,
        tuple(record.other_names or ()),
        record.date_of_birth,
        record.sex,
        record.nhs_number,
        record.upn,
        record.postcode,
        record.address_line1,
        record.town,
    )


def features_of(values: tuple[Any, ...]) -> Features:
    """Features of a record given as `MatchRecord` fields after the id, cached."""
    found = _FEATURES.get(values)
    if found is None:
        if len(_FEATURES) >= _FEATURES_MAX:
            _FEATURES.clear()
        found = _FEATURES[values] = Features(MatchRecord("", *values))
    return found


def address_key(record: ChildRecord) -> tuple[str, str] | None:
    """Postcode plus house number and street: a dwelling, not a neighbourhood."""
    parts = split_postcode(record.postcode)
    tokens = address_tokens(record.address_line1)
    if parts is None or not tokens:
        return None
    street = tokens[1] if len(tokens) > 1 else ""
    label = f"{record.address_line1}, {record.postcode}"
    return f"addr:{parts[0]}|{tokens[0]}|{street}", label


def adult_key(person: RelatedPerson, record: ChildRecord) -> tuple[str, str] | None:
    """Sound-alike key of a parent or carer, so 'Kayleigh' and 'Kayley Smith' meet.

    Scoped to the postcode district the child was recorded in: across a city,
    "Sarah Smith" is many different mothers, and one key would join strangers'
    families into one household.
    """
    if person.relationship not in HOUSEHOLD_RELATIONSHIPS:
        return None
    parts = split_postcode(record.postcode)
    if parts is None or parts[2] is None:
        return None
    if not (person.given_name and person.family_name):
        return None
    given = jellyfish.metaphone(ascii_lower(person.given_name).split()[0])
    family = jellyfish.metaphone(ascii_lower(person.family_name).replace("-", " ").split()[-1])
    if not (given and family):
        return None
    return f"adult:{parts[2]}|{family}|{given}", f"{person.given_name} {person.family_name}"
