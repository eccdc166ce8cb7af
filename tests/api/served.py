"""Run `aggregator serve` as a real process for a test, and stop it afterwards."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class Served:
    base_url: str
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(database_url: str, audit_key: str, tmp_path: Path, **env: str) -> Iterator[Served]:
    """The service on a free port, its stderr in a file; waits until /healthz answers."""
    port = _free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")},
        "AGGREGATOR_DATABASE_URL": database_url,
        "AGGREGATOR_ENVIRONMENT": "test",
        "AGGREGATOR_AUDIT_KEY": audit_key,
        "AGGREGATOR_RUN_SCHEDULER": "false",
        **env,
    }
    stderr_path = tmp_path / f"serve-{port}.log"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator.cli", "serve", "--port", str(port)],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"the service did not start:\n{stderr_path.read_text()}")
        yield Served(base_url, stderr_path)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
