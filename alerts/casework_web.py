"""Dashboard pages for casework: assign, triage and note forms on the alert page, and
"My work" (what is assigned to me, soonest due first; a team view for leads)."""

from typing import Annotated, cast

from fastapi import Form, Query, Request
from starlette.responses import Response

from aggregator.audit import AuditEntry, record
from aggregator.core.types import utcnow
from aggregator.principals.deps import SessionDep
from aggregator.web import WebHubUser, WebPageError, page, protected_router
from alerts import casework
from alerts.timescales import RATINGS, Rating, cached_timescales
from alerts.web import _act, _alert, _names, _settings, _version

router = protected_router()


@router.post("/alerts/{alert_id}/assign")
async def assign(
    alert_id: str,
    user: WebHubUser,
    session: SessionDep,
    assignee: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    alert = await _alert(session, alert_id)
    try:
        person = await casework.staff_by_email(session, assignee)
    except casework.CaseworkError as exc:
        raise WebPageError(422, "Give the email of a hub or lead person to assign to.") from exc
    return await _act(
        alert,
        "assigned",
        casework.assign(session, alert, user, person, utcnow(), _version(version)),
    )


@router.post("/alerts/{alert_id}/triage")
async def triage(
    request: Request,
    alert_id: str,
    user: WebHubUser,
    session: SessionDep,
    rating: Annotated[str, Form(max_length=10)] = "",
    rationale: Annotated[str, Form(max_length=1000)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    alert = await _alert(session, alert_id)
    if rating not in RATINGS:
        raise WebPageError(422, "Choose a rating: red, amber or green.")
    timescales = cached_timescales(_settings(request).timescales_path)
    return await _act(
        alert,
        "triaged",
        casework.triage(
            session,
            alert,
            user,
            cast(Rating, rating),
            rationale.strip() or None,
            timescales,
            utcnow(),
            _version(version),
        ),
    )


@router.post("/alerts/{alert_id}/notes")
async def add_note(
    alert_id: str,
    user: WebHubUser,
    session: SessionDep,
    text: Annotated[str, Form(max_length=4000)] = "",
    version: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    alert = await _alert(session, alert_id)
    if not text.strip():
        raise WebPageError(422, "Write the note before adding it.")
    return await _act(
        alert,
        "noted",
        casework.add_note(session, alert, user, text.strip(), utcnow(), _version(version)),
    )


@router.get("/my-work")
async def my_work(
    request: Request,
    user: WebHubUser,
    session: SessionDep,
    view: Annotated[str, Query(max_length=10)] = "mine",
) -> Response:
    """Alerts assigned to me, soonest due first, overdue marked; leads may see the team's."""
    if view not in ("mine", "team"):
        raise WebPageError(422, "Choose your work or the team's.")
    if view == "team" and user.role != "lead":
        raise WebPageError(403, "Only leads see the team's work.")
    alerts = await casework.work_of(session, user.id if view == "mine" else None)
    names = await _names(session, alerts)
    now = utcnow()
    record(
        session,
        user,
        AuditEntry(
            action="alert.list",
            purpose="safeguarding",
            object_type="alert",
            detail={"ids": [a.id for a in alerts], "via": "my-work", "view": view},
        ),
    )
    return page(
        request,
        "alerts/my_work.html",
        {
            "page_title": "My work" if view == "mine" else "The team's work",
            "alerts": alerts,
            "names": names,
            "overdue": {a.id for a in alerts if casework.is_overdue(a, now)},
            "view": view,
            "is_lead": user.role == "lead",
        },
    )
