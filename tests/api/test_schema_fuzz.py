"""Issue 14: a bounded schemathesis run against `/openapi.json` of a served process.

Every documented operation gets a few generated requests, each sent once with an
agency's token and once with a hub user's, on SQLite and on PostgreSQL. No
answer may be a 5xx, and every answer whose status is documented must match its
schema: the 422 `detail` list (`loc`, `msg`, `type`; `input` is not required)
included. A few hundred requests in all, so that it stays well under a minute
and under any per-token rate limit.
"""

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from aggregator.app import create_app
from aggregator.core.db import Database
from tests import factories as f
from tests.api.served import Served, served
from tests.conftest import empty_tables, settings_for

EXAMPLES_PER_OPERATION = 2  # x 2 tokens x ~25 operations x 2 databases: ~200 requests

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def tokens(database_url: str) -> Any:
    db = Database(settings_for(database_url))
    try:
        agency = f.auth(await f.agency(db, "Fuzz Primary School"))
        hub = f.auth(await f.person(db, "fuzz@hub.example", "hub"))
        school_concern = f.submission(ref="FUZZ-1")
        yield {"agency": agency, "hub": hub, "body": school_concern, "db": db}
    finally:
        await empty_tables(db)
        await db.dispose()


@pytest.fixture(scope="module")
def server(database_url: str, tokens: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    key = tokens["db"].settings.audit_key.get_secret_value()
    with served(database_url, key, tmp_path_factory.mktemp("fuzz")) as running:
        yield running


# The schema is the app's own `/openapi.json` document, read without a database;
# the requests go to the served process (`case.call(base_url=...)`).
# (`schemathesis.pytest.from_fixture` would load it lazily, but 4.x reads a pytest
# private attribute that pytest 9 no longer has.)
schema = schemathesis.openapi.from_dict(
    create_app(settings_for("sqlite+aiosqlite:///:memory:"), background=False).openapi()
)


def _check_422_shape(response: Any) -> None:
    """What the schema says in words: a list of errors, each naming where and why."""
    if response.status_code != 422:
        return
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, response.text
    for item in detail:
        assert isinstance(item["loc"], list) and item["loc"], item
        assert isinstance(item["msg"], str) and item["msg"], item
        assert isinstance(item["type"], str), item


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_no_generated_request_gets_a_5xx_or_an_answer_off_schema(
    case: schemathesis.Case, server: Served, tokens: Any
) -> None:
    for who in ("agency", "hub"):
        response = case.call(base_url=server.base_url, headers=tokens[who])
        case.validate_response(
            response, checks=[not_a_server_error, response_schema_conformance]
        )
        _check_422_shape(response)
