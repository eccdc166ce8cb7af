"""Refused and failed submissions on the record, without personal data, within a budget.

A submission that is refused (401 revoked token, 403, 409 `external_ref` reused
with another body, 422 from the intake's own checks) or fails (5xx, 503 while the
database is unreachable) stored nothing, so it left no event in the request's
transaction. It is recorded here, in a transaction of its own: who, a digest of
the `external_ref` (an agency's reference may hold anything, so never the value),
the status and a reason code. An agency's refusals count against
`audit_refusals_per_minute` (`audit.flood`); a failure during an outage waits in
the backlog and is written once the database is back.
"""

import hashlib
import logging

from fastapi import HTTPException

from aggregator.audit.flood import guard_for
from aggregator.audit.models import AuditEvent
from aggregator.audit.service import Actor
from aggregator.concerns.service import Refused
from aggregator.core.db import Database
from aggregator.core.unavailable import is_unavailable

log = logging.getLogger("aggregator")

REFUSED = "concern.refused"
FAILED = "concern.failed"
# Refusals raised as plain HTTPExceptions, by status.
_REASONS = {401: "token_refused", 403: "forbidden", 409: "conflict", 422: "invalid"}


def ref_digest(external_ref: str) -> str:
    """SHA-256 of the reference: an agency can match it to its own, nobody reads it."""
    return hashlib.sha256(external_ref.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def attempt_event(
    principal: Actor, external_ref: str | None, purpose: str, exc: BaseException
) -> AuditEvent:
    """The event of one refused or failed submission."""
    if isinstance(exc, HTTPException):
        status = exc.status_code
        reason = exc.reason if isinstance(exc, Refused) else _REASONS.get(status, "refused")
    elif is_unavailable(exc):
        status, reason = 503, "database_unavailable"
    else:
        status, reason = 500, "internal_error"
    refused = status < 500
    return AuditEvent(
        principal_id=principal.id,
        principal_name=principal.name,
        action=REFUSED if refused else FAILED,
        object_type="concern",
        purpose=purpose,
        outcome="refused" if refused else "failed",
        detail={
            "status": status,
            "reason": reason,
            "external_ref_sha256": ref_digest(external_ref) if external_ref else None,
        },
    )


async def record_attempt(
    db: Database, principal: Actor, external_ref: str | None, purpose: str, exc: BaseException
) -> None:
    """Record a refused or failed submission; never raises (the caller re-raises `exc`)."""
    try:
        event = attempt_event(principal, external_ref, purpose, exc)
        guard = guard_for(db)
        if guard.refusals.admit(principal.id, event.action, principal):
            await guard.write(db, [event], down=is_unavailable(exc))
    except Exception as failed:
        log.error("could not record a refused submission (%s)", type(failed).__name__)
