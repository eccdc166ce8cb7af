"""The hub dashboard: server-rendered pages served by the API's own app.

Jinja2 templates, plain CSS and a little plain JavaScript, all served from
`/static` (no CDN, no build step). People (hub, lead, admin) sign in with email
and password; agencies have no dashboard. Sessions live in `web_session`, every
POST carries a CSRF token, and every read of personal data is audited.

Adding a page (e.g. the alert inbox)
------------------------------------
1. Template: `templates/alerts/index.html` starting with
   `{% extends "base.html" %}` and filling `{% block content %}`. Every POST form
   includes `{% include "_csrf.html" %}`; without it the POST gets a 403 page.
2. Route, in your domain (`aggregator/alerts/web.py`) or in `web/routes.py`::

       from fastapi import APIRouter, Depends, Request
       from aggregator.web import WebHubUser, page, protected_router

       router = protected_router()   # the bearer-token and CSRF guards included

       @router.get("/alerts")
       async def inbox(request: Request, user: WebHubUser, session: SessionDep) -> Response:
           alerts = await service.open_alerts(session)
           record(session, user, AuditEntry(action="alert.list", purpose="safeguarding",
                                            detail={"ids": [a.id for a in alerts]}))
           return page(request, "alerts/index.html", {"page_title": "Alerts", "alerts": alerts})

   and `app.include_router(...)` it next to the web router in `aggregator/app.py`.
3. Who may open it is the dependency in the signature: `CurrentUser` (any
   signed-in person), `WebHubUser` (hub, lead), `WebLead`, `WebAdmin`, or
   `Annotated[WebUser, require_web_roles(...)]`. Never an `if` in the handler.
4. Audit every read of personal data with `record(session, user, AuditEntry(...,
   purpose=...))`, ids only in `detail`, like the API does.
5. Add a line to `nav.NAV` with the same roles, so the link shows to those who may open it.
6. Errors a person caused: `raise WebPageError(status, "what happened and what to do")`.
"""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from aggregator.web.deps import (
    CurrentUser,
    OptionalUser,
    WebAdmin,
    WebHubUser,
    WebLead,
    protected_router,
    require_web_roles,
)
from aggregator.web.rendering import (
    STATIC_DIR,
    SignInRequired,
    WebPageError,
    WebUser,
    page,
    page_error_handler,
    redirect,
    sign_in_required_handler,
)
from aggregator.web.routes import router


def mount_static(app: FastAPI) -> None:
    """Serve the dashboard's CSS and JavaScript from this app, never from a CDN."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def add_error_pages(app: FastAPI) -> None:
    """Dashboard errors become HTML pages (and sign-in redirects); the API keeps JSON."""
    app.add_exception_handler(WebPageError, page_error_handler)
    app.add_exception_handler(SignInRequired, sign_in_required_handler)


__all__ = [
    "CurrentUser",
    "OptionalUser",
    "WebAdmin",
    "WebHubUser",
    "WebLead",
    "WebPageError",
    "WebUser",
    "add_error_pages",
    "mount_static",
    "page",
    "protected_router",
    "redirect",
    "require_web_roles",
    "router",
]
