"""Small things a practitioner reads: articles, roles, links, the favicon."""

import httpx

from aggregator.core.db import Database
from aggregator.core.settings import Settings
from aggregator.principals.service import IssuedToken
from aggregator.serve import own_base_url
from alerts.engine import _a
from tests.web.conftest import sign_in


def test_explanations_use_the_right_article() -> None:
    assert [_a(w) for w in ("any other", "attendance", "neglect", "exploitation")] == [
        "an",
        "an",
        "a",
        "an",
    ]


async def test_an_admin_is_not_told_to_ask_an_admin(
    client: httpx.AsyncClient, db: Database, admin: IssuedToken
) -> None:
    await sign_in(client, "ada@hub.example")
    r = await client.get("/children")
    assert r.status_code == 403
    assert "Ask an admin" not in r.text and "hub or lead account" in r.text


async def test_pages_carry_a_favicon(
    client: httpx.AsyncClient, db: Database, admin: IssuedToken
) -> None:
    await sign_in(client, "ada@hub.example")
    page = await client.get("/")
    assert 'rel="icon" href="/static/favicon.svg"' in page.text
    icon = await client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")


def test_links_follow_the_port_served_unless_a_base_url_is_set() -> None:
    assert own_base_url(Settings(environment="test"), "127.0.0.1", 8123) == "http://127.0.0.1:8123"
    assert own_base_url(Settings(environment="test"), "0.0.0.0", 9000) == "http://127.0.0.1:9000"
    configured = Settings(environment="test", base_url="https://hub.example.gov.uk")
    assert own_base_url(configured, "0.0.0.0", 9000) is None


def test_pair_explanations_read_as_english() -> None:
    from alerts.engine import _phrase

    assert _phrase(("attendance",), "a") == "an attendance concern"
    assert _phrase(("mental_health", "neglect"), "a") == "a mental health/neglect concern"
    assert _phrase((), "another") == "another concern"
