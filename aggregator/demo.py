"""Demo principals and a few concerns, so a newcomer can try the API at once."""

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlmodel import col

from aggregator.concerns.schemas import ConcernSubmission
from aggregator.concerns.service import submit
from aggregator.concerns.vocab import AgencyType, Role
from aggregator.core.db import Database
from aggregator.principals.models import Principal
from aggregator.principals.passwords import hash_password
from aggregator.principals.service import add_agency, add_user, issue_token, revoke

DEMO_AGENCIES: list[tuple[str, AgencyType]] = [
    ("Millbrook Primary School", AgencyType.SCHOOL),
    ("Riverside Health Centre", AgencyType.HEALTH),
    ("West Yorkshire Police (demo)", AgencyType.POLICE),
    ("Northgate Housing", AgencyType.HOUSING),
    ("Children's Social Care (demo)", AgencyType.CHILDRENS_SOCIAL_CARE),
    ("Eastside Youth Service", AgencyType.YOUTH_SERVICE),
]
DEMO_PEOPLE: list[tuple[str, Role]] = [
    ("hub@demo.example", Role.HUB),
    ("lead@demo.example", Role.LEAD),
    ("admin@demo.example", Role.ADMIN),
]
# Demo only: printed at start, never used outside `serve --demo`.
DEMO_PASSWORD = "demo-password-123"  # noqa: S105


@dataclass
class DemoCredentials:
    agencies: dict[str, str] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)


async def _principal(db: Database, name: str) -> Principal | None:
    async with db.session() as session:
        return (await session.scalars(select(Principal).where(col(Principal.name) == name))).first()


async def seed_demo(db: Database) -> DemoCredentials:
    """Idempotent: re-running issues fresh tokens and revokes the old demo ones."""
    creds = DemoCredentials()
    for name, agency_type in DEMO_AGENCIES:
        async with db.session() as session:
            existing = await _principal(db, name)
            if existing is None:
                issued = await add_agency(session, name, agency_type)
            else:
                await revoke(session, principal=existing.id)
                issued = await issue_token(session, existing)
            creds.agencies[name] = issued.token
    for email, role in DEMO_PEOPLE:
        async with db.session() as session:
            existing = await _principal(db, email)
            if existing is None:
                issued = await add_user(session, email, role, hash_password(DEMO_PASSWORD))
            else:
                await revoke(session, principal=existing.id)
                issued = await issue_token(session, existing)
            creds.people[email] = issued.token
    await _seed_concerns(db)
    return creds


async def _seed_concerns(db: Database) -> None:
    school = await _principal(db, DEMO_AGENCIES[0][0])
    health = await _principal(db, DEMO_AGENCIES[1][0])
    assert school and health
    today = date.today()
    samples = [
        (
            school,
            "DEMO-SCH-1",
            "Jayden",
            "Smith",
            "neglect",
            "Arrived hungry three days this week.",
        ),
        (
            health,
            "DEMO-GP-1",
            "Jaden",
            "Smyth",
            "injury",
            "Bruise on upper arm, explanation vague.",
        ),
    ]
    for agency, ref, given, family, category, summary in samples:
        body = ConcernSubmission.model_validate(
            {
                "external_ref": ref,
                "child": {
                    "given_name": given,
                    "family_name": family,
                    "date_of_birth": "2019-03-07",
                    "address": {"line1": "12 Mill Lane", "town": "Leeds", "postcode": "LS6 2AB"},
                },
                "concern": {
                    "category": category,
                    "severity": 2,
                    "observed_at": (today - timedelta(days=3)).isoformat(),
                    "summary": summary,
                    "practitioner": {"name": "Demo Practitioner", "role": "Demo"},
                },
                "sharing": {
                    "lawful_basis": "public_task",
                    "condition": "dpa2018_sch1_para18",
                    "consent": "not_sought",
                    "consent_reason": "Seeking consent could place the child at risk",
                    "family_informed": False,
                    "not_informed_reason": "Informing the carer could increase the risk",
                },
            }
        )
        async with db.session() as session:
            await submit(session, agency, body)


def print_credentials(creds: DemoCredentials, base_url: str) -> None:
    print("\n=== concern-aggregator demo ===")
    print(f"API docs: {base_url}/docs")
    print("Agency tokens (Authorization: Bearer <token>):")
    for name, token in creds.agencies.items():
        print(f"  {name:<32} {token}")
    print(f"People (dashboard password for all: {DEMO_PASSWORD}):")
    for email, token in creds.people.items():
        print(f"  {email:<32} {token}")
    school_token = next(iter(creds.agencies.values()))
    print("\nTry it:")
    print(
        f"  curl -s -X POST {base_url}/api/v1/concerns -H 'Authorization: Bearer {school_token}' "
        '-H \'Content-Type: application/json\' -d \'{"external_ref": "TRY-1", '
        '"child": {"given_name": "Ava", "family_name": "Jones", "date_of_birth": "2018-05-02"}, '
        '"concern": {"category": "neglect", "severity": 2, "observed_at": "'
        + date.today().isoformat()
        + '", "summary": "Often arrives without a coat.", '
        '"practitioner": {"name": "A. Teacher"}}, '
        '"sharing": {"lawful_basis": "public_task", "condition": "dpa2018_sch1_para18", '
        '"consent": "not_sought", "consent_reason": "Seeking consent could place the child at risk", '
        '"family_informed": true}}\''
    )
    print()
