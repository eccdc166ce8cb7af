"""Imports every table so that Alembic and tests see the whole schema."""

from aggregator.audit.models import AuditEvent
from aggregator.concerns.models import (
    ChildRecord,
    Concern,
    RelatedPerson,
    SharingDecision,
    SharingRecord,
)
from aggregator.principals.models import ApiToken, Principal

__all__ = [
    "ApiToken",
    "AuditEvent",
    "ChildRecord",
    "Concern",
    "Principal",
    "RelatedPerson",
    "SharingDecision",
    "SharingRecord",
]
