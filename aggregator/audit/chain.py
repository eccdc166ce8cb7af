"""Sealing audit events into an HMAC hash chain, and verifying it.

Writers insert unsealed events concurrently; one sealer at a time (an advisory
lock on PostgreSQL, the write lock on SQLite) chains them in the order it finds
them committed. Verification names the first event altered, removed or inserted.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from aggregator.audit.models import AuditEvent
from aggregator.core.db import Database
from aggregator.core.types import utcnow

SEAL_LOCK_KEY = 0x6175646974  # "audit"
GENESIS = "0" * 64
_BATCH = 1000


def event_digest(key: bytes, event: Any, seq: int, prev_hash: str) -> str:
    """HMAC over every field a reader relies on, bound to its place in the chain.

    `event` is an `AuditEvent` or a row of its table (what the sealer reads).
    """
    payload = json.dumps(
        [
            seq,
            prev_hash,
            event.id,
            event.occurred_at.isoformat(),
            event.principal_id,
            event.principal_name,
            event.action,
            event.object_type,
            event.object_id,
            event.purpose,
            event.outcome,
            event.detail,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


async def _take_seal_lock(session: AsyncSession) -> None:
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEAL_LOCK_KEY})


_events = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD = (
    select(_events.c.seq, _events.c.hash)
    .where(_events.c.seq.is_not(None))
    .order_by(_events.c.seq.desc())
    .limit(1)
)
_UNSEALED = select(_events).where(_events.c.seq.is_(None)).order_by(_events.c.id).limit(_BATCH)
# A batch's seals go in one statement on PostgreSQL, one executemany elsewhere.
_SEAL_PG = text(
    "UPDATE audit_event SET seq = u.seq, prev_hash = u.prev_hash, hash = u.hash "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:seqs AS bigint[]), CAST(:prevs AS text[]), "
    "CAST(:hashes AS text[])) AS u(id, seq, prev_hash, hash) WHERE audit_event.id = u.id"
)
_SEAL = (
    update(_events)
    .where(_events.c.id == bindparam("event_id"))
    .values(seq=bindparam("new_seq"), prev_hash=bindparam("new_prev"), hash=bindparam("new_hash"))
)


async def seal_pending(db: Database) -> int:
    """Chain every committed, unsealed event; returns how many were sealed.

    Events are read as plain rows and their seals written per batch: every request
    writes events, so this runs for each of them, once.
    """
    key = db.settings.audit_key.get_secret_value().encode()
    sealed = 0
    while True:
        async with db.session() as session:
            await _take_seal_lock(session)
            head = (await session.execute(_HEAD)).first()
            seq: int = (head[0] or 0) if head else 0
            prev: str = (head[1] or GENESIS) if head else GENESIS
            batch = (await session.execute(_UNSEALED)).all()
            seals: list[tuple[int, int, str, str]] = []
            for event in batch:
                seq += 1
                digest = event_digest(key, event, seq, prev)
                seals.append((event.id, seq, prev, digest))
                prev = digest
            if seals and db.dialect == "postgresql":
                ids, seqs, prevs, hashes = (list(column) for column in zip(*seals, strict=True))
                await session.execute(
                    _SEAL_PG, {"ids": ids, "seqs": seqs, "prevs": prevs, "hashes": hashes}
                )
            elif seals:
                await session.execute(
                    _SEAL,
                    [
                        {"event_id": i, "new_seq": n, "new_prev": p, "new_hash": h}
                        for i, n, p, h in seals
                    ],
                )
            sealed += len(batch)
        if len(batch) < _BATCH:
            return sealed


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    problem: str | None = None
    event_id: int | None = None
    seq: int | None = None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} events verified"
        return f"audit chain broken at event id {self.event_id} (seq {self.seq}): {self.problem}"


async def verify_chain(db: Database) -> Verification:
    """Walk the chain in order and report the first break.

    An event whose own HMAC fails is *altered*, unless the next event chains
    straight over it, in which case it was *inserted*; an event that verifies but
    does not follow its predecessor means events were *removed* before it.
    """
    key = db.settings.audit_key.get_secret_value().encode()
    async with db.session() as session:
        events = list(
            (
                await session.scalars(
                    select(AuditEvent)
                    .where(col(AuditEvent.seq).is_not(None))
                    .order_by(col(AuditEvent.seq))
                )
            ).all()
        )
        grace = timedelta(seconds=db.settings.audit_unsealed_grace_seconds)
        stale = (
            await session.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.seq).is_(None))
                .where(col(AuditEvent.occurred_at) < utcnow() - grace)
                .order_by(col(AuditEvent.id))
                .limit(1)
            )
        ).first()
    prev, expected_seq = GENESIS, 1
    for i, event in enumerate(events):
        assert event.seq is not None
        self_ok = event.hash == event_digest(key, event, event.seq, event.prev_hash or "")
        follows = event.prev_hash == prev and event.seq == expected_seq
        if not self_ok:
            nxt = events[i + 1] if i + 1 < len(events) else None
            inserted = nxt is not None and nxt.prev_hash == prev
            return Verification(
                False,
                i,
                "inserted: it is not part of the chain"
                if inserted
                else "altered: its content no longer matches its seal",
                event.id,
                event.seq,
            )
        if not follows:
            return Verification(
                False,
                i,
                "removed: events before this one are missing from the chain",
                event.id,
                event.seq,
            )
        prev, expected_seq = event.hash or "", event.seq + 1
    if stale is not None:
        return Verification(
            False,
            len(events),
            "inserted: an unsealed event older than any commit could be",
            stale.id,
            None,
        )
    return Verification(True, len(events))
