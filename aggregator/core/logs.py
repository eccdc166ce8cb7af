"""Structured JSON log lines that cannot carry personal data by accident.

What reaches a log here is chosen, not inherited: the access log is our own
(route template, never the URL or its query string; see `core.middleware`), and
an exception is written as its type and the places it passed through, never its
text or arguments. Exception text is where submitted values leak: a
`UnicodeEncodeError` quotes the string it failed on, SQLAlchemy's `DBAPIError`
prints the statement's parameters, a pydantic error echoes the input.
"""

import logging
import logging.config
import traceback
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
_RENAME = {"asctime": "time", "levelname": "level", "name": "logger"}


def describe_exception(exc: BaseException) -> list[str]:
    """The exception's type and frame locations, its causes too; no message, no arguments."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = type(current)
        lines.append(f"{kind.__module__}.{kind.__qualname__}")
        lines.extend(
            f"  at {frame.filename}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(current.__traceback__)
        )
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return lines


class SafeJsonFormatter(JsonFormatter):
    """JSON lines whose tracebacks hold types and locations only.

    The standard `formatException` prints `str(exc)`; this one never does, for
    any logger, including uvicorn's "Exception in ASGI application".
    """

    def formatException(self, ei: Any) -> list[str]:  # type: ignore[override]
        exc = ei[1] if isinstance(ei, tuple) else None
        return describe_exception(exc) if isinstance(exc, BaseException) else []

    def formatStack(self, stack_info: str) -> str:
        return ""  # a stack dump is source lines; never needed in an operator log


def formatter() -> SafeJsonFormatter:
    return SafeJsonFormatter(_FIELDS, rename_fields=_RENAME, timestamp=False)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict, also handed to uvicorn for every worker.

    uvicorn's own access logger is silenced here as well as by `access_log=False`:
    it writes the raw request line, query string included.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.formatter"}},
        "filters": {"request_id": {"()": "aggregator.core.middleware.RequestIdFilter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            # httpx logs every request's full URL at INFO (a webhook's, with its path).
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """For `serve` before uvicorn starts (migrations, the demo) and for the scheduler."""
    logging.config.dictConfig(log_config(level))
