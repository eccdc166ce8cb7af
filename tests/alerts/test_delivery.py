"""Real delivery: a local HTTP receiver that fails three times, and a local SMTP server."""

import asyncio
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from aggregator.core.db import Database
from aggregator.principals.models import Principal
from alerts import webhook
from alerts.models import AlertSubscription
from alerts.outbox import deliver_due
from tests.alerts.helpers import World, alerts, days_ago, notifications, sweep


class Receiver(ThreadingHTTPServer):
    """Answers 500 to the first `failures` requests, then 200; keeps every request."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if len(self.server.received) < self.server.failures else 200
        self.server.received.append((dict(self.headers.items()), body, status))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd needs a concrete port to check it started
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


async def _subscribed_alert(world: World, channel: str, target: str) -> tuple[str, str, str]:
    db = world.db
    async with db.session() as s:
        lead = Principal(kind="person", name=f"lead-{channel}@hub.example", role="lead")
        s.add(lead)
        await s.flush()
        sub = AlertSubscription(
            principal_id=lead.id,
            channel=channel,
            target=target,
            secret=webhook.new_secret() if channel == "webhook" else None,
        )
        s.add(sub)
    child = await world.child()
    await world.concern(child, "Police", "missing", days_ago(2), kind="police")
    await world.concern(child, "Police", "missing", days_ago(9), kind="police")
    await sweep(db)
    (alert,) = await alerts(db, child)
    return alert.id, child, sub.secret or ""


async def _deliver_until_settled(db: Database, rounds: int = 40) -> None:
    for _ in range(rounds):
        await deliver_due(db, db.settings)
        if all(n.state != "pending" for n in await notifications(db)):
            return
        await asyncio.sleep(0.06)
    raise AssertionError("notifications still pending")


async def test_webhook_fails_three_times_then_one_delivery_id_with_valid_signatures(
    world: World, receiver: Receiver
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    alert_id, child, secret = await _subscribed_alert(world, "webhook", url)
    await _deliver_until_settled(world.db)

    assert [status for _, _, status in receiver.received] == [500, 500, 500, 200]
    ids = {headers[webhook.DELIVERY_HEADER] for headers, _, _ in receiver.received}
    assert len(ids) == 1
    for headers, body, _ in receiver.received:
        assert webhook.verify(secret, headers[webhook.SIGNATURE_HEADER], body)
        assert not webhook.verify("whsec_wrong", headers[webhook.SIGNATURE_HEADER], body)
        assert headers[webhook.EVENT_HEADER] == "alert.opened"
    body = json.loads(receiver.received[-1][1])
    assert body == {
        "delivery_id": ids.pop(),
        "event": "alert.opened",
        "alert": {
            "id": alert_id,
            "rule": "missing_exploitation",
            "severity": "red",
            "state": "open",
        },
        "link": f"https://hub.example/alerts/{alert_id}",
    }
    assert child not in receiver.received[-1][1].decode()
    (n,) = await notifications(world.db)
    assert n.state == "delivered" and n.attempts == 4


async def test_a_receiver_that_never_answers_ends_in_the_dead_letter_state(
    world: World, receiver: Receiver
) -> None:
    receiver.failures = 100
    world.db.settings.delivery_max_attempts = 3
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    await _subscribed_alert(world, "webhook", url)
    await _deliver_until_settled(world.db)
    (n,) = await notifications(world.db)
    assert n.state == "dead" and n.attempts == 3 and "HTTP 500" in (n.last_error or "")
    assert len(receiver.received) == 3


async def test_delivery_refuses_a_private_target_when_not_allowed(
    world: World, receiver: Receiver
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    await _subscribed_alert(world, "webhook", url)
    world.db.settings.webhook_allow_private = False
    world.db.settings.delivery_max_attempts = 1
    await _deliver_until_settled(world.db)
    (n,) = await notifications(world.db)
    assert n.state == "dead" and "private" in (n.last_error or "")
    assert receiver.received == []


async def test_email_reaches_a_real_smtp_server(
    world: World, smtp: tuple[Controller, Inbox]
) -> None:
    controller, inbox = smtp
    world.db.settings.smtp_host = "127.0.0.1"
    world.db.settings.smtp_port = controller.port
    alert_id, child, _ = await _subscribed_alert(world, "email", "lead@hub.example")
    await _deliver_until_settled(world.db)
    (n,) = await notifications(world.db)
    assert n.state == "delivered"
    ((sender, rcpts, content),) = inbox.messages
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = str(message["Subject"]) + message.get_content()
    assert rcpts == ["lead@hub.example"] and sender == world.db.settings.smtp_from
    assert f"https://hub.example/alerts/{alert_id}" in text and "missing_exploitation" in text
    assert child not in text and "test concern" not in text
