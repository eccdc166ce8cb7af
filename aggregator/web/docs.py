"""`/docs` and `/redoc` served entirely from this app, under a Content-Security-Policy.

FastAPI's defaults load Swagger UI and ReDoc from a CDN (and ReDoc its fonts from
Google): a locked-down council network has no CDN, and a page that runs a third
party's script next to a bearer token is a risk of its own. The assets ship in
the `fastapi-offline` package; the one inline script Swagger UI needs is allowed
by its hash, nothing else inline runs.
"""

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS_PREFIX = "/docs-assets"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def csp_for(html: str) -> str:
    """Same-origin only; inline scripts in `html` allowed by hash, inline styles allowed
    (both UIs set styles from their own scripts; styles cannot run code)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}".rstrip()
        + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


def _with_csp(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = csp_for(bytes(response.body).decode())
    return response


def install_docs(app: FastAPI) -> None:
    """Call with `docs_url=None, redoc_url=None` given to `FastAPI(...)`."""
    app.mount(
        ASSETS_PREFIX,
        StaticFiles(packages=[("fastapi_offline", "static")]),
        name="docs-assets",
    )
    openapi_url = app.openapi_url or "/openapi.json"
    favicon = f"{ASSETS_PREFIX}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _with_csp(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
                swagger_favicon_url=favicon,
                # The default validator badge is an image from validator.swagger.io.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _with_csp(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{ASSETS_PREFIX}/redoc.standalone.js",
                redoc_favicon_url=favicon,
                with_google_fonts=False,
            )
        )
