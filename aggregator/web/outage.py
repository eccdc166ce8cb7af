"""The dashboard's page for a database outage (see `core.unavailable`)."""

from fastapi import Request
from starlette.responses import Response

from aggregator.web.rendering import WebPageError, page_error_handler


async def unavailable_page(request: Request, message: str) -> Response:
    """The usual error page, status 503: a person is told to try again shortly."""
    return await page_error_handler(
        request, WebPageError(503, message, title="Temporarily unavailable")
    )
