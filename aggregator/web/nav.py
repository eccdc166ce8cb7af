"""The dashboard's navigation: one line per page, shown only to roles that may open it."""

from dataclasses import dataclass

ALL_ROLES = frozenset({"hub", "lead", "admin"})


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    roles: frozenset[str] = ALL_ROLES


# Add a page here when you add its route; keep the roles the same as the
# route's `require_web_roles(...)` so nobody sees a link they cannot open.
NAV: list[NavItem] = [
    NavItem("Home", "/"),
    NavItem("Alert inbox", "/alerts", frozenset({"hub", "lead"})),
    NavItem("My work", "/my-work", frozenset({"hub", "lead"})),
    NavItem("Children", "/children", frozenset({"hub", "lead"})),
    NavItem("Review queue", "/review", frozenset({"hub", "lead"})),
    NavItem("Audit trail", "/audit", frozenset({"admin"})),
]


@dataclass(frozen=True)
class NavLink:
    label: str
    path: str
    current: bool


def links_for(role: str | None, current_path: str) -> list[NavLink]:
    """The items a role may open, marking the one being shown (aria-current)."""
    if role is None:
        return []
    return [
        NavLink(
            item.label,
            item.path,
            current_path == item.path
            or (item.path != "/" and current_path.startswith(item.path + "/")),
        )
        for item in NAV
        if role in item.roles
    ]
