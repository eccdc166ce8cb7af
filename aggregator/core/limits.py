"""Limits that keep one caller from costing the service unbounded memory or CPU.

Three of them (issue 14): a request body may not exceed `max_body_bytes` (413,
refused before the body is read past the limit: bodies used to be read whole
before authentication); a 422 names the fields that are wrong but never echoes
what was sent, and reports at most `MAX_VALIDATION_ERRORS` of them (5.5 MB of
unknown keys produced a 51 MB answer); and callers are rate limited (429 with
`Retry-After`) per API token, per client address on sign-in and per account
signed in to, with the `limits` library.

The counts live where `rate_limit_storage_uri` says: `memory://` keeps them in
the process (each worker process counts on its own), `redis://host:6379` shares
them between processes.
"""

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from limits.storage import storage_from_string
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregator.core.settings import Settings

MAX_VALIDATION_ERRORS = 20
# Context values that come from the schema, not from the input: kept in a 422.
_SAFE_CTX = frozenset(
    {
        "max_length",
        "min_length",
        "ge",
        "gt",
        "le",
        "lt",
        "multiple_of",
        "expected",
        "pattern",
        "max_digits",
        "decimal_places",
    }
)


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes the limit.

    An `HTTPException`, so that FastAPI's body parsing lets it through (it turns
    any other exception into a 400) and the app answers it as JSON."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


def too_large_message(limit: int) -> str:
    return f"request body too large: at most {limit} bytes are accepted"


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413: at once when Content-Length says
    so, else as soon as the streamed (or chunked) body passes the limit.

    Pure ASGI, outermost, so nothing (authentication included) runs first for a
    declared oversize body, and no more than `max_bytes` plus one chunk is held.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _send_json(
                send, 413, {"detail": too_large_message(limit)}, {"Connection": "close"}
            )
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await _send_json(
                send, 413, {"detail": too_large_message(limit)}, {"Connection": "close"}
            )


def validation_error_body(errors: Sequence[Any]) -> dict[str, Any]:
    """FastAPI's 422 shape (`detail`: a list of `loc`, `msg`, `type`) without the
    input or anything taken from it, and at most MAX_VALIDATION_ERRORS entries."""
    detail = []
    for error in list(errors)[:MAX_VALIDATION_ERRORS]:
        item: dict[str, Any] = {
            "loc": [p if isinstance(p, int) else str(p)[:100] for p in error.get("loc", ())][:10],
            "msg": str(error.get("msg", ""))[:500],
            "type": str(error.get("type", "")),
        }
        ctx = {
            k: v
            for k, v in (error.get("ctx") or {}).items()
            if k in _SAFE_CTX and isinstance(v, str | int | float) and not isinstance(v, bool)
        }
        if ctx:
            item["ctx"] = ctx
        detail.append(item)
    return {"detail": detail}


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 naming the fields and what is wrong with them, never what was sent."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    body = validation_error_body(errors)
    if len(errors) > MAX_VALIDATION_ERRORS:
        body["truncated"] = len(errors) - MAX_VALIDATION_ERRORS
    return JSONResponse(body, status_code=422)


@dataclass(frozen=True)
class Throttled:
    """A refused request: how long until the caller may try again."""

    retry_after: int

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _hashed(value: str) -> str:
    """Keys hold no token or email as written (the storage may be a shared Redis)."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class RateLimits:
    """The app's rate limits over one `limits` storage (one per app, so tests and
    processes each start from zero unless the storage is shared)."""

    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage_uri
        storage = storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")
        assert isinstance(storage, Storage)
        # The API's limit is large and on the intake's hot path: a fixed window
        # costs about two thirds of a moving one per request (a burst of twice
        # the limit across a window's edge is harmless at 600 a minute). Sign-in
        # limits are small, so they get the exact moving window.
        self.fixed = FixedWindowRateLimiter(storage)
        self.moving = MovingWindowRateLimiter(storage)
        self.api = RateLimitItemPerMinute(settings.rate_limit_api_per_minute)
        self.sign_in_address = RateLimitItemPerMinute(settings.rate_limit_sign_in_per_minute)
        self.sign_in_account = RateLimitItemPerMinute(
            settings.rate_limit_sign_in_account_per_minute
        )

    async def hit(
        self, limiter: RateLimiter, item: RateLimitItem, *identifiers: str
    ) -> Throttled | None:
        """Count one request; a `Throttled` if it is over the limit."""
        if await limiter.hit(item, *identifiers):
            return None
        stats = await limiter.get_window_stats(item, *identifiers)
        return Throttled(max(1, math.ceil(stats.reset_time - time.time())))

    async def api_request(self, token: str | None, address: str) -> Throttled | None:
        key = ("token", _hashed(token)) if token else ("address", address)
        return await self.hit(self.fixed, self.api, "api", *key)

    async def sign_in(self, address: str, email: str) -> Throttled | None:
        """Per address (one guesser, many accounts), then per account (many
        addresses, one account); an attempt refused by the first is not counted
        against the account."""
        refused = await self.hit(self.moving, self.sign_in_address, "sign-in-address", address)
        if refused is None and email.strip():
            refused = await self.hit(
                self.moving, self.sign_in_account, "sign-in-account", _hashed(email.strip().lower())
            )
        return refused


def rate_limits_of(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


def client_address(scope: Scope) -> str:
    """The peer as the server saw it (behind a proxy, run uvicorn with
    --proxy-headers and --forwarded-allow-ips so that this is the real client)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _bearer(scope: Scope) -> str | None:
    value = Headers(scope=scope).get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class ApiRateLimitMiddleware:
    """429 with Retry-After for API callers over `rate_limit_api_per_minute`,
    counted per bearer token (per address without one), before the body is read
    or the token looked up."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            refused = await self.limits.api_request(_bearer(scope), client_address(scope))
            if refused is not None:
                await _send_json(
                    send,
                    429,
                    {"detail": f"too many requests: try again in {refused.retry_after} s"},
                    refused.headers(),
                )
                return
        await self.app(scope, receive, send)
