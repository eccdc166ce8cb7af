"""Blocking keys: cheap strings that any two records of the same child are likely to share.

Each key pairs two fields, so a true pair is still found when any one field (or
most pairs of fields) is wrong or missing. The keys are stable strings so the
service can keep them in an indexed table and fetch candidates with ``IN (...)``.
"""

from __future__ import annotations

from functools import lru_cache

import jellyfish

from matching.features import Features
from matching.normalise import uk_forms
from matching.records import ChildRecord


def blocking_keys(record: ChildRecord) -> set[str]:
    """The keys under which to store and look up a record.

    - ``nhs:<number>`` and ``upn:<number>``: identifiers;
    - ``sx:<soundex(surname part)>|<birth year>|<given initial>``;
    - ``dob:<date>|<soundex(given)>``, also under the day/month-swapped date;
    - ``pc:<postcode>|<given initial>``: same home, any date of birth;
    - ``nm:<soundex(given)>|<soundex(surname)>|<postcode district>``: dates missing or wrong.

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
    initials = {g[0].lower() for g in givens} if givens else {"?"}
    surnames = _surname_codes(f.family, f.family_parts)
    dob = f.dob
    if dob is not None and surnames:
        for code in surnames:
            for initial in initials:
                keys.add(f"sx:{code}|{dob[0]}|{initial}")
    if f.dob_digits is not None and givens:
        assert dob is not None and dob[1] is not None and dob[2] is not None
        dates = [f"{dob[0]:04d}-{dob[1]:02d}-{dob[2]:02d}"]
        if dob[2] <= 12 and dob[1] != dob[2]:
            dates.append(f"{dob[0]:04d}-{dob[2]:02d}-{dob[1]:02d}")
        for date in dates:
            for code in givens:
                keys.add(f"dob:{date}|{code}")
    if f.pc_unit is not None:
        for initial in initials:
            keys.add(f"pc:{f.pc_unit}|{initial}")
    if givens and surnames:
        area = f.pc_district or "?"
        for given in givens:
            for code in surnames:
                keys.add(f"nm:{given}|{code}|{area}")
    return keys


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
