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
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Target:
    """A webhook URL with the one address it was checked at; delivery connects there."""

    url: str
    host: str
    address: str


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address reaches: mapped, 6to4, Teredo, NAT64, v4-compatible."""
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in _NAT64 or int(ip) >> 32 == 0:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def _forbidden(ip: IPAddress) -> bool:
    """Anything not globally routable: private, shared (100.64.0.0/10, carrier NAT),
    loopback, link-local, reserved, documentation; and IPv6 forms that reach one."""
    if isinstance(ip, ipaddress.IPv6Address) and any(_forbidden(v4) for v4 in _embedded_v4(ip)):
        return True
    return (
        not ip.is_global
        or ip.is_loopback
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


async def check_target(url: str, *, allow_private: bool, require_https: bool = False) -> Target:
    """Resolve once; refuse the URL if any address is private, unless allowed.

    Checked at subscription and again at each delivery, so a name re-pointed
    later is caught; the delivery then connects to the address checked here
    (`post`), never resolving the name a second time (DNS rebinding).
    """
    host = check_url_shape(url, require_https)
    try:
        port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    except ValueError as exc:
        raise UnsafeTarget("webhook URL has an invalid port") from exc
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"webhook host does not resolve: {host}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise UnsafeTarget(f"webhook host does not resolve: {host}")
    if not allow_private and any(_forbidden(ip) for ip in addresses):
        raise UnsafeTarget(
            f"webhook host {host} resolves to a private, shared, loopback or link-local "
            "address; set AGGREGATOR_WEBHOOK_ALLOW_PRIVATE=true to allow it"
        )
    return Target(url=url, host=host, address=str(addresses[0]))


def pinned_request(target: Target) -> tuple[str, dict[str, str], str | None]:
    """The URL with the checked address in place of the name, the Host header, and
    the TLS server name: the certificate is still verified against the name."""
    parts = urlsplit(target.url)
    ip = ipaddress.ip_address(target.address)
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    if parts.port:
        netloc += f":{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    server_name = target.host if parts.scheme == "https" else None
    return url, {"Host": host_header}, server_name


async def post(
    session: aiohttp.ClientSession,
    target: Target,
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
    url, host_header, server_name = pinned_request(target)
    headers = {
        **host_header,
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
            server_hostname=server_name,
        ) as response:
            status = response.status
            await response.content.read(_MAX_ANSWER)  # the answer is not used: read a little
    except TimeoutError as exc:
        raise DeliveryFailed("receiver did not answer in time") from exc
    except aiohttp.ClientError as exc:
        raise DeliveryFailed(f"network error: {type(exc).__name__}") from exc
    if not 200 <= status < 300:
        raise DeliveryFailed(f"receiver answered HTTP {status}")
