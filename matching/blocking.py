"""Blocking keys: cheap strings that any two records of the same child are likely to share.

Each key pairs two fields, so a true pair is still found when any one field (or
most pairs of fields) is wrong or missing. The keys are stable strings so the
service can keep them in an indexed table and fetch candidates with ``IN (...)``.
"""

from __future__ import annotations

from functools import lru_cache

import jellyfish

from matching.features import Features
from matching.normalise import name_tokens, uk_forms
from matching.records import ChildRecord


def blocking_keys(record: ChildRecord) -> set[str]:
    """The keys under which to store and look up a record.

    - ``nhs:<number>`` and ``upn:<number>``: identifiers;
    - ``sx:<soundex(surname or a part of it)>|<birth year>|<given initial>``;
    - ``dob:<year-min(day, month)-max(day, month)>|<soundex(any name)>``: survives a
      changed surname (or given name), a move, swapped names and a day/month swap;
    - ``pc:<postcode>`` and ``ad:<house number>|<street>``: same home, whatever the
      names and dates say;
    - ``nm:<metaphone(given)>|<metaphone(surname)>``: a missing or wrong date and a move;
    - ``dt:<date of birth, as in dob:>|<soundex(town)>``: both names changed or
      mistyped (a new surname and a nickname), at the same town; blocks stay a few
      records even at a million children.

    Given names contribute their British formal forms too, so "Alfie" and "Alfred" meet.
    """
    return keys_for(Features(record))


def keys_for(f: Features) -> set[str]:
    """Blocking keys from already-computed features (see :func:`blocking_keys`)."""
    keys: set[str] = set()
    if f.nhs is not None and len(f.nhs) == 10:
        keys.add("nhs:" + f.nhs)
    if f.upn is not None and len(f.upn) >= 8:
        keys.add("upn:" + f.upn)
    givens = _given_codes(f.given)
    surnames = _surname_codes(f.family, f.family_parts)
    dob = f.dob
    if dob is not None and surnames:
        initials = {g[0].lower() for g in givens} if givens else {"?"}
        for code in surnames:
            for initial in initials:
                keys.add(f"sx:{code}|{dob[0]}|{initial}")
    if f.dob_digits is not None:
        assert dob is not None and dob[1] is not None and dob[2] is not None
        # day and month in ascending order: a swapped date lands on the same key
        low, high = sorted((dob[1], dob[2]))
        date = f"{dob[0]:04d}-{low:02d}-{high:02d}"
        names = givens.union(surnames, *(_given_codes(name) for name in f.middle))
        for code in names:
            keys.add(f"dob:{date}|{code}")
        if f.town is not None:
            keys.add(f"dt:{date}|{_town_code(f.town)}")
    if f.pc_unit is not None:
        keys.add("pc:" + f.pc_unit)
    if f.address_number is not None and f.address_street is not None:
        keys.add(f"ad:{f.address_number}|{_street_code(f.address_street)}")
    if f.given and f.family:
        for given in _given_phonetics(f.given):
            keys.add(f"nm:{given}|{f.family_phonetic}")
    return keys


@lru_cache(maxsize=65536)
def _town_code(town: str) -> str:
    """Soundex of the whole town name: "Cremor Ne" and "Cremorne" meet."""
    return str(jellyfish.soundex(town.replace(" ", "")))


@lru_cache(maxsize=65536)
def _given_codes(given: str | None) -> frozenset[str]:
    if not given:
        return frozenset()
    return frozenset(jellyfish.soundex(form) for form in uk_forms(given))


@lru_cache(maxsize=65536)
def _surname_codes(family: str | None, parts: tuple[str, ...]) -> frozenset[str]:
    if not family:
        return frozenset()
    codes = {jellyfish.soundex(family)}
    if len(parts) > 1:
        codes.update(jellyfish.soundex(part) for part in parts)
    return frozenset(codes)


@lru_cache(maxsize=65536)
def _given_phonetics(given: str) -> frozenset[str]:
    return frozenset(jellyfish.metaphone(form) for form in uk_forms(given))


@lru_cache(maxsize=65536)
def _street_code(street: str) -> str:
    """Soundex of the street's first word, initials of the rest: "Onslow Street" and
    "Onslow Sreet" meet, "12 Church Road" and "12 Church Lane" do not."""
    words = street.split()
    return jellyfish.soundex(words[0]) + "".join(word[0] for word in words[1:])


def name_search_keys(name: str, years: range) -> frozenset[str]:
    """Stored keys of records whose name sounds like `name` ("Fairwether" finds
    "Fairweather"), for the hub's search: exact keys, so the key index answers them
    whatever the database's collation, never a scan.

    The codes are the ones records were keyed with: the surname's soundex with each
    birth year in `years` and a given initial (``sx:``), and with two or more words the
    given name's metaphone with the surname's (``nm:``). One word is taken as a surname.
    """
    tokens = name_tokens(name)
    if not tokens or len(tokens[-1]) < 2:
        return frozenset()
    surname = tokens[-1]
    codes = _surname_codes(surname, (surname,))
    given = tokens[0] if len(tokens) > 1 else None
    initials = {form[0] for form in uk_forms(given)} if given else set("abcdefghijklmnopqrstuvwxyz")
    keys = {f"sx:{code}|{year}|{i}" for code in codes for year in years for i in initials}
    if given:
        family_code = jellyfish.metaphone(surname)
        keys |= {f"nm:{g}|{family_code}" for g in _given_phonetics(given)}
    return frozenset(keys)
