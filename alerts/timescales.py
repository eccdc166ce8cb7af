"""Response timescales for triaged alerts, counted in working hours and working days.

Why a file: a MASH's red/amber/green windows are local values, set in its own
procedures; the shipped `timescales.toml` carries common defaults and where they
come from. Why working time: "within one working day" of a Friday-afternoon
contact is Monday afternoon, not Saturday; bank holidays of England and Wales
come from the `holidays` package rather than a list someone must keep.

A working day is `day_start`..`day_end` on a weekday that is not a bank
holiday; `working_days = N` means N such days' worth of working hours, so an
amber contact that opens on Friday at 15:00 is due on Monday at 15:00.
"""

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alerts.tomlfile import parse_model, read_text

DEFAULT_TIMESCALES = Path(__file__).with_name("timescales.toml")
Rating = Literal["red", "amber", "green"]
RATINGS: tuple[Rating, ...] = ("red", "amber", "green")
# A bound on any window, so a typo of 4000 working days cannot make the clock loop for long.
MAX_WORKING_HOURS = 24 * 60


class TimescalesError(ValueError):
    """The timescales file cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkingTime(_Strict):
    timezone: str = "Europe/London"
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    holidays_country: str = "GB"
    holidays_subdivision: str | None = "ENG"

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.day_end <= self.day_start:
            raise ValueError("day_end must be after day_start")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        try:
            holidays.country_holidays(
                self.holidays_country, subdiv=self.holidays_subdivision, years=2026
            )
        except NotImplementedError as exc:
            raise ValueError(
                f"the holidays package knows no {self.holidays_country!r}"
                f"/{self.holidays_subdivision!r}"
            ) from exc
        return self

    @property
    def hours_per_day(self) -> float:
        start = datetime.combine(date(2000, 1, 1), self.day_start)
        return (datetime.combine(date(2000, 1, 1), self.day_end) - start).total_seconds() / 3600


class Window(_Strict):
    """One rating's window: working hours or working days (one of them), and its source."""

    working_hours: float | None = Field(default=None, gt=0)
    working_days: float | None = Field(default=None, gt=0)
    source: str = Field(min_length=3, max_length=500)

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        if (self.working_hours is None) == (self.working_days is None):
            raise ValueError("give exactly one of working_hours and working_days")
        return self


class Timescales(_Strict):
    version: str = Field(min_length=1, max_length=40)
    working_time: WorkingTime = WorkingTime()
    ratings: dict[Rating, Window]

    @model_validator(mode="after")
    def _every_rating(self) -> Self:
        missing = [r for r in RATINGS if r not in self.ratings]
        if missing:
            raise ValueError(f"ratings {', '.join(missing)} have no window")
        for rating in RATINGS:
            if self.hours(rating) > MAX_WORKING_HOURS:
                raise ValueError(f"ratings.{rating}: at most {MAX_WORKING_HOURS} working hours")
        return self

    def hours(self, rating: Rating) -> float:
        """The window of `rating` in working hours."""
        w = self.ratings[rating]
        if w.working_hours is not None:
            return w.working_hours
        return (w.working_days or 0) * self.working_time.hours_per_day

    def due(self, rating: Rating, start: datetime) -> datetime:
        """When a decision on an alert opened at `start` with this rating is due."""
        return add_working_hours(start, self.hours(rating), self.working_time)


@lru_cache(maxsize=8)
def _bank_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def is_working_day(day: date, wt: WorkingTime) -> bool:
    """A weekday that is not a bank holiday where the hub works."""
    return day.weekday() < 5 and day not in _bank_holidays(
        wt.holidays_country, wt.holidays_subdivision, day.year
    )


def add_working_hours(start: datetime, hours: float, wt: WorkingTime) -> datetime:
    """`start` (aware) plus `hours` of working time, as an aware UTC datetime.

    Time outside working hours does not count: a window that starts in the
    evening, at a weekend or on a bank holiday starts at the next day's start.
    """
    if start.tzinfo is None:
        raise ValueError("start needs a timezone")
    if not 0 <= hours <= MAX_WORKING_HOURS:
        raise ValueError(f"hours must be between 0 and {MAX_WORKING_HOURS}")
    zone = ZoneInfo(wt.timezone)
    local = start.astimezone(zone)
    remaining = timedelta(hours=hours)
    day = local.date()
    cursor = local
    while True:
        opens = datetime.combine(day, wt.day_start, zone)
        closes = datetime.combine(day, wt.day_end, zone)
        if is_working_day(day, wt) and cursor < closes:
            cursor = max(cursor, opens)
            if cursor + remaining <= closes:
                return (cursor + remaining).astimezone(ZoneInfo("UTC"))
            remaining -= closes - cursor
        day += timedelta(days=1)
        cursor = datetime.combine(day, wt.day_start, zone)


def _describe(exc: ValidationError, data: object = None) -> str:
    return "\n".join(
        f"  {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
        for err in exc.errors()
    )


def parse_timescales(text: str, source: str = "<timescales>") -> Timescales:
    """Parse and validate; every problem is reported at once, with where it is."""
    return parse_model(text, source, Timescales, TimescalesError, "timescales", _describe)


def load_timescales(path: Path | None = None) -> Timescales:
    """The shipped defaults unless `path` (AGGREGATOR_TIMESCALES_PATH) names another file."""
    path = path or DEFAULT_TIMESCALES
    return parse_timescales(read_text(path, TimescalesError, "timescales"), str(path))


@lru_cache(maxsize=4)
def cached_timescales(path: Path | None) -> Timescales:
    return load_timescales(path)
