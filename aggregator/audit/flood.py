"""Audit events that callers could multiply at will: bounded, and kept through an outage.

Two kinds of event could otherwise grow the trail without limit:

- those of callers nobody authenticated (an unknown token on the dashboard, a
  form without its CSRF token, sign-in guesses): admitted up to
  `audit_anonymous_per_minute` per client address and
  `audit_anonymous_total_per_minute` from all addresses together;
- refused or failed submissions of one agency: up to
  `audit_refusals_per_minute` per principal (and the same total).

Past a budget an event is counted, not written. Once its minute is over, one
`audit.suppressed` event per source records how many of which action, first
and last seen, so the trail still says what happened. An event that cannot be
written because the database is down waits in a bounded backlog
(`audit_backlog_max`) and is written, marked late, when it is back.

A flusher (`keep_flushing`, every `audit_flush_interval_seconds`, and once more
at shutdown) writes both. It is all in memory, per process: with N processes a
budget is N times as large, and a process killed during an outage loses its
backlog (each queued event is logged as it is queued, without personal data).
A limiter library would say yes or no; the summaries need the counts of what it
refused, so the counting is done here, in fixed windows.
"""

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from weakref import WeakKeyDictionary

from aggregator.audit.models import AuditEvent
from aggregator.audit.service import Actor, AuditEntry
from aggregator.core.db import Database
from aggregator.core.settings import Settings
from aggregator.core.types import utcnow

log = logging.getLogger("aggregator.audit")

SUPPRESSED = "audit.suppressed"
OVERFLOW = "*"  # the tally of sources that arrived after a window's total was spent


@dataclass(frozen=True)
class Who:
    """An actor by value: a request's ORM row may be expired once it rolled back."""

    id: str
    name: str


def who(actor: Actor | None) -> Who | None:
    return Who(actor.id, actor.name) if actor is not None else None


@dataclass
class Tally:
    """What one source did past its budget."""

    source: str  # "client", "principal" or "overflow"
    actor: Who | None
    counts: Counter[str] = field(default_factory=Counter)
    first: datetime = field(default_factory=utcnow)
    last: datetime = field(default_factory=utcnow)

    def add(self, action: str) -> None:
        self.counts[action] += 1
        self.last = utcnow()

    def merge(self, other: "Tally") -> None:
        self.counts.update(other.counts)
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)


class EventBudget:
    """At most `per_source` events per source and `total` in all per window; the rest counted.

    Memory is bounded: a window tracks at most `total` sources (each admitted one
    event at least); later sources share one overflow tally.
    """

    def __init__(
        self,
        kind: str,
        per_source: int,
        total: int,
        window_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self.per_source = per_source
        self.total = total
        self.window_seconds = window_seconds
        self._clock = clock
        self._window = self._window_now()
        self._admitted: dict[str, int] = {}
        self._spent = 0
        self._tallies: dict[str, Tally] = {}
        self._due: dict[str, Tally] = {}
        self._max_due = 4 * total + 1

    def _window_now(self) -> int:
        return int(self._clock() // self.window_seconds)

    def admit(self, source: str, action: str, actor: Actor | None = None) -> bool:
        """True: write this event. False: it is counted for the window's summary."""
        self._roll()
        used = self._admitted.get(source)
        if used is None and self._spent >= self.total:
            key = OVERFLOW
        elif (used or 0) < self.per_source and self._spent < self.total:
            self._admitted[source] = (used or 0) + 1
            self._spent += 1
            return True
        else:
            key = source
        tally = self._tallies.get(key)
        if tally is None:
            overflow = key == OVERFLOW
            tally = Tally("overflow" if overflow else self.kind, None if overflow else who(actor))
            self._tallies[key] = tally
        tally.add(action)
        return False

    def _roll(self) -> None:
        now = self._window_now()
        if now != self._window:
            self._close()
            self._window = now
            self._admitted.clear()
            self._spent = 0

    def _close(self) -> None:
        for key, tally in self._tallies.items():
            self.restore(key, tally)
        self._tallies = {}

    def restore(self, key: str, tally: Tally) -> None:
        """Put a summary back to be written later (its write failed)."""
        if key not in self._due and len(self._due) >= self._max_due:
            key = OVERFLOW
            tally = Tally("overflow", None, Counter(tally.counts), tally.first, tally.last)
        if key in self._due:
            self._due[key].merge(tally)
        else:
            self._due[key] = tally

    def take_due(self, *, now: bool = False) -> list[tuple[str, Tally]]:
        """Summaries of windows that have ended (and of the current one, with `now`)."""
        self._roll()
        if now:
            self._close()
        due, self._due = list(self._due.items()), {}
        return due


def summary_event(key: str, tally: Tally, window_seconds: float) -> AuditEvent:
    detail: dict[str, object] = {
        "source": tally.source,
        "count": sum(tally.counts.values()),
        "actions": dict(sorted(tally.counts.items())),
        "first": tally.first.isoformat(),
        "last": tally.last.isoformat(),
        "window_seconds": window_seconds,
    }
    if tally.source == "client":
        detail["client"] = key  # a keyed hash of the address, never the address
    return AuditEvent(
        principal_id=tally.actor.id if tally.actor else None,
        principal_name=tally.actor.name if tally.actor else None,
        action=SUPPRESSED,
        purpose="audit",
        outcome="suppressed",
        detail=detail,
    )


def event_of(actor: Actor | None, entry: AuditEntry) -> AuditEvent:
    """An event to write outside a request's session (`FloodGuard.write`)."""
    return AuditEvent(
        principal_id=actor.id if actor else None,
        principal_name=actor.name if actor else None,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        purpose=entry.purpose,
        outcome=entry.outcome,
        detail=dict(entry.detail),
    )


def _copy(e: AuditEvent, *, late: bool = False) -> AuditEvent:
    """A fresh, unsaved copy. A late one carries the time it happened in `detail`: its
    own `occurred_at` is the time it is written, so that the sealer, which treats an
    old unsealed event as inserted behind its back, still takes it."""
    detail = dict(e.detail)
    if late:
        detail.setdefault("occurred_at", e.occurred_at.isoformat())
        detail["written_late"] = True
    return AuditEvent(
        occurred_at=utcnow() if late else e.occurred_at,
        principal_id=e.principal_id,
        principal_name=e.principal_name,
        action=e.action,
        object_type=e.object_type,
        object_id=e.object_id,
        purpose=e.purpose,
        outcome=e.outcome,
        detail=detail,
    )


class Backlog:
    """Events waiting for the database, at most `limit`; beyond it, counted by action."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._events: list[AuditEvent] = []
        self._lost: Tally | None = None

    def __len__(self) -> int:
        return len(self._events)

    def keep(self, events: Iterable[AuditEvent], why: str) -> None:
        for e in events:
            if len(self._events) < self.limit:
                self._events.append(_copy(e))
                log.warning(
                    "audit event %s (%s) of principal %s kept to write later: %s",
                    e.action,
                    e.outcome,
                    e.principal_id or "none",
                    why,
                )
            else:
                if self._lost is None:
                    self._lost = Tally("backlog", None)
                self._lost.add(e.action)
                log.error("audit backlog full: event %s not kept", e.action)

    def take(self) -> tuple[list[AuditEvent], Tally | None]:
        events, lost = self._events, self._lost
        self._events, self._lost = [], None
        return events, lost

    def put_back(self, events: list[AuditEvent], lost: Tally | None) -> None:
        self._events = (events + self._events)[: self.limit]
        if lost is not None:
            if self._lost is None:
                self._lost = lost
            else:
                self._lost.merge(lost)


class FloodGuard:
    """One process's budgets and backlog for one database (`guard_for`)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.anonymous = EventBudget(
            "client",
            settings.audit_anonymous_per_minute,
            settings.audit_flood_total_per_minute,
            clock=clock,
        )
        self.refusals = EventBudget(
            "principal",
            settings.audit_refusals_per_minute,
            settings.audit_flood_total_per_minute,
            clock=clock,
        )
        self.backlog = Backlog(settings.audit_backlog_max)
        self._key = settings.audit_key.get_secret_value().encode()

    def client_key(self, address: str | None) -> str:
        """A keyed hash of the client's address: one source, without storing the address."""
        digest = hmac.new(self._key, (address or "unknown").encode(), hashlib.sha256)
        return digest.hexdigest()[:16]

    def admit_anonymous(self, address: str | None, action: str) -> bool:
        return self.anonymous.admit(self.client_key(address), action)

    async def write(self, db: Database, events: list[AuditEvent], *, down: bool = False) -> bool:
        """Write now, in a transaction of their own, or keep them for the flusher.

        `down`: the caller's own failure says the database is unreachable; do not
        spend a connection attempt (and its timeout) finding that out again.
        """
        if down:
            self.backlog.keep(events, "database unavailable")
            return False
        try:
            async with db.session() as session:
                session.add_all([_copy(e) for e in events])
        except Exception as exc:  # never let the record of a failure fail the request
            self.backlog.keep(events, type(exc).__name__)
            return False
        return True

    async def flush(self, db: Database, *, now: bool = False) -> int:
        """Write the backlog and the summaries due; keep them if that fails. Returns rows."""
        events, lost = self.backlog.take()
        due = [
            (b, key, t) for b in (self.anonymous, self.refusals) for key, t in b.take_due(now=now)
        ]
        rows = [_copy(e, late=True) for e in events]
        rows += [summary_event(key, t, b.window_seconds) for b, key, t in due]
        if lost is not None:
            rows.append(summary_event("backlog", lost, 0))
        if not rows:
            return 0
        try:
            async with db.session() as session:
                session.add_all(rows)
        except Exception as exc:
            log.warning("audit flush failed (%s); %d events kept", type(exc).__name__, len(rows))
            self.backlog.put_back(events, lost)
            for budget, key, tally in due:
                budget.restore(key, tally)
            return 0
        return len(rows)


_guards: "WeakKeyDictionary[Database, FloodGuard]" = WeakKeyDictionary()


def guard_for(db: Database, clock: Callable[[], float] | None = None) -> FloodGuard:
    """The guard of this process for `db` (one per Database object, made on first use).

    `clock` (monotonic seconds) makes a new guard: a test holds the minute still.
    """
    guard = _guards.get(db)
    if guard is None or clock is not None:
        guard = _guards[db] = FloodGuard(db.settings, clock=clock or time.monotonic)
    return guard


async def keep_flushing(db: Database) -> None:
    """The flusher: runs with the app (see `aggregator.app`), until cancelled."""
    while True:
        await asyncio.sleep(db.settings.audit_flush_interval_seconds)
        with contextlib.suppress(Exception):  # flush logs its own failures
            await guard_for(db).flush(db)


async def flush_at_exit(db: Database) -> None:
    """Last chance at shutdown: what cannot be written now is lost, and logged as lost."""
    guard = guard_for(db)
    with contextlib.suppress(Exception):
        await guard.flush(db, now=True)
    if len(guard.backlog):
        log.error("audit backlog: %d events could not be written before exit", len(guard.backlog))
