"""Concern intake: validation, idempotent storage and the sharing record."""

from aggregator.concerns.models import ChildRecord, Concern, RelatedPerson, SharingRecord

__all__ = ["ChildRecord", "Concern", "RelatedPerson", "SharingRecord"]
