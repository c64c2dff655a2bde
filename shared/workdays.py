"""Working days of mainland China: weekends and public holidays off, adjusted working days on.

Time limits (法定时限 / 承诺时限) count working days from the day after acceptance.
Years without a calendar file fall back to Monday-Friday.
"""

import json
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


class WorkCalendar:
    """Holidays and extra working days by date."""

    def __init__(self, holidays: set[date], extra_working_days: set[date], years: set[int]) -> None:
        self.holidays = holidays
        self.extra_working_days = extra_working_days
        self.years = years

    @classmethod
    def from_files(cls, paths: list[Path]) -> "WorkCalendar":
        holidays: set[date] = set()
        extra: set[date] = set()
        years: set[int] = set()
        for path in paths:
            data = json.loads(path.read_text(encoding="utf-8"))
            years.add(int(data["year"]))
            for holiday in data["holidays"]:
                day, end = date.fromisoformat(holiday["from"]), date.fromisoformat(holiday["to"])
                while day <= end:
                    holidays.add(day)
                    day += timedelta(days=1)
            extra.update(date.fromisoformat(d) for d in data["extra_working_days"])
        return cls(holidays, extra, years)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The date ``days`` working days after ``start`` (0 -> ``start`` itself if it is a working day,
        else the next working day)."""
        day = start
        if days <= 0:
            while not self.is_working_day(day):
                day += timedelta(days=1)
            return day
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative if end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


@lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    """The calendars shipped in ``shared/data/calendar-cn-*.json``."""
    return WorkCalendar.from_files(sorted(DATA_DIR.glob("calendar-cn-*.json")))
