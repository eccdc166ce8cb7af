"""Dashboard pages: sign-in, sign-out, home and the admin audit trail."""

import json
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query, Request, status
from sqlalchemy import func, select
from sqlmodel import col
from starlette.responses import Response

from aggregator.audit.chain import verify_and_seal
from aggregator.audit.models import AuditEvent
from aggregator.audit.service import AuditEntry, forget_recorded, record
from aggregator.concerns.models import Concern
from aggregator.core.limits import client_address, rate_limits_of
from aggregator.core.types import utcnow
from aggregator.principals.deps import SessionDep
from aggregator.principals.models import Principal
from aggregator.web import csrf, service, sessions
from aggregator.web.counts import ActionCount
from aggregator.web.deps import (
    CurrentUser,
    OptionalUser,
    WebAdmin,
    admit_anonymous,
    protected_router,
)
from aggregator.web.rendering import (
    WebPageError,
    page,
    redirect,
    safe_next,
    settings_of,
    sign_in_url,
)

router = protected_router()

# Messages shown on the sign-in page, chosen by code so that no text from the
# URL is ever reflected into the page.
_SIGN_IN_NOTICES = {
    "signed_out": "You have signed out.",
    "expired": "Your session has ended. Sign in again to continue.",
}
SIGN_IN_FAILED = (
    "Sign-in failed: the email or password is not right, or the account is locked. "
    "After {failures} failed attempts in a row an account is locked for {minutes} minutes. "
    "If you have forgotten your password, ask an admin."
)
TOO_MANY_SIGN_INS = (
    "Too many sign-in attempts from here or for this account. Try again in {seconds} seconds."
)
AUDIT_PAGE_SIZE = 50


def _sign_in_page(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    """The form with a CSRF token bound to this browser's pre-session cookie."""
    settings = settings_of(request)
    cookie = csrf.presession_cookie_name(settings)
    nonce = request.cookies.get(cookie) or csrf.new_presession_nonce()
    response = page(
        request,
        "sign_in.html",
        {
            "csrf_token": csrf.sign_in_token(settings, nonce),
            "next_path": next_path,
            "email": email,
            "error": error,
            "notice": notice,
            "page_title": "Sign in",
        },
        status_code=status_code,
    )
    response.set_cookie(
        cookie,
        nonce,
        max_age=3600,
        path=csrf.SIGN_IN_PATH,
        httponly=True,
        samesite="lax",
        secure=sessions.is_secure(settings),
    )
    return response


@router.get("/sign-in", name="web_sign_in")
async def sign_in_form(
    request: Request,
    user: OptionalUser,
    next_path: Annotated[str | None, Query(alias="next")] = None,
    m: str | None = None,
) -> Response:
    """Signed-in people go straight on; everybody else gets the form."""
    if user is not None:
        return redirect(safe_next(next_path))
    return _sign_in_page(
        request, next_path=safe_next(next_path), notice=_SIGN_IN_NOTICES.get(m or "")
    )


@router.post("/sign-in")
async def sign_in(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    """Check the password; on success start a fresh session and go where the person was going."""
    settings = settings_of(request)
    target = safe_next(next_path)
    refused = await rate_limits_of(request).sign_in(client_address(request.scope), email)
    if refused is not None:
        response = _sign_in_page(
            request,
            next_path=target,
            email=email[: service.MAX_EMAIL],
            error=TOO_MANY_SIGN_INS.format(seconds=refused.retry_after),
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        )
        response.headers.update(refused.headers())
        return response
    if not email.strip() or not password:
        return _sign_in_page(
            request,
            next_path=target,
            email=email[: service.MAX_EMAIL],
            error="Enter your email address and your password.",
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    outcome = await service.check_sign_in(
        session, settings, email, password, lambda action: admit_anonymous(request, action)
    )
    if not outcome.ok or outcome.principal is None:
        return _sign_in_page(
            request,
            next_path=target,
            email=email[: service.MAX_EMAIL],
            error=SIGN_IN_FAILED.format(
                failures=settings.login_max_failures, minutes=settings.login_lockout_minutes
            ),
            status_code=status.HTTP_401_UNAUTHORIZED,
        )
    if user is not None:  # signing in again ends the old session in this browser
        await sessions.end(session, user.session_hash)
    await sessions.purge_expired(session, settings)
    started = await sessions.start(session, outcome.principal.id, settings)
    response = redirect(target)
    sessions.set_cookie(response, started.raw_id, settings)
    response.delete_cookie(csrf.presession_cookie_name(settings), path=csrf.SIGN_IN_PATH)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """Delete the session row, so the cookie is dead even if a copy survives."""
    settings = settings_of(request)
    if user is not None:
        await sessions.end(session, user.session_hash)
        record(session, user, AuditEntry(action="auth.sign_out", purpose="authentication"))
    response = redirect(sign_in_url(message="signed_out"))
    sessions.clear_cookie(response, settings)
    return response


@router.get("/", name="web_home")
async def home(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    """Counts only, so the first page a person sees reads no personal data."""
    week_ago = utcnow() - timedelta(days=7)
    total = await session.scalar(select(func.count(col(Concern.id)))) or 0
    recent = (
        await session.scalar(
            select(func.count(col(Concern.id))).where(col(Concern.received_at) >= week_ago)
        )
        or 0
    )
    agencies = (
        await session.scalar(
            select(func.count(col(Principal.id)))
            .where(col(Principal.kind) == "agency")
            .where(col(Principal.disabled_at).is_(None))
        )
        or 0
    )
    by_category = (
        await session.execute(
            select(col(Concern.category), func.count(col(Concern.id)))
            .where(col(Concern.received_at) >= week_ago)
            .group_by(col(Concern.category))
            .order_by(func.count(col(Concern.id)).desc())
        )
    ).all()
    needs_action: list[ActionCount] = []
    if user.role in ("hub", "lead"):
        for source in request.app.state.action_counts:
            needs_action.extend(await source(session))
    return page(
        request,
        "home.html",
        {
            "page_title": "Home",
            "needs_action": needs_action,
            "total": total,
            "recent": recent,
            "agencies": agencies,
            "by_category": by_category,
            "idle_minutes": settings_of(request).session_idle_minutes,
        },
    )


def _filter(value: str | None, limit: int, label: str) -> str | None:
    value = (value or "").strip()
    if len(value) > limit:
        raise WebPageError(
            status.HTTP_400_BAD_REQUEST,
            f"The {label} filter is too long (at most {limit} characters). Shorten it and try again.",
        )
    return value or None


@router.get("/audit", name="web_audit")
async def audit_trail(
    request: Request,
    user: WebAdmin,
    session: SessionDep,
    principal: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    before: str | None = None,
) -> Response:
    """The trail, newest first, and whether its hash chain still verifies.

    The request's transaction is committed before sealing: on SQLite it holds
    the write lock the sealer needs.
    """
    filters = {
        "principal": _filter(principal, 32, "person or agency"),
        "action": _filter(action, 60, "action"),
        "object_id": _filter(object_id, 64, "object id"),
    }
    before_id = int(before) if before and before.isdigit() and len(before) < 19 else None

    record(session, user, AuditEntry(action="audit.verify", purpose="audit"))
    await session.commit()
    forget_recorded(session)
    db = request.app.state.db
    verification = await verify_and_seal(db)  # incremental: from the last checkpoint

    stmt = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(AUDIT_PAGE_SIZE + 1)
    if filters["principal"]:
        stmt = stmt.where(col(AuditEvent.principal_id) == filters["principal"])
    if filters["action"]:
        stmt = stmt.where(col(AuditEvent.action) == filters["action"])
    if filters["object_id"]:
        stmt = stmt.where(col(AuditEvent.object_id) == filters["object_id"])
    if before_id is not None:
        stmt = stmt.where(col(AuditEvent.id) < before_id)
    rows = list((await session.scalars(stmt)).all())
    events, has_older = rows[:AUDIT_PAGE_SIZE], len(rows) > AUDIT_PAGE_SIZE

    # The trail names people and the records they touched: reading it is itself a read.
    record(
        session,
        user,
        AuditEntry(
            action="audit.read",
            purpose="audit",
            object_type="audit_event",
            detail={
                "filters": {k: v for k, v in filters.items() if v},
                "before": before_id,
                "ids": [e.id for e in events],
            },
        ),
    )
    principals = (
        await session.execute(
            select(col(Principal.id), col(Principal.name), col(Principal.kind)).order_by(
                col(Principal.kind).desc(), col(Principal.name)
            )
        )
    ).all()
    actions = (
        await session.scalars(
            select(col(AuditEvent.action)).distinct().order_by(col(AuditEvent.action))
        )
    ).all()
    older_url = None
    if has_older and events:
        query: dict[str, Any] = {k: v for k, v in filters.items() if v}
        query["before"] = events[-1].id
        older_url = "/audit?" + urlencode(query)
    return page(
        request,
        "audit.html",
        {
            "page_title": "Audit trail",
            "events": [(e, _detail_text(e.detail)) for e in events],
            "filters": filters,
            "filtered": any(filters.values()) or before_id is not None,
            "principals": principals,
            "actions": actions,
            "verification": verification,
            "older_url": older_url,
        },
    )


def _detail_text(detail: dict[str, Any]) -> str:
    return (
        json.dumps(detail, sort_keys=True, separators=(", ", ": "), default=str) if detail else ""
    )
