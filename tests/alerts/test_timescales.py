"""The working-hours clock of triage: weekends, bank holidays, evenings, the file's checks."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.timescales import (
    TimescalesError,
    WorkingTime,
    add_working_hours,
    load_timescales,
    parse_timescales,
)

WT = WorkingTime()
TS = load_timescales()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_shipped_defaults_and_sources() -> None:
    assert TS.hours("red") == 4 and TS.hours("amber") == 8 and TS.hours("green") == 24
    assert all(len(TS.ratings[r].source) > 10 for r in ("red", "amber", "green"))


def test_within_one_day() -> None:
    # Wednesday 25 November 2026, 10:00 in London (GMT): red is due at 14:00.
    assert add_working_hours(utc(2026, 11, 25, 10), 4, WT) == utc(2026, 11, 25, 14)


def test_across_a_weekend() -> None:
    # Friday 27 November 15:00: two hours on Friday, two more from Monday 09:00.
    assert TS.due("red", utc(2026, 11, 27, 15)) == utc(2026, 11, 30, 11)
    # amber (one working day) from Friday 15:00 is Monday 15:00.
    assert TS.due("amber", utc(2026, 11, 27, 15)) == utc(2026, 11, 30, 15)
    # A Saturday contact starts the clock on Monday morning.
    assert TS.due("red", utc(2026, 11, 28, 11)) == utc(2026, 11, 30, 13)


def test_across_bank_holidays() -> None:
    # Thursday 24 December 16:00: Christmas Day, Boxing Day (Saturday), the weekend
    # and Boxing Day observed (Monday 28th) do not count; due Tuesday 29th 12:00.
    assert TS.due("red", utc(2026, 12, 24, 16)) == utc(2026, 12, 29, 12)
    # Good Friday and Easter Monday 2026 (3 and 6 April), in British Summer Time.
    start = datetime(2026, 4, 2, 15, 0, tzinfo=UTC)  # 16:00 BST on Thursday
    assert TS.due("red", start) == datetime(2026, 4, 7, 11, 0, tzinfo=UTC)  # 12:00 BST Tuesday


def test_evening_and_early_morning() -> None:
    assert TS.due("red", utc(2026, 11, 25, 20)) == utc(2026, 11, 26, 13)
    assert TS.due("red", utc(2026, 11, 25, 6)) == utc(2026, 11, 25, 13)
    # green: three working days from Wednesday 09:00 ends Friday 17:00.
    assert TS.due("green", utc(2026, 11, 25, 9)) == utc(2026, 11, 27, 17)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        add_working_hours(datetime(2026, 11, 25, 10), 4, WT)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 'x'\n[ratings.red]\nworking_hours = 4\nsource = 'local'\n", "amber"),
        (
            "version = 'x'\n"
            "[ratings.red]\nworking_hours = 4\nworking_days = 1\nsource = 'local'\n"
            "[ratings.amber]\nworking_days = 1\nsource = 'local'\n"
            "[ratings.green]\nworking_days = 3\nsource = 'local'\n",
            "exactly one",
        ),
        (
            "version = 'x'\n[working_time]\ntimezone = 'Mars/Olympus'\n"
            "[ratings.red]\nworking_hours = 4\nsource = 'local'\n"
            "[ratings.amber]\nworking_days = 1\nsource = 'local'\n"
            "[ratings.green]\nworking_days = 3\nsource = 'local'\n",
            "unknown timezone",
        ),
        (
            "version = 'x'\n[ratings.purple]\nworking_hours = 4\nsource = 'local'\n",
            "ratings.purple",
        ),
        ("version = 'x'\n[ratings.red\n", "not valid TOML"),
    ],
)
def test_bad_files_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(TimescalesError, match=message):
        parse_timescales(text)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(TimescalesError, match="cannot read"):
        load_timescales(tmp_path / "missing.toml")
