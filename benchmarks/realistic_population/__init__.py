"""A city's children as seven agencies record them: the yardstick of issue 17.

    from realistic_population import generate
    population = generate(10_000, seed=1)      # children; ~2.5 records each
    python benchmarks/realistic_population --children 2000 --describe

Written apart from ``matching/`` and ``matching.synthetic`` (it imports neither, and
uses none of the model's vocabularies) so that the model cannot have been tuned to
it. What makes it hard is what makes a real local authority hard:

- **names** from frequency lists with a long tail (``data/``; see
  ``make_name_lists.py`` for where they come from) and the concentration of a
  real city: a mix modelled on a large English city (about half White British,
  a fifth Pakistani, Bangladeshi, Gujarati and Sikh Indian, Nigerian and Ghanaian,
  Somali, Caribbean, Polish and Romanian families), each community living mostly
  in its own districts. So Muhammad Khan, Maryam Hussain, Olivia Smith, Aarav
  Patel and Harjot Singh each occur many times in a year of births, often in the
  same district, sometimes in the same street (cousins' households);
- **households**: siblings, twins (same surname, birthday and address, different
  given names, sometimes alliterative), step-families and half-siblings with
  different surnames, Polish surnames by sex (Kowalski, Kowalska), South Asian
  girls recorded as Begum or Bibi, Sikh children as Singh or Kaur, boys named
  "Muhammad <name>" and known by the second name; hostels whose postcode many
  unrelated families share;
- **change over time**: moves (a new postcode; agencies that keep the old one a
  while), surname changes, children born during the window;
- **recording habits per agency** (``HABITS``): a school has the UPN and the legal
  name, a GP the NHS number, the police a nickname and often no date of birth,
  housing a name and an address, youth services a first name, a partial date of
  birth and a postcode; typos, transliterated spellings, day and month swapped,
  year slips, given and family name swapped, missing fields; many **sparse**
  records (a name and one more identifier); rarely a sibling's NHS number;
- **identifiers**: NHS numbers with a valid check digit (in the never-issued 9
  range, as ``matching.synthetic`` does, so none can be a real person's) for
  children born here; UPNs with a valid check letter (local authority 330) for
  children of school age.

Every record carries its truth: the child, the household, twin and sibling
relations, and tags saying what was done to it. Deterministic from the seed.
Nothing here is about a real person.
"""

from __future__ import annotations

import argparse
import csv
import random
import string
import sys
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
LA_NUMBER = "330"
AREA = "B"
TOWN = "Birmingham"
WINDOW_DAYS = 730  # records are observed over the last two years

# The city's children by community (shares of households with children).
COMMUNITIES = {
    "white_british": 48,
    "pakistani": 20,
    "bangladeshi": 5,
    "indian_gujarati": 4,
    "indian_sikh": 4,
    "black_african": 6,
    "somali": 3,
    "black_caribbean": 4,
    "eastern_european": 6,
}
N_DISTRICTS = 40
# How many of a community's households live in its own districts.
CONCENTRATION = 0.7
SOUTH_ASIAN = {"pakistani", "bangladeshi", "indian_gujarati", "indian_sikh"}


# -- what each agency records ---------------------------------------------------------


@dataclass(frozen=True)
class Habit:
    """How one agency records a child (probabilities per record)."""

    agency_type: str  # aggregator.concerns.vocab.AgencyType value
    weight: float  # share of all records
    min_age: int = 0
    dob: float = 0.95
    dob_year_only: float = 0.0  # of the dates it has, how many it knows only partly
    nhs: float = 0.0
    upn: float = 0.0
    postcode: float = 0.95
    line1: float = 0.9
    sex: float = 0.9
    middle: float = 0.3
    known_as: float = 0.02  # nickname or the name the child goes by
    typo: float = 0.02
    stale_address: float = 0.2  # after a move, still the old address
    swap_day_month: float = 0.005
    sparse: float = 0.02  # only a name and one more identifier


HABITS: dict[str, Habit] = {
    "school": Habit(
        "school",
        30,
        min_age=4,
        dob=0.99,
        nhs=0.04,
        upn=0.9,
        middle=0.5,
        known_as=0.03,
        typo=0.015,
        stale_address=0.25,
        sparse=0.02,
    ),
    "gp": Habit(
        "health",
        22,
        dob=0.995,
        nhs=0.93,
        postcode=0.97,
        sex=0.99,
        middle=0.6,
        known_as=0.01,
        typo=0.02,
        stale_address=0.4,
        swap_day_month=0.004,
        sparse=0.01,
    ),
    "police": Habit(
        "police",
        16,
        min_age=8,
        dob=0.7,
        dob_year_only=0.06,
        nhs=0.02,
        postcode=0.7,
        line1=0.6,
        sex=0.9,
        middle=0.05,
        known_as=0.22,
        typo=0.06,
        stale_address=0.2,
        swap_day_month=0.02,
        sparse=0.3,
    ),
    "housing": Habit(
        "housing",
        8,
        dob=0.45,
        postcode=1.0,
        line1=1.0,
        sex=0.5,
        middle=0.0,
        known_as=0.05,
        typo=0.04,
        stale_address=0.0,
        swap_day_month=0.01,
        sparse=0.45,
    ),
    "csc": Habit(
        "childrens_social_care",
        10,
        dob=0.99,
        nhs=0.7,
        upn=0.35,
        middle=0.5,
        sex=1.0,
        known_as=0.02,
        typo=0.01,
        stale_address=0.1,
        swap_day_month=0.002,
    ),
    "early_help": Habit(
        "other",
        8,
        dob=0.9,
        nhs=0.25,
        upn=0.1,
        postcode=0.9,
        line1=0.85,
        sex=0.8,
        middle=0.2,
        known_as=0.08,
        typo=0.03,
        stale_address=0.2,
        swap_day_month=0.01,
        sparse=0.1,
    ),
    "youth": Habit(
        "youth_service",
        6,
        min_age=10,
        dob=0.55,
        dob_year_only=0.15,
        postcode=0.75,
        line1=0.4,
        sex=0.7,
        middle=0.0,
        known_as=0.35,
        typo=0.05,
        stale_address=0.3,
        swap_day_month=0.02,
        sparse=0.4,
    ),
}
AGENCY_NAMES = {
    "school": "City schools (MIS feed)",
    "gp": "GP practices and community health",
    "police": "Police public protection unit",
    "housing": "City housing",
    "csc": "Children's social care",
    "early_help": "Early help",
    "youth": "Youth service",
}

# What people are called instead (written here, independent of the model's lists).
KNOWN_AS = {
    "Oliver": ["Ollie", "Olly"],
    "Harry": ["Haz"],
    "William": ["Will", "Billy", "Liam"],
    "Thomas": ["Tom", "Tommy"],
    "James": ["Jim", "Jamie", "Jimmy"],
    "Joshua": ["Josh"],
    "Alexander": ["Alex", "Xander", "Sandy"],
    "Samuel": ["Sam", "Sammy"],
    "Daniel": ["Dan", "Danny"],
    "Benjamin": ["Ben", "Benji"],
    "Joseph": ["Joe", "Joey"],
    "Charlie": ["Charles"],
    "Frederick": ["Freddie", "Fred"],
    "Alfie": ["Alfred"],
    "Edward": ["Ed", "Eddie", "Ted", "Teddy"],
    "Matthew": ["Matt", "Matty"],
    "Nathaniel": ["Nathan", "Nate"],
    "Michael": ["Mike", "Mikey"],
    "Zachary": ["Zac", "Zack"],
    "Jacob": ["Jake"],
    "Archie": ["Archibald"],
    "Callum": ["Cal"],
    "Cameron": ["Cam"],
    "Sebastian": ["Seb"],
    "Theo": ["Theodore"],
    "Isabella": ["Bella", "Izzy", "Issy"],
    "Isabelle": ["Izzy", "Belle"],
    "Elizabeth": ["Liz", "Lizzie", "Beth", "Eliza"],
    "Charlotte": ["Lottie", "Charlie"],
    "Olivia": ["Liv", "Livvy"],
    "Amelia": ["Millie", "Mia"],
    "Jessica": ["Jess", "Jessie"],
    "Rebecca": ["Becky", "Becca"],
    "Victoria": ["Tori", "Vicky"],
    "Eleanor": ["Ellie", "Nell"],
    "Abigail": ["Abbie", "Abby"],
    "Katie": ["Kate", "Katherine"],
    "Margot": ["Maggie"],
    "Florence": ["Flo", "Florrie"],
    "Matilda": ["Tilly", "Tilda"],
    "Penelope": ["Penny"],
    "Harriet": ["Hattie"],
    "Georgia": ["George", "Georgie"],
    "Alexandra": ["Alex", "Lexi"],
    "Muhammad": ["Mohammed", "Mohammad", "Muhammed", "Mohamed", "Md"],
    "Mohammed": ["Muhammad", "Mohammad", "Mohamed", "Mo"],
    "Mohamed": ["Mohammed", "Mo"],
    "Abdirahman": ["Abdi"],
    "Abdullahi": ["Abdi", "Abdullah"],
    "Abdikarim": ["Abdi"],
    "Ibrahim": ["Ibby", "Ebrahim", "Ibraheem"],
    "Yusuf": ["Yousef", "Yosef", "Joe"],
    "Hussain": ["Hussein", "Husain"],
    "Hassan": ["Hasan"],
    "Ahmed": ["Ahmad"],
    "Aisha": ["Ayesha", "Aysha", "Aishah"],
    "Fatima": ["Fatimah", "Fatema"],
    "Maryam": ["Mariam", "Miriam"],
    "Zainab": ["Zaynab"],
    "Khadija": ["Khadijah"],
    "Zakariya": ["Zak", "Zakaria", "Zakariyya"],
    "Zakariye": ["Zak"],
    "Rayyan": ["Rayan", "Ryan"],
    "Zayn": ["Zain"],
    "Zain": ["Zayn"],
    "Ayaan": ["Ayan"],
    "Oluwaseun": ["Seun", "Shaun"],
    "Oluwatobi": ["Tobi", "Toby"],
    "Ayomide": ["Ayo"],
    "Oluwadamilola": ["Dami", "Lola"],
    "Anuoluwapo": ["Anu"],
    "Babatunde": ["Tunde"],
    "Emmanuel": ["Manny"],
    "Kwabena": ["Kobby"],
    "Jakub": ["Jacob", "Kuba"],
    "Aleksander": ["Alex", "Olek"],
    "Michał": ["Michal", "Michael"],
    "Wiktor": ["Victor"],
    "Oliwer": ["Oliver"],
    "Zuzanna": ["Zuza", "Susanna"],
    "Wiktoria": ["Victoria"],
    "Aleksandra": ["Ola"],
    "Gurpreet": ["Gurp"],
    "Harpreet": ["Harp"],
    "Jaskaran": ["Jas", "Karan"],
    "Jaspreet": ["Jas"],
    "Simran": ["Sim"],
    "Harjot": ["Harry"],
    "Priya": ["Pri"],
    "Krishna": ["Krish"],
    "Aarav": ["Arav"],
}
_KEYBOARD = {
    c: n
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for i, c in enumerate(row)
    for n in [row[max(0, i - 1) : i] + row[i + 1 : i + 2]]
}
_PHONETIC = [
    ("ph", "f"),
    ("ie", "y"),
    ("ey", "y"),
    ("ee", "ea"),
    ("ck", "k"),
    ("oo", "u"),
    ("ai", "ay"),
    ("ou", "u"),
    ("th", "t"),
    ("sh", "ch"),
    ("mm", "m"),
    ("ll", "l"),
    ("nn", "n"),
    ("y", "i"),
    ("c", "k"),
    ("z", "s"),
    ("ah", "a"),
    ("ue", "u"),
]
_STREETS = [
    "Oak",
    "Elm",
    "Ash",
    "Beech",
    "Birch",
    "Cedar",
    "Church",
    "Mill",
    "Park",
    "Station",
    "Victoria",
    "Albert",
    "Queen",
    "King",
    "Regent",
    "Grange",
    "Manor",
    "Holly",
    "Willow",
    "Alder",
    "Hawthorn",
    "Rose",
    "Lime",
    "Maple",
    "Poplar",
    "Chestnut",
    "Hazel",
    "Sycamore",
    "Laurel",
    "Ivy",
    "Heath",
    "Green",
    "Brook",
    "Moor",
    "Hill",
    "Dale",
    "Vale",
    "Bank",
    "Lodge",
    "Priory",
    "Abbey",
    "Chapel",
    "Cross",
    "Forge",
    "Wharf",
    "Canal",
    "Bridge",
    "Meadow",
    "Field",
    "Orchard",
    "Highfield",
    "Westfield",
    "Springfield",
    "Somerset",
    "Warwick",
    "Stafford",
    "Coventry",
    "Moseley",
    "Sparkbrook",
    "Alum",
    "Small",
    "Ladypool",
    "Stratford",
    "Washwood",
    "Bordesley",
    "Saltley",
    "Nechells",
    "Ward",
    "Sandwell",
    "Soho",
    "Lozells",
    "Handsworth",
    "Aston",
    "Erdington",
    "Kingstanding",
    "Perry",
    "Selly",
    "Bournville",
    "Longbridge",
    "Northfield",
    "Kings",
    "Acocks",
    "Sheldon",
    "Yardley",
    "Tyseley",
    "Hodge",
    "Stechford",
    "Kitts",
    "Shard",
    "Quinton",
    "Harborne",
    "Edgbaston",
    "Ladywood",
    "Balsall",
]
_SUFFIXES = [
    "Road",
    "Street",
    "Lane",
    "Avenue",
    "Close",
    "Drive",
    "Grove",
    "Crescent",
    "Way",
    "Terrace",
    "Place",
    "Gardens",
    "Walk",
    "Court",
]
_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


# -- the truth ------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    line1: str
    postcode: str
    district: int


@dataclass
class Household:
    id: str
    community: str
    family_name: str
    addresses: list[tuple[date, Address]]  # (from, address), first from date.min
    mother: tuple[str, str]
    father: tuple[str, str] | None
    hostel: bool = False
    cousins_of: str | None = None

    def address_on(self, day: date) -> tuple[Address, Address | None]:
        """The address on `day` and the one before it (None if no move yet)."""
        i = bisect_right([d for d, _ in self.addresses], day) - 1
        i = max(i, 0)
        return self.addresses[i][1], self.addresses[i - 1][1] if i > 0 else None


@dataclass
class TrueChild:
    id: str
    household: str
    community: str
    sex: str  # "male" / "female"
    given_name: str
    middle_name: str | None
    known_as: str | None  # the name the child goes by, if not the given name
    family_name: str
    later_family_name: tuple[date, str] | None  # a change of surname during the window
    date_of_birth: date
    nhs_number: str | None
    upn: str | None
    twin_of: str | None = None
    siblings: list[str] = field(default_factory=list)

    def family_name_on(self, day: date) -> str:
        if self.later_family_name and day >= self.later_family_name[0]:
            return self.later_family_name[1]
        return self.family_name


@dataclass
class GeneratedRecord:
    """One concern as an agency sends it, with the truth about it."""

    ref: str
    child_id: str
    agency: str  # a key of HABITS
    observed_at: date
    body: dict[str, Any]
    tags: frozenset[str]

    @property
    def sparse(self) -> bool:
        return "sparse" in self.tags


@dataclass
class Population:
    children: dict[str, TrueChild]
    households: dict[str, Household]
    records: list[GeneratedRecord]  # in the order they were observed
    refused: int  # generated bodies the API would refuse, dropped (should be ~0)

    def child_of(self) -> dict[str, str]:
        return {r.ref: r.child_id for r in self.records}

    def twin_pairs(self) -> set[tuple[str, str]]:
        return {
            tuple(sorted((c.id, c.twin_of)))  # type: ignore[misc]
            for c in self.children.values()
            if c.twin_of
        }

    def describe(self) -> dict[str, Any]:
        """Figures that say what kind of population this is."""
        records_of: Counter[str] = Counter(r.child_id for r in self.records)
        tags: Counter[str] = Counter(t for r in self.records for t in r.tags)
        names = Counter(
            (c.given_name, c.family_name, c.date_of_birth.year) for c in self.children.values()
        )
        full = Counter((c.given_name, c.family_name) for c in self.children.values())
        surnames = Counter(c.family_name for c in self.children.values())
        return {
            "children": len(self.children),
            "children_with_records": len(records_of),
            "records": len(self.records),
            "records_per_child": round(len(self.records) / max(1, len(records_of)), 2),
            "households": len(self.households),
            "twin_pairs": len(self.twin_pairs()),
            "by_agency": dict(Counter(r.agency for r in self.records)),
            "tags": dict(tags.most_common()),
            "children_sharing_name_and_birth_year": sum(n for n in names.values() if n > 1),
            "children_sharing_full_name": sum(n for n in full.values() if n > 1),
            "commonest_full_names": [f"{g} {f} x{n}" for (g, f), n in full.most_common(8)],
            "commonest_surnames": [f"{s} x{n}" for s, n in surnames.most_common(12)],
            "refused_bodies_dropped": self.refused,
        }


# -- names ----------------------------------------------------------------------------


class _Weighted:
    """Draws from (value, weight) pairs in O(log n)."""

    def __init__(self, pairs: list[tuple[str, float]]) -> None:
        self.values = [v for v, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))

    def draw(self, rng: random.Random) -> str:
        return self.values[bisect_right(self.cum, rng.random() * self.cum[-1])]

    def __bool__(self) -> bool:
        return bool(self.values)


class Names:
    """The frequency lists in data/, by community and sex."""

    def __init__(self) -> None:
        given: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
        surnames: dict[tuple[str, str], list[tuple[str, float]]] = defaultdict(list)
        for path, into in ((DATA / "given_names.tsv", given), (DATA / "surnames.tsv", surnames)):
            with path.open(encoding="utf-8") as f:
                for row in csv.DictReader(f, delimiter="\t"):
                    into[(row["community"], row["sex"])].append((row["name"], float(row["weight"])))
        self.given = {k: _Weighted(v) for k, v in given.items()}
        self.surnames = {k: _Weighted(v) for k, v in surnames.items()}

    def given_name(self, community: str, sex: str, rng: random.Random) -> str:
        key = "M" if sex == "male" else "F"
        # Mixed naming: a minority of children of every community have a name of the
        # majority's list (and some majority children one from another community).
        if community != "white_british" and rng.random() < 0.12:
            community = "white_british"
        return self.given[(community, key)].draw(rng)

    def surname(self, community: str, rng: random.Random) -> str:
        # Caribbean families mostly carry British surnames; some families of every
        # community carry one (a parent's, or anglicised).
        share = 0.6 if community == "black_caribbean" else 0.04
        if community != "white_british" and rng.random() < share:
            community = "white_british"
        return self.surnames[(community, "")].draw(rng)

    def personal_surname(self, community: str, sex: str, rng: random.Random) -> str | None:
        """A surname a child carries by sex, not from the household (Kaur, Begum), if any."""
        key = "M" if sex == "male" else "F"
        share = {
            ("indian_sikh", "M"): 0.55,
            ("indian_sikh", "F"): 0.6,
            ("bangladeshi", "F"): 0.35,
            ("pakistani", "F"): 0.12,
        }.get((community, key), 0.0)
        own = self.surnames.get((community, key))
        if own and rng.random() < share:
            return own.draw(rng)
        return None


def polish_form(surname: str, sex: str) -> str:
    """Kowalski for a boy, Kowalska for a girl."""
    if sex == "female" and surname.endswith("ski"):
        return surname[:-3] + "ska"
    if sex == "female" and surname.endswith("cki"):
        return surname[:-3] + "cka"
    return surname


# -- identifiers ----------------------------------------------------------------------


def nhs_number(rng: random.Random, used: set[str]) -> str:
    """A valid NHS number in the 9 range (never issued to a person)."""
    while True:
        body = "9" + "".join(rng.choice(string.digits) for _ in range(8))
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check == 10:
            continue
        number = body + str(check)
        if number not in used:
            used.add(number)
            return number


_UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"


def upn(school: int, year: int, serial: int) -> str:
    """A valid UPN: check letter, LA 330, the school's number, year, serial."""
    rest = f"{LA_NUMBER}{school:04d}{year % 100:02d}{serial:03d}"
    check = sum(i * _UPN_ALPHABET.index(n) for i, n in enumerate(rest, 2)) % 23
    return _UPN_ALPHABET[check] + rest


# -- errors agencies make -------------------------------------------------------------


def typo(text: str, rng: random.Random) -> str:
    """One slip of the keyboard or the ear."""
    if len(text) < 3:
        return text
    kind = rng.random()
    lower = text.lower()
    if kind < 0.25:
        for a, b in rng.sample(_PHONETIC, len(_PHONETIC)):
            if a in lower[1:]:
                i = lower.index(a, 1)
                return text[:i] + b + text[i + len(a) :]
    i = rng.randrange(1, len(text))
    c = text[i]
    if kind < 0.45:  # neighbouring key
        near = _KEYBOARD.get(c.lower())
        return text[:i] + rng.choice(near) + text[i + 1 :] if near else text
    if kind < 0.65:  # a letter left out
        return text[:i] + text[i + 1 :]
    if kind < 0.8 and i < len(text) - 1:  # two letters swapped
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + c + text[i:]  # a letter doubled


def swap_day_month(day: date) -> date | None:
    if day.day > 12 or day.day == day.month:
        return None
    return date(day.year, day.day, day.month)


# -- the city -------------------------------------------------------------------------


class City:
    """Districts, postcodes and streets; each community concentrated in some districts."""

    def __init__(self, n_households: int, rng: random.Random) -> None:
        self.rng = rng
        # About 6 households with children per unit postcode.
        self.units_per_district = max(30, n_households // (6 * N_DISTRICTS))
        self.home: dict[str, list[int]] = {}
        districts = list(range(1, N_DISTRICTS + 1))
        for community in COMMUNITIES:
            share = COMMUNITIES[community] / sum(COMMUNITIES.values())
            self.home[community] = rng.sample(districts, max(2, round(share * N_DISTRICTS)))
        self.streets: dict[str, str] = {}
        self.units: dict[int, list[str]] = {}
        self.used_units: set[str] = set()
        self.hostels = [self._unit(rng.choice(districts)) for _ in range(6)]

    def district_for(self, community: str) -> int:
        if self.rng.random() < CONCENTRATION:
            return self.rng.choice(self.home[community])
        return self.rng.randint(1, N_DISTRICTS)

    def _unit(self, district: int) -> str:
        """One of the district's unit postcodes (random inward codes, fixed per district)."""
        units = self.units.get(district)
        if units is None:
            codes = {
                f"{self.rng.randrange(10)}{self.rng.choice(_UNIT_LETTERS)}"
                f"{self.rng.choice(_UNIT_LETTERS)}"
                for _ in range(self.units_per_district * 2)
            }
            units = self.units[district] = sorted(codes)[: self.units_per_district]
            self.rng.shuffle(units)
        return f"{AREA}{district} {self.rng.choice(units)}"

    def street(self, postcode: str) -> str:
        if postcode not in self.streets:
            self.streets[postcode] = f"{self.rng.choice(_STREETS)} {self.rng.choice(_SUFFIXES)}"
        return self.streets[postcode]

    def address(self, district: int, near: Address | None = None) -> Address:
        if near is not None and self.rng.random() < 0.5:
            postcode = near.postcode
        else:
            postcode = self._unit(district)
        if self.rng.random() < 0.2:
            line1 = f"Flat {self.rng.randint(1, 40)}, {self.rng.randint(1, 200)} {self.street(postcode)}"
        else:
            line1 = f"{self.rng.randint(1, 250)} {self.street(postcode)}"
        return Address(line1, postcode, district)

    def hostel_address(self) -> Address:
        postcode = self.rng.choice(self.hostels)
        return Address(
            f"Room {self.rng.randint(1, 60)}, Station House",
            postcode,
            int(postcode.split()[0][len(AREA) :]),
        )


# -- generation -----------------------------------------------------------------------


def _children_in_household(rng: random.Random) -> int:
    return rng.choices((1, 2, 3, 4, 5), weights=(45, 36, 13, 4, 2))[0]


def _records_for_child(rng: random.Random) -> int:
    # Mean about 2.5; a few children (those agencies worry about) have many.
    return rng.choices((1, 2, 3, 4, 5, 6, 8, 10, 14), weights=(38, 22, 14, 9, 6, 4, 4, 2, 1))[0]


def generate(n_children: int, seed: int = 1, today: date | None = None) -> Population:
    """`n_children` children of a city and the concerns agencies raise about them."""
    today = today or date.today()
    rng = random.Random(seed)
    names = Names()
    city = City(round(n_children / 1.85), rng)
    community_list = list(COMMUNITIES)
    community_weights = list(COMMUNITIES.values())
    households: dict[str, Household] = {}
    children: dict[str, TrueChild] = {}
    used_nhs: set[str] = set()
    by_community: dict[str, list[str]] = defaultdict(list)
    window_start = today - timedelta(days=WINDOW_DAYS)
    upn_serial = 0
    while len(children) < n_children:
        community = rng.choices(community_list, weights=community_weights)[0]
        hid = f"H{len(households):06d}"
        cousins_of = None
        if (
            community in SOUTH_ASIAN | {"somali"}
            and by_community[community]
            and rng.random() < 0.25
        ):
            cousins_of = rng.choice(by_community[community])
        if cousins_of:
            family = households[cousins_of].family_name
            first = city.address(
                households[cousins_of].addresses[0][1].district,
                near=households[cousins_of].addresses[0][1],
            )
        else:
            family = names.surname(community, rng)
            hostel = rng.random() < 0.006
            first = city.hostel_address() if hostel else city.address(city.district_for(community))
        addresses = [(date.min, first)]
        if rng.random() < 0.14:  # a move during the window
            moved = window_start + timedelta(days=rng.randint(30, WINDOW_DAYS - 30))
            district = first.district if rng.random() < 0.6 else city.district_for(community)
            addresses.append((moved, city.address(district)))
        mother = (names.given_name(community, "female", rng), family)
        father = (names.given_name(community, "male", rng), family) if rng.random() < 0.7 else None
        household = Household(
            hid,
            community,
            family,
            addresses,
            mother,
            father,
            hostel=first.postcode in city.hostels,
            cousins_of=cousins_of,
        )
        households[hid] = household
        by_community[community].append(hid)
        blended = community in {"white_british", "black_caribbean"} and rng.random() < 0.18
        kids = _children_in_household(rng)
        born = today - timedelta(days=rng.randint(0, 17 * 365 + 300))
        members: list[TrueChild] = []
        taken: set[str] = set()
        k = 0
        while k < kids and len(children) < n_children:
            twins = 2 if rng.random() < 0.016 else 1
            for t in range(twins):
                sex = rng.choice(("male", "female"))
                if t == 1 and rng.random() < 0.4:
                    sex = members[-1].sex  # identical twins
                given = names.given_name(community, sex, rng)
                for _ in range(30):
                    if given not in taken and not (
                        t == 1 and rng.random() < 0.3 and given[0] != members[-1].given_name[0]
                    ):
                        break
                    given = names.given_name(community, sex, rng)
                taken.add(given)
                surname = family
                if blended and k > 0 and t == 0 and rng.random() < 0.5:
                    surname = names.surname(community, rng)  # a half-sibling's father's name
                elif community == "white_british" and rng.random() < 0.04:
                    surname = f"{family}-{names.surname(community, rng)}"
                personal = names.personal_surname(community, sex, rng)
                if personal:
                    surname = personal
                if community == "eastern_european":
                    surname = polish_form(surname, sex)
                middle = None
                known_as = None
                if given in {"Muhammad", "Mohammed", "Mohammad", "Mohamed"} and rng.random() < 0.5:
                    middle = names.given_name(community, sex, rng)
                    if middle[:2] not in {"Mu", "Mo"}:
                        known_as = middle
                elif rng.random() < 0.35:
                    middle = names.given_name(community, sex, rng)
                    if middle == given:
                        middle = None
                if known_as is None and given in KNOWN_AS and rng.random() < 0.3:
                    known_as = rng.choice(KNOWN_AS[given])
                dob = members[-1].date_of_birth if t == 1 else born
                later = None
                if rng.random() < 0.03:
                    change = window_start + timedelta(days=rng.randint(60, WINDOW_DAYS - 30))
                    later = (change, names.surname(community, rng))
                age_end = (today - dob).days / 365.25
                newly_arrived = community != "white_british" and rng.random() < 0.04
                has_upn = age_end >= 4 and rng.random() < 0.96
                if has_upn:
                    upn_serial += 1
                child = TrueChild(
                    id=f"C{len(children):07d}",
                    household=hid,
                    community=community,
                    sex=sex,
                    given_name=given,
                    middle_name=middle,
                    known_as=known_as,
                    family_name=surname,
                    later_family_name=later,
                    date_of_birth=dob,
                    nhs_number=None if newly_arrived else nhs_number(rng, used_nhs),
                    upn=upn(
                        1000 + first.district * 10 + rng.randrange(3),
                        dob.year + 4,
                        upn_serial % 1000,
                    )
                    if has_upn
                    else None,
                    twin_of=members[-1].id if t == 1 else None,
                )
                members.append(child)
                children[child.id] = child
            k += twins
            born = born - timedelta(days=rng.randint(330, 6 * 365))
            if born < today - timedelta(days=17 * 365 + 300):
                break
        for child in members:
            child.siblings = [m.id for m in members if m.id != child.id]
    records = _records(children, households, rng, today, window_start)
    refused = _drop_refused(records)
    return Population(children, households, [r for r in records if r.body], refused)


def _records(
    children: dict[str, TrueChild],
    households: dict[str, Household],
    rng: random.Random,
    today: date,
    window_start: date,
) -> list[GeneratedRecord]:
    agencies = list(HABITS)
    out: list[GeneratedRecord] = []
    for child in children.values():
        first_day = max(window_start, child.date_of_birth + timedelta(days=7))
        span = (today - timedelta(days=1) - first_day).days
        if span < 1:
            continue
        for _ in range(_records_for_child(rng)):
            observed = first_day + timedelta(days=rng.randint(0, span))
            age = (observed - child.date_of_birth).days / 365.25
            weights = [
                HABITS[a].weight * (1.0 if age >= HABITS[a].min_age else 0.0) for a in agencies
            ]
            agency = rng.choices(agencies, weights=weights)[0]
            record = _record(child, households[child.household], agency, observed, rng, children)
            record.ref = f"R{len(out):07d}"
            out.append(record)
    out.sort(key=lambda r: (r.observed_at, r.ref))
    return out


def _record(
    child: TrueChild,
    household: Household,
    agency: str,
    observed: date,
    rng: random.Random,
    children: dict[str, TrueChild],
) -> GeneratedRecord:
    h = HABITS[agency]
    tags: set[str] = set()
    if household.hostel:
        tags.add("hostel")
    if child.twin_of or any(children[s].twin_of == child.id for s in child.siblings):
        tags.add("twin")
    given: str | None = child.given_name
    other_names: list[str] = []
    family: str | None = child.family_name_on(observed)
    if family != child.family_name and rng.random() < 0.4:
        family = child.family_name  # not every agency hears of the new surname
        tags.add("old_surname")
    if child.known_as and rng.random() < h.known_as * 3 + (0.3 if agency == "youth" else 0):
        given = child.known_as
        tags.add("known_as")
    elif given in KNOWN_AS and rng.random() < h.known_as:
        given = rng.choice(KNOWN_AS[given])
        tags.add("nickname")
    if child.middle_name and rng.random() < h.middle:
        muhammad = given in {"Muhammad", "Mohammed", "Mohammad", "Mohamed"}
        if given == child.given_name and rng.random() < (0.4 if muhammad else 0.08):
            given = f"{child.given_name} {child.middle_name}"
            tags.add("middle_in_given")
        elif child.middle_name != given:
            other_names.append(child.middle_name)
    if given and rng.random() < h.typo:
        given = typo(given, rng)
        tags.add("typo_given")
    if family and rng.random() < h.typo:
        family = typo(family, rng)
        tags.add("typo_family")
    if family and "-" in family and rng.random() < 0.3:
        family = rng.choice(family.split("-"))
        tags.add("part_of_double_surname")
    if agency in {"police", "youth", "housing"} and family and rng.random() < 0.01:
        given, family = family, given
        tags.add("names_swapped")
    if family and rng.random() < 0.01:
        family = None
        tags.add("no_family_name")

    current, previous = household.address_on(observed)
    address = current
    if previous is not None:
        tags.add("moved")
        if rng.random() < h.stale_address:
            address = previous
            tags.add("old_address")

    dob: str | None = None
    if rng.random() < h.dob:
        born = child.date_of_birth
        if rng.random() < h.swap_day_month and (swapped := swap_day_month(born)):
            born = swapped
            tags.add("day_month_swapped")
        elif rng.random() < h.typo / 2:
            born = born + timedelta(days=rng.choice((-1, 1, -10, 10)))
            tags.add("dob_typo")
        elif rng.random() < h.typo / 4:
            try:
                born = born.replace(year=born.year + rng.choice((-1, 1)))
                tags.add("dob_year_slip")
            except ValueError:
                pass
        if rng.random() < h.dob_year_only:
            dob = f"{born.year:04d}" if rng.random() < 0.5 else f"{born.year:04d}-{born.month:02d}"
            tags.add("partial_dob")
        else:
            dob = born.isoformat()
    else:
        tags.add("no_dob")
    nhs = child.nhs_number if child.nhs_number and rng.random() < h.nhs else None
    if nhs and child.siblings and rng.random() < 0.004:
        sibling = children[rng.choice(child.siblings)]
        if sibling.nhs_number:
            nhs = sibling.nhs_number
            tags.add("sibling_nhs_number")
    child_upn = child.upn if child.upn and rng.random() < h.upn else None
    postcode: str | None = address.postcode if rng.random() < h.postcode else None
    line1: str | None = address.line1 if postcode and rng.random() < h.line1 else None
    if postcode and rng.random() < h.typo / 3:
        postcode = postcode[:-3] + str((int(postcode[-3]) + 1) % 10) + postcode[-2:]
        tags.add("postcode_typo")
    sex = child.sex if rng.random() < h.sex else None

    if rng.random() < h.sparse:
        # Only a name and one more identifier.
        tags.add("sparse")
        options = [
            k
            for k, v in (("dob", dob), ("postcode", postcode), ("nhs", nhs), ("upn", child_upn))
            if v
        ]
        if not options:
            options = ["postcode"]
            postcode = address.postcode
        keep = rng.choice(options)
        dob = dob if keep == "dob" else None
        postcode = postcode if keep == "postcode" else None
        nhs = nhs if keep == "nhs" else None
        child_upn = child_upn if keep == "upn" else None
        line1 = None
        sex = None
        other_names = []
    if not (dob or postcode or nhs or child_upn):
        postcode = address.postcode
    if not (given or family):
        family = child.family_name
    body_child: dict[str, Any] = {
        "given_name": given,
        "family_name": family,
        "other_names": other_names,
        "date_of_birth": dob,
        "sex": sex,
        "nhs_number": nhs,
        "upn": child_upn,
    }
    if postcode:
        body_child["address"] = {"town": TOWN, "postcode": postcode}
        if line1:
            body_child["address"]["line1"] = line1
    body_child = {k: v for k, v in body_child.items() if v not in (None, [])}
    related = []
    if rng.random() < 0.45:
        related.append(
            {
                "relationship": "mother",
                "given_name": household.mother[0],
                "family_name": household.mother[1],
            }
        )
    if household.father and rng.random() < 0.2:
        related.append(
            {
                "relationship": "father",
                "given_name": household.father[0],
                "family_name": household.father[1],
            }
        )
    return GeneratedRecord(
        ref="",
        child_id=child.id,
        agency=agency,
        observed_at=observed,
        body=_body(body_child, related, agency, observed, rng),
        tags=frozenset(tags),
    )


_CATEGORIES = {
    "school": ["neglect", "attendance", "emotional", "online_safety", "mental_health"],
    "gp": ["injury", "neglect", "mental_health", "self_harm"],
    "police": ["domestic_abuse", "missing", "exploitation", "substance_misuse"],
    "housing": ["neglect", "domestic_abuse", "other"],
    "csc": ["neglect", "emotional", "physical", "sexual"],
    "early_help": ["neglect", "emotional", "attendance", "other"],
    "youth": ["exploitation", "missing", "substance_misuse", "mental_health"],
}


def _body(
    child: dict[str, Any],
    related: list[dict[str, Any]],
    agency: str,
    observed: date,
    rng: random.Random,
) -> dict[str, Any]:
    police = agency == "police"
    return {
        "external_ref": "",  # set by the runner: the record's ref
        "child": child,
        "related_people": related,
        "concern": {
            "category": rng.choice(_CATEGORIES[agency]),
            "severity": rng.choices((1, 2, 3, 4), weights=(30, 40, 22, 8))[0],
            "observed_at": observed.isoformat(),
            "summary": "Synthetic concern (realistic_population benchmark).",
            "practitioner": {"name": f"{AGENCY_NAMES[agency]} practitioner"},
        },
        "sharing": {
            "lawful_basis": "public_task",
            "condition": "dpa2018_sch8_para4" if police else "dpa2018_sch1_para18",
            "consent": "not_sought",
            "consent_reason": "Seeking consent could place the child at risk",
            "family_informed": False,
            "not_informed_reason": "Informing the family could increase the risk",
        },
    }


def _drop_refused(records: list[GeneratedRecord]) -> int:
    """Set each body's external_ref; empty the few bodies the API would refuse."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from aggregator.concerns.schemas import ConcernSubmission

    refused = 0
    for r in records:
        r.body["external_ref"] = r.ref
        try:
            ConcernSubmission.model_validate(r.body)
        except ValueError:
            r.body = {}
            refused += 1
    return refused


def main() -> None:
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", type=int, default=0, help="print N record bodies")
    args = parser.parse_args()
    population = generate(args.children, seed=args.seed)
    print(json.dumps(population.describe(), indent=1, ensure_ascii=False))
    for r in population.records[: args.sample]:
        print(r.child_id, r.agency, sorted(r.tags), json.dumps(r.body["child"], ensure_ascii=False))


if __name__ == "__main__":
    main()
