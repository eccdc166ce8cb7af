"""The audit trail: every read and write of personal data, sealed into a hash chain."""

from aggregator.audit.chain import Verification, seal_pending, verify_and_seal, verify_chain
from aggregator.audit.models import AuditEvent
from aggregator.audit.service import AuditEntry, record

__all__ = [
    "AuditEntry",
    "AuditEvent",
    "Verification",
    "record",
    "seal_pending",
    "verify_and_seal",
    "verify_chain",
]
