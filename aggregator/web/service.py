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

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from aggregator.audit.service import AuditEntry, record
from aggregator.core.settings import Settings
from aggregator.core.types import utcnow
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


async def _count_failure(session: AsyncSession, principal: Principal, settings: Settings) -> bool:
    """Add one failure atomically (parallel guesses all count); True if this locks the account."""
    failures = await session.scalar(
        update(Principal)
        .where(col(Principal.id) == principal.id)
        .values(failed_logins=col(Principal.failed_logins) + 1)
        .returning(col(Principal.failed_logins))
        .execution_options(synchronize_session=False)
    )
    if (failures or 0) < settings.login_max_failures:
        return False
    await session.execute(
        update(Principal)
        .where(col(Principal.id) == principal.id)
        .values(
            failed_logins=0,
            locked_until=utcnow() + timedelta(minutes=settings.login_lockout_minutes),
        )
        .execution_options(synchronize_session=False)
    )
    return True


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
    if not await run_in_threadpool(verify_password, principal.password_hash, password):
        locked = await _count_failure(session, principal, settings)
        if admit_refusal("auth.sign_in"):
            _audit(session, principal, "refused", "bad_password")
        if locked:
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
    await session.execute(
        update(Principal)
        .where(col(Principal.id) == principal.id)
        .values(failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
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
