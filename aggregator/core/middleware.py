"""The access log, the error log, and the headers every response carries.

One pure ASGI middleware (no `BaseHTTPMiddleware`: it would buffer streamed
bodies and cost a task per request). It logs one JSON line per request with the
route *template* (`/api/v1/children/{child_id}/picture`), never the path as sent
or its query string: a search puts names, dates of birth and postcodes in the
query, a sign-in link carries `next=`, and a mistyped id can be anything.
"""

import logging
import re
import secrets
import time
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.core.logs import describe_exception

access_log = logging.getLogger("aggregator.access")
error_log = logging.getLogger("aggregator")
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's own request id is kept only if it cannot carry anything but an id.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
UNMATCHED = "<unmatched>"


class RequestIdFilter(logging.Filter):
    """Stamps every log record written while a request runs with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


def route_template(scope: Scope) -> str:
    """The matched route's path template; a mount (static files) gives its prefix."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path or "/"
    return UNMATCHED


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SAFE_REQUEST_ID.match(candidate):
                return candidate
    return secrets.token_hex(8)


class AccessLogMiddleware:
    """Request id, access log line, and `nosniff` / `no-store` on every response.

    Pages set their own stricter headers (`web.rendering`); these are defaults
    for everything else, the JSON API above all, whose answers hold personal
    data that no shared cache or browser history should keep. Static assets
    (`/static`, the API docs' scripts) stay cacheable: they hold none.
    """

    def __init__(self, app: ASGIApp, *, cacheable_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.cacheable_prefixes = cacheable_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        cacheable = scope.get("path", "").startswith(self.cacheable_prefixes)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if not cacheable:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # Logged here, where the request id is known; the type and frames only.
            error_log.error(
                "unhandled %s on %s %s",
                type(exc).__name__,
                scope.get("method"),
                route_template(scope),
                extra={"exception": describe_exception(exc)},
            )
            raise
        finally:
            access_log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "route": route_template(scope),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            request_id_var.reset(token)
