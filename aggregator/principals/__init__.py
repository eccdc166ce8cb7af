"""Agencies and people, their bearer tokens, and the request dependencies that check them."""

from aggregator.principals.deps import (
    Admin,
    CurrentAgency,
    CurrentPrincipal,
    HubUser,
    SessionDep,
    SubmittingAgency,
    get_db,
    unit_of_work,
)
from aggregator.principals.models import ApiToken, Principal

__all__ = [
    "Admin",
    "ApiToken",
    "CurrentAgency",
    "CurrentPrincipal",
    "HubUser",
    "Principal",
    "SessionDep",
    "SubmittingAgency",
    "get_db",
    "unit_of_work",
]
