"""The casework API: assign, triage and add notes to an alert (hub and lead).

Kept apart from `alerts.routes` (acknowledge, resolve, silences, subscriptions)
so each can change without the other; both share its alert lookup and JSON.
"""

from fastapi import APIRouter, HTTPException, Request, status

from aggregator.core.types import utcnow
from aggregator.principals import HubUser, SessionDep
from alerts import casework, service
from alerts import repository as repo
from alerts.routes import _ERRORS, _alert, _conflict, _out, _settings
from alerts.schemas import AlertOut, AssignIn, NoteIn, TriageIn
from alerts.timescales import cached_timescales

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

_RESPONSES: dict[int | str, dict[str, object]] = {
    **_ERRORS,
    422: {"description": "Unknown assignee or rating, a rating change without a rationale"},
}
_STALE = (service.AlertConflict, service.TransitionError)


async def _answer(request: Request, session: SessionDep, alert_id: str) -> AlertOut:
    alert = await _alert(session, alert_id)
    return _out(alert, _settings(request), await repo.active_silences(session, utcnow()))


@router.post("/{alert_id}/assign", response_model=AlertOut, responses=_RESPONSES)
async def assign(
    request: Request, alert_id: str, body: AssignIn, user: HubUser, session: SessionDep
) -> AlertOut:
    """Give the alert to a hub or lead person (by email); they own it from now on."""
    alert = await _alert(session, alert_id)
    try:
        assignee = await casework.staff_by_email(session, body.assignee)
        await casework.assign(session, alert, user, assignee, utcnow(), body.version)
    except casework.CaseworkError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except _STALE as exc:
        raise _conflict(alert, exc) from exc
    return await _answer(request, session, alert_id)


@router.post("/{alert_id}/triage", response_model=AlertOut, responses=_RESPONSES)
async def triage(
    request: Request, alert_id: str, body: TriageIn, user: HubUser, session: SessionDep
) -> AlertOut:
    """Rate red/amber/green: `due_at` is that rating's window in working time from when
    the alert opened (AGGREGATOR_TIMESCALES_PATH). Changing a rating needs a rationale."""
    alert = await _alert(session, alert_id)
    timescales = cached_timescales(_settings(request).timescales_path)
    try:
        await casework.triage(
            session, alert, user, body.rating, body.rationale, timescales, utcnow(), body.version
        )
    except casework.CaseworkError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except _STALE as exc:
        raise _conflict(alert, exc) from exc
    return await _answer(request, session, alert_id)


@router.post("/{alert_id}/notes", response_model=AlertOut, status_code=201, responses=_RESPONSES)
async def add_note(
    request: Request, alert_id: str, body: NoteIn, user: HubUser, session: SessionDep
) -> AlertOut:
    """A case note: kept in the alert's `notes` with its author and time."""
    alert = await _alert(session, alert_id)
    try:
        await casework.add_note(session, alert, user, body.text, utcnow(), body.version)
    except _STALE as exc:
        raise _conflict(alert, exc) from exc
    return await _answer(request, session, alert_id)
