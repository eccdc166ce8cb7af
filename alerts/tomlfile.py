"""Validated TOML configuration files (the alert rules, the response timescales).

Why one helper: both files are read at start, and a bad one must stop the service
with the same kind of message, every problem at once and where it is.
"""

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Describe = Callable[[ValidationError, dict[str, Any]], str]


def parse_model(
    text: str, source: str, model: type[M], error: type[Exception], what: str, describe: Describe
) -> M:
    """Parse TOML and validate it as `model`; `error` says what is wrong and where."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{source}: invalid {what}:\n{describe(exc, data)}") from exc


def read_text(path: Path, error: type[Exception], what: str) -> str:
    """The file's text, or `error` naming the file and why it could not be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror}") from exc
