"""Helpers for dashboard tests: people with passwords, and signing in through the form."""

import re

import httpx
import pytest

from aggregator.concerns.vocab import Role
from aggregator.core.db import Database
from aggregator.principals.passwords import hash_password
from aggregator.principals.service import IssuedToken, add_user

PASSWORD = "correct-horse-battery"  # test data

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def person_with_password(
    db: Database, email: str = "jo@hub.example", role: str = "hub"
) -> IssuedToken:
    async with db.session() as session:
        return await add_user(session, email, Role(role), hash_password(PASSWORD))


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, next_path: str = "/"
) -> httpx.Response:
    form = await client.get("/sign-in")
    assert form.status_code == 200, form.text
    return await client.post(
        "/sign-in",
        data={
            "email": email,
            "password": password,
            "next": next_path,
            "csrf_token": csrf_from(form.text),
        },
    )


@pytest.fixture
async def hub(db: Database) -> IssuedToken:
    return await person_with_password(db, "jo@hub.example", "hub")


@pytest.fixture
async def admin(db: Database) -> IssuedToken:
    return await person_with_password(db, "ada@hub.example", "admin")
