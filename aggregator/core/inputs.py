"""Input that the databases cannot store is refused at the door, once for every route.

Three kinds of value pass pydantic's plain `str` and `int` and then fail inside
a driver, as a 500 whose traceback quotes them:

- a NUL character: PostgreSQL text cannot hold one (asyncpg raises);
- an unpaired UTF-16 surrogate (`"\\ud800"` in JSON): it cannot be encoded as
  UTF-8 for either database;
- an integer outside 64 bits: neither SQLite nor PostgreSQL binds it.

`refuse_unsafe_input` is an app-wide dependency that walks the path and query
parameters and the already-parsed JSON or form body and answers 422 naming the
field. Integer query parameters are bounded by their types (`Offset`, `RowIdBefore`).
Names get one more rule (`visible_text`): invisible and bidirectional-control
characters are stripped, so that a name cannot be made to look like another.
"""

import re
import unicodedata
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

Loc = tuple[str | int, ...]

# Paging and cursor parameters: 64-bit columns and OFFSET take nothing larger.
Offset = Annotated[int, Query(ge=0, le=INT64_MAX, description="rows to skip")]
RowIdBefore = Annotated[int | None, Query(ge=1, le=INT64_MAX, description="an id; rows below it")]


def text_problem(value: str) -> str | None:
    """Why the databases cannot store this string, or None if they can."""
    if value.isascii():
        return "must not contain a NUL character" if "\x00" in value else None
    if "\x00" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain an unpaired UTF-16 surrogate (not valid Unicode text)"
    return None


def value_problems(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every string or integer inside a parsed JSON value that cannot be stored."""
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            yield loc, problem
    elif isinstance(value, bool) or value is None or isinstance(value, float):
        return
    elif isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            yield loc, "must be an integer between -2^63 and 2^63-1"
    elif isinstance(value, dict):
        for key, item in value.items():
            key_problem = text_problem(key) if isinstance(key, str) else None
            if key_problem:
                yield (*loc, "<key>"), key_problem
            else:
                yield from value_problems(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from value_problems(item, (*loc, index))


# In JSON text a NUL can only be written `\\u0000` (a raw one is a JSON error), a
# lone surrogate as a `\\ud800`-`\\udfff` escape or as its three UTF-8-style bytes
# (`json.loads` decodes bytes with "surrogatepass"), and an integer beyond 64 bits
# needs 19 or more digits: a body with none of these, as nearly every submission
# is, is not walked at all.
_MAYBE_UNSTORABLE_JSON = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]|[0-9]{19}")


def _error(loc: Loc, msg: str, kind: str = "value_error") -> dict[str, Any]:
    # No `input`: the value is what must not be stored, echoed, or logged.
    return {"type": kind, "loc": list(loc), "msg": msg}


async def refuse_unsafe_input(request: Request) -> None:
    """App-wide dependency: 422 naming every field that holds an unstorable value."""
    problems: list[tuple[Loc, str]] = []
    for name, value in request.path_params.items():
        problems.extend(value_problems(value, ("path", name)))
    for name, value in request.query_params.multi_items():
        problems.extend(value_problems(value, ("query", name)))
        problems.extend(value_problems(name, ("query", "<name>")))
    route = request.scope.get("route")
    body_field = route.body_field if isinstance(route, APIRoute) else None
    if body_field is not None:
        # FastAPI has already parsed the body; Starlette hands back its cached copy.
        if isinstance(body_field.field_info, Form):
            form = await request.form()
            for name, item in form.multi_items():
                if isinstance(item, str):
                    problems.extend(value_problems(item, ("body", name)))
        elif _MAYBE_UNSTORABLE_JSON.search(await request.body()):
            # Whatever the content type claims (FastAPI also reads `+json` and none).
            try:
                parsed = await request.json()
            except ValueError:
                parsed = None  # not JSON: FastAPI answers that itself
            problems.extend(value_problems(parsed, ("body",)))
    if problems:
        raise RequestValidationError([_error(loc, msg, "string_unsafe") for loc, msg in problems])


def unprocessable(loc: Loc, msg: str) -> HTTPException:
    """A 422 in the same shape as a validation error (`detail` is a list naming the field)."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [_error(loc, msg)])


# --- names --------------------------------------------------------------------------

# Not format characters (category Cf) but drawn as nothing: Hangul fillers, the
# braille blank, the combining grapheme joiner, Mongolian and other variation selectors.
_INVISIBLE = {
    0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180B, 0x180C, 0x180D, 0x180F, 0x2800,
    0x3164, 0xFFA0, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0),
}  # fmt: skip


def _invisible(ch: str) -> bool:
    # Cf: zero-width spaces and joiners, bidirectional embeddings, overrides and
    # isolates, the BOM, soft hyphen, tags. Cc: control characters (tab, newline).
    return unicodedata.category(ch) in ("Cf", "Cc") or ord(ch) in _INVISIBLE


def visible_text(value: str) -> str:
    """Strip characters that are drawn as nothing or reorder the text around them.

    Refused (ValueError, so 422) when nothing visible is left: a name made of
    zero-width or bidi-control characters would show as blank, or as another name.
    """
    if value.isascii() and value.isprintable():
        return value
    cleaned = "".join(ch for ch in value if not _invisible(ch)).strip()
    if not cleaned or all(unicodedata.category(ch).startswith(("Z", "M")) for ch in cleaned):
        raise ValueError("must contain visible characters")
    return cleaned
