"""Signed webhook delivery, and refusing targets inside the service's own network.

Each request carries:

    X-Aggregator-Delivery:  <delivery id>   stable across retries; deduplicate on it
    X-Aggregator-Event:     alert.opened | alert.updated | alert.new_agency |
                            alert.reopened | alert.escalated
    X-Aggregator-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>

The signature is HMAC-SHA256, keyed with the subscription's secret (`whsec_...`,
shown once when the subscription is made), over `f"{t}.{raw body}"`. To verify,
recompute it over the raw bytes received, compare in constant time, and reject a
`t` more than a few minutes old so a captured request cannot be replayed.
"""

import asyncio
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

SIGNATURE_HEADER = "X-Aggregator-Signature"
DELIVERY_HEADER = "X-Aggregator-Delivery"
EVENT_HEADER = "X-Aggregator-Event"
_MAX_ANSWER = 64 * 1024


class UnsafeTarget(ValueError):
    """The URL would make the service call into a private network (SSRF)."""


class DeliveryFailed(Exception):
    """The receiver did not accept the delivery; the message is safe to log (no data)."""


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, tolerance: float = 300, now: float | None = None
) -> bool:
    """What a receiver does; used by the tests and offered as the reference."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def check_url_shape(url: str, require_https: bool) -> str:
    """Scheme and host present; the host is returned for resolution."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeTarget("webhook URL must be an absolute http(s) URL")
    if require_https and parts.scheme != "https":
        raise UnsafeTarget("webhook URL must use https")
    if parts.username or parts.password:
        raise UnsafeTarget("webhook URL must not carry credentials")
    return parts.hostname


async def check_target(url: str, *, allow_private: bool, require_https: bool = False) -> None:
    """Refuse loopback, link-local, private and reserved targets unless allowed.

    Every address the name resolves to is checked, at subscription and again at
    each delivery, so a name re-pointed later is caught before the request.
    """
    host = check_url_shape(url, require_https)
    if allow_private:
        return
    port = urlsplit(url).port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port)
    except OSError as exc:
        raise UnsafeTarget(f"webhook host does not resolve: {host}") from exc
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if _forbidden(ip):
            raise UnsafeTarget(
                f"webhook host {host} resolves to a private, loopback or link-local address; "
                "set AGGREGATOR_WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )


async def post(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    delivery_id: str,
    event: str,
    payload: dict[str, Any],
    timeout_seconds: float,
) -> None:
    """One attempt; any non-2xx answer, network error or timeout is a failure to retry.

    `timeout_seconds` bounds the whole attempt (connect, send, answer), so a receiver
    that answers a byte at a time cannot hold a delivery slot for longer.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "concern-aggregator-alerts/1",
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
    }
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as response:
            status = response.status
            await response.content.read(_MAX_ANSWER)  # the answer is not used: read a little
    except TimeoutError as exc:
        raise DeliveryFailed("receiver did not answer in time") from exc
    except aiohttp.ClientError as exc:
        raise DeliveryFailed(f"network error: {type(exc).__name__}") from exc
    if not 200 <= status < 300:
        raise DeliveryFailed(f"receiver answered HTTP {status}")
