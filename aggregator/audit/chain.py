"""Sealing audit events into an HMAC hash chain, and verifying it.

Writers insert unsealed events concurrently; one sealer at a time (an advisory
lock on PostgreSQL, the write lock on SQLite) chains them in the order it finds
them committed. Verification names the first event altered, removed or inserted.

Against a database writer without the key, the chain alone is not enough: such a
writer can delete its newest events, or unseal a run of them and let the sealer
chain them again after editing. So the sealer seals only events younger than the
grace period and never seals onto a head that no longer continues the one it
knows; and the heads it produces are anchored outside the database (see
`anchor.py`), in the process that sealed them and, optionally, in a file. A
verification starts where the last one ended (its checkpoint) unless asked for a
full walk, so that the audit page does not read the whole trail on every view.
"""

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, Select, bindparam, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from aggregator.audit.anchor import GENESIS, AnchorError, AnchorFile, AnchorLine, Head
from aggregator.audit.models import AuditEvent
from aggregator.audit.service import AuditEntry, record
from aggregator.core.db import Database
from aggregator.core.types import utcnow

log = logging.getLogger("aggregator.audit")

SEAL_LOCK_KEY = 0x6175646974  # "audit"
_BATCH = 1000
# Anchored heads looked up per query when checking that the chain still holds them.
_LOOKUP_BATCH = 500
# Lines read back from the end of the anchor file for the newest anchor when a
# process starts sealing (appends from concurrent processes are only locally out of order).
_RESUME_LINES = 200


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


# Only events younger than the grace period: an older unsealed event was inserted
# late or had its seal removed, and chaining it would hide that (verify reports it),
# unless an operator who examined it names it (`aggregator audit seal-late`).
def _unsealed(late: frozenset[int] = frozenset()) -> Select[Any]:
    young: ColumnElement[bool] = _events.c.occurred_at >= bindparam("cutoff")
    if late:
        young = or_(young, _events.c.id.in_(sorted(late)))
    return (
        select(_events).where(_events.c.seq.is_(None), young).order_by(_events.c.id).limit(_BATCH)
    )


_UNSEALED = _unsealed()
_STALE = (
    select(_events.c.id)
    .where(_events.c.seq.is_(None))
    .where(_events.c.occurred_at < bindparam("cutoff"))
    .order_by(_events.c.id)
)
_HASH_AT = select(_events.c.hash).where(_events.c.seq == bindparam("at_seq"))
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


@dataclass
class _ChainState:
    """What this process knows of the chain, which the database's writers cannot change.

    `sealed` is the newest head this process sealed; `checkpoint` the newest head
    it verified (everything up to it walked and found sound); `anchor_read` how
    many bytes of the anchor file it has checked; `anchor_newest` the newest
    anchored head seen there.
    """

    sealed: Head | None = None
    checkpoint: Head | None = None
    anchor_read: int = 0
    anchor_newest: AnchorLine | None = None
    resumed: bool = False
    checkpoint_resumed: bool = False
    refusal: str | None = None


_states: "WeakKeyDictionary[Database, _ChainState]" = WeakKeyDictionary()


def _state(db: Database) -> _ChainState:
    state = _states.get(db)
    if state is None:
        state = _states[db] = _ChainState()
    return state


def _anchor_file(db: Database) -> AnchorFile | None:
    path = db.settings.audit_anchor_path
    return AnchorFile(path, _key(db)) if path else None


def _key(db: Database) -> bytes:
    return db.settings.audit_key.get_secret_value().encode()


def _resume(state: _ChainState, anchors: AnchorFile | None, *, checkpoint: bool) -> None:
    """A process that starts takes up where the anchor file says the chain had got to.

    The newest anchor comes from the file's last lines; with `checkpoint`, the
    last verification line too (how far the chain and the file were checked), so
    that a fresh process verifies incrementally as well. Bad lines are skipped
    here: verification reads them and reports them.
    """
    if anchors is None or (state.resumed and (state.checkpoint_resumed or not checkpoint)):
        return
    newest: AnchorLine | None = None
    for seen, line in enumerate(anchors.last_lines(), start=1):
        if isinstance(line, AnchorError):
            continue
        if newest is None or line.head.seq > newest.head.seq:
            newest = line
        if checkpoint and line.kind == "verified" and line.upto is not None:
            if state.checkpoint is None:
                state.checkpoint, state.anchor_read = line.head, line.upto
            break
        if not checkpoint and seen >= _RESUME_LINES:
            break
    if newest is not None and (
        state.anchor_newest is None or newest.head.seq > state.anchor_newest.head.seq
    ):
        state.anchor_newest = newest
    state.resumed = True
    state.checkpoint_resumed = state.checkpoint_resumed or checkpoint


def _newest_known(state: _ChainState) -> tuple[str, Head] | None:
    """The newest head known to have been in the chain, and what it is."""
    known: list[tuple[str, Head]] = []
    if state.sealed is not None:
        known.append(("the head this process last sealed", state.sealed))
    if state.checkpoint is not None:
        known.append(("the last verified checkpoint", state.checkpoint))
    if state.anchor_newest is not None:
        known.append((state.anchor_newest.describe(), state.anchor_newest.head))
    return max(known, key=lambda item: item[1].seq) if known else None


async def _hash_at(session: AsyncSession, seq: int) -> str | None:
    if seq == 0:
        return GENESIS
    return (await session.execute(_HASH_AT, {"at_seq": seq})).scalar()


async def _continues(session: AsyncSession, head: Head, known: Head) -> bool:
    """Whether the chain's head still follows a head known to have been in it."""
    if head.seq < known.seq:
        return False
    if head.seq == known.seq:
        return head.hash == known.hash
    return await _hash_at(session, known.seq) == known.hash


async def seal_pending(db: Database, *, late: frozenset[int] = frozenset()) -> int:
    """Chain every committed, unsealed event younger than the grace period.

    Returns how many were sealed. Events are read as plain rows and their seals
    written per batch: every request writes events, so this runs for each of them,
    once. Nothing is sealed when the chain's head no longer continues the newest
    head this process knows (sealed, verified or anchored): sealing then would
    give the tampered tail fresh seals. With an anchor file, the new head is
    appended to it after the seal commits.
    """
    key = _key(db)
    state = _state(db)
    anchors = _anchor_file(db)
    if anchors is not None and not state.resumed:
        await asyncio.to_thread(_resume, state, anchors, checkpoint=False)
    grace = timedelta(seconds=db.settings.audit_unsealed_grace_seconds)
    sealed = 0
    new_head: Head | None = None
    while True:
        seals: list[tuple[int, int, str, str]] = []
        batch: list[Any] = []
        refused = False
        async with db.session() as session:
            await _take_seal_lock(session)
            row = (await session.execute(_HEAD)).first()
            head = Head(row[0], row[1] or "") if row else Head(0, GENESIS)
            known = _newest_known(state)
            if known is not None and not await _continues(session, head, known[1]):
                refusal = f"the chain's head {head} does not continue {known[0]} ({known[1]})"
                if refusal != state.refusal:
                    log.error(
                        "audit sealing stopped: %s; events stay unsealed until this is "
                        "investigated (run `aggregator audit verify`)",
                        refusal,
                    )
                    state.refusal = refusal
                refused = True
            else:
                unsealed = _unsealed(late) if late else _UNSEALED
                batch = list((await session.execute(unsealed, {"cutoff": utcnow() - grace})).all())
            seq, prev = head.seq, head.hash
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
        if seals:
            new_head = state.sealed = Head(seq, prev)
            state.refusal = None
        sealed += len(batch)
        if refused or len(batch) < _BATCH:
            break
    if new_head is not None and anchors is not None:
        try:  # fsync off the event loop
            await asyncio.to_thread(anchors.append, "seal", new_head)
        except OSError as exc:  # the seal stands; the next one anchors a later head
            _log_append_failure(anchors, exc)
    return sealed


def _log_append_failure(anchors: AnchorFile, exc: OSError) -> None:
    log.error("could not append to the audit anchor file %s: %s", anchors.path, exc.strerror)


@dataclass(frozen=True)
class Verification:
    """The outcome of one verification, and how much it read to reach it."""

    ok: bool
    checked: int
    problem: str | None = None
    event_id: int | None = None
    seq: int | None = None
    full: bool = True  # it walked the whole chain (asked to, or had no checkpoint)
    from_seq: int = 0  # the checkpoint it started after (0: the start of the chain)
    head: Head | None = None  # the chain's head, when intact
    anchors_checked: int = 0

    def describe(self) -> str:
        if self.ok:
            text = f"audit chain intact: {self.checked} events verified"
            if self.from_seq:
                text += f" after the checkpoint at seq {self.from_seq}"
            if self.anchors_checked:
                text += f", {self.anchors_checked} anchors checked"
            if self.head is not None:
                text += f"; head at seq {self.head.seq}"
            return text
        if self.event_id is None:
            return f"audit chain broken: {self.problem}"
        return f"audit chain broken at event id {self.event_id} (seq {self.seq}): {self.problem}"


@dataclass
class _Run:
    """One verification's running totals, to report how far it got when it stops."""

    full: bool
    from_seq: int = 0
    checked: int = 0
    anchors_checked: int = 0
    refs: list[tuple[str, Head]] = field(default_factory=list)

    def fail(
        self, problem: str, event_id: int | None = None, seq: int | None = None
    ) -> Verification:
        return Verification(
            False,
            self.checked,
            problem,
            event_id,
            seq,
            full=self.full,
            from_seq=self.from_seq,
            anchors_checked=self.anchors_checked,
        )


def _check_batch(
    key: bytes, batch: Sequence[Any], prev: str, expected: int
) -> tuple[int, str, int, Any | None]:
    """How many events in order verify and follow on; the chain's state; the first that does not."""
    checked = 0
    for event in batch:
        if event.hash != event_digest(key, event, event.seq, event.prev_hash or ""):
            return checked, prev, expected, event
        if event.prev_hash != prev or event.seq != expected:
            return checked, prev, expected, event
        prev, expected = event.hash, event.seq + 1
        checked += 1
    return checked, prev, expected, None


async def _walk(
    session: AsyncSession, key: bytes, run: _Run, start: Head | None, last_seq: int
) -> Verification | None:
    """Check each event from `start` to `last_seq` in order; the first break, or None.

    An event whose own HMAC fails is *altered*, unless the next event chains
    straight over it, in which case it was *inserted*; an event that verifies but
    does not follow its predecessor means events were *removed* before it.
    """
    prev, expected = GENESIS, 1
    if start is not None and start.seq > 0:
        row = (await session.execute(select(_events).where(_events.c.seq == start.seq))).first()
        if (
            row is None
            or row.hash != start.hash
            or row.hash != event_digest(key, row, row.seq, row.prev_hash or "")
        ):
            return run.fail(
                f"the checkpoint verified earlier (seq {start.seq}) is no longer in the chain "
                "as it was: sealed events were altered, removed or unsealed since; run a full "
                "verification to find the first",
                row.id if row else None,
                start.seq,
            )
        prev, expected = start.hash, start.seq + 1
    after = expected - 1
    while after < last_seq:
        batch = (
            await session.execute(
                select(_events)
                .where(_events.c.seq > after, _events.c.seq <= last_seq)
                .order_by(_events.c.seq)
                .limit(_BATCH)
            )
        ).all()
        if not batch:
            break
        # The HMACs are computed in a thread so that a long walk leaves the event loop free.
        checked, prev, expected, bad = await asyncio.to_thread(
            _check_batch, key, batch, prev, expected
        )
        run.checked += checked
        if bad is not None and bad.hash != event_digest(key, bad, bad.seq, bad.prev_hash or ""):
            nxt = (
                await session.execute(
                    select(_events.c.prev_hash)
                    .where(_events.c.seq > bad.seq)
                    .order_by(_events.c.seq)
                    .limit(1)
                )
            ).first()
            inserted = nxt is not None and nxt.prev_hash == prev
            return run.fail(
                "inserted: it is not part of the chain"
                if inserted
                else "altered: its content no longer matches its seal",
                bad.id,
                bad.seq,
            )
        if bad is not None:
            return run.fail(
                "removed: events before this one are missing from the chain", bad.id, bad.seq
            )
        after = batch[-1].seq
    return None


async def _check_anchored(
    session: AsyncSession, run: _Run, anchors: AnchorFile, start: int, end: int
) -> Verification | None:
    """Every anchor line read must name a (seq, hash) the chain still holds."""

    async def check(lines: list[AnchorLine]) -> Verification | None:
        seqs = sorted({line.head.seq for line in lines if line.head.seq > 0})
        found = (
            dict(
                (
                    await session.execute(
                        select(_events.c.seq, _events.c.hash).where(_events.c.seq.in_(seqs))
                    )
                ).all()
            )
            if seqs
            else {}
        )
        found[0] = GENESIS
        for line in lines:
            if found.get(line.head.seq) != line.head.hash:
                return run.fail(
                    f"{line.describe()} is no longer in the chain: the event at that seq "
                    + ("was rewritten" if line.head.seq in found else "is missing"),
                    None,
                    line.head.seq,
                )
        return None

    chunk: list[AnchorLine] = []
    for line in anchors.lines(start, end):
        chunk.append(line)
        if len(chunk) >= _LOOKUP_BATCH:
            if (broken := await check(chunk)) is not None:
                return broken
            chunk = []
    return await check(chunk) if chunk else None


def _scan(
    anchors: AnchorFile, start: int, end: int, newest: AnchorLine | None
) -> tuple[int, AnchorLine | None]:
    """Check every line's HMAC between two offsets; how many, and the newest anchor."""
    count = 0
    for line in anchors.lines(start, end):
        count += 1
        if newest is None or line.head.seq > newest.head.seq:
            newest = line
    return count, newest


async def verify_chain(
    db: Database,
    *,
    full: bool = False,
    head: Head | None = None,
    late: frozenset[int] = frozenset(),
) -> Verification:
    """Verify the chain as it stands, without sealing anything.

    Incremental unless `full`: from the last checkpoint this process verified (or
    the anchor file recorded), and only the anchor lines written since. It fails
    when an event is altered, removed or inserted; when an unsealed event is older
    than the grace period; when the chain ends before, or no longer holds, the
    newest anchor, `head`, or the head this process last sealed; or when an anchor
    line's HMAC is wrong. Unsealed events named in `late` are not reported.
    """
    key = _key(db)
    state = _state(db)
    anchors = _anchor_file(db)
    run = _Run(full=full)
    # The anchor file is read before the chain: each line was written after its
    # seal committed, so the chain read next must contain every head it names.
    start = end = 0
    newest = None if full else state.anchor_newest
    if anchors is not None:
        if not full:
            if not state.checkpoint_resumed:  # may read far back: off the event loop
                await asyncio.to_thread(_resume, state, anchors, checkpoint=True)
            newest = state.anchor_newest
        end = await asyncio.to_thread(anchors.end_of_complete_lines, anchors.size())
        if end < state.anchor_read:
            return run.fail(
                f"the anchor file {anchors.path} is shorter than when it was last read "
                f"({end} bytes, was {state.anchor_read}): it was truncated or replaced"
            )
        start = 0 if full else state.anchor_read
        try:
            count, newest = await asyncio.to_thread(_scan, anchors, start, end, newest)
        except AnchorError as exc:
            return run.fail(str(exc))
        run.anchors_checked = count
    if newest is not None:
        run.refs.append((newest.describe(), newest.head))
    if head is not None:
        run.refs.append((f"the head {head.seq}:{head.hash[:16]}… given to check against", head))
    if state.sealed is not None:
        run.refs.append(("the head this process last sealed", state.sealed))
    checkpoint = None if full else state.checkpoint
    run.from_seq = checkpoint.seq if checkpoint else 0
    run.full = checkpoint is None  # asked for, or nothing verified yet to start after

    grace = timedelta(seconds=db.settings.audit_unsealed_grace_seconds)
    async with db.session() as session:
        row = (await session.execute(_HEAD)).first()
        chain_head = Head(row[0], row[1] or "") if row else Head(0, GENESIS)
        ends_before = [
            *run.refs,
            *([("the checkpoint verified earlier", checkpoint)] if checkpoint else []),
        ]
        for name, ref in ends_before:
            if ref.seq > chain_head.seq:
                return run.fail(
                    f"the chain ends at seq {chain_head.seq}, before {name} at seq {ref.seq}: "
                    "its newest events were deleted or unsealed",
                    None,
                    chain_head.seq,
                )
        if (broken := await _walk(session, key, run, checkpoint, chain_head.seq)) is not None:
            return broken
        stale_query = _STALE.where(_events.c.id.not_in(sorted(late))) if late else _STALE
        stale = (await session.execute(stale_query.limit(1), {"cutoff": utcnow() - grace})).scalar()
        if stale is not None:
            return run.fail(
                "inserted: an unsealed event older than any commit could be (it was written "
                "late, or its seal was removed)",
                stale,
                None,
            )
        for name, ref in run.refs:
            if await _hash_at(session, ref.seq) != ref.hash:
                return run.fail(
                    f"{name} is no longer in the chain: the event at seq {ref.seq} was rewritten",
                    None,
                    ref.seq,
                )
        if anchors is not None:
            try:
                broken = await _check_anchored(session, run, anchors, start, end)
            except AnchorError as exc:  # changed between the two reads
                return run.fail(str(exc))
            if broken is not None:
                return broken
    advanced = state.checkpoint is None or chain_head.seq > state.checkpoint.seq
    state.checkpoint = chain_head
    state.anchor_read = max(state.anchor_read, end)
    if newest is not None:
        state.anchor_newest = newest
    if anchors is not None and advanced and chain_head.seq > 0:
        try:
            await asyncio.to_thread(anchors.append, "verified", chain_head, end)
        except OSError as exc:
            _log_append_failure(anchors, exc)
    return Verification(
        True,
        run.checked,
        full=run.full,
        from_seq=run.from_seq,
        head=chain_head,
        anchors_checked=run.anchors_checked,
    )


async def verify_and_seal(
    db: Database, *, full: bool = False, head: Head | None = None
) -> Verification:
    """What `audit verify` and the audit page do: check, and only then seal.

    Sealing first would chain whatever a writer had unsealed before it was
    looked at. A chain found intact is sealed (fresh events only) and the new
    events verified on top of it, so the answer covers events just committed.
    """
    first = await verify_chain(db, full=full, head=head)
    if not first.ok or await seal_pending(db) == 0:
        return first
    second = await verify_chain(db)
    return replace(
        second,
        checked=first.checked + second.checked,
        full=first.full,
        from_seq=first.from_seq,
        anchors_checked=first.anchors_checked + second.anchors_checked,
    )


class LateSealError(ValueError):
    """An event named for a late seal that is not one a late seal is for."""


async def seal_late(db: Database, ids: Iterable[int]) -> Verification:
    """Seal unsealed events older than the grace period that an operator has examined.

    For events an outage left unsealed (a process stopped between their commit
    and the next seal, and came back after the grace period): otherwise they are
    reported as inserted for ever. The rest of the chain must verify, each id
    must be such an event, and the decision goes on the record as an
    `audit.late_seal` event naming them. Only whoever holds the audit key can
    do this, and that key could forge events anyway.
    """
    late = frozenset(ids)
    cutoff = utcnow() - timedelta(seconds=db.settings.audit_unsealed_grace_seconds)
    async with db.session() as session:
        rows = {
            row.id: row
            for row in await session.execute(
                select(_events.c.id, _events.c.seq, _events.c.occurred_at).where(
                    _events.c.id.in_(sorted(late))
                )
            )
        }
    for event_id in sorted(late):
        row = rows.get(event_id)
        if row is None or row.seq is not None or row.occurred_at >= cutoff:
            raise LateSealError(
                f"event {event_id} is not an unsealed event older than the grace period"
            )
    check = await verify_chain(db, late=late)
    if not check.ok:
        return check
    async with db.session() as session:
        record(
            session,
            None,
            AuditEntry(
                action="audit.late_seal",
                purpose="audit",
                object_type="audit_event",
                detail={"ids": sorted(late)},
            ),
        )
    await seal_pending(db, late=late)
    return await verify_and_seal(db)


async def current_head(db: Database) -> Head:
    """The newest sealed (seq, hash): what an operator keeps as an anchor of their own."""
    async with db.session() as session:
        row = (await session.execute(_HEAD)).first()
    return Head(row[0], row[1] or "") if row else Head(0, GENESIS)
