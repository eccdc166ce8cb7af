"""Dependencies for dashboard pages: the signed-in person, role checks, and guards.

A page declares who may open it in its signature, never in an `if`:

    async def my_page(user: CurrentUser, session: SessionDep) -> Response: ...
    async def admin_page(user: WebAdmin, ...) -> Response: ...
    async def lead_page(user: Annotated[WebUser, require_web_roles("lead")], ...) -> Response: ...
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse

from aggregator.audit.flood import guard_for
from aggregator.audit.service import AuditEntry, record, record_denied
from aggregator.concerns.vocab import Role
from aggregator.principals.deps import SessionDep, get_db
from aggregator.principals.service import principal_for_token
from aggregator.web import csrf, sessions
from aggregator.web.rendering import SignInRequired, WebPageError, WebUser, settings_of

WEB_ROLES = frozenset(role.value for role in Role)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def admit_anonymous(request: Request, action: str) -> bool:
    """Whether an event of a caller nobody authenticated is written (`audit.flood`)."""
    address = request.client.host if request.client else None
    return guard_for(get_db(request)).admit_anonymous(address, action)


async def _optional_user(request: Request, session: SessionDep) -> WebUser | None:
    """Resolved once per request (FastAPI caches it) and kept on request.state for the layout."""
    settings = settings_of(request)
    raw = request.cookies.get(sessions.cookie_name(settings))
    if not raw:
        return None
    found = await sessions.resolve(session, raw, settings)
    if found is None:
        return None
    row, principal = found
    if (
        principal.kind != "person"
        or principal.role not in WEB_ROLES
        or principal.disabled_at is not None
    ):
        await sessions.end(session, row.id_hash)
        return None
    user = WebUser(
        id=principal.id,
        name=principal.name,
        role=principal.role,
        session_hash=row.id_hash,
        csrf_token=row.csrf_token,
    )
    request.state.web_user = user
    return user


OptionalUser = Annotated[WebUser | None, Depends(_optional_user)]


async def _current_user(request: Request, session: SessionDep, user: OptionalUser) -> WebUser:
    if user is None:
        # Keep the removal of a dead (expired, disabled) session although the
        # redirect below rolls the request back; nothing else is pending yet.
        await session.commit()
        query = f"?{request.url.query}" if request.url.query else ""
        raise SignInRequired(request.url.path + query if request.method == "GET" else None)
    return user


CurrentUser = Annotated[WebUser, Depends(_current_user)]
"""Any signed-in person (hub, lead or admin); redirects to sign-in otherwise."""


def _roles_phrase(roles: tuple[str, ...]) -> str:
    names = [f"{r}s" for r in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def require_web_roles(*roles: str) -> object:
    """A dependency admitting signed-in people with one of `roles`; others get a 403 page."""
    unknown = set(roles) - WEB_ROLES
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    async def check(user: CurrentUser, session: SessionDep, request: Request) -> WebUser:
        if user.role not in roles:
            record_denied(session, user, request.url.path, request.method)
            raise WebPageError(
                status.HTTP_403_FORBIDDEN,
                f"This page is only for {_roles_phrase(roles)}. You are signed in with the "
                f"role {user.role}. "
                + (
                    "Admins run the service and do not see children's records; sign in "
                    "with a hub or lead account for this work."
                    if user.role == "admin"
                    else "Ask an admin if you need access."
                ),
                title="Not available to your role",
            )
        return user

    return Depends(check)


WebHubUser = Annotated[WebUser, require_web_roles("hub", "lead")]
WebLead = Annotated[WebUser, require_web_roles("lead")]
WebAdmin = Annotated[WebUser, require_web_roles("admin")]


async def refuse_api_tokens(request: Request, session: SessionDep) -> None:
    """The dashboard is for people who sign in; a bearer token opens nothing here.

    Agencies in particular have no dashboard at all: they only submit through the API.
    """
    header = request.headers.get("authorization")
    if not header:
        return
    scheme, _, token = header.partition(" ")
    principal = (
        await principal_for_token(session, token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    if principal is not None or admit_anonymous(request, "access.denied"):
        record(
            session,
            principal,
            AuditEntry(
                action="access.denied",
                purpose="authorisation",
                outcome="denied",
                detail={"path": request.url.path, "reason": "api_token_on_dashboard"},
            ),
        )
    if principal is not None and principal.kind == "agency":
        message = (
            "Agencies have no access to the dashboard. Agencies share concerns through the "
            "API with their token; the dashboard is for hub staff who sign in."
        )
    else:
        message = (
            "The dashboard does not accept API tokens. Open it in a browser and sign in "
            "with your email and password."
        )
    raise WebPageError(status.HTTP_403_FORBIDDEN, message, title="No dashboard access")


async def csrf_protect(request: Request, session: SessionDep, user: OptionalUser) -> None:
    """Every unsafe request must carry a token only our own pages could have given it."""
    if request.method in _SAFE_METHODS:
        return
    sent: str | None = request.headers.get(csrf.HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(csrf.FIELD)
        sent = value if isinstance(value, str) else None
    settings = settings_of(request)
    expected = [user.csrf_token] if user else []
    nonce = request.cookies.get(csrf.presession_cookie_name(settings))
    if nonce and request.url.path == csrf.SIGN_IN_PATH:
        expected.append(csrf.sign_in_token(settings, nonce))
    if csrf.matches(sent, expected):
        return
    if user is not None or admit_anonymous(request, "csrf.refused"):
        record(
            session,
            user,
            AuditEntry(
                action="csrf.refused",
                purpose="security",
                outcome="denied",
                detail={"path": request.url.path, "token_sent": bool(sent)},
            ),
        )
    raise WebPageError(
        status.HTTP_403_FORBIDDEN,
        "This form could not be verified as coming from this dashboard, so nothing was "
        "done. This happens when a page was open for a long time or you signed out in "
        "another tab. Go back, reload the page and try again.",
        title="Form expired or not from this site",
    )


def protected_router(*, prefix: str = "", tags: list[str] | None = None) -> APIRouter:
    """An APIRouter for dashboard pages: API tokens refused, CSRF checked on every POST."""
    return APIRouter(
        prefix=prefix,
        tags=list(tags or []),
        include_in_schema=False,
        default_response_class=HTMLResponse,
        dependencies=[Depends(refuse_api_tokens), Depends(csrf_protect)],
    )
