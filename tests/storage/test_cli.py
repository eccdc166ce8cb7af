"""The `aggregator` command against a real database."""

import subprocess
import sys
from pathlib import Path

import pytest

from aggregator.core.migrate import upgrade

pytestmark = pytest.mark.slow


def run(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "AGGREGATOR_DATABASE_URL": db_url,
        "AGGREGATOR_ENVIRONMENT": "test",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "aggregator.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_creates_principals_and_revokes_tokens(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert run(url, "db", "upgrade").returncode == 0
    added = run(url, "agencies", "add", "Leeds Primary School", "--type", "school")
    assert added.returncode == 0, added.stderr
    token_line = next(line for line in added.stdout.splitlines() if line.startswith("bearer token"))
    token = token_line.rsplit(" ", 1)[1]
    assert token.startswith("cat_")
    token_id = next(
        line for line in added.stdout.splitlines() if line.startswith("token id")
    ).split()[2]
    dup = run(url, "agencies", "add", "Leeds Primary School", "--type", "school")
    assert dup.returncode == 1 and "already exists" in dup.stderr
    user = run(url, "users", "add", "jo@hub.example", "--role", "lead")
    assert user.returncode == 0 and "bearer token" in user.stdout
    assert "Leeds Primary School" in run(url, "agencies", "list").stdout
    # the database holds only the hash of the token
    assert token.encode() not in (tmp_path / "cli.db").read_bytes()
    revoked = run(url, "tokens", "revoke", token_id)
    assert revoked.returncode == 0 and "revoked 1" in revoked.stdout
    assert run(url, "tokens", "revoke", token_id).returncode == 1
    assert run(url, "audit", "verify").returncode == 0


def test_bad_type_is_refused_clearly(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgrade_ok = run(url, "db", "upgrade")
    assert upgrade_ok.returncode == 0
    bad = run(url, "agencies", "add", "X", "--type", "bakery")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_production_refuses_placeholder_secrets() -> None:
    from aggregator.core.settings import Settings

    with pytest.raises(ValueError, match="AGGREGATOR_AUDIT_KEY"):
        Settings(environment="production")
    assert upgrade is not None


def test_every_command_meets_an_up_to_date_sqlite_database(tmp_path: Path) -> None:
    """A fresh SQLite file is migrated by any command, as `serve` does: no traceback."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    added = run(url, "agencies", "add", "Leeds Primary School", "--type", "school")
    assert added.returncode == 0, added.stderr
    assert "Traceback" not in added.stderr
    assert "bearer token" in added.stdout


def test_a_postgresql_database_behind_names_the_command(tmp_path: Path) -> None:
    """PostgreSQL is migrated as a release step: a command on an empty one says what to run."""
    import asyncio
    import uuid

    import asyncpg

    from tests.conftest import IN_CI, PG_ADMIN_DSN

    name = f"aggregator_cli_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip("PostgreSQL not reachable")
    try:
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        out = run(f"{base}/{name}", "agencies", "list")
        assert out.returncode == 1
        assert "aggregator db upgrade" in out.stderr and "Traceback" not in out.stderr
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
