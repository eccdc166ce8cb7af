"""The audit chain's external anchor: an append-only file of HMAC'd chain heads.

A database writer who holds no key can still delete the newest events, or unseal
a run of them and have it chained again, and the chain alone stays consistent.
The anchor records each head the sealer produced (and each head a verification
confirmed) somewhere that writer cannot reach: a verifier then knows how far the
chain must reach and which hashes it must still hold. Each line is one JSON
object, written by a single `write` on a file opened for appending, and carries
an HMAC so that whoever can append to the file still cannot forge a line.
"""

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aggregator.core.types import utcnow

GENESIS = "0" * 64
# Keeps an anchor's MAC from ever equalling an event's digest under the same key.
_DOMAIN = b"aggregator-audit-anchor\x00"
_TAIL_BLOCK = 64 * 1024


@dataclass(frozen=True, order=True)
class Head:
    """A point of the chain: the event at `seq` had this `hash` (seq 0 is the empty chain)."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> "Head":
        """`SEQ:HASH` as `aggregator audit anchor` prints it; ValueError says what is wrong."""
        seq_text, sep, digest = text.strip().partition(":")
        if not sep or not seq_text.isdigit() or len(seq_text) > 18:
            raise ValueError(f"{text!r} is not SEQ:HASH (a sequence number, a colon, a hash)")
        digest = digest.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{text!r}: the hash must be 64 hexadecimal characters")
        return cls(int(seq_text), digest)

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass(frozen=True)
class AnchorLine:
    """One line of the file; `upto` (verification lines only) is how far the file was read."""

    kind: str  # "seal" or "verified"
    head: Head
    at: str
    offset: int  # byte offset of the line in the file
    upto: int | None = None

    def describe(self) -> str:
        what = "seal anchor" if self.kind == "seal" else "verification anchor"
        return f"the {what} of {self.at} (seq {self.head.seq}, hash {self.head.hash[:16]}…)"


class AnchorError(ValueError):
    """A line that is not one this service wrote: forged, edited or torn."""

    def __init__(self, path: Path, offset: int, why: str) -> None:
        super().__init__(f"anchor file {path}, line at byte {offset}: {why}")
        self.offset = offset


def _mac(key: bytes, kind: str, head: Head, at: str, upto: int | None) -> str:
    payload = json.dumps([kind, head.seq, head.hash, at, upto], separators=(",", ":"))
    return hmac.new(key, _DOMAIN + payload.encode(), hashlib.sha256).hexdigest()


class AnchorFile:
    """Appends and reads anchor lines; every read checks each line's HMAC."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._key = key

    def size(self) -> int:
        """Bytes in the file now (0 if it does not exist yet)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, kind: str, head: Head, upto: int | None = None) -> None:
        """One line in one `write` with O_APPEND, then fsync: never interleaved or torn."""
        at = utcnow().isoformat()
        line = {
            "kind": kind,
            "seq": head.seq,
            "hash": head.hash,
            "at": at,
            "mac": _mac(self._key, kind, head, at, upto),
        }
        if upto is not None:
            line["upto"] = upto
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def _parse(self, raw: bytes, offset: int) -> AnchorLine:
        try:
            obj = json.loads(raw)
            kind, seq, digest, at, mac = (obj[k] for k in ("kind", "seq", "hash", "at", "mac"))
            upto = obj.get("upto")
            head = Head(int(seq), str(digest))
        except (ValueError, KeyError, TypeError) as exc:
            raise AnchorError(self.path, offset, "not an anchor line (edited or torn)") from exc
        if not isinstance(mac, str) or not hmac.compare_digest(
            mac, _mac(self._key, str(kind), head, str(at), upto)
        ):
            raise AnchorError(
                self.path, offset, "its HMAC is wrong: the line was forged or altered"
            )
        return AnchorLine(str(kind), head, str(at), offset, upto)

    def lines(self, start: int, end: int) -> Iterator[AnchorLine]:
        """Every complete line between two byte offsets, in file order.

        `start` must be the start of a line. A last line without its newline is a
        write still in progress and is left for the next read. Raises AnchorError
        at the first line that does not verify.
        """
        if end <= start:
            return
        with self.path.open("rb") as fh:
            fh.seek(start)
            offset = start
            while offset < end:
                raw = fh.readline(end - offset)
                if not raw.endswith(b"\n"):
                    return
                yield self._parse(raw, offset)
                offset += len(raw)

    def end_of_complete_lines(self, end: int) -> int:
        """The offset just past the last newline before `end` (where a reader can stop)."""
        if end == 0:
            return 0
        with self.path.open("rb") as fh:
            pos = end
            while pos > 0:
                size = min(_TAIL_BLOCK, pos)
                fh.seek(pos - size)
                block = fh.read(size)
                cut = block.rfind(b"\n")
                if cut >= 0:
                    return pos - size + cut + 1
                pos -= size
        return 0

    def last_lines(self) -> Iterator[AnchorLine | AnchorError]:
        """Complete lines from the end of the file backwards, a bad one as its error.

        Lets a process that starts find the newest anchor and the last verified
        checkpoint without reading the whole file.
        """
        pos = self.end_of_complete_lines(self.size())
        if pos == 0:
            return
        with self.path.open("rb") as fh:
            tail = b""  # an incomplete first line of the block read before, with its newline
            while pos > 0:
                size = min(_TAIL_BLOCK, pos)
                pos -= size
                fh.seek(pos)
                buf = fh.read(size) + tail  # bytes [pos, ...), ending with a newline
                parts = buf.split(b"\n")
                offsets, o = [], pos
                for part in parts:
                    offsets.append(o)
                    o += len(part) + 1
                first = 1 if pos > 0 else 0  # parts[0] may begin before `pos`
                for i in range(len(parts) - 2, first - 1, -1):
                    if not parts[i]:
                        continue
                    try:
                        yield self._parse(parts[i] + b"\n", offsets[i])
                    except AnchorError as exc:
                        yield exc
                tail = parts[0] + b"\n" if pos > 0 else b""
