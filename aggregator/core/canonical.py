"""Canonical JSON hashing, so that a retried request can be recognised exactly."""

import hashlib
import json
from typing import Any


def body_hash(data: Any) -> str:
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
