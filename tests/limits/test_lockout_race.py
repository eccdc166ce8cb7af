"""Item 5 of issue 14: lock-out holds under concurrent guesses, on both databases.

Forty sign-ins for one account at once used to have 30-38 passwords checked on
PostgreSQL (each read the failure count before any failure was written), and
once the right one got in. Attempts are now reserved before the check.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from aggregator.app import create_app
from aggregator.core.db import Database
from aggregator.principals.models import Principal
from aggregator.web import service
from tests.conftest import empty_tables, settings_for
from tests.web.conftest import PASSWORD, csrf_from, person_with_password

GUESSES = 40


@pytest.fixture
async def unthrottled(database_url: str) -> AsyncIterator[Database]:
    """Rate limits far above the guesses, so that only the lock-out can stop them."""
    db = Database(
        settings_for(
            database_url,
            rate_limit_sign_in_per_minute=10_000,
            rate_limit_sign_in_account_per_minute=10_000,
        )
    )
    try:
        yield db
    finally:
        await empty_tables(db)
        await db.dispose()


async def test_parallel_guesses_check_at_most_max_failures_passwords(
    unthrottled: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = unthrottled
    person = await person_with_password(db)
    real_hash = person.principal.password_hash
    checked: list[str] = []

    def counting(password_hash: str, password: str) -> bool:
        """Counts the checks against the account's hash; cheaper than argon2 (40 of
        those at once on a shared machine only measure the machine)."""
        if password_hash == real_hash:
            checked.append(password)
            return password == PASSWORD
        return False

    monkeypatch.setattr(service, "verify_password", counting)
    app = create_app(db=db, background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        token = csrf_from((await client.get("/sign-in")).text)

        async def attempt(password: str) -> httpx.Response:
            return await client.post(
                "/sign-in",
                data={"email": "jo@hub.example", "password": password, "csrf_token": token},
            )

        answers = await asyncio.gather(*(attempt(f"wrong-guess-{i:03d}") for i in range(GUESSES)))
        assert [r.status_code for r in answers] == [401] * GUESSES
        max_failures = db.settings.login_max_failures
        assert len(checked) == max_failures, len(checked)

        # The right password, now and in parallel, does not get in while locked.
        right = await asyncio.gather(*(attempt(PASSWORD) for _ in range(5)))
        assert [r.status_code for r in right] == [401] * 5
        assert PASSWORD not in checked
        assert len(checked) <= max_failures

    async with db.session() as session:
        locked = (
            await session.scalars(select(Principal).where(Principal.id == person.principal.id))
        ).one()
    assert locked.locked_until is not None


async def test_reservation_counts_each_attempt_once_directly(
    unthrottled: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service function alone, each attempt in its own session, all at once:
    exactly `login_max_failures` reservations succeed, the rest are refused unchecked."""
    db = unthrottled
    person = await person_with_password(db)
    real_hash = person.principal.password_hash
    checked: list[str] = []

    def counting(password_hash: str, password: str) -> bool:
        """Counts the checks against the account's hash; cheaper than argon2 (40 of
        those at once on a shared machine only measure the machine)."""
        if password_hash == real_hash:
            checked.append(password)
            return password == PASSWORD
        return False

    monkeypatch.setattr(service, "verify_password", counting)

    async def attempt(password: str) -> str:
        async with db.session() as session:
            outcome = await service.check_sign_in(session, db.settings, "jo@hub.example", password)
            return outcome.reason

    reasons = await asyncio.gather(*(attempt(f"wrong-guess-{i:03d}") for i in range(GUESSES)))
    max_failures = db.settings.login_max_failures
    assert len(checked) == max_failures
    assert sorted(set(reasons)) == ["bad_password", "locked"]
    assert reasons.count("bad_password") == max_failures
    assert await attempt(PASSWORD) == "locked"
    assert PASSWORD not in checked
