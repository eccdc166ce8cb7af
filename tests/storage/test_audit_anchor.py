"""Attacks on the audit chain by a database writer without the key, each of which must fail.

"Another process" is a second `Database` on the same database: it shares the
rows but none of the first one's memory of the chain, as a restarted service or
the `aggregator` command would.
"""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from aggregator.audit.anchor import GENESIS, AnchorError, AnchorFile, Head
from aggregator.audit.chain import (
    LateSealError,
    current_head,
    seal_late,
    seal_pending,
    verify_and_seal,
    verify_chain,
)
from aggregator.audit.models import AuditEvent
from aggregator.audit.service import AuditEntry, record
from aggregator.core.db import Database
from aggregator.core.types import utcnow
from tests import factories as f
from tests.conftest import TEST_AUDIT_KEY, settings_for
from tests.tamper import tamper

Process = Callable[..., Database]


@pytest.fixture
async def process(db: Database) -> AsyncIterator[Process]:
    """Makes other processes' views of the test database, with their own settings."""
    made: list[Database] = []

    def make(**overrides: Any) -> Database:
        other = Database(settings_for(db.settings.database_url, **overrides))
        made.append(other)
        return other

    yield make
    for other in made:
        await other.dispose()


async def _add(db: Database, n: int, *, age: timedelta = timedelta(0)) -> None:
    async with db.session() as session:
        for i in range(n):
            session.add(
                AuditEvent(
                    occurred_at=utcnow() - age,
                    action="test.event",
                    purpose="testing",
                    outcome="ok",
                    object_id=str(i),
                )
            )


async def _by_seq(db: Database) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.seq.is_not(None))  # type: ignore[union-attr]
                    .order_by(AuditEvent.seq)
                )
            ).all()
        )


async def _unseal_from(db: Database, seq: int, **values: Any) -> None:
    """The attack of the issue: clear the seals of every event from `seq` on."""
    async with tamper(db) as session:
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.seq >= seq)  # type: ignore[operator]
            .values(seq=None, prev_hash=None, hash=None, **values)
        )


# The sealer and verify


async def test_sealer_never_chains_an_event_older_than_the_grace_period(db: Database) -> None:
    await _add(db, 1, age=timedelta(hours=1))
    await _add(db, 2)
    assert await seal_pending(db) == 2
    async with db.session() as session:
        unsealed = (
            await session.scalars(select(AuditEvent).where(AuditEvent.seq.is_(None)))  # type: ignore[union-attr]
        ).all()
    assert len(unsealed) == 1 and unsealed[0].occurred_at < utcnow() - timedelta(minutes=30)
    result = await verify_and_seal(db)
    assert not result.ok and result.event_id == unsealed[0].id
    assert "inserted" in (result.problem or "")


async def test_unsealed_and_rewritten_old_events_are_reported_not_rechained(
    db: Database, process: Process
) -> None:
    # Six events sealed an hour ago, by a process long gone.
    then = process(audit_unsealed_grace_seconds=86_400)
    await _add(then, 6, age=timedelta(hours=1))
    assert await seal_pending(then) == 6
    events = await _by_seq(db)
    # A writer clears the seals of the last four, edits one, deletes one, back-dates one.
    await _unseal_from(db, 3)
    async with tamper(db) as session:
        await session.execute(
            update(AuditEvent).where(AuditEvent.id == events[3].id).values(outcome="denied")
        )
        await session.execute(delete(AuditEvent).where(AuditEvent.id == events[4].id))
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.id == events[5].id)
            .values(occurred_at=utcnow() - timedelta(days=400))
        )
    now = process()  # a fresh process (the `aggregator audit verify` command, say)
    result = await verify_and_seal(now)
    assert not result.ok and "inserted" in (result.problem or "")
    assert result.event_id == events[2].id
    # ... and nothing was chained over it, by that verify or by any sealer.
    assert await seal_pending(now) == 0 and await seal_pending(db) == 0
    assert [e.seq for e in await _by_seq(db)] == [1, 2]
    assert not (await verify_chain(process(), full=True)).ok


async def test_the_sealing_process_catches_a_rewritten_tail_and_stops_sealing(
    db: Database,
) -> None:
    await _add(db, 5)
    assert await seal_pending(db) == 5
    # Recent events, unsealed and edited: inside the grace period, so only the
    # head this process remembers shows that they were sealed before.
    await _unseal_from(db, 4, outcome="denied")
    result = await verify_and_seal(db)
    assert not result.ok
    assert "before the head this process last sealed" in (result.problem or "")
    await _add(db, 1)
    assert await seal_pending(db) == 0  # it would give the edited events fresh seals
    assert [e.seq for e in await _by_seq(db)] == [1, 2, 3]


async def test_verify_checks_before_it_seals(db: Database) -> None:
    await _add(db, 3)
    assert await seal_pending(db) == 3
    await _add(db, 2)
    first = await verify_chain(db)
    assert first.ok and first.head is not None and first.head.seq == 3  # checking seals nothing
    assert len(await _by_seq(db)) == 3
    both = await verify_and_seal(db)
    assert both.ok and both.head is not None and both.head.seq == 5


async def test_an_operator_can_seal_events_an_outage_left_unsealed(db: Database) -> None:
    await _add(db, 3)
    await seal_pending(db)
    await _add(db, 2, age=timedelta(hours=2))  # committed, then the service was down
    assert not (await verify_and_seal(db)).ok
    async with db.session() as session:
        late = list(
            (
                await session.scalars(
                    select(AuditEvent.id).where(AuditEvent.seq.is_(None))  # type: ignore[union-attr]
                )
            ).all()
        )
    sealed = (await _by_seq(db))[0].id
    assert sealed is not None
    for wrong in ([sealed], [*late, 10**12]):
        with pytest.raises(LateSealError, match="not an unsealed event older"):
            await seal_late(db, wrong)
    result = await seal_late(db, late)
    assert result.ok, result.describe()
    events = await _by_seq(db)
    assert len(events) == 6 and {e.id for e in events} >= set(late)
    decision = next(e for e in events if e.action == "audit.late_seal")
    assert decision.detail == {"ids": sorted(late)}
    assert (await verify_chain(db, full=True)).ok


async def test_a_late_seal_refuses_a_chain_broken_otherwise(db: Database) -> None:
    await _add(db, 4)
    await seal_pending(db)
    await _unseal_from(db, 3, occurred_at=utcnow() - timedelta(hours=1))
    async with db.session() as session:
        late = list(
            (
                await session.scalars(
                    select(AuditEvent.id).where(AuditEvent.seq.is_(None))  # type: ignore[union-attr]
                )
            ).all()
        )
    result = await seal_late(db, late)  # the head this process sealed is gone
    assert not result.ok and "before the head this process last sealed" in (result.problem or "")
    assert [e.seq for e in await _by_seq(db)] == [1, 2]


# Incremental verification


async def test_incremental_verify_reads_only_new_events(db: Database) -> None:
    await _add(db, 20)
    whole = await verify_and_seal(db)
    assert whole.ok and whole.checked == 20 and whole.from_seq == 0
    await _add(db, 3)
    step = await verify_and_seal(db)
    assert step.ok and step.checked == 3 and step.from_seq == 20
    nothing_new = await verify_and_seal(db)
    assert nothing_new.ok and nothing_new.checked == 0
    full = await verify_and_seal(db, full=True)
    assert full.ok and full.checked == 23 and full.full and full.from_seq == 0


async def test_a_full_walk_finds_what_the_checkpoint_skips(db: Database) -> None:
    await _add(db, 10)
    assert (await verify_and_seal(db)).ok
    victim = (await _by_seq(db))[1]
    async with tamper(db) as session:
        await session.execute(
            update(AuditEvent).where(AuditEvent.id == victim.id).values(purpose="nothing")
        )
    result = await verify_and_seal(db, full=True)
    assert not result.ok and result.event_id == victim.id and "altered" in (result.problem or "")


async def test_a_rewritten_checkpoint_is_reported(db: Database) -> None:
    await _add(db, 4)
    assert (await verify_and_seal(db)).ok
    victim = (await _by_seq(db))[-1]
    async with tamper(db) as session:
        await session.execute(
            update(AuditEvent).where(AuditEvent.id == victim.id).values(outcome="denied")
        )
    result = await verify_chain(db)
    assert not result.ok and "checkpoint verified earlier" in (result.problem or "")


# The anchor file


async def test_every_seal_appends_an_hmac_anchor_line(process: Process, tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    db = process(audit_anchor_path=path)
    await _add(db, 2)
    await seal_pending(db)
    await _add(db, 1)
    await seal_pending(db)
    assert await seal_pending(db) == 0  # nothing sealed, nothing anchored
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["kind"], line["seq"]) for line in lines] == [("seal", 2), ("seal", 3)]
    head = await current_head(db)
    assert lines[-1]["hash"] == head.hash and len(lines[-1]["mac"]) == 64
    assert lines[-1]["at"].startswith(str(utcnow().year))


async def test_deleting_the_newest_events_fails_against_the_anchor(
    process: Process, tmp_path: Path
) -> None:
    path = tmp_path / "anchor.jsonl"
    service = process(audit_anchor_path=path)
    await _add(service, 5)
    assert (await verify_and_seal(service)).ok
    await _add(service, 2)
    await seal_pending(service)
    async with tamper(service) as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.seq > 4))  # type: ignore[operator]
    result = await verify_and_seal(process(audit_anchor_path=path))
    assert not result.ok
    assert "the chain ends at seq 4, before the seal anchor of" in (result.problem or "")
    assert "at seq 7" in (result.problem or "")


async def test_deleting_every_event_fails_against_the_anchor(
    process: Process, tmp_path: Path
) -> None:
    path = tmp_path / "anchor.jsonl"
    service = process(audit_anchor_path=path)
    await _add(service, 3)
    await seal_pending(service)
    async with tamper(service) as session:
        await session.execute(delete(AuditEvent))
    for fresh in (True, False):  # a new process reads the file; the old one remembers too
        verifier = process(audit_anchor_path=path) if fresh else service
        result = await verify_and_seal(verifier, full=fresh)
        assert not result.ok and "the chain ends at seq 0, before" in (result.problem or "")
    assert "seal anchor" in (result.problem or "")


async def test_a_rechained_tail_fails_against_the_anchor(process: Process, tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    service = process(audit_anchor_path=path)
    await _add(service, 5)
    await seal_pending(service)
    await _unseal_from(service, 3, outcome="denied", occurred_at=utcnow())
    # A new process without the anchor would seal them again and find nothing wrong...
    unanchored = process()
    assert await seal_pending(unanchored) == 3
    assert (await verify_chain(unanchored)).ok
    # ... but the anchor holds the hash the chain had at seq 5.
    result = await verify_and_seal(process(audit_anchor_path=path))
    assert not result.ok
    assert "seal anchor" in (result.problem or "") and "no longer in the chain" in (
        result.problem or ""
    )
    assert result.seq == 5


async def test_a_new_sealer_will_not_seal_onto_a_truncated_chain(
    process: Process, tmp_path: Path
) -> None:
    path = tmp_path / "anchor.jsonl"
    service = process(audit_anchor_path=path)
    await _add(service, 4)
    await seal_pending(service)
    await _unseal_from(service, 2, occurred_at=utcnow())
    assert await seal_pending(process(audit_anchor_path=path)) == 0
    assert [e.seq for e in await _by_seq(service)] == [1]


async def test_a_forged_anchor_line_is_reported(process: Process, tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    service = process(audit_anchor_path=path)
    await _add(service, 2)
    await seal_pending(service)
    line = json.loads(path.read_text().splitlines()[0])
    line["seq"] = 1  # claims less than was anchored, with the old MAC
    with path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    result = await verify_and_seal(process(audit_anchor_path=path))
    assert not result.ok and "HMAC is wrong" in (result.problem or "")
    assert str(path) in (result.problem or "")


async def test_a_truncated_anchor_file_is_reported(process: Process, tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    service = process(audit_anchor_path=path)
    await _add(service, 2)
    assert (await verify_and_seal(service)).ok
    path.write_text("")
    result = await verify_chain(service)
    assert not result.ok and "truncated or replaced" in (result.problem or "")


async def test_a_new_process_resumes_from_the_anchored_checkpoint(
    process: Process, tmp_path: Path
) -> None:
    path = tmp_path / "anchor.jsonl"
    service = process(audit_anchor_path=path)
    await _add(service, 30)
    assert (await verify_and_seal(service)).checked == 30
    await _add(service, 2)
    await seal_pending(service)
    later = await verify_and_seal(process(audit_anchor_path=path))
    assert later.ok and later.from_seq == 30 and later.checked == 2
    assert later.anchors_checked >= 1  # the seal of the two, written after the checkpoint


def test_anchor_file_reads_forwards_and_backwards_across_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # 1200 appends, durability not tested
    anchors = AnchorFile(tmp_path / "anchor.jsonl", b"k" * 32)
    for seq in range(1, 1201):  # ~190 KB: several of the backward reader's blocks
        anchors.append("seal" if seq % 7 else "verified", Head(seq, f"{seq:064x}"), seq * 3)
    with (tmp_path / "anchor.jsonl").open("ab") as fh:
        fh.write(b'{"kind":"seal","seq":1201')  # a write still in progress
    end = anchors.end_of_complete_lines(anchors.size())
    assert end < anchors.size()
    forwards = list(anchors.lines(0, end))
    backwards = list(anchors.last_lines())
    assert [line.head.seq for line in forwards] == list(range(1, 1201))
    assert backwards == forwards[::-1]
    assert forwards[6].kind == "verified" and forwards[6].upto == 21
    middle = forwards[600].offset
    assert [line.head.seq for line in anchors.lines(middle, end)] == list(range(601, 1201))
    other_key = AnchorFile(tmp_path / "anchor.jsonl", b"j" * 32)
    with pytest.raises(AnchorError, match="HMAC is wrong"):
        next(other_key.lines(0, end))


# --head


async def test_verify_against_a_head_kept_elsewhere(db: Database, process: Process) -> None:
    await _add(db, 4)
    await seal_pending(db)
    kept = await current_head(db)
    assert (await verify_chain(db, head=kept)).ok
    wrong = await verify_chain(process(), head=Head(kept.seq, "a" * 64))
    assert not wrong.ok and "given to check against" in (wrong.problem or "")
    async with tamper(db) as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
    gone = await verify_chain(process(), head=kept)
    assert not gone.ok and "given to check against" in (gone.problem or "")
    assert "ends at seq 3" in (gone.problem or "")


async def test_api_verify_full_and_head(client: httpx.AsyncClient, db: Database) -> None:
    admin = await f.person(db, "root@hub.example", "admin")
    await _add(db, 3)
    first = (await client.get("/api/v1/audit/verify", headers=f.auth(admin))).json()
    assert first["ok"] is True and first["event_id"] is None and "intact" in first["message"]
    head = first["head"]
    assert Head.parse(head).seq == first["checked"]
    again = await client.get(
        "/api/v1/audit/verify", params={"full": "true", "head": head}, headers=f.auth(admin)
    )
    body = again.json()
    assert again.status_code == 200 and body["ok"] and body["full"] is True
    assert body["checked"] >= first["checked"] and body["from_seq"] == 0
    bad = await client.get("/api/v1/audit/verify", params={"head": "7:xyz"}, headers=f.auth(admin))
    assert bad.status_code == 422
    missing = await client.get(
        "/api/v1/audit/verify", params={"head": f"999:{GENESIS}"}, headers=f.auth(admin)
    )
    assert missing.status_code == 200 and missing.json()["ok"] is False
    assert "given to check against" in missing.json()["problem"]


# The guard of migration 0008


async def test_sealed_events_cannot_be_changed_or_deleted(db: Database) -> None:
    await _add(db, 2)
    await seal_pending(db)
    sealed = (await _by_seq(db))[0]
    attempts = [
        update(AuditEvent).where(AuditEvent.id == sealed.id).values(outcome="denied"),
        update(AuditEvent)
        .where(AuditEvent.id == sealed.id)
        .values(seq=None, prev_hash=None, hash=None),
        delete(AuditEvent).where(AuditEvent.id == sealed.id),
    ]
    for attempt in attempts:
        with pytest.raises(DBAPIError, match="sealed"):
            async with db.session() as session:
                await session.execute(attempt)
    assert (await _by_seq(db))[0].outcome == "ok"
    assert (await verify_chain(db, full=True)).ok


ROLES_SQL = Path(__file__).parents[2] / "deploy" / "postgres-roles.sql"


async def test_the_service_role_cannot_rewrite_the_trail(db: Database) -> None:
    """deploy/postgres-roles.sql's grants, applied as written: the service still records
    and seals, and cannot edit, delete, empty or unguard the trail."""
    if db.dialect != "postgresql":
        pytest.skip("roles and privileges are PostgreSQL's")
    role = f"aggregator_service_{uuid.uuid4().hex[:8]}"
    grants = ROLES_SQL.read_text().split("-- == Part 2", 1)[1].split("\n", 1)[1]
    statements = [
        stmt.strip()
        for stmt in "\n".join(
            line for line in grants.splitlines() if not line.startswith("--")
        ).split(";")
        if stmt.strip()
    ]
    async with db.engine.begin() as conn:
        await conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        for stmt in statements:
            await conn.execute(text(stmt.replace("aggregator_service", f'"{role}"')))
    service = Database(settings_for(db.settings.database_url.replace("//postgres@", f"//{role}@")))
    try:
        for i in range(3):
            async with service.session() as session:
                record(
                    session, None, AuditEntry(action="test.event", purpose="t", object_id=str(i))
                )
        assert await seal_pending(service) == 3
        assert (await verify_and_seal(service, full=True)).ok
        sealed = (await _by_seq(service))[0]
        refused = {
            "permission denied": [
                update(AuditEvent).where(AuditEvent.id == sealed.id).values(outcome="denied"),
                delete(AuditEvent).where(AuditEvent.id == sealed.id),
                text("TRUNCATE audit_event"),
                text("SET session_replication_role = replica"),
            ],
            "sealed": [
                update(AuditEvent).where(AuditEvent.id == sealed.id).values(seq=None),
            ],
            "must be owner": [text("ALTER TABLE audit_event DISABLE TRIGGER ALL")],
        }
        for message, attempts in refused.items():
            for attempt in attempts:
                with pytest.raises(DBAPIError, match=message):
                    async with service.session() as session:
                        await session.execute(attempt)
        assert (await verify_chain(service, full=True)).checked == 3
    finally:
        await service.dispose()
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP OWNED BY "{role}"'))
            await conn.execute(text(f'DROP ROLE "{role}"'))


# The command


def _cli(db: Database, *args: str, anchor: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        "AGGREGATOR_DATABASE_URL": db.settings.database_url,
        "AGGREGATOR_ENVIRONMENT": "test",
        "AGGREGATOR_AUDIT_KEY": TEST_AUDIT_KEY,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    if anchor is not None:
        env["AGGREGATOR_AUDIT_ANCHOR_PATH"] = str(anchor)
    return subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "audit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
async def test_cli_anchor_and_verify(db: Database, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.jsonl"
    await _add(db, 4)
    printed = _cli(db, "anchor", anchor=anchor)
    assert printed.returncode == 0, printed.stderr
    kept = Head.parse(printed.stdout.strip())
    assert kept == await current_head(db) and kept.seq == 4
    full = _cli(db, "verify", "--full", "--head", str(kept), anchor=anchor)
    assert full.returncode == 0 and "4 events verified" in full.stdout
    again = _cli(db, "verify", anchor=anchor)  # resumes from the anchored checkpoint
    assert again.returncode == 0 and "0 events verified after the checkpoint at seq 4" in (
        again.stdout
    )
    bad = _cli(db, "verify", "--head", "4:nothex")
    assert bad.returncode == 2 and "64 hexadecimal characters" in bad.stderr
    not_late = _cli(db, "seal-late", str(kept.seq))
    assert not_late.returncode == 1 and "not an unsealed event older" in not_late.stderr
    async with tamper(db) as session:
        await session.execute(delete(AuditEvent).where(AuditEvent.seq >= 3))  # type: ignore[operator]
    gone = _cli(db, "verify", "--head", str(kept))  # no anchor file: only the kept head
    assert gone.returncode == 2 and "given to check against" in gone.stdout
    anchored = _cli(db, "verify", anchor=anchor)
    assert anchored.returncode == 2 and "anchor" in anchored.stdout
    refused = _cli(db, "anchor", anchor=anchor)
    assert refused.returncode == 2 and "not printing a head" in refused.stderr
