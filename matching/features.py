"""A record's comparable forms, computed once and reused for every comparison."""

from __future__ import annotations

import re
import sys
from functools import lru_cache

import jellyfish

from matching.normalise import (
    PartialDate,
    address_tokens,
    name_forms,
    name_tokens,
    nhs_number,
    nhs_number_valid,
    normalise_sex,
    parse_date,
    split_postcode,
    upn,
)
from matching.records import ChildRecord

_intern = sys.intern
_has_digit = re.compile(r"\d").search


class Features:
    """Normalised, phonetic and parsed forms of one record.

    Scoring a pair must cost microseconds, so all string work happens here, once per
    record; strings are interned so a million records share their common names.
    """

    __slots__ = (
        "address",
        "address_number",
        "address_street",
        "dob",
        "dob_digits",
        "family",
        "family_parts",
        "family_phonetic",
        "given",
        "given_forms",
        "given_phonetic",
        "id",
        "middle",
        "nhs",
        "nhs_valid",
        "pc_district",
        "pc_sector",
        "pc_unit",
        "sex",
        "town",
        "upn",
    )

    def __init__(self, record: ChildRecord) -> None:
        self.id = record.id
        self.given, self.middle, self.given_forms, self.given_phonetic = _given_parts(
            record.given_name, tuple(record.other_names)
        )
        self.family, self.family_parts, self.family_phonetic = _family_parts(record.family_name)
        self.dob, self.dob_digits = _date(record.date_of_birth)
        self.sex: str | None = normalise_sex(record.sex)
        self.nhs, self.nhs_valid = _nhs(record.nhs_number)
        self.upn: str | None = upn(record.upn)
        self.pc_unit, self.pc_sector, self.pc_district = _postcode(record.postcode)
        self.address, self.address_number, self.address_street = _address_parts(
            record.address_line1
        )
        self.town: str | None = _town(record.town)


# Names, postcodes and addresses repeat across records (a family's records, common
# names), so their forms are cached by the text as written.
@lru_cache(maxsize=65536)
def _given_parts(
    given_name: str | None, other_names: tuple[str, ...]
) -> tuple[str | None, frozenset[str], frozenset[str], str | None]:
    """(first given name, middle and other names, its nickname forms, its sound)."""
    tokens = name_tokens(given_name)
    other = tuple(t for name in other_names for t in name_tokens(name))
    given = _intern(tokens[0]) if tokens else None
    forms = name_forms(given) if given else frozenset()
    return given, _frozen(tokens[1:] + other), forms, _phonetic(given)


@lru_cache(maxsize=65536)
def _family_parts(family_name: str | None) -> tuple[str | None, tuple[str, ...], str | None]:
    """(family name as one word, its parts, its sound)."""
    tokens = _join_particles(name_tokens(family_name))
    family = _intern("".join(tokens)) if tokens else None
    return family, _parts(tokens), _phonetic(family)


@lru_cache(maxsize=131072)
def _nhs(text: str | None) -> tuple[str | None, bool]:
    """(the ten digits, whether they pass the check): a child's records repeat it."""
    digits = nhs_number(text)
    return digits, nhs_number_valid(digits)


@lru_cache(maxsize=65536)
def _postcode(text: str | None) -> tuple[str | None, str | None, str | None]:
    """(unit, sector, district), interned."""
    parts = split_postcode(text)
    if parts is None:
        return None, None, None
    return _intern(parts[0]), _maybe_intern(parts[1]), _maybe_intern(parts[2])


@lru_cache(maxsize=131072)
def _address_parts(line1: str | None) -> tuple[str | None, str | None, str | None]:
    """(whole line, house number, street) of an address line, normalised; a
    household's records repeat the same line, so this is cached."""
    tokens = address_tokens(line1)
    if not tokens:
        return None, None, None
    numbered = [_has_digit(t) is not None for t in tokens]
    number = next((t for t, n in zip(tokens, numbered, strict=True) if n), None)
    street = " ".join(t for t, n in zip(tokens, numbered, strict=True) if not n)
    return _intern(" ".join(tokens)), _maybe_intern(number), _intern(street) if street else None


@lru_cache(maxsize=65536)
def _town(text: str | None) -> str | None:
    town = " ".join(address_tokens(text))
    return _intern(town) if town else None


def postcode_unit(text: str | None) -> str | None:
    """The normalised postcode (as `Features.pc_unit`), cheaply."""
    return _postcode(text)[0]


def names_of(record: ChildRecord) -> tuple[str | None, str | None]:
    """The normalised given and family name alone (as in :class:`Features`), cheaply."""
    given_tokens = name_tokens(record.given_name)
    family_tokens = _join_particles(name_tokens(record.family_name))
    return (
        _intern(given_tokens[0]) if given_tokens else None,
        _intern("".join(family_tokens)) if family_tokens else None,
    )


@lru_cache(maxsize=131072)
def _phonetic(name: str | None) -> str | None:
    if not name:
        return None
    return _intern(jellyfish.metaphone(name))


def _maybe_intern(text: str | None) -> str | None:
    return _intern(text) if text is not None else None


@lru_cache(maxsize=65536)
def _frozen(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_intern(n) for n in names)


@lru_cache(maxsize=65536)
def _parts(tokens: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_intern(t) for t in tokens)


@lru_cache(maxsize=65536)
def _date(text: str | None) -> tuple[PartialDate | None, str | None]:
    """Parsed date and its YYYYMMDD digits (when complete), shared between records."""
    dob = parse_date(text)
    if dob is None or dob[1] is None or dob[2] is None:
        return dob, None
    return dob, f"{dob[0]:04d}{dob[1]:02d}{dob[2]:02d}"


_PARTICLES = frozenset(
    {
        "mac",
        "mc",
        "de",
        "da",
        "di",
        "du",
        "del",
        "della",
        "van",
        "von",
        "der",
        "den",
        "le",
        "la",
        "st",
        "o",
        "al",
        "el",
        "bin",
        "ben",
        "ap",
        "ter",
        "ten",
    }
)


def _join_particles(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """ "Mac Neill" and "de Angelis" are one surname, not a double-barrelled pair."""
    if len(tokens) < 2 or not _PARTICLES.intersection(tokens[:-1]):
        return tokens
    joined: list[str] = []
    carry = ""
    for token in tokens:
        if token in _PARTICLES and not carry:
            carry = token
            continue
        joined.append(carry + token)
        carry = ""
    if carry:
        joined.append(carry)
    return tuple(joined)
