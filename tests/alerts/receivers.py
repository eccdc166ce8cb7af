"""Real local webhook receivers and outbox rows for the delivery tests."""

import asyncio
import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from aggregator.core.db import Database
from aggregator.principals.models import Principal
from alerts import webhook
from alerts.models import Alert, AlertNotification, AlertSubscription
from tests.alerts.helpers import World


class Receiver(ThreadingHTTPServer):
    """Answers 204 after `delay` seconds; keeps each delivery id with its start time."""

    daemon_threads = True

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.started: list[tuple[str, float]] = []
        self.done: list[str] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        delivery = self.headers[webhook.DELIVERY_HEADER]
        with self.server.lock:
            self.server.started.append((delivery, time.monotonic()))
        time.sleep(self.server.delay)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        with self.server.lock:
            self.server.done.append(delivery)

    def log_message(self, *args: Any) -> None:
        pass


class BlackHole:
    """Accepts connections and never answers: a receiver that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(100)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def serve(receivers: list[Receiver], delay: float = 0.0) -> Receiver:
    r = Receiver(delay)
    threading.Thread(target=r.serve_forever, daemon=True).start()
    receivers.append(r)
    return r


async def outbox(world: World, targets: list[str], per_target: int) -> dict[str, list[str]]:
    """`per_target` pending notifications for each target; their ids by target."""
    db = world.db
    child = await world.child()
    out: dict[str, list[str]] = {}
    async with db.session() as s:
        lead = Principal(kind="person", name="lead-delivery@hub.example", role="lead")
        alert = Alert(rule_id="r", child_id=child, severity="red", text="t", rules_version="1")
        s.add_all([lead, alert])
        await s.flush()
        for target in targets:
            sub = AlertSubscription(
                principal_id=lead.id, channel="webhook", target=target, secret="whsec_t"
            )
            s.add(sub)
            await s.flush()
            rows = [
                AlertNotification(
                    alert_id=alert.id,
                    subscription_id=sub.id,
                    event="opened",
                    dedupe_key=f"{sub.id}:{i}",
                    payload={"event": "alert.opened", "alert": {"id": alert.id}},
                )
                for i in range(per_target)
            ]
            s.add_all(rows)
            out[target] = [n.id for n in rows]
    return out


async def rows(db: Database) -> dict[str, AlertNotification]:
    async with db.session() as s:
        return {n.id: n for n in (await s.scalars(select(AlertNotification))).all()}


async def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
