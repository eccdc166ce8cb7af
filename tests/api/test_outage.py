"""A database outage answers 503 with Retry-After, and a retry stores a concern once."""

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import aggregator.concerns.routes as routes
import aggregator.principals.deps as deps
from aggregator.app import create_app
from aggregator.audit.flood import guard_for
from aggregator.audit.models import AuditEvent
from aggregator.concerns.attempts import ref_digest
from aggregator.concerns.models import Concern
from aggregator.core.db import Database
from tests import factories as f
from tests.conftest import PG_ADMIN_DSN
from tests.outage import service_database
from tests.web.conftest import person_with_password, sign_in


@contextlib.asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def concerns(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Concern)) or 0)


async def events(db: Database, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows.all())


async def test_intake_during_an_outage_is_503_and_the_retry_stores_one(db: Database) -> None:
    school = await f.agency(db)
    hub = await person_with_password(db)
    async with (
        service_database(db) as (service_db, outage),
        http(create_app(db=service_db, background=False)) as client,
    ):
        warm = await client.post(
            "/api/v1/concerns", json=f.submission("WARM-1"), headers=f.auth(school)
        )
        assert warm.status_code == 201, warm.text  # the token is now known to the process
        assert (await sign_in(client, "jo@hub.example")).status_code == 303
        async with outage():
            r = await client.post(
                "/api/v1/concerns", json=f.submission("OUT-1"), headers=f.auth(school)
            )
            assert r.status_code == 503, r.text
            assert r.headers["Retry-After"] == "5"
            detail = r.json()["detail"]
            assert "same external_ref" in detail and "may or may not" in detail
            for leak in ("refused", "locked", "Connect", "Errno", "asyncpg", "sqlite"):
                assert leak not in detail
            other = await client.get("/api/v1/children", headers=f.auth(hub))
            assert other.status_code == 503
            assert other.json()["detail"].startswith("The database is unavailable")
            page = await client.get("/children")  # the dashboard: its error page
            assert page.status_code == 503 and page.headers["Retry-After"] == "5"
            assert "text/html" in page.headers["content-type"]
            assert "Temporarily unavailable" in page.text
        # Back: the failed attempt, kept in memory meanwhile, reaches the trail.
        assert await guard_for(service_db).flush(service_db) >= 1
        # The pool was renewed when the connection was lost: no stale connection fails.
        retry = await client.post(
            "/api/v1/concerns", json=f.submission("OUT-1"), headers=f.auth(school)
        )
        assert retry.status_code == 201, retry.text
        again = await client.post(
            "/api/v1/concerns", json=f.submission("OUT-1"), headers=f.auth(school)
        )
        assert again.status_code == 200 and again.json()["id"] == retry.json()["id"]
    assert await concerns(db) == 2
    failed = await events(db, "concern.failed")
    assert failed, "the failed attempt was not audited"
    assert failed[0].principal_id == school.principal.id
    assert failed[0].detail["status"] == 503
    assert failed[0].detail["reason"] == "database_unavailable"
    assert failed[0].detail["external_ref_sha256"] == ref_digest("OUT-1")
    assert failed[0].detail["written_late"] is True
    assert "OUT-1" not in str(failed[0].detail) and "Jayden" not in str(failed[0].detail)


async def test_a_commit_that_happened_but_failed_to_answer_is_503_then_200(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unsafe case of the old 500 "nothing was stored": the row is there."""
    school = await f.agency(db)
    lost: dict[str, bool] = {}

    def losing_the_answer(real):  # type: ignore[no-untyped-def]
        async def commit(session: AsyncSession) -> None:
            await real(session)
            if lost.pop("armed", False):
                raise ConnectionResetError("connection reset after COMMIT")

        return commit

    if db.dialect == "postgresql":
        monkeypatch.setattr(deps, "commit_held", losing_the_answer(deps.commit_held))
    else:
        real_commit = AsyncSession.commit

        async def commit(self: AsyncSession) -> None:
            await real_commit(self)
            if lost.pop("armed", False):
                raise ConnectionResetError("connection reset after COMMIT")

        monkeypatch.setattr(AsyncSession, "commit", commit)
    async with http(create_app(db=db, background=False)) as client:
        warm = await client.post("/api/v1/concerns", json=f.submission("W"), headers=f.auth(school))
        assert warm.status_code == 201  # the token is known: the next commit is the intake's
        lost["armed"] = True
        first = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
        assert first.status_code == 503
        assert "same external_ref" in first.json()["detail"]
        again = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
        assert again.status_code == 200, again.text  # it had been stored: a retry says so
    assert await concerns(db) == 2


async def test_backends_terminated_during_a_request_answer_503(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An administrator's pg_terminate_backend in the middle of a submission."""
    if db.dialect != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    school = await f.agency(db)
    name = db.settings.database_url.rsplit("/", 1)[1]
    real = routes.submit_linked
    armed = {"yes": True}

    async def terminated_first(session, caller, body):  # type: ignore[no-untyped-def]
        if armed.pop("yes", False):
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
            finally:
                await admin.close()
        return await real(session, caller, body)

    monkeypatch.setattr(routes, "submit_linked", terminated_first)
    async with http(create_app(db=db, background=False)) as client:
        cut = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
        assert cut.status_code == 503, cut.text
        assert cut.headers["Retry-After"] == "5"
        retry = await client.post("/api/v1/concerns", json=f.submission(), headers=f.auth(school))
        assert retry.status_code == 201, retry.text
    assert await concerns(db) == 1
    await guard_for(db).flush(db)
    (failed,) = await events(db, "concern.failed")
    assert (failed.detail["status"], failed.detail["reason"]) == (503, "database_unavailable")
