"""Pure functions that turn free-text fields into comparable forms.

Agencies write the same child differently; everything here removes differences
that carry no information (case, accents, punctuation, titles, spacing) and keeps
the ones that do.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from functools import lru_cache

from nicknames import NickNamer

_TITLES = frozenset({"mr", "mrs", "miss", "ms", "mx", "master", "dr", "baby"})
_NON_ALPHA = re.compile(r"[^a-z ]+")
_NON_ALNUM = re.compile(r"[^a-z0-9 ]+")
_NOT_UPPER_ALNUM = re.compile(r"[^A-Z0-9]")
_NOT_DIGIT = re.compile(r"[^0-9]")
_UK_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9])([A-Z]{2})$")

# British forms the US-centred `nicknames` table lacks, and spelling families that
# are one name to a person but not to an edit distance.
_UK_NAME_GROUPS: tuple[tuple[str, ...], ...] = (
    ("alfred", "alfie", "alf", "alfy"),
    ("frederick", "freddie", "freddy", "fred"),
    ("archibald", "archie", "archy"),
    ("charles", "charlie", "chas", "chaz"),
    ("charlotte", "charlie", "lottie", "lotty"),
    ("oliver", "ollie", "olly"),
    ("henry", "harry", "hal"),
    ("harold", "harry"),
    ("john", "jack", "johnny", "jonny"),
    ("james", "jamie", "jim", "jimmy", "jimi"),
    ("william", "bill", "billy", "will", "willie", "liam", "wills"),
    ("edward", "ed", "eddie", "ted", "teddy", "ned"),
    ("thomas", "tom", "tommy"),
    ("daniel", "dan", "danny"),
    ("samuel", "sam", "sammy"),
    ("samantha", "sam", "sammie"),
    ("joshua", "josh"),
    ("joseph", "joe", "joey"),
    ("benjamin", "ben", "benny", "benji"),
    ("matthew", "matt", "matty"),
    ("alexander", "alex", "sandy", "xander", "lex"),
    ("alexandra", "alex", "lexi", "lexie", "sandra"),
    ("zachary", "zac", "zack", "zak"),
    ("theodore", "theo", "teddy"),
    ("nathan", "nate"),
    ("nathaniel", "nate", "nat"),
    ("tobias", "toby"),
    ("katherine", "kate", "katie", "katy", "kat", "kathryn", "catherine", "kathy"),
    ("elizabeth", "liz", "lizzie", "lizzy", "beth", "libby", "ellie", "eliza", "betsy"),
    ("eleanor", "ellie", "nell", "nellie", "elle"),
    ("margaret", "maisie", "daisy", "maggie", "meg", "peggy"),
    ("mary", "molly", "polly", "mollie"),
    ("evelyn", "evie", "eve"),
    ("amelia", "millie", "milly", "mia", "emmy"),
    ("emily", "millie", "milly", "em"),
    ("isabella", "izzy", "izzie", "bella", "isabel", "isobel", "issy"),
    ("rosemary", "rosie", "rose"),
    ("sophia", "sophie", "sofia", "soph"),
    ("abigail", "abbie", "abby", "abi"),
    ("rebecca", "becky", "becca"),
    ("jessica", "jess", "jessie"),
    ("madison", "maddie", "maddy"),
    ("madeleine", "maddie", "maddy", "madeline"),
    ("nicholas", "nick", "nicky"),
    ("nicola", "nicky", "nikki"),
    ("georgia", "georgie"),
    ("george", "georgie"),
    ("matilda", "tilly", "tillie"),
    ("harriet", "hattie", "harry"),
    ("anne", "annie", "anna", "ann"),
    ("grace", "gracie"),
    ("kayleigh", "kayley", "kaylee", "kailey", "caleigh", "kayla", "kaley"),
    ("hayley", "haley", "hailey", "haylee"),
    ("ashleigh", "ashley", "ashlee"),
    ("jayden", "jaden", "jaydon", "jaiden", "jaydan"),
    ("aidan", "aiden", "ayden", "aden"),
    ("muhammad", "mohammed", "mohammad", "mohamed", "muhammed", "mohamad"),
    ("layla", "leila", "laila", "leyla"),
    ("zoe", "zoey"),
    ("isla", "islay"),
    ("leah", "lea", "lia"),
    ("lily", "lilly", "lillie", "lili"),
)

_UK_FORMS: dict[str, frozenset[str]] = {}
for _group in _UK_NAME_GROUPS:
    for _name in _group:
        _UK_FORMS[_name] = _UK_FORMS.get(_name, frozenset()) | {_group[0]}

_ADDRESS_WORDS = {
    "rd": "road",
    "st": "street",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "dr": "drive",
    "cres": "crescent",
    "cl": "close",
    "ct": "court",
    "pl": "place",
    "gdns": "gardens",
    "sq": "square",
    "tce": "terrace",
    "terr": "terrace",
    "gr": "grove",
    "gro": "grove",
    "pk": "park",
    "hse": "house",
    "apt": "flat",
    "apartment": "flat",
    "bldg": "building",
    "mt": "mount",
    "wy": "way",
    "cct": "circuit",
    "pde": "parade",
    "hwy": "highway",
    "cir": "circle",
}

_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
_NICKNAMER = NickNamer()


def ascii_lower(text: str) -> str:
    """Lower-case, accents stripped: "Zoë" and "zoe" are one spelling."""
    if text.isascii():  # most text; NFKD leaves ASCII as it is
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii").lower()


@lru_cache(maxsize=131072)
def name_tokens(text: str | None) -> tuple[str, ...]:
    """Words of a name, without titles or punctuation; hyphens split parts.

    "O'Brien" becomes "obrien" (apostrophes join), "Smyth-Jones" becomes two parts.
    """
    if not text:
        return ()
    cleaned = ascii_lower(text).replace("'", "").replace("\u2019", "").replace("`", "")
    tokens = _NON_ALPHA.sub(" ", cleaned).split()
    while tokens and tokens[0] in _TITLES:
        tokens = tokens[1:]
    return tuple(tokens)


@lru_cache(maxsize=65536)
def name_forms(name: str) -> frozenset[str]:
    """The name plus the formal names it may stand for (Alfie -> Alfred, Kayley -> Kayleigh).

    Two given names that share a form are nickname-equivalent.
    """
    forms = {name}
    forms |= _UK_FORMS.get(name, frozenset())
    forms |= _NICKNAMER.canonicals_of(name)
    return frozenset(forms)


def uk_forms(name: str) -> frozenset[str]:
    """The name and its British formal names only: few enough to use as blocking keys."""
    return _UK_FORMS.get(name, frozenset()) | {name}


@lru_cache(maxsize=131072)
def split_postcode(text: str | None) -> tuple[str, str | None, str | None] | None:
    """UK postcode as (unit, sector, district); other postcodes as (text, None, None).

    "ls6 2ab" -> ("LS62AB", "LS62", "LS6"). Sectors hold ~3,000 addresses, districts
    ~10,000, so agreeing on each says progressively less.
    """
    if not text:
        return None
    compact = _NOT_UPPER_ALNUM.sub("", text.upper())
    if not compact:
        return None
    found = _UK_POSTCODE.match(compact)
    if not found:
        return compact, None, None
    outward, sector_digit, _ = found.groups()
    return compact, outward + sector_digit, outward


PartialDate = tuple[int, int | None, int | None]


def parse_date(text: str | None) -> PartialDate | None:
    """(year, month, day), with month/day None when the source gave less precision.

    Accepts ISO (full or partial), YYYYMMDD and DD/MM/YYYY; impossible parts are
    dropped rather than guessed.
    """
    if not text:
        return None
    text = text.strip()
    digits = _NOT_DIGIT.sub("", text)
    year: int | None = None
    month: int | None = None
    day: int | None = None
    if "/" in text:
        parts = [p for p in text.split("/") if p]
        if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[2]) == 4:
            day, month, year = int(parts[0]), int(parts[1]), int(parts[2])
        elif len(parts) == 2 and all(p.isdigit() for p in parts) and len(parts[1]) == 4:
            month, year = int(parts[0]), int(parts[1])
    elif "-" in text:
        parts = text.split("-")
        if all(p.isdigit() for p in parts) and len(parts[0]) == 4 and len(parts) <= 3:
            year = int(parts[0])
            month = int(parts[1]) if len(parts) > 1 else None
            day = int(parts[2]) if len(parts) > 2 else None
    elif len(digits) == len(text) and len(digits) in (4, 6, 8):
        year = int(digits[:4])
        month = int(digits[4:6]) if len(digits) >= 6 else None
        day = int(digits[6:8]) if len(digits) == 8 else None
    if year is None or not 1850 <= year <= 2200:
        return None
    if month is not None and not 1 <= month <= 12:
        month, day = None, None
    if day is not None and not 1 <= day <= 31:
        day = None
    if month is None:
        day = None
    return year, month, day


def nhs_number(text: str | None) -> str | None:
    """The ten digits of an NHS number, spaces and dashes removed."""
    if not text:
        return None
    digits = _NOT_DIGIT.sub("", text)
    return digits or None


_NHS_WEIGHTS = range(10, 1, -1)


def nhs_check_digit(first_nine: str) -> int | None:
    """Modulus 11 check digit for nine digits; None when no valid number exists."""
    if len(first_nine) != 9:
        raise ValueError("nine digits expected")
    total = sum(map(operator.mul, map(int, first_nine), _NHS_WEIGHTS))
    check = 11 - total % 11
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def nhs_number_valid(digits: str | None) -> bool:
    """True when the number has ten digits and passes the modulus 11 check."""
    if not digits or len(digits) != 10 or not digits.isdigit():
        return False
    return nhs_check_digit(digits[:9]) == int(digits[9])


def upn(text: str | None) -> str | None:
    """A Unique Pupil Number, upper-case without spaces."""
    if not text:
        return None
    compact = _NOT_UPPER_ALNUM.sub("", text.upper())
    return compact or None


def upn_check_letter(last_twelve: str) -> str:
    """DfE check letter: characters 2-13 weighted 2..13, summed, modulo 23."""
    total = 0
    for position, char in enumerate(last_twelve, start=2):
        value = int(char) if char.isdigit() else _UPN_LETTERS.index(char)
        total += value * position
    return _UPN_LETTERS[total % 23]


def upn_valid(code: str | None) -> bool:
    """True for a 13-character UPN whose first letter is its check letter."""
    if not code or len(code) != 13 or not code[1:12].isdigit():
        return False
    if not (code[12].isdigit() or code[12] in _UPN_LETTERS):
        return False
    return code[0] == upn_check_letter(code[1:])


@lru_cache(maxsize=131072)
def address_tokens(text: str | None) -> tuple[str, ...]:
    """Words of an address line with common abbreviations expanded (Rd -> road)."""
    if not text:
        return ()
    cleaned = _NON_ALNUM.sub(" ", ascii_lower(text).replace("'", ""))
    return tuple(_ADDRESS_WORDS.get(token, token) for token in cleaned.split())


_SEXES = {
    **dict.fromkeys(("m", "male", "boy", "b"), "male"),
    **dict.fromkeys(("f", "female", "girl", "g"), "female"),
}


def normalise_sex(text: str | None) -> str | None:
    """ "male"/"female" (also M/F, boy/girl); anything else carries no evidence."""
    if not text:
        return None
    found = _SEXES.get(text)  # as stored, most often
    return found if found is not None else _SEXES.get(text.strip().lower())
