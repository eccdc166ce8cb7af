"""Pages of a long list: a total, 50 a page, `?page=N`, the filters kept on every link.

Why one helper: every list page (inbox, children, review queue) must say how many
there are and reach all of them; a list that silently stops at 200 hides alerts.
"""

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request

PER_PAGE = 50
# A page number is bounded like any other input: 10,000 pages of 50 is half a million rows.
PageParam = Annotated[int, Query(ge=1, le=10_000, description="Page number, from 1")]
_NOT_KEPT = {"page", "offset", "done"}


@dataclass(frozen=True)
class Pager:
    page: int
    total: int
    path: str
    kept: tuple[tuple[str, str], ...]
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first_shown(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_shown(self) -> int:
        return min(self.total, self.offset + self.per_page)

    def url(self, page: int) -> str:
        return f"{self.path}?{urlencode([*self.kept, ('page', str(page))])}"

    def numbers(self) -> list[int | None]:
        """Page numbers to link: the first, the last and two either side; None is a gap."""
        wanted = sorted(
            {1, self.pages, *range(max(1, self.page - 2), min(self.pages, self.page + 2) + 1)}
        )
        out: list[int | None] = []
        previous = 0
        for n in wanted:
            if previous and n - previous > 1:
                out.append(None)
            out.append(n)
            previous = n
        return out


def pager(request: Request, page: int, total: int, per_page: int = PER_PAGE) -> Pager:
    """The pager for this request; a page past the end shows the last one."""
    kept = tuple((k, v) for k, v in request.query_params.multi_items() if k not in _NOT_KEPT)
    last = max(1, -(-total // per_page))
    return Pager(min(page, last), total, request.url.path, kept, per_page)


def page_from_offset(page: int | None, offset: int, per_page: int = PER_PAGE) -> int:
    """Links written before `?page=` used `?offset=`: both reach the same page."""
    return page if page is not None else offset // per_page + 1
