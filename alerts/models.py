"""Tables of the alerts domain: alerts, silences, subscriptions, the outbox, job state."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from aggregator.core.types import UTCDateTime, new_id, utcnow


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(String(32), ForeignKey(target), nullable=nullable, index=index),
    )


class Alert(SQLModel, table=True):
    """One alert per (rule, child), ever: a later firing re-opens the same row.

    `version` is bumped by every change so that writers compare-and-set, and a
    concurrent acknowledge, resolve or sweep can never overwrite one another.
    """

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("rule_id", "child_id"),
        Index("ix_alert_state_opened", "state", "opened_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    rule_id: str = Field(max_length=60, index=True)
    child_id: str = _fk("child.id")
    severity: str = Field(max_length=10)
    state: str = Field(default="open", max_length=15)  # open | acknowledged | resolved
    version: int = 1
    text: str = Field(max_length=1000)
    rules_version: str = Field(max_length=40)
    # concern_ids, agency_ids, window_start, window_end, why: ids and dates only.
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    notes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    owner_id: str | None = _fk("principal.id", nullable=True, index=False)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=32)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: str | None = Field(default=None, max_length=32)
    resolution_reason: str | None = Field(default=None, max_length=1000)
    escalation_level: int = 0
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Casework (issue 19): who owns it (the email, as shown; `owner_id` is the
    # person), its red/amber/green rating, when a decision is due, what was decided.
    assignee: str | None = Field(default=None, max_length=200)
    rating: str | None = Field(default=None, max_length=10)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    outcome: str | None = Field(default=None, max_length=60)


class AlertSilence(SQLModel, table=True):
    """Mutes notifications and escalation for a child, a rule, or both, until it expires."""

    __tablename__ = "alert_silence"
    __table_args__ = (
        CheckConstraint("child_id IS NOT NULL OR rule_id IS NOT NULL", name="target"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    child_id: str | None = _fk("child.id", nullable=True)
    rule_id: str | None = Field(default=None, max_length=60)
    author_id: str = _fk("principal.id", index=False)
    reason: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lifted_by: str | None = Field(default=None, max_length=32)


class AlertSubscription(SQLModel, table=True):
    """Where a person hears about alerts: level 0 first, higher levels on escalation."""

    __tablename__ = "alert_subscription"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    principal_id: str = _fk("principal.id")
    channel: str = Field(max_length=10)  # webhook | email
    target: str = Field(max_length=500)
    # Webhook signing secret; receivers verify with it, so it is kept, like Stripe's.
    secret: str | None = Field(default=None, max_length=80)
    level: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AlertNotification(SQLModel, table=True):
    """The outbox: written with the alert change, delivered at least once afterwards.

    `id` is the delivery id receivers deduplicate on; `dedupe_key` stops two
    writers from queueing the same message for the same alert version.
    """

    __tablename__ = "alert_notification"
    __table_args__ = (Index("ix_alert_notification_state_due", "state", "next_attempt_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    alert_id: str = _fk("alert.id")
    subscription_id: str = _fk("alert_subscription.id")
    event: str = Field(max_length=20)
    dedupe_key: str = Field(max_length=140, unique=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    state: str = Field(default="pending", max_length=12)  # pending | delivered | dead
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The delivery worker holding the claim: only it settles or releases the row.
    claimed_by: str | None = Field(default=None, max_length=60)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AlertJobState(SQLModel, table=True):
    """Where the incremental sweep got to, and when the last full sweep finished."""

    __tablename__ = "alert_job_state"

    name: str = Field(primary_key=True, max_length=40)
    watermark: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SchedulerLease(SQLModel, table=True):
    """One row per term of the scheduler lease: who may run the alert jobs now.

    The term with the highest `epoch` is the lease. A takeover inserts the next
    term instead of updating the old row, so it never waits for a lock that a
    hung holder keeps on its own term; a holder's writes are fenced by its epoch.
    """

    __tablename__ = "alert_scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)
    epoch: int = Field(default=1, primary_key=True)
    holder: str = Field(max_length=120)
    acquired_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class SweepRetry(SQLModel, table=True):
    """A child whose alerts could not be evaluated; every sweep tries it again.

    `error` is the exception's type name only: messages may carry personal data.
    """

    __tablename__ = "alert_sweep_retry"

    child_id: str = Field(primary_key=True, max_length=32)
    failures: int = 1
    error: str = Field(max_length=80)
    first_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
