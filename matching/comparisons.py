"""One small class per field, each sorting a pair of records into named levels.

Levels run from strongest agreement to disagreement; ``compare`` returns the index
of the first level that applies, or None when either side is missing (a missing
field is no evidence either way). The m and u probabilities here are the shipped
defaults; a trained :class:`~matching.model.MatchModel` keeps its own copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from rapidfuzz.distance import OSA, JaroWinkler, Levenshtein

from matching.features import Features

_jw = JaroWinkler.normalized_similarity


@dataclass(frozen=True, slots=True)
class Level:
    """A named outcome of one comparison.

    ``m``: share of true pairs at this level; ``u``: share of unrelated pairs.
    ``u_household`` replaces ``u`` when the two records share an address: siblings
    share surnames and twins share birthdays far more often than strangers do, so
    that agreement is weaker evidence there.
    """

    name: str
    label: str
    m: float
    u: float
    u_household: float | None = None
    #: keep the shipped m when training: evidence too rare in unlabelled data to learn
    fixed_m: bool = False
    #: keep the shipped u when training: a level defined given another field's
    #: agreement, which random pairs (almost never at one postcode) cannot measure
    fixed_u: bool = False


class Comparison:
    """Base class: a field name for machines, a title for people, and its levels."""

    field: str = ""
    title: str = ""
    levels: tuple[Level, ...] = ()
    #: which term-frequency table adjusts the exact level (None: no adjustment)
    term_frequency: str | None = None
    #: how far below the shipped u a rare value's frequency may take the exact level
    #: (1.0: term frequencies only ever weaken it)
    tf_min_u_ratio: float = 0.125
    #: the level term frequencies adjust
    tf_level: str = "exact"

    def compare(self, a: Features, b: Features) -> int | None:
        raise NotImplementedError

    def level_index(self, name: str) -> int:
        for i, level in enumerate(self.levels):
            if level.name == name:
                return i
        raise KeyError(name)


class GivenNameComparison(Comparison):
    """Given names: exact, nickname, swapped with the family name, close spellings."""

    field = "given_name"
    title = "given name"
    term_frequency = "given_name"
    levels = (
        Level("exact", "same given name", 0.80, 0.01),
        Level("swapped", "given and family names swapped", 0.004, 0.00001),
        Level("nickname", "nickname or variant of the same name", 0.05, 0.002, u_household=0.01),
        # at one home a similar name is as often a twin's (Mia, Mila) as a typo
        Level("jaro_winkler_92", "very similar spelling", 0.06, 0.003, u_household=0.01),
        Level("phonetic", "sounds the same", 0.02, 0.004, u_household=0.01),
        Level("middle_name", "matches a middle or other name", 0.01, 0.001),
        Level("initial", "initial only, agrees", 0.02, 0.003, u_household=0.1),
        Level("jaro_winkler_85", "similar spelling", 0.02, 0.02, u_household=0.04),
        Level("crossed", "one record's given name is the other's family name", 0.004, 0.0005),
        Level("different", "different given names", 0.012, 0.9565),
    )
    EXACT, SWAPPED, NICKNAME, JW92, PHONETIC, MIDDLE, INITIAL, JW85, CROSSED, DIFFERENT = range(10)

    def compare(self, a: Features, b: Features) -> int | None:
        x, y = a.given, b.given
        if x is None or y is None:
            return None
        if x == y:
            return self.EXACT
        if _swapped(x, y, a.family, b.family):
            return self.SWAPPED
        if len(x) == 1 or len(y) == 1:
            return self.INITIAL if x[0] == y[0] else self.DIFFERENT
        if a.given_forms & b.given_forms:
            return self.NICKNAME
        similarity = _jw(x, y)
        if similarity >= 0.92:
            return self.JW92
        if a.given_phonetic == b.given_phonetic:
            return self.PHONETIC
        if x in b.middle or y in a.middle:
            return self.MIDDLE
        if similarity >= 0.85:
            return self.JW85
        if _crossed(x, b.family, b.family_parts) or _crossed(y, a.family, a.family_parts):
            return self.CROSSED
        return self.DIFFERENT


def _crossed(given: str, family: str | None, parts: tuple[str, ...]) -> bool:
    """A given name written in the other record's family-name field (half a swap)."""
    if family is None or len(given) < 3:
        return False
    return given == family or given in parts or _jw(given, family) >= 0.92


class FamilyNameComparison(Comparison):
    """Family names: exact, one part of a double-barrelled name, close spellings."""

    field = "family_name"
    title = "family name"
    term_frequency = "family_name"
    levels = (
        Level("exact", "same family name", 0.82, 0.005, u_household=0.6),
        Level("swapped", "swapped with given name (counted under given name)", 0.004, 0.004),
        Level("shared_part", "shares one part of a double-barrelled name", 0.04, 0.0005, 0.1),
        Level("jaro_winkler_92", "very similar spelling", 0.05, 0.002, u_household=0.02),
        Level("phonetic", "sounds the same", 0.015, 0.003, u_household=0.01),
        Level("jaro_winkler_85", "similar spelling", 0.02, 0.01, u_household=0.02),
        Level("different", "different family names", 0.051, 0.9755, u_household=0.3),
    )
    EXACT, SWAPPED, SHARED_PART, JW92, PHONETIC, JW85, DIFFERENT = range(7)

    def compare(self, a: Features, b: Features) -> int | None:
        x, y = a.family, b.family
        if x is None or y is None:
            return None
        if x == y:
            return self.EXACT
        if _swapped(a.given, b.given, x, y):
            return self.SWAPPED
        if (len(a.family_parts) > 1 or len(b.family_parts) > 1) and any(
            len(part) > 2 for part in set(a.family_parts) & set(b.family_parts)
        ):
            return self.SHARED_PART
        similarity = _jw(x, y)
        sounds_alike = a.family_phonetic == b.family_phonetic
        if len(a.family_parts) > 1 or len(b.family_parts) > 1:
            # "Smith" against "Smyth-Jones": the best agreement of any part counts
            for p in a.family_parts:
                for q in b.family_parts:
                    similarity = max(similarity, _jw(p, q))
                    sounds_alike = sounds_alike or _metaphone(p) == _metaphone(q)
        if similarity >= 0.92:
            return self.JW92
        if sounds_alike:
            return self.PHONETIC
        if similarity >= 0.85:
            return self.JW85
        return self.DIFFERENT


def _swapped(
    given_a: str | None, given_b: str | None, family_a: str | None, family_b: str | None
) -> bool:
    """Given and family names swapped between the records, allowing a typo in each."""
    if not (given_a and given_b and family_a and family_b) or given_a == given_b:
        return False
    if given_a == family_b and given_b == family_a:
        return True
    return _jw(given_a, family_b) >= 0.92 and _jw(given_b, family_a) >= 0.92


@lru_cache(maxsize=65536)
def _metaphone(name: str) -> str:
    return str(jellyfish.metaphone(name))


class DateOfBirthComparison(Comparison):
    """Dates of birth, including day/month swaps, one-digit slips and partial dates."""

    field = "date_of_birth"
    title = "date of birth"
    levels = (
        Level("exact", "same date of birth", 0.85, 0.00015, u_household=0.03),
        Level("day_month_swapped", "day and month swapped", 0.02, 0.00015, 0.002),
        Level("one_digit", "one digit different", 0.04, 0.0015, 0.01),
        Level("partial_month", "same month and year (one date has no day)", 0.02, 0.0001, 0.04),
        Level("partial_year", "same year (one date is year only)", 0.01, 0.0006, 0.1),
        Level("year_month", "same month and year, different day", 0.015, 0.0045, 0.02),
        Level("year_within_one", "within a year", 0.015, 0.15, 0.4),
        Level("different", "different dates of birth", 0.03, 0.84, 0.54),
    )
    EXACT, SWAPPED, ONE_DIGIT, PARTIAL_MONTH, PARTIAL_YEAR, YEAR_MONTH, NEAR_YEAR, DIFFERENT = (
        range(8)
    )

    def compare(self, a: Features, b: Features) -> int | None:
        x, y = a.dob, b.dob
        if x is None or y is None:
            return None
        if a.dob_digits is not None and b.dob_digits is not None:
            if a.dob_digits == b.dob_digits:
                return self.EXACT
            if x[0] == y[0] and x[1] == y[2] and x[2] == y[1]:
                return self.SWAPPED
            if OSA.distance(a.dob_digits, b.dob_digits, score_cutoff=1) <= 1:
                return self.ONE_DIGIT
            if x[0] == y[0] and x[1] == y[1]:
                return self.YEAR_MONTH
        elif x[0] == y[0]:
            if x[1] is None or y[1] is None:
                return self.PARTIAL_YEAR
            if x[1] == y[1]:
                return self.PARTIAL_MONTH
        if abs(x[0] - y[0]) <= 1:
            return self.NEAR_YEAR
        return self.DIFFERENT


class PostcodeComparison(Comparison):
    """Postcodes: same unit (a street), sector, district, or a one-character slip.

    Not counted when the address lines agree and the postcodes are close: the
    address already said where the child lives, and the postcode would say it twice.
    """

    field = "postcode"
    title = "postcode"
    # a postcode shared by very many records (a hostel, a refuge) says little
    term_frequency = "postcode"
    tf_min_u_ratio = 1.0
    tf_level = "unit"
    levels = (
        Level("unit", "same postcode", 0.65, 0.0002),
        Level("one_character", "one character different", 0.03, 0.0005),
        Level("sector", "same sector", 0.07, 0.003),
        Level("district", "same district", 0.07, 0.03),
        Level("different", "different postcodes", 0.18, 0.9663),
    )
    UNIT, ONE_CHARACTER, SECTOR, DISTRICT, DIFFERENT = range(5)

    def compare(self, a: Features, b: Features) -> int | None:
        x, y = a.pc_unit, b.pc_unit
        if x is None or y is None:
            return None
        near = Levenshtein.distance(x, y, score_cutoff=1) <= 1 and min(len(x), len(y)) >= 4
        if (x == y or near) and same_address_line(a, b):
            return None
        if x == y:
            return self.UNIT
        if near:
            return self.ONE_CHARACTER
        if a.pc_sector is not None and a.pc_sector == b.pc_sector:
            return self.SECTOR
        if a.pc_district is not None and a.pc_district == b.pc_district:
            return self.DISTRICT
        return self.DIFFERENT


class AddressComparison(Comparison):
    """First address line: exact, same number on a similar street, same street."""

    field = "address"
    title = "address"
    levels = (
        Level("exact", "same address", 0.55, 0.0002),
        Level("number_and_street", "same house number, similar street", 0.15, 0.0002),
        Level("street", "same street, different or missing number", 0.07, 0.003),
        Level("different", "different addresses", 0.23, 0.9966),
        # The postcode already said "same street": another house number there is
        # another home (a neighbour, a cousin), not more evidence for this child.
        Level(
            "other_number",
            "same postcode, different house number: another home",
            0.03,
            0.6,
            fixed_u=True,
        ),
    )
    EXACT, NUMBER_STREET, STREET, DIFFERENT, OTHER_NUMBER = range(5)

    def compare(self, a: Features, b: Features) -> int | None:
        if a.address is None or b.address is None:
            return None
        if a.pc_district is not None and b.pc_district not in (None, a.pc_district):
            # "Station Road" in Leeds is not "Station Road" in Leicester: across
            # postcode districts a street's name says nothing; the postcode
            # comparison already counts the different places
            return None if a.address == b.address else self.DIFFERENT
        if a.address == b.address:
            return self.EXACT
        if a.pc_sector is not None and a.pc_unit == b.pc_unit:
            # one UK postcode unit (counted by the postcode): the line only says
            # whether it is the same home there
            if a.address_number is None or b.address_number is None:
                return None
            if a.address_number != b.address_number:
                return self.OTHER_NUMBER
            return None
        x, y = a.address_street, b.address_street
        if x is None or y is None:
            return self.DIFFERENT
        if x == y or _jw(x, y) >= 0.9:
            if a.address_number is not None and a.address_number == b.address_number:
                return self.NUMBER_STREET
            return self.STREET
        return self.DIFFERENT


class TownComparison(Comparison):
    """Town or suburb; ignored when both records carry UK postcodes, which say more,
    or when the address lines already agree."""

    field = "town"
    title = "town"
    levels = (
        Level("exact", "same town", 0.75, 0.02),
        Level("jaro_winkler_90", "similar spelling", 0.05, 0.003),
        Level("different", "different towns", 0.2, 0.977),
    )
    EXACT, SIMILAR, DIFFERENT = range(3)

    def compare(self, a: Features, b: Features) -> int | None:
        if a.town is None or b.town is None:
            return None
        if a.pc_sector is not None and b.pc_sector is not None:
            return None
        if a.town == b.town:
            return None if same_address_line(a, b) else self.EXACT
        if _jw(a.town, b.town) >= 0.9:
            return self.SIMILAR
        return self.DIFFERENT


class SexComparison(Comparison):
    """Recorded sex: only male/female are compared; other values are no evidence."""

    field = "sex"
    title = "sex"
    levels = (
        Level("same", "same recorded sex", 0.985, 0.5),
        Level("different", "different recorded sex", 0.015, 0.5),
    )
    SAME, DIFFERENT = range(2)

    def compare(self, a: Features, b: Features) -> int | None:
        if a.sex is None or b.sex is None:
            return None
        return self.SAME if a.sex == b.sex else self.DIFFERENT


class NhsNumberComparison(Comparison):
    """NHS numbers: the strongest evidence both ways when both pass the modulus 11 check."""

    field = "nhs_number"
    title = "NHS number"
    levels = (
        Level("exact", "same valid NHS number: near-conclusive", 0.9805, 0.000001),
        Level("exact_invalid", "same number, fails the check digit", 0.005, 0.00001),
        Level("one_typo", "one digit different or two swapped", 0.01, 0.00002),
        Level(
            "different_valid",
            "different NHS numbers: different children",
            0.0005,
            0.99,
            fixed_m=True,
        ),
        Level("different", "different (one number invalid)", 0.004, 0.00997),
    )
    EXACT, EXACT_INVALID, ONE_TYPO, DIFFERENT_VALID, DIFFERENT = range(5)

    def compare(self, a: Features, b: Features) -> int | None:
        x, y = a.nhs, b.nhs
        if x is None or y is None:
            return None
        if x == y:
            return self.EXACT if a.nhs_valid else self.EXACT_INVALID
        if a.nhs_valid and b.nhs_valid:
            return self.DIFFERENT_VALID
        if OSA.distance(x, y, score_cutoff=1) <= 1:
            return self.ONE_TYPO
        return self.DIFFERENT


class UpnComparison(Comparison):
    """Unique Pupil Numbers: one per child for their school life."""

    field = "upn"
    title = "UPN"
    levels = (
        Level("exact", "same UPN", 0.95, 0.000001),
        Level("one_typo", "one character different or two swapped", 0.02, 0.00002),
        Level("different", "different UPNs", 0.03, 0.999979),
    )
    EXACT, ONE_TYPO, DIFFERENT = range(3)

    def compare(self, a: Features, b: Features) -> int | None:
        x, y = a.upn, b.upn
        if x is None or y is None:
            return None
        if x == y:
            return self.EXACT
        if OSA.distance(x, y, score_cutoff=1) <= 1:
            return self.ONE_TYPO
        return self.DIFFERENT


def default_comparisons() -> tuple[Comparison, ...]:
    """The comparisons a default model uses, strongest identifiers last."""
    return (
        GivenNameComparison(),
        FamilyNameComparison(),
        DateOfBirthComparison(),
        SexComparison(),
        PostcodeComparison(),
        AddressComparison(),
        TownComparison(),
        NhsNumberComparison(),
        UpnComparison(),
    )


def same_address_line(a: Features, b: Features) -> bool:
    """Same first address line: identical, or the same number on the same street."""
    if a.address is None or b.address is None:
        return False
    return a.address == b.address or (
        a.address_number is not None
        and a.address_number == b.address_number
        and a.address_street == b.address_street
    )


def same_place(a: Features, b: Features) -> bool:
    """Whether two records put the child at the same home (same UK postcode or address).

    There, sharing a surname is expected of siblings and sharing a birthday of twins,
    so those agreements use ``Level.u_household`` and weigh less.
    """
    if a.pc_sector is not None and a.pc_unit == b.pc_unit:
        return True  # a UK unit is a dozen homes; other postcodes are whole suburbs
    if not same_address_line(a, b):
        return False
    if a.pc_unit is not None and b.pc_unit is not None:
        return Levenshtein.distance(a.pc_unit, b.pc_unit, score_cutoff=1) <= 1
    return a.town is None or b.town is None or a.town == b.town
