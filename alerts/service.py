"""Alert changes: dedup and upsert from findings, state changes, silences, escalation.

Services only flush; the caller's unit of work commits. Every change to an alert
is a compare-and-set on its `version`, and the notifications it causes are
written to the outbox in the same transaction, so an alert change and its
notifications are stored together or not at all.
"""

import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from aggregator.audit import AuditEntry, record
from aggregator.audit.service import Actor
from aggregator.children.models import Child
from aggregator.core.settings import Settings
from aggregator.principals.models import Principal
from alerts import engine
from alerts import repository as repo
from alerts.engine import ChildFacts, Finding
from alerts.models import Alert, AlertNotification, AlertSilence, AlertSubscription
from alerts.rules import RuleSet

log = logging.getLogger("aggregator.alerts")
PURPOSE = "safeguarding_alerts"


class AlertConflict(Exception):
    """The alert changed since it was read; re-read and try again."""


class TransitionError(ValueError):
    """The requested state change is not allowed from the alert's current state."""


class ReasonTooThin(ValueError):
    """A red alert is closed only with a reason someone could act on later."""


# Issue 14: a red alert's resolution is read later by whoever reviews the case.
RED_REASON_MIN_CHARS = 20
RED_REASON_MIN_DISTINCT = 6  # letters and digits; "aaaa...", "test test ..." are not reasons
RED_REASON_MIN_WORDS = 3
# Silencing a red rule mutes escalation of the most serious patterns: a lead's call, briefly.
RED_SILENCE_MAX = timedelta(days=7)
RED_SILENCE_ROLE = "lead"


def check_red_reason(reason: str) -> None:
    """Refuse a reason that is short, or only repeated or filler characters."""
    text = reason.strip()
    distinct = {ch for ch in text.casefold() if ch.isalnum()}
    words = [w for w in text.split() if any(ch.isalpha() for ch in w)]
    if (
        len(text) < RED_REASON_MIN_CHARS
        or len(distinct) < RED_REASON_MIN_DISTINCT
        or len(words) < RED_REASON_MIN_WORDS
    ):
        raise ReasonTooThin(
            f"a red alert needs a reason of substance to be resolved: at least "
            f"{RED_REASON_MIN_CHARS} characters in {RED_REASON_MIN_WORDS} or more words saying "
            "what was decided (for example, the outcome of the strategy discussion)"
        )


def silence_covers_red(rules: RuleSet, rule_id: str | None) -> bool:
    """A silence without a rule mutes every rule for its child, the red ones too."""
    if rule_id is None:
        return any(r.severity == "red" for r in rules.rules)
    rule = rules.get(rule_id)
    return rule is not None and rule.severity == "red"


_COUNTS = ("children", "opened", "updated", "reopened", "notifications", "failed")


@dataclass
class SweepStats:
    children: int = 0
    opened: int = 0
    updated: int = 0
    reopened: int = 0
    notifications: int = 0
    # Children whose evaluation failed; each is retried by the next sweep.
    failed: int = 0
    # (severity, when the newest concern it cites was received) of every alert
    # opened or re-opened: the concern-to-alert latency, observed once committed.
    raised: list[tuple[str, datetime | None]] = field(default_factory=list)

    def add(self, other: "SweepStats") -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.raised.extend(other.raised)


@dataclass
class Evaluated:
    """Findings of a batch of children, worked out from one snapshot of their facts."""

    facts: dict[str, ChildFacts]
    findings: dict[str, list[Finding]]
    # Children whose rules raised, with the exception's type name (never its message).
    failed: dict[str, str]


def evaluate_batch(
    rules: RuleSet,
    facts: dict[str, ChildFacts],
    now: datetime,
    household_only: Collection[str] = (),
) -> Evaluated:
    """Pure: one child whose facts break a rule does not stop the others.

    Children in `household_only` are there only because a household member
    changed: their own facts did not, so only the household rules can newly fire.
    """
    findings: dict[str, list[Finding]] = {}
    failed: dict[str, str] = {}
    for cid, f in facts.items():
        only = rules.household_rules if cid in household_only else None
        try:
            findings[cid] = engine.evaluate(rules, f, now, only)
        except Exception as exc:  # counted, logged by type, retried next sweep
            failed[cid] = type(exc).__name__
    return Evaluated(facts, findings, failed)


@dataclass
class _Change:
    evidence: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    new_concerns: set[str] = field(default_factory=set)
    new_agencies: set[str] = field(default_factory=set)


def link(settings: Settings, alert_id: str) -> str:
    return f"{settings.base_url.rstrip('/')}/alerts/{alert_id}"


def payload(settings: Settings, alert: Alert, event: str, delivery_id: str) -> dict[str, Any]:
    """The minimum a receiver needs (golden rule 6): no concern text, no child identifiers."""
    return {
        "delivery_id": delivery_id,
        "event": f"alert.{event}",
        "alert": {
            "id": alert.id,
            "rule": alert.rule_id,
            "severity": alert.severity,
            "state": alert.state,
        },
        "link": link(settings, alert.id),
    }


async def cas_update(session: AsyncSession, alert: Alert, **values: Any) -> None:
    """Compare-and-set on `version`: fails if anyone else changed the alert since it was read."""
    result = await session.execute(
        update(Alert)
        .where(col(Alert.id) == alert.id, col(Alert.version) == alert.version)
        .values(version=alert.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise AlertConflict(alert.id)
    for key, value in {"version": alert.version + 1, **values}.items():
        set_committed_value(alert, key, value)


async def queue(
    session: AsyncSession,
    settings: Settings,
    alert: Alert,
    event: str,
    level: int = 0,
    only_owner: bool = False,
) -> int:
    """Write one outbox row per subscription that should hear of this change."""
    subs: list[AlertSubscription] = []
    if only_owner and alert.owner_id:
        subs = await _subscriptions(session, level, alert.owner_id)
    if not subs:
        subs = await _subscriptions(session, level, None)
    for sub in subs:
        n = AlertNotification(
            alert_id=alert.id,
            subscription_id=sub.id,
            event=event,
            dedupe_key=f"{alert.id}:{alert.version}:{event}:{sub.id}",
        )
        n.payload = payload(settings, alert, event, n.id)
        session.add(n)
    return len(subs)


async def _subscriptions(
    session: AsyncSession, level: int, principal_id: str | None
) -> list[AlertSubscription]:
    """Read once per unit of work: a sweep batch may open hundreds of alerts."""
    cache: dict[tuple[int, str | None], list[AlertSubscription]] = session.info.setdefault(
        "alert_subscriptions", {}
    )
    if (level, principal_id) not in cache:
        cache[level, principal_id] = await repo.subscriptions(session, level, principal_id)
    return cache[level, principal_id]


def _note(now: datetime, kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"at": now.isoformat(), "kind": kind, "text": text, **extra}


def _merge(
    old: dict[str, Any], finding: Finding | None, extra: Sequence[engine.ConcernFact]
) -> _Change:
    concerns = set(old.get("concern_ids", []))
    agencies = set(old.get("agency_ids", []))
    why = list(old.get("why", []))
    start, end = old.get("window_start"), old.get("window_end")
    change = _Change(evidence={})
    if finding:
        change.new_concerns |= set(finding.concern_ids) - concerns
        change.new_agencies |= set(finding.agency_ids) - agencies
        why += [w for w in finding.why if w not in why]
        start = min(filter(None, [start, finding.window_start.isoformat()]))
        end = max(filter(None, [end, finding.window_end.isoformat()]))
    for c in extra:
        if c.id not in concerns:
            change.new_concerns.add(c.id)
        if c.agency_id not in agencies:
            change.new_agencies.add(c.agency_id)
    change.evidence = {
        "concern_ids": sorted(concerns | change.new_concerns),
        "agency_ids": sorted(agencies | change.new_agencies),
        "window_start": start,
        "window_end": end,
        "why": why,
    }
    return change


async def _open(
    session: AsyncSession,
    settings: Settings,
    rules: RuleSet,
    finding: Finding,
    child_id: str,
    now: datetime,
    silenced: bool,
) -> tuple[Alert, int]:
    alert = Alert(
        rule_id=finding.rule_id,
        child_id=child_id,
        severity=finding.severity,
        text=finding.text,
        rules_version=rules.version,
        evidence=finding.evidence(),
        notes=[_note(now, "opened", "; ".join(finding.why))],
        opened_at=now,
        updated_at=now,
    )
    session.add(alert)
    sent = 0 if silenced else await queue(session, settings, alert, "opened")
    record(
        session,
        None,
        AuditEntry(
            action="alert.open",
            purpose=PURPOSE,
            object_type="alert",
            object_id=alert.id,
            detail={
                "rule": alert.rule_id,
                "child_id": child_id,
                "concerns": len(finding.concern_ids),
                "notifications": sent,
                "silenced": silenced,
            },
        ),
    )
    return alert, sent


async def _update(
    session: AsyncSession,
    settings: Settings,
    rules: RuleSet,
    alert: Alert,
    finding: Finding | None,
    extra: Sequence[engine.ConcernFact],
    now: datetime,
    silenced: bool,
) -> tuple[str | None, int]:
    """Fold new evidence into an existing alert; returns (event, notifications)."""
    change = _merge(alert.evidence, finding, extra)
    if not change.new_concerns:
        return None, 0
    rule = rules.get(alert.rule_id)
    n_new, n_agencies = len(change.new_concerns), len(change.new_agencies)
    text = f"{n_new} new concern(s)"
    if n_agencies:
        text += f", {n_agencies} from agency(ies) not involved before"
    if extra and rules.new_agency_rule:
        text += f" ({rules.new_agency_rule.id})"
    values: dict[str, Any] = {"evidence": change.evidence, "updated_at": now}
    if alert.state == "resolved":
        if finding is None:  # only a rule firing again re-opens, never rule 9 alone
            return None, 0
        event = "reopened"
        values.update(
            state="open",
            opened_at=now,
            escalation_level=0,
            escalated_at=None,
            acknowledged_at=None,
            acknowledged_by=None,
            resolved_at=None,
            resolved_by=None,
            resolution_reason=None,
            outcome=None,
            rating=None,
            due_at=None,
            text=finding.text,
            evidence={
                **finding.evidence(),
                "previous_concern_ids": alert.evidence.get("concern_ids", []),
            },
        )
        note = _note(
            now,
            "reopened",
            f"re-opened on new evidence: {text}",
            concern_ids=sorted(change.new_concerns),
        )
    else:
        event = "new_agency" if n_agencies else "updated"
        note = _note(now, event, f"new evidence: {text}", concern_ids=sorted(change.new_concerns))
        if finding is not None:
            values["text"] = finding.text
    values["notes"] = [*alert.notes, note]
    await cas_update(session, alert, **values)
    tell = event == "reopened" or n_agencies > 0 or bool(rule and rule.notify_on_update)
    sent = 0
    if tell and not silenced:
        sent = await queue(session, settings, alert, event, only_owner=event != "reopened")
    record(
        session,
        None,
        AuditEntry(
            action=f"alert.{'reopen' if event == 'reopened' else 'update'}",
            purpose=PURPOSE,
            object_type="alert",
            object_id=alert.id,
            detail={
                "rule": alert.rule_id,
                "new_concerns": sorted(change.new_concerns),
                "new_agencies": n_agencies,
                "notifications": sent,
                "version": alert.version,
            },
        ),
    )
    return event, sent


def _newest(facts: ChildFacts, finding: Finding) -> datetime | None:
    """When the newest concern a finding cites was received (None if it cites none)."""
    cited = set(finding.concern_ids)
    household = [c for cs in facts.household.values() for c in cs]
    return max(
        (c.received_at for c in (*facts.concerns, *household) if c.id in cited), default=None
    )


async def apply_findings(
    session: AsyncSession,
    settings: Settings,
    rules: RuleSet,
    facts: ChildFacts,
    findings: Sequence[Finding],
    existing: Sequence[Alert],
    silences: Sequence[AlertSilence],
    now: datetime,
) -> SweepStats:
    """Make the stored alerts of one child agree with its findings; idempotent."""
    stats = SweepStats(children=1)
    by_rule = {a.rule_id: a for a in existing}
    fired = {f.rule_id: f for f in findings}
    folding = rules.new_agency_rule is not None
    for rule_id in sorted(set(fired) | {a.rule_id for a in existing if a.state != "resolved"}):
        finding = fired.get(rule_id)
        alert = by_rule.get(rule_id)
        silenced = repo.silenced_by(silences, facts.child_id, rule_id)
        if alert is None:
            if finding is None:
                continue
            _, sent = await _open(session, settings, rules, finding, facts.child_id, now, silenced)
            stats.opened += 1
            stats.notifications += sent
            stats.raised.append((finding.severity, _newest(facts, finding)))
            continue
        extra: list[engine.ConcernFact] = []
        if folding and alert.state != "resolved":
            extra = engine.new_agency_concerns(
                facts, alert.evidence.get("agency_ids", []), alert.opened_at
            )
        event, sent = await _update(session, settings, rules, alert, finding, extra, now, silenced)
        if event == "reopened":
            stats.reopened += 1
            if finding is not None:
                stats.raised.append((finding.severity, _newest(facts, finding)))
        elif event:
            stats.updated += 1
        stats.notifications += sent
    return stats


def _changes(
    rules: RuleSet,
    facts: ChildFacts,
    findings: Sequence[Finding],
    existing: Sequence[Any],
) -> bool:
    """Whether `apply_findings` would change anything; `existing` need only carry
    rule_id, state, evidence and opened_at. Most children of a sweep change nothing,
    and telling so costs no full alert row (notes grow with every change)."""
    by_rule = {a.rule_id: a for a in existing}
    fired = {f.rule_id: f for f in findings}
    folding = rules.new_agency_rule is not None
    for rule_id in set(fired) | {a.rule_id for a in existing if a.state != "resolved"}:
        finding, alert = fired.get(rule_id), by_rule.get(rule_id)
        if alert is None:
            return True
        known = set(alert.evidence.get("concern_ids", []))
        if finding is not None and not set(finding.concern_ids) <= known:
            return True
        if folding and alert.state != "resolved":
            extra = engine.new_agency_concerns(
                facts, alert.evidence.get("agency_ids", []), alert.opened_at
            )
            if any(c.id not in known for c in extra):
                return True
    return False


async def store_findings(
    session: AsyncSession,
    settings: Settings,
    rules: RuleSet,
    evaluated: Evaluated,
    now: datetime,
) -> SweepStats:
    """Make the stored alerts of every evaluated child agree with its findings.

    Alerts are first read light (no notes) to find the children whose alerts
    change; only theirs are read in full and written.
    """
    ids = list(evaluated.findings)
    stats = SweepStats(children=len(ids))
    if not ids:
        return stats
    light: dict[str, list[Any]] = defaultdict(list)
    for row in await repo.alert_evidence(session, ids):
        light[row.child_id].append(row)
    changed = [
        cid
        for cid in ids
        if _changes(rules, evaluated.facts[cid], evaluated.findings[cid], light[cid])
    ]
    if not changed:
        return stats
    alerts: dict[str, list[Alert]] = defaultdict(list)
    for a in await repo.alerts_of(session, changed):
        alerts[a.child_id].append(a)
    silences = await repo.active_silences(session, now)
    for cid in changed:
        done = await apply_findings(
            session,
            settings,
            rules,
            evaluated.facts[cid],
            evaluated.findings[cid],
            alerts[cid],
            silences,
            now,
        )
        done.children = 0  # counted above
        stats.add(done)
    return stats


async def sweep_batch(
    session: AsyncSession,
    settings: Settings,
    rules: RuleSet,
    child_ids: Sequence[str],
    now: datetime,
    agencies: dict[str, str | None] | None = None,
    households: dict[str, set[str]] | None = None,
) -> SweepStats:
    """Evaluate every rule for a batch of children and store the outcome, in one session."""
    if not child_ids:
        return SweepStats()
    agencies = agencies if agencies is not None else await repo.agency_types(session)
    facts = await repo.load_facts(
        session, child_ids, now, rules.max_window_days, agencies, households
    )
    evaluated = evaluate_batch(rules, facts, now)
    stats = await store_findings(session, settings, rules, evaluated, now)
    stats.failed += len(evaluated.failed)
    return stats


async def retire_merged(session: AsyncSession, now: datetime) -> int:
    """Close alerts of children merged into another: the survivor is swept with all
    their concerns and carries the alert from now on, so nothing is counted twice."""
    stale = (
        await session.execute(
            select(Alert, col(Child.merged_into))
            .join(Child, col(Child.id) == col(Alert.child_id))
            .where(col(Child.merged_into).is_not(None), col(Alert.state) != "resolved")
        )
    ).all()
    for alert, survivor in stale:
        reason = f"the child was merged into {survivor}; that child's alerts carry this evidence"
        await cas_update(
            session,
            alert,
            state="resolved",
            resolved_at=now,
            resolution_reason=reason,
            updated_at=now,
            notes=[*alert.notes, _note(now, "merged", reason, into=survivor)],
        )
        record(
            session,
            None,
            AuditEntry(
                action="alert.retire_merged",
                purpose=PURPOSE,
                object_type="alert",
                object_id=alert.id,
                detail={"into": survivor},
            ),
        )
    return len(stale)


# --- people acting on alerts -------------------------------------------------


async def acknowledge(
    session: AsyncSession, alert: Alert, user: Principal, now: datetime, version: int | None = None
) -> Alert:
    """open -> acknowledged; the first to acknowledge becomes the alert's lead."""
    if version is not None and version != alert.version:
        raise AlertConflict(alert.id)
    if alert.state != "open":
        raise TransitionError(f"alert is {alert.state}; only an open alert can be acknowledged")
    await cas_update(
        session,
        alert,
        state="acknowledged",
        acknowledged_at=now,
        acknowledged_by=user.id,
        owner_id=alert.owner_id or user.id,
        assignee=alert.assignee if alert.owner_id else user.name,
        updated_at=now,
        notes=[*alert.notes, _note(now, "acknowledged", "acknowledged", by=user.id)],
    )
    record(
        session,
        user,
        AuditEntry(
            action="alert.acknowledge",
            purpose=PURPOSE,
            object_type="alert",
            object_id=alert.id,
            detail={"version": alert.version},
        ),
    )
    return alert


async def resolve(
    session: AsyncSession,
    alert: Alert,
    user: Principal,
    reason: str,
    now: datetime,
    version: int | None = None,
    outcome: str | None = None,
) -> Alert:
    """open or acknowledged -> resolved, with the outcome (casework.Outcome) and the
    reason; new evidence re-opens it."""
    if version is not None and version != alert.version:
        raise AlertConflict(alert.id)
    if alert.state == "resolved":
        raise TransitionError("alert is already resolved")
    if alert.severity == "red":
        check_red_reason(reason)
    await cas_update(
        session,
        alert,
        state="resolved",
        resolved_at=now,
        resolved_by=user.id,
        resolution_reason=reason,
        outcome=outcome,
        updated_at=now,
        notes=[*alert.notes, _note(now, "resolved", reason, by=user.id, outcome=outcome)],
    )
    record(
        session,
        user,
        AuditEntry(
            action="alert.resolve",
            purpose=PURPOSE,
            object_type="alert",
            object_id=alert.id,
            detail={"version": alert.version, "outcome": outcome},
        ),
    )
    return alert


async def escalate_due(
    session: AsyncSession, settings: Settings, rules: RuleSet, now: datetime, batch: int = 500
) -> int:
    """Notify the next level about open alerts nobody acknowledged in time."""
    silences = await repo.active_silences(session, now)
    escalated = 0
    after = ""
    while True:
        page = list(
            (
                await session.scalars(
                    select(Alert)
                    .where(
                        col(Alert.state) == "open",
                        col(Alert.escalation_level) < rules.escalation.levels - 1,
                        col(Alert.id) > after,
                    )
                    .order_by(col(Alert.id))
                    .limit(batch)
                )
            ).all()
        )
        if not page:
            return escalated
        after = page[-1].id
        for alert in page:
            rule = rules.get(alert.rule_id)
            if rule is None or rule.escalate_after_hours <= 0:
                continue
            since = alert.escalated_at or alert.opened_at
            if now < since + timedelta(hours=rule.escalate_after_hours):
                continue
            if repo.silenced_by(silences, alert.child_id, alert.rule_id):
                continue
            level = alert.escalation_level + 1
            await cas_update(
                session,
                alert,
                escalation_level=level,
                escalated_at=now,
                notes=[
                    *alert.notes,
                    _note(now, "escalated", f"not acknowledged; escalated to level {level}"),
                ],
            )
            sent = await queue(session, settings, alert, "escalated", level=level)
            record(
                session,
                None,
                AuditEntry(
                    action="alert.escalate",
                    purpose=PURPOSE,
                    object_type="alert",
                    object_id=alert.id,
                    detail={"level": level, "notifications": sent},
                ),
            )
            escalated += 1


# --- silences ----------------------------------------------------------------


async def add_silence(
    session: AsyncSession,
    user: Actor,
    child_id: str | None,
    rule_id: str | None,
    reason: str,
    expires_at: datetime,
) -> AlertSilence:
    silence = AlertSilence(
        child_id=child_id, rule_id=rule_id, author_id=user.id, reason=reason, expires_at=expires_at
    )
    session.add(silence)
    await session.flush()
    record(
        session,
        user,
        AuditEntry(
            action="alert.silence",
            purpose=PURPOSE,
            object_type="alert_silence",
            object_id=silence.id,
            detail={"child_id": child_id, "rule": rule_id, "expires_at": expires_at.isoformat()},
        ),
    )
    return silence


async def lift_silence(
    session: AsyncSession, user: Actor, silence: AlertSilence, now: datetime
) -> AlertSilence:
    silence.lifted_at = now
    silence.lifted_by = user.id
    await session.flush()
    record(
        session,
        user,
        AuditEntry(
            action="alert.silence_lift",
            purpose=PURPOSE,
            object_type="alert_silence",
            object_id=silence.id,
        ),
    )
    return silence


_OPEN_FOR_CHILD = (
    select(Alert)
    .where(col(Alert.child_id) == bindparam("child_id"), col(Alert.state) != "resolved")
    .order_by(col(Alert.opened_at))
)


async def open_alerts_for_picture(session: AsyncSession, child_id: str) -> list[dict[str, Any]]:
    """The picture's alert panel: this child's alerts that are not resolved."""
    rows = (await session.scalars(_OPEN_FOR_CHILD, {"child_id": child_id})).all()
    return [
        {
            "id": a.id,
            "rule": a.rule_id,
            "severity": a.severity,
            "state": a.state,
            "text": a.text,
            "opened_at": a.opened_at.isoformat(),
            "evidence": a.evidence,
        }
        for a in rows
    ]
