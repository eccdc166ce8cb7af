"""Demo principals and a few concerns, so a newcomer can try the API at once."""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, select
from sqlmodel import col

from aggregator.children.linking import submit_linked
from aggregator.concerns.models import Concern
from aggregator.concerns.schemas import ConcernSubmission
from aggregator.concerns.vocab import AgencyType, Role
from aggregator.core.db import Database
from aggregator.principals.models import Principal
from aggregator.principals.passwords import hash_password
from aggregator.principals.service import add_agency, add_user, issue_token, revoke
from aggregator.synthetic import borough

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
    concerns: int = 0


async def _principal(db: Database, name: str) -> Principal | None:
    async with db.session() as session:
        return (await session.scalars(select(Principal).where(col(Principal.name) == name))).first()


async def seed_demo(db: Database, n_children: int = 500) -> DemoCredentials:
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
    creds.concerns = await _seed_concerns(db, n_children)
    return creds


async def _seed_concerns(db: Database, n_children: int) -> int:
    """Submit the synthetic borough through the real intake and linking path.

    Runs once: a database that already holds concerns is left as it is (the
    bodies are dated relative to today, so a re-run would conflict).
    """
    async with db.session() as session:
        if await session.scalar(select(func.count()).select_from(Concern)):
            return 0
        agencies = {
            p.agency_type: p
            for p in (
                await session.scalars(select(Principal).where(col(Principal.kind) == "agency"))
            ).all()
            if p.name in {name for name, _ in DEMO_AGENCIES}
        }
    planned = borough(n_children)
    print(f"Seeding a synthetic borough: {len(planned)} concerns (first start only)...", flush=True)
    for start in range(0, len(planned), 100):
        async with db.session() as session:
            for item in planned[start : start + 100]:
                agency = agencies[item.agency_type.value]
                await submit_linked(session, agency, ConcernSubmission.model_validate(item.body))
    return len(planned)


def print_credentials(creds: DemoCredentials, base_url: str) -> None:
    print("\n=== concern-aggregator demo ===")
    if creds.concerns:
        print(f"Seeded a synthetic borough: {creds.concerns} concerns from 6 agencies.")
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
