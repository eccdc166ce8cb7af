"""Templates, page responses with security headers, and HTML error pages."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from aggregator.core.settings import Settings
from aggregator.web import nav
from aggregator.web.formatting import uk_time
from aggregator.web.sessions import clear_cookie, cookie_name

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters["uk_time"] = uk_time

# Everything is served from this origin and no inline script runs, so a
# strict policy costs nothing and blunts any markup injection.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages hold personal data: no copy in shared caches or after sign-out.
    "Cache-Control": "no-store",
}


@dataclass
class WebUser:
    """The signed-in person as plain values.

    Plain values rather than the ORM row: an error page is rendered after the
    request's transaction rolled back, when a row's attributes are expired.
    `id` and `name` make it an audit actor: `record(session, user, ...)`.
    """

    id: str
    name: str
    role: str
    session_hash: str
    csrf_token: str


class WebPageError(HTTPException):
    """An error shown to a person as a page, with a message that says what to do."""

    def __init__(self, status_code: int, message: str, *, title: str | None = None) -> None:
        super().__init__(status_code, message)
        self.title = title or _TITLES.get(status_code, "Something went wrong")


class SignInRequired(HTTPException):
    """Raised by `CurrentUser` when there is no live session: the browser is redirected."""

    def __init__(self, next_path: str | None = None) -> None:
        super().__init__(303, "sign in first")
        self.next_path = next_path


_TITLES = {
    400: "Check what you entered",
    401: "Sign-in failed",
    403: "You cannot open this page",
    404: "Page not found",
}


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_viewer(request: Request) -> WebUser | None:
    user: WebUser | None = getattr(request.state, "web_user", None)
    return user


def harden(response: Response) -> Response:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Response:
    """Render a template inside the layout, with the viewer, navigation and CSRF token."""
    user = current_viewer(request)
    ctx: dict[str, Any] = {
        "user": user,
        "csrf_token": user.csrf_token if user else "",
        "nav": nav.links_for(user.role if user else None, request.url.path),
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    return harden(response)


def redirect(location: str) -> Response:
    """303 so that a browser follows a POST with a GET (no resubmission on reload)."""
    return harden(RedirectResponse(location, status_code=303))


def safe_next(candidate: str | None) -> str:
    """Only a path on this site: `next` must never send a person elsewhere."""
    if (
        not candidate
        or not candidate.startswith("/")
        or candidate.startswith("//")
        or "\\" in candidate
        or any(ord(ch) < 32 for ch in candidate)
        or len(candidate) > 500
    ):
        return "/"
    return candidate


def sign_in_url(next_path: str | None = None, message: str | None = None) -> str:
    params = {}
    if next_path and safe_next(next_path) != "/":
        params["next"] = next_path
    if message:
        params["m"] = message
    return "/sign-in" + (f"?{urlencode(params)}" if params else "")


async def page_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebPageError)
    return page(
        request,
        "error.html",
        {
            "page_title": exc.title,
            "title": exc.title,
            "message": exc.detail,
            "status_code": exc.status_code,
        },
        status_code=exc.status_code,
    )


async def sign_in_required_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    settings = settings_of(request)
    had_cookie = cookie_name(settings) in request.cookies
    response = redirect(sign_in_url(exc.next_path, "expired" if had_cookie else None))
    if had_cookie:
        clear_cookie(response, settings)
    return response
