"""Creating principals, issuing and revoking their tokens, resolving a token."""

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.concerns.vocab import AgencyType, Role
from aggregator.core.driver import Fast
from aggregator.core.rows import Guard
from aggregator.core.types import utcnow
from aggregator.principals.models import ApiToken, Principal

TOKEN_PREFIX = "cat_"  # noqa: S105  (a prefix, not a secret)


class PrincipalExistsError(ValueError):
    """A principal's name is its login: two with one name would be ambiguous."""


def hash_token(token: str) -> str:
    """Tokens carry 256 random bits, so a fast hash is safe and keeps lookups O(1)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    token: str
    principal: Principal


async def _unique_name(session: AsyncSession, name: str) -> None:
    if await session.scalar(select(col(Principal.id)).where(col(Principal.name) == name)):
        raise PrincipalExistsError(f"a principal named {name!r} already exists")


async def issue_token(session: AsyncSession, principal: Principal) -> IssuedToken:
    token_id = "tok_" + secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    session.add(ApiToken(id=token_id, principal_id=principal.id, token_hash=hash_token(token)))
    await session.flush()
    return IssuedToken(token_id, token, principal)


async def add_agency(session: AsyncSession, name: str, agency_type: AgencyType) -> IssuedToken:
    await _unique_name(session, name)
    agency = Principal(kind="agency", name=name, agency_type=agency_type.value)
    session.add(agency)
    await session.flush()
    return await issue_token(session, agency)


async def add_user(
    session: AsyncSession, email: str, role: Role, password_hash: str | None = None
) -> IssuedToken:
    await _unique_name(session, email)
    user = Principal(kind="person", name=email, role=role.value, password_hash=password_hash)
    session.add(user)
    await session.flush()
    return await issue_token(session, user)


_principal = Principal.__table__  # type: ignore[attr-defined]
_token = ApiToken.__table__  # type: ignore[attr-defined]
_PRINCIPAL_COLUMNS = tuple(c.name for c in _principal.columns)


def _live_token(*columns: Any, hash_param: str) -> Any:
    """SELECT `columns` of a live token (not revoked) whose principal is enabled,
    the token's hash bound as `hash_param`: what every way in checks."""
    return (
        select(*columns)
        .select_from(_token.join(_principal, _token.c.principal_id == _principal.c.id))
        .where(
            _token.c.token_hash == bindparam(hash_param),
            _token.c.revoked_at.is_(None),
            _principal.c.disabled_at.is_(None),
        )
    )


_BY_TOKEN = Fast(_live_token(*_principal.columns, hash_param="token_hash"))
# Principals already built, by id with the row they were built from: every request
# still asks the database (revocation is immediate), but an unchanged principal is
# not rebuilt. They are shared between requests, so callers only read them.
_built: dict[str, tuple[tuple[Any, ...], Principal]] = {}


async def principal_for_token(session: AsyncSession, token: str) -> Principal | None:
    """The live principal behind a token, or None if unknown, revoked or disabled."""
    return await _principal_for_hash(session, hash_token(token))


async def _principal_for_hash(session: AsyncSession, token_hash: str) -> Principal | None:
    row = await _BY_TOKEN.first(session, token_hash=token_hash)
    if row is None:
        _recent.pop(token_hash, None)
        return None
    values = tuple(row)
    known = _built.get(values[0])
    if known is not None and known[0] == values:
        return known[1]
    principal = Principal(**dict(zip(_PRINCIPAL_COLUMNS, values, strict=True)))
    if len(_built) > 10_000:
        _built.clear()
    _built[values[0]] = (values, principal)
    return principal


# The statement that stores a concern checks its caller's token itself (`Caller`), so
# the intake path need not ask the database first. Principals found that way are
# remembered this long, by token hash; anything else asks every time.
CALLER_CACHE_SECONDS = 30.0
_recent: dict[str, tuple[float, Principal]] = {}

#: True while the token `caller_token_hash` is live and belongs to the principal
#: `agency_id` (the concern's own column): a `Guard` on the concern's insert.
TOKEN_STILL_LIVE = exists(
    _live_token(_token.c.id, hash_param="caller_token_hash").where(
        _principal.c.id == bindparam("agency_id")
    )
)


@dataclass(frozen=True)
class Caller:
    """A principal found by its token, perhaps from the last CALLER_CACHE_SECONDS.

    Saves the intake a round trip per request. It is safe because whatever the
    caller writes checks the token again in the same statement (`guard`): a token
    revoked a moment ago writes nothing, and `still_live` then tells the caller 401.
    """

    principal: Principal
    token_hash: str

    def guard(self) -> Guard:
        return Guard(TOKEN_STILL_LIVE, {"caller_token_hash": self.token_hash})

    async def still_live(self, session: AsyncSession) -> bool:
        return await _principal_for_hash(session, self.token_hash) is not None


def recent_caller(token_hash: str) -> Caller | None:
    """The caller behind a token (by its hash) seen in the last CALLER_CACHE_SECONDS."""
    found = _recent.get(token_hash)
    if found is not None and found[0] > time.monotonic():
        return Caller(found[1], token_hash)
    return None


async def look_up_caller(session: AsyncSession, token_hash: str) -> Caller | None:
    """The caller behind a token (by its hash), from the database; remembered for
    `recent_caller`. None if the token is unknown, revoked or its principal disabled."""
    now = time.monotonic()
    principal = await _principal_for_hash(session, token_hash)
    if principal is None:
        return None
    if len(_recent) > 10_000:
        _recent.clear()
    _recent[token_hash] = (now + CALLER_CACHE_SECONDS, principal)
    return Caller(principal, token_hash)


async def revoke(
    session: AsyncSession, token_id: str | None = None, principal: str | None = None
) -> int:
    """Revoke one token by id, or every token of a principal (by id or name)."""
    stmt = update(ApiToken).where(col(ApiToken.revoked_at).is_(None)).values(revoked_at=utcnow())
    if token_id:
        stmt = stmt.where(col(ApiToken.id) == token_id)
    elif principal:
        ids = select(col(Principal.id)).where(
            (col(Principal.id) == principal) | (col(Principal.name) == principal)
        )
        stmt = stmt.where(col(ApiToken.principal_id).in_(ids.scalar_subquery()))
    else:
        raise ValueError("name a token id or a principal")
    result = await session.execute(stmt)
    return int(result.rowcount)  # type: ignore[attr-defined]


async def list_principals(session: AsyncSession, kind: str) -> list[Principal]:
    return list(
        (
            await session.scalars(
                select(Principal).where(col(Principal.kind) == kind).order_by(col(Principal.name))
            )
        ).all()
    )
