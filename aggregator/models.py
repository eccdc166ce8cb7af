"""Imports every table so that Alembic and tests see the whole schema."""

from aggregator.audit.models import AuditEvent
from aggregator.children.frequencies import MatchFrequency
from aggregator.children.model_store import MatchModelVersion
from aggregator.children.models import BlockingKey, Child, HouseholdKey, PairDecision, ReviewItem
from aggregator.children.relink import RelinkRun
from aggregator.children.strategy import StrategyDiscussion
from aggregator.concerns.models import (
    ChildRecord,
    Concern,
    RelatedPerson,
    SharingDecision,
    SharingRecord,
)
from aggregator.principals.models import ApiToken, Principal
from aggregator.web.models import WebSession
from alerts.models import (
    Alert,
    AlertJobState,
    AlertNotification,
    AlertSilence,
    AlertSubscription,
    SchedulerLease,
    SweepRetry,
)

__all__ = [
    "Alert",
    "AlertJobState",
    "AlertNotification",
    "AlertSilence",
    "AlertSubscription",
    "ApiToken",
    "AuditEvent",
    "BlockingKey",
    "Child",
    "ChildRecord",
    "Concern",
    "HouseholdKey",
    "MatchFrequency",
    "MatchModelVersion",
    "PairDecision",
    "Principal",
    "RelatedPerson",
    "RelinkRun",
    "ReviewItem",
    "SchedulerLease",
    "SharingDecision",
    "SharingRecord",
    "StrategyDiscussion",
    "SweepRetry",
    "WebSession",
]
