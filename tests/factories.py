"""Test data: principals with tokens, and concern bodies with overrides."""

import copy
from datetime import date, timedelta
from typing import Any

from aggregator.concerns.vocab import AgencyType, Role
from aggregator.core.db import Database
from aggregator.principals.service import IssuedToken, add_agency, add_user


async def agency(
    db: Database, name: str = "Leeds Primary School", kind: str = "school"
) -> IssuedToken:
    async with db.session() as session:
        return await add_agency(session, name, AgencyType(kind))


async def person(db: Database, email: str = "jo@hub.example", role: str = "hub") -> IssuedToken:
    async with db.session() as session:
        return await add_user(session, email, Role(role))


def auth(issued: IssuedToken) -> dict[str, str]:
    return {"Authorization": f"Bearer {issued.token}"}


def submission(ref: str = "SCH-2026-0042", **overrides: Any) -> dict[str, Any]:
    """The issue's example body; `overrides` use dotted paths, e.g. {"child.upn": "X"}."""
    body: dict[str, Any] = {
        "external_ref": ref,
        "child": {
            "given_name": "Jayden",
            "family_name": "Smith",
            "other_names": ["Jaden Smyth"],
            "date_of_birth": "2019-03-07",
            "sex": "male",
            "nhs_number": "9434765919",
            "upn": None,
            "address": {"line1": "12 Mill Lane", "town": "Leeds", "postcode": "LS6 2AB"},
        },
        "related_people": [
            {"relationship": "mother", "given_name": "Kayleigh", "family_name": "Smith"}
        ],
        "concern": {
            "category": "neglect",
            "severity": 2,
            "observed_at": (date.today() - timedelta(days=5)).isoformat(),
            "summary": "Arrived hungry three days this week; same clothes.",
            "practitioner": {
                "name": "A. Patel",
                "role": "Class teacher",
                "email": "a.patel@school.example",
            },
        },
        "sharing": {
            "lawful_basis": "public_task",
            "condition": "dpa2018_sch1_para18",
            "consent": "not_sought",
            "consent_reason": "Seeking consent could place the child at risk",
            "family_informed": False,
            "not_informed_reason": "Informing the carer could increase the risk",
            "protect_reporter_identity": False,
            "purpose": "safeguarding",
        },
    }
    body = copy.deepcopy(body)
    for path, value in overrides.items():
        target = body
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        if value is _DELETE:
            target.pop(last, None)
        else:
            target[last] = value
    return body


class _Delete:
    pass


_DELETE = _Delete()
DELETE: Any = _DELETE
