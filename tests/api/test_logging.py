"""Issue 14, item 3: no submitted or searched value reaches the log.

Distinctive values are submitted, searched for, put in a sign-in `next=`, and
carried by every class of error that used to print them (a lone surrogate, a NUL
byte, a `DBAPIError` with its parameters, an exception whose message quotes a
value); the log, formatted exactly as a served process formats it, holds none.
One test does the same against a real `aggregator serve` and reads its stderr.
"""

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from aggregator.app import create_app
from aggregator.children import routes as children_routes
from aggregator.core.db import Database
from aggregator.core.logs import describe_exception, formatter
from aggregator.core.middleware import RequestIdFilter
from tests import factories as f
from tests.api.served import served

GIVEN = "Quenburga"
FAMILY = "Zephyrwhistle"
POSTCODE = "ZE2 9QX"
DOB = "2018-02-27"
NHS = "9434765803"
SECRETS = (GIVEN, FAMILY, POSTCODE, "ZE2+9QX", "ZE2%209QX", DOB, NHS, "Quenb", "Zephyr")


def _body(**overrides: Any) -> dict[str, Any]:
    return f.submission(
        ref="LOG-1",
        **{
            "child.given_name": GIVEN,
            "child.family_name": FAMILY,
            "child.date_of_birth": DOB,
            "child.nhs_number": NHS,
            "child.address.postcode": POSTCODE,
            "child.other_names": [],
            **overrides,
        },
    )


def _post_raw(client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(
        url, content=json.dumps(body), headers={"Content-Type": "application/json", **headers}
    )


def _assert_clean(output: str) -> None:
    leaked = [s for s in SECRETS if s.lower() in output.lower()]
    assert not leaked, f"log holds {leaked}:\n{output}"


def _format_as_served(caplog: pytest.LogCaptureFixture) -> None:
    """caplog, formatted by the served process's formatter (core.logs).

    Called inside the test: pytest gives each test phase a fresh capture handler."""
    caplog.handler.setFormatter(formatter())
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.WARNING, logger="httpx")  # the test's own client, not the service
    caplog.set_level(logging.DEBUG)  # after: this also sets the handler's level


async def test_searches_submissions_and_errors_leave_no_personal_data_in_the_log(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    _format_as_served(caplog)
    app = create_app(db=db, background=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    school = f.auth(await f.agency(db))
    hub = f.auth(await f.person(db))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        stored = await client.post("/api/v1/concerns", json=_body(), headers=school)
        assert stored.status_code == 201, stored.text
        searches = [
            f"/api/v1/children?name={GIVEN}&postcode={POSTCODE}&date_of_birth={DOB}",
            f"/children?name={FAMILY}&dob={DOB}&postcode={POSTCODE}",
            f"/sign-in?next=/children%3Fname%3D{GIVEN}",
            f"/api/v1/children/{FAMILY}/picture",
            f"/no/such/{GIVEN}",
        ]
        for url in searches:
            await client.get(url, headers=hub if url.startswith("/api") else {})
        await client.post("/sign-in", data={"email": f"{GIVEN}@x.example", "password": NHS})
        for bad in (f"{GIVEN}\ud800", f"{GIVEN}\x00"):
            r = await _post_raw(
                client, "/api/v1/concerns", _body(**{"child.given_name": bad}), school
            )
            assert r.status_code == 422
        r = await client.post(
            "/api/v1/concerns",
            content=b'{"child": {"given_name": "' + GIVEN.encode() + b'"',
            headers={"Content-Type": "application/json", **school},
        )
        assert r.status_code == 422

        # A database error whose parameters are the searched values...
        async def failing_listing(session: Any, **kwargs: Any) -> Any:
            await session.execute(
                text("SELECT no_such_column FROM child WHERE id = :who OR id = :pc"),
                {"who": kwargs["name"], "pc": kwargs["postcode"]},
            )

        monkeypatch.setattr(children_routes, "list_children", failing_listing)
        r = await client.get(f"/api/v1/children?name={GIVEN}&postcode={POSTCODE}", headers=hub)
        assert r.status_code == 500

        # ...and any exception whose message quotes a value.
        async def quoting_listing(session: Any, **kwargs: Any) -> Any:
            raise ValueError(f"cannot search for {kwargs['name']!r}")

        monkeypatch.setattr(children_routes, "list_children", quoting_listing)
        r = await client.get(f"/api/v1/children?name={FAMILY}", headers=hub)
        assert r.status_code == 500

    output = caplog.text
    _assert_clean(output)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "aggregator.access"]
    routes = {(a["method"], a["route"], a["status"]) for a in access}
    assert ("GET", "/api/v1/children", 200) in routes
    assert ("GET", "/api/v1/children/{child_id}/picture", 404) in routes
    assert ("GET", "/api/v1/children", 500) in routes
    assert ("GET", "<unmatched>", 404) in routes
    assert all(a["request_id"] and a["duration_ms"] >= 0 for a in access)
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors and all(e["request_id"] for e in errors)
    kinds = " ".join(" ".join(e.get("exception", [])) for e in errors)
    assert "sqlalchemy.exc.ProgrammingError" in kinds or "OperationalError" in kinds
    assert "builtins.ValueError" in kinds


def test_an_exception_is_described_by_type_and_frames_only() -> None:
    try:
        try:
            f"{GIVEN}\ud800".encode()
        except UnicodeEncodeError as exc:
            raise RuntimeError(f"wrapping {exc.object}") from exc
    except RuntimeError as exc:
        error = exc
    lines = describe_exception(error)
    assert lines[0] == "builtins.RuntimeError"
    assert "builtins.UnicodeEncodeError" in lines
    assert any("test_logging.py" in line for line in lines)
    _assert_clean("\n".join(lines))
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    record.exc_info = (type(error), error, error.__traceback__)
    _assert_clean(formatter().format(record))


@pytest.mark.slow
async def test_a_served_process_writes_json_lines_without_query_strings(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """The real thing: `aggregator serve`, uvicorn and all, and its stderr."""
    school = f.auth(await f.agency(db))
    hub = f.auth(await f.person(db))
    with served(database_url, db.settings.audit_key.get_secret_value(), tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
            r = await client.post("/api/v1/concerns", json=_body(), headers=school)
            assert r.status_code == 201, r.text
            await client.get(f"/api/v1/children?name={GIVEN}&postcode={POSTCODE}", headers=hub)
            await client.get(f"/api/v1/children/{FAMILY}/picture", headers=hub)
            await client.get(f"/sign-in?next=/children%3Fname%3D{GIVEN}")
            await client.post("/sign-in", data={"email": f"{GIVEN}@x.example", "password": NHS})
            for bad in (f"{GIVEN}\ud800", f"{GIVEN}\x00"):
                r = await _post_raw(
                    client, "/api/v1/concerns", _body(**{"child.given_name": bad}), school
                )
                assert r.status_code == 422, r.text
            r = await client.get(f"/api/v1/children?name={FAMILY}%00", headers=hub)
            assert r.status_code == 422
    output = server.stderr()  # after the process stopped: its shutdown lines too
    _assert_clean(output)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    routes = {(x.get("route"), x.get("status")) for x in lines if x["logger"] == "aggregator.access"}
    assert ("/api/v1/children", 200) in routes
    assert ("/api/v1/children/{child_id}/picture", 404) in routes
    assert ("/api/v1/concerns", 422) in routes
    assert not any(x["logger"] == "uvicorn.access" for x in lines)
