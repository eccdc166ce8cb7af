"""The purpose of a read, recorded with it in the audit trail (golden rule 7)."""

from typing import Annotated

from fastapi import Header

PurposeHeader = Annotated[
    str | None,
    Header(
        alias="X-Purpose",
        max_length=60,
        pattern=r"^[a-z_]{3,60}$",
        description="Why the data is being read, e.g. 'safeguarding' or 'strategy_meeting'.",
    ),
]


def purpose_or(header: str | None, default: str) -> str:
    return header or default
