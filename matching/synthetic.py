"""A synthetic population of children and the messy records agencies hold about them.

Deterministic from a seed, with the truth kept alongside (which records are the same
child, which children share a household), so demos and benchmarks can measure
accuracy. Nothing here is real: NHS numbers start with 9, a range never issued in
England and Wales, and names are drawn independently from common-name lists.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from matching import _vocabulary as vocab
from matching.normalise import _UK_NAME_GROUPS, name_forms, nhs_check_digit, upn_check_letter
from matching.records import ChildRecord

_NICKNAMES: dict[str, tuple[str, ...]] = {}
for _group in _UK_NAME_GROUPS:
    _NICKNAMES[_group[0]] = tuple(n for n in _group[1:] if len(n) > 2)
_ABBREVIATIONS = {
    "road": "Rd",
    "street": "St",
    "lane": "Ln",
    "avenue": "Ave",
    "close": "Cl",
    "drive": "Dr",
    "crescent": "Cres",
    "grove": "Gr",
    "way": "Way",
}
_FIRST_DOB = date(2007, 1, 1).toordinal()
_LAST_DOB = date(2024, 12, 31).toordinal()
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    postcode: str
    town: str


@dataclass(frozen=True, slots=True)
class Child:
    """A true identity, as no agency quite records it."""

    id: str
    household_id: str
    given_name: str
    middle_name: str | None
    family_name: str
    date_of_birth: str
    sex: str
    nhs_number: str
    upn: str | None
    address: Address
    previous_address: Address | None
    mother_name: str
    father_name: str | None
    twin_of: str | None = None


@dataclass(frozen=True, slots=True)
class Household:
    id: str
    family_name: str
    address: Address
    child_ids: tuple[str, ...]


@dataclass
class Population:
    """Children, households and records, with each record's true child."""

    children: list[Child]
    households: list[Household]
    records: list[ChildRecord]
    child_of: dict[str, str] = field(default_factory=dict)

    def records_by_child(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = defaultdict(list)
        for record in self.records:
            grouped[self.child_of[record.id]].append(record.id)
        return grouped

    def true_pairs(self) -> set[tuple[str, str]]:
        """Pairs of record ids (sorted) that are the same child."""
        pairs = set()
        for ids in self.records_by_child().values():
            ordered = sorted(ids)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    pairs.add((a, b))
        return pairs

    def sibling_pairs(self) -> Iterator[tuple[str, str]]:
        """Pairs of record ids of different children in one household (twins included)."""
        by_child = self.records_by_child()
        for household in self.households:
            kids = household.child_ids
            for i, a in enumerate(kids):
                for b in kids[i + 1 :]:
                    for ra in by_child.get(a, ()):
                        for rb in by_child.get(b, ()):
                            yield ra, rb

    def same_child(self, a: str, b: str) -> bool:
        return self.child_of[a] == self.child_of[b]


def generate_population(
    n_children: int,
    records_per_child: int | tuple[int, int] = (1, 4),
    seed: int = 0,
) -> Population:
    """Children in households (siblings, 3% twins), each seen in several agency records.

    Records vary as real ones do: nicknames, typos, initials, swapped names, day and
    month swapped, one-digit slips, partial or missing dates, moves to a new address,
    missing identifiers and the occasional mistyped NHS number.
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    children: list[Child] = []
    households: list[Household] = []
    records: list[ChildRecord] = []
    child_of: dict[str, str] = {}
    make = _RecordMaker(rng)
    lo, hi = (
        (records_per_child, records_per_child)
        if isinstance(records_per_child, int)
        else records_per_child
    )
    surnames = [*vocab.SURNAMES, *vocab.generated_surnames()]
    surname_weights = _zipf(len(surnames), 0.75)
    boy_weights = _zipf(len(vocab.BOYS), 0.6)
    girl_weights = _zipf(len(vocab.GIRLS), 0.6)
    multiplier = 2_654_435_761 % 10**8 | 1
    while len(children) < n_children:
        hid = f"h{len(households)}"
        surname = rng.choices(surnames, cum_weights=surname_weights)[0]
        father_surname = surname
        if rng.random() < 0.12:
            father_surname = rng.choices(surnames, cum_weights=surname_weights)[0]
        address = _address(rng)
        previous = _address(rng) if rng.random() < 0.25 else None
        mother = f"{rng.choice(vocab.ADULT_WOMEN)} {surname}"
        father = f"{rng.choice(vocab.ADULT_MEN)} {father_surname}" if rng.random() < 0.8 else None
        size = min(
            rng.choices((1, 2, 3, 4), weights=(40, 35, 18, 7))[0], n_children - len(children)
        )
        twins = size >= 2 and rng.random() < 0.06
        kid_ids: list[str] = []
        used_names: set[str] = set()
        previous_dob = 0
        for k in range(size):
            index = len(children)
            cid = f"c{index}"
            sex = "male" if rng.random() < 0.51 else "female"
            names, weights = (
                (vocab.BOYS, boy_weights) if sex == "male" else (vocab.GIRLS, girl_weights)
            )
            given = rng.choices(names, cum_weights=weights)[0]
            while name_forms(given) & used_names:
                given = rng.choices(names, cum_weights=weights)[0]
            used_names |= name_forms(given)
            middle = rng.choices(names, cum_weights=weights)[0] if rng.random() < 0.6 else None
            twin_of = kid_ids[0] if twins and k == 1 else None
            dob = previous_dob if twin_of is not None else rng.randint(_FIRST_DOB, _LAST_DOB)
            previous_dob = dob
            family = surname
            if father_surname != surname and rng.random() < 0.5:
                family = f"{surname}-{father_surname}" if rng.random() < 0.5 else father_surname
            nhs = _nhs_number(index, n_children, multiplier)
            born = date.fromordinal(dob)
            upn = _upn(index, multiplier) if born.year <= 2020 else None
            child = Child(
                cid,
                hid,
                given.title(),
                middle.title() if middle else None,
                family.title(),
                born.isoformat(),
                sex,
                nhs,
                upn,
                address,
                previous,
                mother.title(),
                father.title() if father else None,
                twin_of,
            )
            children.append(child)
            kid_ids.append(cid)
            for _ in range(rng.randint(lo, hi)):
                rid = f"r{len(records)}"
                records.append(make.record(rid, child))
                child_of[rid] = cid
        households.append(Household(hid, surname, address, tuple(kid_ids)))
    return Population(children, households, records, child_of)


def _zipf(n: int, exponent: float) -> list[float]:
    """Cumulative weights: a few very common names and a long tail, as in life."""
    total = 0.0
    cumulative = []
    for rank in range(1, n + 1):
        total += 1.0 / rank**exponent
        cumulative.append(total)
    return cumulative


def _address(rng: random.Random) -> Address:
    town, area, districts = rng.choice(vocab.TOWNS)
    street = f"{rng.choice(vocab.STREETS).title()} {rng.choice(vocab.STREET_TYPES).title()}"
    unit = rng.choice(vocab.POSTCODE_UNIT_LETTERS) + rng.choice(vocab.POSTCODE_UNIT_LETTERS)
    postcode = f"{area}{rng.randint(1, districts)} {rng.randint(1, 9)}{unit.upper()}"
    return Address(f"{rng.randint(1, 240)} {street}", postcode, town)


def _nhs_number(index: int, n_children: int, multiplier: int) -> str:
    """Unique valid numbers: 9 then a bijection of the index over eight digits."""
    offset = 0
    while True:
        body = f"9{((index + offset) * multiplier + 12345) % 10**8:08d}"
        check = nhs_check_digit(body)
        if check is not None:
            return body + str(check)
        offset += max(n_children, 1)


def _upn(index: int, multiplier: int) -> str:
    body = f"{(index * multiplier + 777) % 10**12:012d}"
    return upn_check_letter(body) + body


class _RecordMaker:
    """One agency's imperfect copy of a child."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def record(self, rid: str, child: Child) -> ChildRecord:
        r = self.rng.random
        given: str | None = child.given_name.lower()
        family: str | None = child.family_name.lower()
        other: tuple[str, ...] = (child.middle_name,) if child.middle_name and r() < 0.4 else ()
        x = r()
        if x < 0.07 and given in _NICKNAMES and _NICKNAMES[given]:
            given = self.rng.choice(_NICKNAMES[given])
        elif x < 0.10:
            given = self._typo(child.given_name.lower())
        elif x < 0.11:
            given = child.given_name[0]
        elif x < 0.12 and child.middle_name:
            given, other = child.middle_name.lower(), ()
        elif x < 0.13:
            given = None
        x = r()
        if x < 0.03:
            family = self._typo(child.family_name.lower())
        elif x < 0.05 and "-" in child.family_name:
            family = self.rng.choice(child.family_name.lower().split("-"))
        elif x < 0.06:
            family = None
        if r() < 0.005 and given is not None and family is not None:
            given, family = family, given
        dob: str | None = child.date_of_birth
        year, month, day = (
            child.date_of_birth[:4],
            child.date_of_birth[5:7],
            child.date_of_birth[8:],
        )
        x = r()
        if x < 0.03 and int(day) <= 12:
            dob = f"{year}-{day}-{month}"
        elif x < 0.05:
            digits = list(year + month + day)
            position = self.rng.choice((3, 5, 6, 7))
            digits[position] = str((int(digits[position]) + self.rng.randint(1, 2)) % 10)
            candidate = "".join(digits)
            dob = f"{candidate[:4]}-{candidate[4:6]}-{candidate[6:]}"
        elif x < 0.07:
            dob = f"{year}-{month}"
        elif x < 0.08:
            dob = year
        elif x < 0.10:
            dob = None
        address = child.address
        if child.previous_address is not None and r() < 0.3:
            address = child.previous_address
        postcode: str | None = address.postcode
        x = r()
        if x < 0.08:
            postcode = None
        elif x < 0.10:
            postcode = address.postcode[:-1] + self.rng.choice(vocab.POSTCODE_UNIT_LETTERS)
        elif x < 0.3:
            postcode = address.postcode.replace(" ", "").lower()
        line1: str | None = address.line1
        x = r()
        if x < 0.08:
            line1 = None
        elif x < 0.35:
            words = address.line1.split()
            words[-1] = _ABBREVIATIONS.get(words[-1].lower(), words[-1])
            line1 = " ".join(words)
        town = address.town if r() < 0.7 else None
        nhs: str | None = child.nhs_number if r() < 0.55 else None
        if nhs is not None and r() < 0.01:
            position = self.rng.randrange(10)
            nhs = nhs[:position] + str((int(nhs[position]) + 1) % 10) + nhs[position + 1 :]
        upn = child.upn if child.upn is not None and r() < 0.35 else None
        sex: str | None = child.sex if r() < 0.85 else None
        if sex is not None and r() < 0.005:
            sex = "female" if sex == "male" else "male"
        if given is not None and r() < 0.2:
            given = given.upper()
            family = family.upper() if family else family
        elif given is not None:
            given = given.title()
            family = family.title() if family else family
        return ChildRecord(rid, given, family, other, dob, sex, nhs, upn, postcode, line1, town)

    def _typo(self, word: str) -> str:
        if len(word) < 3:
            return word
        rng = self.rng
        i = rng.randrange(1, len(word))
        kind = rng.random()
        if kind < 0.3:
            return word[:i] + word[i + 1 :]
        if kind < 0.6:
            return word[:i] + rng.choice(_LETTERS) + word[i + 1 :]
        if kind < 0.8:
            return word[:i] + rng.choice(_LETTERS) + word[i:]
        if i < len(word) - 1:
            return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        return word + rng.choice(_LETTERS)
