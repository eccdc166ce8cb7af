"""`aggregator matching relink`: every stored record re-resolved with the model in force.

After `matching train`, a model change, or a change in what the population says
(term frequencies, the number of children), records placed earlier may belong
elsewhere: a sparse record that arrived first and was joined on thin evidence, a
record that went to a child of its own because its better-matching child came later.
Relink takes each record in turn, scores it as intake would (against whole
children, `MatchModel.score_child`, its own child without it), and moves it when
another child is clearly its home, or to a child of its own when its child's other
records no longer hold with it. A person's ruling is never overridden: a record with
a `same_child` ruling to a record of its child stays, and one with a
`different_children` ruling to a record of the other child does not move there.

Batches are short transactions, so the service stays up; progress is kept in
`relink_run`, so an interrupted run resumes where it stopped.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from aggregator.audit import AuditEntry, record
from aggregator.children import frequencies, model_store
from aggregator.children import repository as repo
from aggregator.children.identity import features_of, match_values
from aggregator.children.linking import AMBIGUOUS_BITS, NEAR_BITS, children_agree, record_keys
from aggregator.children.models import Child, PairDecision
from aggregator.concerns.models import ChildRecord
from aggregator.core.db import Database
from aggregator.core.rows import new_row
from aggregator.core.types import BigIntId, UTCDateTime, utcnow
from matching import Decision, MatchScore

# A record moves from a child it still matches only when the other child is at
# least this much more likely (bits of evidence): a close call stays where it is.
MOVE_MARGIN_BITS = 8.0


class RelinkRun(SQLModel, table=True):
    """One run of `aggregator matching relink`: where it got to and what it moved."""

    __tablename__ = "relink_run"

    id: int | None = Field(default=None, sa_column=Column(BigIntId, primary_key=True))
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    model_version: int | None = None
    after_record: str = Field(default="", sa_column=Column(String(32), nullable=False))
    records_done: int = 0
    moved: int = 0
    split: int = 0


@dataclass
class RelinkReport:
    run: int
    records: int
    moved: int
    split: int
    resumed: bool


async def _rulings(session: AsyncSession, record_id: str) -> tuple[set[str], set[str]]:
    """Records ruled the same child as this one, and ruled different children."""
    rows = (
        await session.execute(
            select(
                col(PairDecision.record_a), col(PairDecision.record_b), col(PairDecision.decision)
            ).where(
                (col(PairDecision.record_a) == record_id)
                | (col(PairDecision.record_b) == record_id)
            )
        )
    ).all()
    same: set[str] = set()
    different: set[str] = set()
    for a, b, decision in rows:
        other = b if a == record_id else a
        (same if decision == "same_child" else different).add(other)
    return same, different


async def relink_record(session: AsyncSession, rec: ChildRecord) -> str | None:
    """Re-resolve one stored record; returns "moved", "split" or None (stayed)."""
    if rec.child_id is None:
        return None
    m = model_store.current()
    mine = features_of(match_values(rec))
    fast: dict[str, float] = {}
    for _, child_id, values in await repo.candidate_records(session, record_keys(rec), rec.id):
        weight = m.weight_features(mine, features_of(values))
        fast[child_id] = max(weight, fast.get(child_id, weight))
    near = [c for c, w in sorted(fast.items(), key=lambda kv: -kv[1]) if w >= NEAR_BITS][:12]
    current = rec.child_id
    profiles = {
        child_id: [(rid, features_of(values)) for rid, values in held]
        for child_id, held in (
            await repo.child_profiles(session, [current, *near], exclude=rec.id)
        ).items()
    }
    scores: dict[str, MatchScore] = {
        child_id: m.score_child(mine, [f for _, f in held]) for child_id, held in profiles.items()
    }
    here = scores.get(current)
    others = sorted(
        (
            (child_id, score)
            for child_id, score in scores.items()
            if child_id != current and m.decide(score) == Decision.LINK
        ),
        key=lambda kv: -kv[1].weight,
    )
    same, different = await _rulings(session, rec.id)
    if same:
        ruled_here = set(await repo.record_ids_of(session, current)) & same
        if ruled_here:
            return None  # a person put it with its child
    target: str | None = None
    if others:
        best_id, best = others[0]
        rival = others[1] if len(others) > 1 else None
        ambiguous = rival is not None and (
            rival[1].weight >= best.weight - AMBIGUOUS_BITS
            and not children_agree(m, profiles[best_id], profiles[rival[0]])
        )
        better = here is None or (
            m.decide(here) != Decision.LINK or best.weight >= here.weight + MOVE_MARGIN_BITS
        )
        if better and not ambiguous:
            theirs = set(await repo.record_ids_of(session, best_id))
            if not theirs & different:
                target = best_id
    if target is not None:
        await _move(session, rec, current, target, scores[target].probability, "moved")
        return "moved"
    if here is not None and m.decide(here) == Decision.NO_MATCH:
        child = new_row(Child)
        session.add(child)
        await session.flush()
        await _move(session, rec, current, child.id, None, "split")
        return "split"
    return None


async def _move(
    session: AsyncSession,
    rec: ChildRecord,
    source: str,
    target: str,
    probability: float | None,
    how: str,
) -> None:
    await repo.set_link(session, rec.id, target, "relinked", probability)
    rec.child_id = target
    if not await repo.record_ids_of(session, source):
        # the child's last record left: its id keeps finding the record's new child
        old = await session.get(Child, source)
        if old is not None and old.merged_into is None and how == "moved":
            old.merged_into = target
            await repo.repoint_merged(session, source, target)
    await repo.touch(session, [source, target])
    record(
        session,
        None,
        AuditEntry(
            action="record.relink",
            purpose="identity_resolution",
            object_type="child_record",
            object_id=rec.id,
            detail={
                "outcome": how,
                "from": source,
                "child_id": target,
                "probability": round(probability, 4) if probability is not None else None,
                "model_version": model_store.current_version(),
            },
        ),
    )


async def relink(
    db: Database,
    *,
    batch: int = 200,
    restart: bool = False,
    progress: Callable[[int, int, int], Any] | None = None,
) -> RelinkReport:
    """Re-resolve every record, `batch` per transaction, resuming an unfinished run
    unless `restart`; `progress(done, total, moved)` after each batch."""
    async with db.session() as session:
        await model_store.refresh(session)
        run = (
            await session.scalars(
                select(RelinkRun)
                .where(col(RelinkRun.finished_at).is_(None))
                .order_by(col(RelinkRun.id).desc())
                .limit(1)
            )
        ).first()
        resumed = run is not None and not restart
        if not resumed:
            run = RelinkRun(model_version=model_store.current_version())
            session.add(run)
            await session.flush()
        assert run is not None and run.id is not None
        run_id = run.id
        total = int(await session.scalar(select(func.count()).select_from(ChildRecord)) or 0)
    if not resumed:
        await frequencies.recount(db)
    else:
        await frequencies.sync(db)
    while True:
        async with db.session() as session:
            run = await session.get(RelinkRun, run_id)
            assert run is not None
            rows = list(
                (
                    await session.scalars(
                        select(ChildRecord)
                        .where(col(ChildRecord.id) > run.after_record)
                        .order_by(col(ChildRecord.id))
                        .limit(batch)
                    )
                ).all()
            )
            if not rows:
                run.finished_at = utcnow()
                report = RelinkReport(run_id, run.records_done, run.moved, run.split, resumed)
                break
            for rec in rows:
                outcome = await relink_record(session, rec)
                run.moved += outcome == "moved"
                run.split += outcome == "split"
            run.after_record = rows[-1].id
            run.records_done += len(rows)
            done, moved = run.records_done, run.moved + run.split
        if progress is not None:
            progress(done, total, moved)
    return report


async def cli_relink(db: Database, batch: int, restart: bool) -> int:
    """The command: a progress bar on stderr, the summary on stdout."""
    import sys

    if batch < 1:
        print("error: --batch must be at least 1", file=sys.stderr)
        return 1

    def bar(done: int, total: int, moved: int) -> None:
        share = done / total if total else 1.0
        filled = int(share * 30)
        print(
            f"\rrelink [{'#' * filled}{'.' * (30 - filled)}] {done:,}/{total:,} records,"
            f" {moved:,} moved",
            end="",
            file=sys.stderr,
            flush=True,
        )

    report = await relink(db, batch=batch, restart=restart, progress=bar)
    print(file=sys.stderr)
    print(
        f"relink run {report.run}{' (resumed)' if report.resumed else ''}: "
        f"{report.records:,} records re-resolved, {report.moved:,} moved to another child, "
        f"{report.split:,} to a child of their own"
    )
    return 0
