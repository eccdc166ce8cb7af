"""Checking a sign-in: password, lock-out, and the audit record of every attempt.

Whatever goes wrong, the person sees one message, so the form cannot be used to
learn which emails have accounts or which accounts are locked. The reason is in
the audit trail for admins.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from aggregator.audit.service import AuditEntry, forget_recorded, record
from aggregator.core.driver import commit_now
from aggregator.core.settings import Settings
from aggregator.core.types import UTCDateTime, utcnow
from aggregator.principals.models import Principal
from aggregator.principals.passwords import hash_password, verify_password

WEB_ROLES = frozenset({"hub", "lead", "admin"})
MAX_EMAIL = 254
MAX_PASSWORD = 1024


@lru_cache
def _dummy_hash() -> str:
    """Verified against when there is no usable account, so every refusal costs the same time."""
    return hash_password(secrets.token_urlsafe(24))


@dataclass(frozen=True)
class SignInOutcome:
    principal: Principal | None
    reason: str  # "ok", or why it was refused (for the audit trail only)

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


async def _find(session: AsyncSession, email: str) -> Principal | None:
    """Emails are matched without regard to case; an ambiguous match signs nobody in."""
    rows = (
        await session.scalars(
            select(Principal).where(func.lower(col(Principal.name)) == email.lower()).limit(2)
        )
    ).all()
    return rows[0] if len(rows) == 1 else None


def _refusal_reason(principal: Principal | None) -> str | None:
    if principal is None:
        return "unknown_account"
    if principal.kind != "person":
        return "agency"
    if principal.role not in WEB_ROLES:
        return "no_dashboard_role"
    if principal.disabled_at is not None:
        return "disabled"
    if not principal.password_hash:
        return "no_password"
    if principal.locked_until is not None and principal.locked_until > utcnow():
        return "locked"
    return None


def _reserve_attempt_statement(principal_id: str, settings: Settings) -> Any:
    """One password check reserved as a failure, atomically, before it is made.

    Counting after the check let parallel guesses all pass the lock-out test
    before any failure was written (41 at once had 30-38 checked on PostgreSQL).
    Reserving first, in one conditional UPDATE, means at most `login_max_failures`
    passwords are checked per lock-out window whatever the concurrency: the row
    lock (PostgreSQL) or the write lock (SQLite) orders the reservations, and the
    one that reaches the maximum also sets the lock. A lock that has run out
    starts a fresh count. Success gives the reservation back (`_succeeded`).
    The caller commits the reservation at once (`check_sign_in`).
    """
    now = utcnow()
    failures = col(Principal.failed_logins)
    locked_until = col(Principal.locked_until)
    expired = and_(locked_until.is_not(None), locked_until <= now)
    counted = case((expired, 1), else_=failures + 1)
    return (
        update(Principal)
        .where(
            col(Principal.id) == principal_id,
            or_(and_(locked_until.is_(None), failures < settings.login_max_failures), expired),
        )
        .values(
            failed_logins=counted,
            locked_until=case(
                (
                    counted >= settings.login_max_failures,
                    literal(now + timedelta(minutes=settings.login_lockout_minutes), UTCDateTime()),
                ),
                else_=null(),
            ),
        )
        .returning(failures)
        .execution_options(synchronize_session=False)
    )


async def _reserve_attempt(
    session: AsyncSession, principal: Principal, settings: Settings
) -> int | None:
    """The attempt's number in this window, or None when the account is locked."""
    attempt = await session.scalar(_reserve_attempt_statement(principal.id, settings))
    if attempt is None:
        # Counted up to the maximum without a lock (the maximum was lowered since):
        # lock for one window rather than refuse for ever.
        await session.execute(
            update(Principal)
            .where(col(Principal.id) == principal.id, col(Principal.locked_until).is_(None))
            .values(locked_until=utcnow() + timedelta(minutes=settings.login_lockout_minutes))
            .execution_options(synchronize_session=False)
        )
    return None if attempt is None else int(attempt)


async def _succeeded(session: AsyncSession, principal: Principal) -> None:
    await session.execute(
        update(Principal)
        .where(col(Principal.id) == principal.id)
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )


async def check_sign_in(
    session: AsyncSession,
    settings: Settings,
    email: str,
    password: str,
    admit_refusal: Callable[[str], bool] = lambda action: True,
) -> SignInOutcome:
    """Decide a sign-in attempt and record it; the caller commits either way.

    A refusal is recorded only if `admit_refusal` agrees: whoever tries is not yet
    anyone, so their attempts count against their address's budget (`audit.flood`).
    """
    email = email.strip()
    principal = await _find(session, email) if 0 < len(email) <= MAX_EMAIL else None
    reason = _refusal_reason(principal)
    if len(password) > MAX_PASSWORD:
        reason = reason or "password_too_long"
    if reason is not None or principal is None or principal.password_hash is None:
        await run_in_threadpool(verify_password, _dummy_hash(), password[:MAX_PASSWORD])
        if admit_refusal("auth.sign_in"):
            _audit(session, principal, "refused", reason or "unknown_account")
        return SignInOutcome(principal, reason or "unknown_account")
    attempt = await _reserve_attempt(session, principal, settings)
    if attempt is None and admit_refusal("auth.sign_in"):  # locked by parallel attempts
        _audit(session, principal, "refused", "locked")
    # Committed at once, before the slow password check: parallel attempts must
    # see the reservation, and holding the row (or SQLite's write lock) during
    # the check would queue every other request behind it.
    await commit_now(session)
    forget_recorded(session)
    if attempt is None:
        await run_in_threadpool(verify_password, _dummy_hash(), password)
        return SignInOutcome(principal, "locked")
    if not await run_in_threadpool(verify_password, principal.password_hash, password):
        if admit_refusal("auth.sign_in"):
            _audit(session, principal, "refused", "bad_password")
        if attempt >= settings.login_max_failures:
            record(
                session,
                principal,
                AuditEntry(
                    action="auth.lock",
                    purpose="authentication",
                    outcome="locked",
                    detail={"minutes": settings.login_lockout_minutes},
                ),
            )
        return SignInOutcome(principal, "bad_password")
    await _succeeded(session, principal)
    _audit(session, principal, "ok", "ok")
    return SignInOutcome(principal, "ok")


def _audit(session: AsyncSession, principal: Principal | None, outcome: str, reason: str) -> None:
    # The typed email is never recorded: for an unknown account it may be a
    # mistyped password or someone else's address.
    record(
        session,
        principal,
        AuditEntry(
            action="auth.sign_in",
            purpose="authentication",
            outcome=outcome,
            detail={} if outcome == "ok" else {"reason": reason},
        ),
    )
