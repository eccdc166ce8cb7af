"""What needs action, as counts for the home page: no personal data, one query each.

The counts come from other packages (alerts, the review queue); the composition
root passes their sources in, so the dashboard kernel imports none of them.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ActionCount:
    label: str
    count: int
    link: str
    tone: str = ""  # "red" or "amber" for a severity, "" otherwise


ActionCountSource = Callable[[AsyncSession], Awaitable[list[ActionCount]]]
