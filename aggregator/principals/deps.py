"""FastAPI dependencies: the request's session, its principal, and role checks."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.audit.flood import event_of, guard_for
from aggregator.audit.service import (
    denied_entry,
    events_to_replay,
    forget_recorded,
    record_denied,
)
from aggregator.core.db import Database
from aggregator.core.driver import commit_held, held_session, rollback_held, write_deferred
from aggregator.core.unavailable import is_unavailable
from aggregator.principals.models import Principal
from aggregator.principals.service import (
    Caller,
    hash_token,
    look_up_caller,
    principal_for_token,
    recent_caller,
)

log = logging.getLogger("aggregator")


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


@asynccontextmanager
async def unit_of_work(db: Database) -> AsyncIterator[AsyncSession]:
    """One request's transaction: commit on success, roll back on any error.

    The caller commits before it answers, so a client never sees 201 for something
    that was not stored. Audit events of a failed request are written again in
    their own transaction, or, while the database is unreachable, kept until it
    is back (`audit.flood`); the request's own error is what the caller sees. On
    PostgreSQL the session holds one connection for the request
    (`driver.held_session`).
    """
    held = db.dialect == "postgresql"
    async with held_session(db.engine) if held else db.sessionmaker() as session:
        try:
            yield session
            await write_deferred(session)
            await (commit_held(session) if held else session.commit())
            forget_recorded(session)
        except BaseException as exc:
            try:
                await (rollback_held(session) if held else session.rollback())
            except Exception as failed:  # a lost connection: the server rolls back alone
                log.warning("rollback failed (%s)", type(failed).__name__)
            down = is_unavailable(exc)
            if down:
                await _renew_pool(db)
            code = exc.status_code if isinstance(exc, HTTPException) else 503 if down else 500
            replay = events_to_replay(session, failure=f"failed_{code}")
            if replay:
                await guard_for(db).write(db, replay, down=down)
            raise


async def _renew_pool(db: Database) -> None:
    """After a lost connection, open new ones rather than try each pooled one in turn.

    SQLAlchemy renews its pool itself when it sees a disconnect, but the intake's
    statements go to asyncpg directly (`core.driver`) and it does not see theirs:
    without this, every connection pooled before an outage failed one request after.
    """
    try:
        await db.engine.dispose()
    except Exception as exc:
        log.warning("could not renew the connection pool (%s)", type(exc).__name__)


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's `unit_of_work`, ended before the response is sent (function scope)."""
    async with unit_of_work(get_db(request)) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

NOT_RECOGNISED = "token not recognised or revoked"


def unauthorised(detail: str = NOT_RECOGNISED) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorised("missing bearer token: send 'Authorization: Bearer <token>'")
    return credentials.credentials


async def _principal(session: SessionDep, credentials: Credentials) -> Principal:
    principal = await principal_for_token(session, _token(credentials))
    if principal is None:
        raise unauthorised()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def _must_be_agency(principal: Principal) -> None:
    if principal.kind != "agency":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an agency may call this endpoint")


async def _agency(principal: CurrentPrincipal, session: SessionDep, request: Request) -> Principal:
    if principal.kind != "agency":
        record_denied(session, principal, request.url.path, request.method)
    _must_be_agency(principal)
    return principal


CurrentAgency = Annotated[Principal, Depends(_agency)]


async def _submitting_agency(request: Request, credentials: Credentials) -> Caller:
    token_hash = hash_token(_token(credentials))
    caller = recent_caller(token_hash)
    if caller is None:  # not seen lately: ask the database, in a read of its own
        async with get_db(request).session() as session:
            caller = await look_up_caller(session, token_hash)
    if caller is None:
        raise unauthorised()
    if caller.principal.kind != "agency":  # the intake's session is not open yet
        db, principal = get_db(request), caller.principal
        if guard_for(db).refusals.admit(principal.id, "access.denied", principal):
            entry = denied_entry(request.url.path, request.method)
            await guard_for(db).write(db, [event_of(principal, entry)])
    _must_be_agency(caller.principal)
    return caller


#: An agency that may be remembered from a recent request: only for a path whose
#: write checks the token again (`Caller.guard`), the concern intake. It needs no
#: request session, so that path can run its own `unit_of_work`.
SubmittingAgency = Annotated[Caller, Depends(_submitting_agency)]


def require_roles(*roles: str) -> object:
    """A dependency that admits people holding one of `roles`."""

    async def check(
        principal: CurrentPrincipal, session: SessionDep, request: Request
    ) -> Principal:
        if principal.kind != "person" or principal.role not in roles:
            record_denied(session, principal, request.url.path, request.method)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this endpoint needs one of the roles: {', '.join(roles)}",
            )
        return principal

    return Depends(check)


HubUser = Annotated[Principal, require_roles("hub", "lead")]
Admin = Annotated[Principal, require_roles("admin")]
