"""Issue 14, item 8 for alerts: webhook targets, delivery errors, silences, resolutions, email.

On SQLite and PostgreSQL (the `world` fixtures use the suite's `db`).
"""

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from aggregator.core.types import utcnow
from alerts import webhook
from alerts.outbox import deliver_due
from alerts.service import ReasonTooThin, check_red_reason
from tests import factories as f
from tests.alerts.helpers import World, alerts, days_ago, notifications, sweep
from tests.alerts.test_delivery import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def _red_alert(world: World) -> tuple[str, str]:
    child = await world.child()
    await world.concern(child, "Police", "missing", days_ago(2), kind="police")
    await world.concern(child, "Police", "missing", days_ago(9), kind="police")
    await sweep(world.db)
    (alert,) = await alerts(world.db, child)
    assert alert.severity == "red"
    return child, alert.id


# --- webhook targets ----------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "100.127.255.254",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "::ffff:10.1.2.3",
        "::127.0.0.1",  # IPv4-compatible form
        "192.0.2.10",  # documentation
    ],
)
async def test_refused_forms_of_private_addresses(address: str) -> None:
    url = f"http://[{address}]/hook" if ":" in address else f"http://{address}/hook"
    with pytest.raises(webhook.UnsafeTarget, match="private"):
        await webhook.check_target(url, allow_private=False)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "2002:808:808::1"])
def test_public_addresses_and_their_6to4_forms_are_allowed(address: str) -> None:
    assert not webhook._forbidden(ipaddress.ip_address(address))


async def test_a_delivery_resolves_once_and_connects_to_the_checked_address(
    aclient: httpx.AsyncClient, world: World, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DNS-rebinding name answers 127.0.0.1 the first time, anything else after."""
    port = receiver.server_address[1]
    lookups: list[str] = []
    real = asyncio.get_running_loop().getaddrinfo

    async def rebinding(self: Any, host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            lookups.append(host)
            if len(lookups) > 1:
                raise OSError("second lookup of rebind.example")
            return await real("127.0.0.1", *args, **kwargs)
        return await real(host, *args, **kwargs)

    monkeypatch.setattr(type(asyncio.get_running_loop()), "getaddrinfo", rebinding)
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    r = await aclient.post(
        "/api/v1/alerts/subscriptions",
        json={"channel": "webhook", "target": f"http://rebind.example:{port}/hook"},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    await _red_alert(world)
    lookups.clear()  # the delivery's own check is the first lookup; there is no second
    stats = await deliver_due(world.db, world.db.settings)
    assert stats.delivered == 1, [n.last_error for n in await notifications(world.db)]
    assert lookups == ["rebind.example"]
    (headers, _, _) = receiver.received[0]
    assert headers["Host"] == f"rebind.example:{port}"


def test_https_is_pinned_with_the_name_as_tls_server_name() -> None:
    target = webhook.Target(url="https://hooks.example:8443/a?b=c", host="hooks.example",
                            address="2606:4700::1")  # fmt: skip
    url, headers, server_name = webhook.pinned_request(target)
    assert url == "https://[2606:4700::1]:8443/a?b=c"
    assert headers == {"Host": "hooks.example:8443"}
    assert server_name == "hooks.example"


async def test_a_hub_user_sees_only_that_a_delivery_failed(
    aclient: httpx.AsyncClient, world: World
) -> None:
    _, alert_id = await _red_alert(world)
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    r = await aclient.post(
        "/api/v1/alerts/subscriptions",
        json={"channel": "webhook", "target": "http://127.0.0.1:9/hook"},
        headers=lead,
    )
    assert r.status_code == 201
    world.db.settings.delivery_max_attempts = 1
    async with world.db.session() as s:
        from alerts.models import Alert
        from alerts.service import queue

        alert = await s.get(Alert, alert_id)
        assert alert is not None and await queue(s, world.db.settings, alert, "opened") == 1
    assert (await deliver_due(world.db, world.db.settings)).dead == 1
    (stored,) = await notifications(world.db)
    assert stored.last_error and "network error" in stored.last_error  # the operator's detail
    dead = (await aclient.get("/api/v1/alerts/notifications", headers=lead)).json()
    assert [n["last_error"] for n in dead] == ["delivery failed"]


# --- silences and resolutions --------------------------------------------------------


async def test_silencing_a_red_rule_needs_a_lead_and_at_most_seven_days(
    aclient: httpx.AsyncClient, world: World
) -> None:
    child, _ = await _red_alert(world)
    hub = f.auth(await f.person(world.db, "hub@hub.example", "hub"))
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    soon = (utcnow() + timedelta(days=6)).isoformat()
    later = (utcnow() + timedelta(days=8)).isoformat()

    def body(expires: str, **target: str) -> dict[str, str]:
        return {"reason": "Strategy meeting on Monday", "expires_at": expires, **target}

    for target in ({"rule": "missing_exploitation"}, {"child_id": child}):
        r = await aclient.post("/api/v1/alerts/silences", json=body(soon, **target), headers=hub)
        assert r.status_code == 403 and "lead" in r.text, target
        r = await aclient.post("/api/v1/alerts/silences", json=body(later, **target), headers=lead)
        assert r.status_code == 422 and "7 days" in r.text, target
        assert r.json()["detail"][0]["loc"] == ["body", "expires_at"]
    r = await aclient.post(
        "/api/v1/alerts/silences", json=body(soon, rule="missing_exploitation"), headers=lead
    )
    assert r.status_code == 201, r.text
    # An amber rule stays a hub decision, for up to a year as before.
    r = await aclient.post(
        "/api/v1/alerts/silences", json=body(later, rule="accumulation"), headers=hub
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "reason",
    [
        "Known to CSC",  # short
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "..............................",
        "test test test test test test",
        "n/a n/a n/a n/a n/a n/a n/a n/a",
        "asdf asdf asdf asdf asdf",
    ],
)
async def test_a_red_alert_is_not_resolved_with_a_filler_reason(
    aclient: httpx.AsyncClient, world: World, reason: str
) -> None:
    _, alert_id = await _red_alert(world)
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    r = await aclient.post(
        f"/api/v1/alerts/{alert_id}/resolve",
        json={"reason": reason, "outcome": "strategy_discussion"},
        headers=lead,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = await aclient.post(
        f"/api/v1/alerts/{alert_id}/resolve",
        json={
            "reason": "Strategy discussion held; safety plan agreed with CSC",
            "outcome": "strategy_discussion",
        },
        headers=lead,
    )
    assert r.status_code == 200 and r.json()["state"] == "resolved"


def test_reasons_of_substance_pass() -> None:
    check_red_reason("Return home interview done; no exploitation")
    check_red_reason("Seen at home; plan agreed")
    with pytest.raises(ReasonTooThin):
        check_red_reason("ok ok ok ok ok ok ok ok ok")


# --- email subscriptions ---------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "lead@hub.example, other@evil.example",
        "lead@hub.example;other@evil.example",
        "lead@hub.example\r\nBcc: other@evil.example",
        "lead@hub.example\nother@evil.example",
        "Lead <lead@hub.example>",
        "lead@@hub.example",
        "lead@hub",
        "not an address",
    ],
)
async def test_an_email_subscription_is_one_valid_address(
    aclient: httpx.AsyncClient, world: World, target: str
) -> None:
    world.db.settings.smtp_host = "127.0.0.1"
    lead = f.auth(await f.person(world.db, "lead@hub.example", "lead"))
    r = await aclient.post(
        "/api/v1/alerts/subscriptions", json={"channel": "email", "target": target}, headers=lead
    )
    assert r.status_code == 422, r.text
    r = await aclient.post(
        "/api/v1/alerts/subscriptions",
        json={"channel": "email", "target": "lead@Hub.Example"},
        headers=lead,
    )
    assert r.status_code == 201 and r.json()["target"] == "lead@hub.example"
