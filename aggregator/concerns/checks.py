"""Check digits and formats of UK identifiers, so typos are refused at the door."""

import calendar
import re
from datetime import date

from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import upn as stdnum_upn

_POSTCODE = re.compile(
    r"^(GIR ?0AA|[A-PR-UWYZ]([0-9]{1,2}|[A-HK-Y][0-9]{1,2}|[0-9][A-HJKPS-UW]|[A-HK-Y][0-9][ABEHMNPRVWXY]) ?[0-9][ABD-HJLNP-UW-Z]{2})$"
)


def nhs_number(value: str) -> str:
    """Normalise and check an NHS number by its modulus-11 check digit."""
    digits = re.sub(r"[\s-]", "", value)
    if not re.fullmatch(r"\d{10}", digits):
        raise ValueError("an NHS number has 10 digits")
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10 or check != int(digits[9]):
        raise ValueError("NHS number fails its modulus-11 check digit")
    return digits


def upn(value: str) -> str:
    """Normalise and check a Unique Pupil Number by its check letter."""
    try:
        return str(stdnum_upn.validate(value))
    except StdnumError as exc:
        raise ValueError("UPN fails its check letter or format") from exc


def postcode(value: str) -> str:
    """Normalise a UK postcode to 'LS6 2AB' form, refusing malformed ones."""
    compact = re.sub(r"\s+", "", value.upper())
    if not _POSTCODE.fullmatch(compact):
        raise ValueError("not a valid UK postcode")
    return f"{compact[:-3]} {compact[-3:]}"


_PARTIAL_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")


def partial_date(value: str) -> str:
    """ISO date that may be partial ('2019', '2019-03', '2019-03-07')."""
    if not _PARTIAL_DATE.fullmatch(value):
        raise ValueError("use YYYY-MM-DD, or YYYY-MM or YYYY when only part is known")
    if len(value) == 10:
        date.fromisoformat(value)  # refuses 2019-02-30
    return value


def earliest(partial: str) -> date:
    """The first day a partial date can mean ('2019-03' -> 2019-03-01)."""
    parts = [int(p) for p in partial.split("-")] + [1, 1]
    return date(parts[0], parts[1], parts[2])


def latest(partial: str) -> date:
    """The last day a partial date can mean ('2019-02' -> 2019-02-28)."""
    parts = [int(p) for p in partial.split("-")]
    if len(parts) == 3:
        return date(*parts)
    if len(parts) == 2:
        return date(parts[0], parts[1], calendar.monthrange(parts[0], parts[1])[1])
    return date(parts[0], 12, 31)
