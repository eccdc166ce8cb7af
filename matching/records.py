"""The shape of a child's record as an agency gives it to us."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChildRecord:
    """One agency's view of one child; any field may be missing or wrong.

    ``date_of_birth`` is ISO and may be partial ("2019", "2019-03", "2019-03-07");
    ``sex`` is "male", "female", "other" or "unknown".
    """

    id: str
    given_name: str | None = None
    family_name: str | None = None
    other_names: tuple[str, ...] = ()
    date_of_birth: str | None = None
    sex: str | None = None
    nhs_number: str | None = None
    upn: str | None = None
    postcode: str | None = None
    address_line1: str | None = None
    town: str | None = None
