"""Issue 14, item 8: response headers, the offline API docs, `serve --demo` in production."""

import re
import subprocess
import sys

import httpx
import pytest

from aggregator.core.db import Database
from aggregator.core.settings import Settings
from aggregator.serve import serve
from aggregator.web.docs import csp_for
from tests import factories as f

_EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=:(]\s*["']?(?:https?:)?//""", re.IGNORECASE)


async def test_api_responses_are_not_cached_or_sniffed(
    client: httpx.AsyncClient, db: Database
) -> None:
    school = f.auth(await f.agency(db))
    hub = f.auth(await f.person(db))
    stored = await client.post("/api/v1/concerns", json=f.submission(), headers=school)
    responses = [
        stored,
        await client.get(f"/api/v1/concerns/{stored.json()['id']}", headers=school),
        await client.get("/api/v1/children", headers=hub),
        await client.get("/api/v1/children/nope/picture", headers=hub),
        await client.get("/api/v1/concerns"),  # 401
        await client.get("/api/v1/concerns?offset=-1", headers=school),  # 422
        await client.get("/sign-in"),
        await client.get("/openapi.json"),
    ]
    for r in responses:
        assert r.headers["cache-control"] == "no-store", (r.request.url, r.headers)
        assert r.headers["x-content-type-options"] == "nosniff", r.request.url
        assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])


async def test_a_safe_caller_request_id_is_kept_and_anything_else_replaced(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123-def-456"})
    assert r.headers["x-request-id"] == "abc-123-def-456"
    r = await client.get("/healthz", headers={"X-Request-ID": "Jayden Smith 2019-03-07"})
    assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])


async def test_static_assets_stay_cacheable(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/app.css")
    assert r.status_code == 200 and "cache-control" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_api_docs_load_nothing_from_the_internet(
    client: httpx.AsyncClient, page: str
) -> None:
    r = await client.get(page)
    assert r.status_code == 200
    assert not _EXTERNAL.search(r.text), r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "http" not in csp and "unsafe-eval" not in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assets = re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', r.text)
    assert assets
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200 and len(served.content) > 1000, asset


async def test_the_swagger_inline_script_is_allowed_by_its_hash_only(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/docs")
    assert r.headers["content-security-policy"] == csp_for(r.text)
    assert r.headers["content-security-policy"].count("'sha256-") == 1
    assert "validatorUrl" in r.text  # the swagger.io validator badge is switched off


def test_serve_demo_refuses_production() -> None:
    settings = Settings(
        environment="production",
        database_url="sqlite+aiosqlite:///:memory:",
        audit_key="a" * 40,
        session_key="b" * 40,
    )
    assert serve(settings, host="127.0.0.1", port=1, demo=True) == 2


def test_serve_demo_refuses_production_from_the_command_line() -> None:
    env = {
        "AGGREGATOR_ENVIRONMENT": "production",
        "AGGREGATOR_AUDIT_KEY": "a" * 40,
        "AGGREGATOR_SESSION_KEY": "b" * 40,
        "AGGREGATOR_DATABASE_URL": "sqlite+aiosqlite:///:memory:",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "serve", "--demo", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "production" in done.stderr and "refuses" in done.stderr
