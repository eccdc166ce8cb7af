"""Server-side dashboard sessions: start, resolve, touch, end, and the cookie.

The cookie carries 256 random bits; the table keeps only their SHA-256, so a
copy of the database does not let anyone sign in as the people in it.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from starlette.responses import Response

from aggregator.core.settings import Settings
from aggregator.core.types import utcnow
from aggregator.principals.models import Principal
from aggregator.web.models import WebSession

# Writing last_seen_at on every request would make every page view a write;
# once a minute is precise enough for an idle limit counted in minutes.
_TOUCH_EVERY = timedelta(seconds=60)


def hash_session_id(raw: str) -> str:
    """Session ids carry 256 random bits, so a fast hash is safe for lookups."""
    return hashlib.sha256(raw.encode()).hexdigest()


def is_secure(settings: Settings) -> bool:
    """Cookies are Secure whenever the service is reached over HTTPS."""
    return settings.base_url.lower().startswith("https://")


def cookie_name(settings: Settings) -> str:
    """`__Host-` makes the browser refuse the cookie from a sub-domain or over HTTP."""
    return "__Host-ca_session" if is_secure(settings) else "ca_session"


@dataclass(frozen=True)
class Started:
    raw_id: str
    row: WebSession


async def start(session: AsyncSession, principal_id: str, settings: Settings) -> Started:
    """A fresh id at every sign-in, so an id planted before sign-in is useless."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(
        id_hash=hash_session_id(raw),
        principal_id=principal_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
    )
    session.add(row)
    await session.flush()
    return Started(raw, row)


async def resolve(
    session: AsyncSession, raw: str, settings: Settings
) -> tuple[WebSession, Principal] | None:
    """The live session and its person, or None if unknown, idle too long or expired."""
    if not raw or len(raw) > 128:
        return None
    found = (
        await session.execute(
            select(WebSession, Principal)
            .join(Principal, col(Principal.id) == col(WebSession.principal_id))
            .where(col(WebSession.id_hash) == hash_session_id(raw))
        )
    ).first()
    if found is None:
        return None
    row, principal = found
    now = utcnow()
    idle_limit = timedelta(minutes=settings.session_idle_minutes)
    if row.expires_at <= now or row.last_seen_at + idle_limit <= now:
        await session.delete(row)
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
    return row, principal


async def end(session: AsyncSession, id_hash: str) -> None:
    """Sign-out deletes the row: the cookie, even if copied, opens nothing afterwards."""
    await session.execute(delete(WebSession).where(col(WebSession.id_hash) == id_hash))


async def end_all_for(session: AsyncSession, principal_id: str) -> None:
    """Used when a person's access should stop everywhere (e.g. disabled)."""
    await session.execute(delete(WebSession).where(col(WebSession.principal_id) == principal_id))


async def purge_expired(session: AsyncSession, settings: Settings) -> None:
    """Expired rows are useless; sign-in clears them so the table stays small."""
    now = utcnow()
    idle_cutoff = now - timedelta(minutes=settings.session_idle_minutes)
    await session.execute(
        delete(WebSession).where(
            (col(WebSession.expires_at) <= now) | (col(WebSession.last_seen_at) <= idle_cutoff)
        )
    )


def set_cookie(response: Response, raw: str, settings: Settings) -> None:
    """HttpOnly keeps it from scripts; SameSite=Lax keeps it off cross-site POSTs."""
    response.set_cookie(
        cookie_name(settings),
        raw,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(settings),
    )


def clear_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_secure(settings),
    )
