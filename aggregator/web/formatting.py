"""How pages show times and ages: UK local time with its zone, ages in words.

Why: times are stored in UTC; a practitioner in England reads "14:05 GMT" or
"15:05 BST" and never has to guess which clock a time was written by.
"""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")


def uk_time(value: datetime | str | None) -> str:
    """A stored time in UK local time with its zone, e.g. '2026-12-01 14:05 GMT'."""
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UK).strftime("%Y-%m-%d %H:%M %Z")


def age_on(date_of_birth: str | None, today: date) -> str | None:
    """A child's age in words from a full date of birth: weeks for a baby, months to
    two, then years (a red 'baby under 6 months' alert must show how old)."""
    if not date_of_birth or len(date_of_birth) != 10:
        return None
    try:
        born = date.fromisoformat(date_of_birth)
    except ValueError:
        return None
    if born > today:
        return None
    days = (today - born).days
    months = (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)
    if days < 8 * 7:
        weeks = days // 7
        return f"{weeks} {'week' if weeks == 1 else 'weeks'} old" if weeks else f"{days} days old"
    if months < 24:
        return f"{months} months old"
    years = months // 12
    return f"{years} years old"
