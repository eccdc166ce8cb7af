"""The hub dashboard: server-rendered pages served by the API's own app.

Jinja2 templates, plain CSS and a little plain JavaScript, all served from
`/static` (no CDN, no build step). People (hub, lead, admin) sign in with email
and password; agencies have no dashboard. Sessions live in `web_session`, every
POST carries a CSRF token, and every read of personal data is audited.

Layout: `routes.py` (the pages), `deps.py` (who may open what, the CSRF and
API-token guards), `sessions.py` (the `web_session` store and its cookie),
`csrf.py`, `service.py` (sign-in and lock-out), `rendering.py` (`page()`,
error pages, security headers), `nav.py` (the menu), `templates/` (`base.html`
is the layout; `_csrf.html` is the hidden token field) and `static/`.

Adding a page (e.g. the alert inbox)
------------------------------------
1. Template `templates/alerts/index.html`::

       {% extends "base.html" %}
       {% block content %}<h1>Alerts</h1> ... {% endblock %}

   Every POST form includes `{% include "_csrf.html" %}`; a POST without the
   token gets a 403 page. JavaScript `fetch` sends `X-CSRF-Token:
   aggregator.csrfToken()` instead. No inline scripts or styles: the CSP
   allows files from `/static` only.
2. Route, in your domain (e.g. `aggregator/alerts/pages.py`)::

       from starlette.responses import Response
       from aggregator.audit import AuditEntry, record
       from aggregator.principals import SessionDep
       from aggregator.web import WebHubUser, page, protected_router

       router = protected_router()  # API tokens refused, CSRF checked on POST

       @router.get("/alerts")
       async def inbox(request: Request, user: WebHubUser, session: SessionDep) -> Response:
           alerts = await service.open_alerts(session)
           record(session, user, AuditEntry(action="alert.list", purpose="safeguarding",
                                            detail={"ids": [a.id for a in alerts]}))
           return page(request, "alerts/index.html", {"page_title": "Alerts", "alerts": alerts})

   then `app.include_router(alerts_pages_router)` in `aggregator/app.py`.
   After a POST, `return redirect("/alerts/...")` (303, so reload never resubmits).
3. Who may open it is a dependency in the signature, never an `if`:
   `CurrentUser` (any signed-in person), `WebHubUser` (hub, lead), `WebLead`,
   `WebAdmin`, or `Annotated[WebUser, require_web_roles(...)]`. Someone not
   signed in is sent to sign-in and brought back; a wrong role gets a 403 page
   and an `access.denied` audit event.
4. Audit every read of personal data: `record(session, user, AuditEntry(...,
   purpose=...))` with ids only in `detail`, like the API. It commits with the
   request, or is replayed as failed if the request fails.
5. Add a `NavItem` to `nav.NAV` with the same roles, so only they see the link.
6. Errors a person caused: `raise WebPageError(status, "what happened and what
   to do")`; it renders `error.html` with that status.
7. Test it: fast tests in `tests/web/` with the `client` fixture and
   `tests.web.conftest.sign_in`; one browser test in `tests/browser/` saving a
   screenshot to `artifacts/screenshots/`.
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
