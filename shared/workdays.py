"""Working days of mainland China: weekends and public holidays off, adjusted working days (调休) on.

Time limits (法定时限 / 承诺时限) count working days from the day after acceptance. Each year's schedule
comes from the first of these sources that has it:

1. an operator notice file ``calendar-cn-YYYY.json`` in the directory ``ONEWINDOW_CALENDAR_DIR``
   (the State Council notice, typed in by an operator: next year's schedule without a release);
2. a notice file shipped in ``shared/data/calendar-cn-YYYY.json``;
3. the notices the pinned ``holidays`` package carries (``holidays.China``; 2001-2026 in 0.109);
4. otherwise the statutory holidays of 《全国年节及纪念日放假办法》 with the law's make-up day when a holiday
   falls on a weekend, computed by ``holidays.China``. Such a year is PROVISIONAL: the adjusted working
   days the State Council announces each November are unknown, so due dates counted into it may move.

A provisional year is never used silently: callers mark due dates counted into it (``provisional_years``),
``/readyz`` and the logs warn from 1 November of the year before (``schedule_warning``).
"""

import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import holidays as holidays_package

DATA_DIR = Path(__file__).resolve().parent / "data"
ENV_DIR = "ONEWINDOW_CALENDAR_DIR"
FILE_GLOB = "calendar-cn-*.json"
WARN_FROM = (11, 1)  # month, day: from then on, next year's missing notice is a warning
RELOAD_SECONDS = 60.0  # how often default_calendar() looks for changed operator files
HALL_TZ = ZoneInfo("Asia/Shanghai")

Source = Literal["operator", "shipped", "package", "statutory"]


class CalendarFileError(ValueError):
    """A notice file that cannot be used (its year keeps its previous source)."""


@dataclass(frozen=True)
class YearSchedule:
    """One year's days off and adjusted working days, and where they came from."""

    year: int
    source: Source
    days_off: frozenset[date]  # holidays (may include weekend days of a holiday range)
    working_days: frozenset[date]  # weekend days that are working days (调休上班)
    holidays: tuple[dict[str, str], ...] = ()  # [{name, from, to}] as announced, for people
    notice: dict[str, str] | None = None  # {title, published, url} of the State Council notice
    origin: str = ""  # the file, or the package and its version

    @property
    def provisional(self) -> bool:
        """No official notice: statutory holidays only, no adjusted working days known."""
        return self.source == "statutory"

    def describe(self) -> dict[str, Any]:
        """The schedule for operators (CLI, logs)."""
        return {
            "year": self.year,
            "source": self.source,
            "provisional": self.provisional,
            "origin": self.origin,
            "notice": self.notice,
            "holidays": list(self.holidays),
            "days_off": sorted(d.isoformat() for d in self.days_off if d.weekday() < 5),
            "extra_working_days": sorted(d.isoformat() for d in self.working_days),
        }


def _dates(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _iso(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise CalendarFileError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_notice(data: Any, *, source: Source, origin: str, year: int | None = None) -> YearSchedule:
    """A notice file's schedule, checked: dates in its year (or the December before, where a New Year
    holiday starts), adjusted working days on weekends and not inside a holiday."""
    if not isinstance(data, dict) or not isinstance(data.get("year"), int):
        raise CalendarFileError(f"{origin}: needs an integer 'year'")
    y = data["year"]
    if year is not None and y != year:
        raise CalendarFileError(f"{origin}: says year {y} but is named for {year}")
    first, last = date(y - 1, 12, 1), date(y, 12, 31)
    days_off: set[date] = set()
    announced: list[dict[str, str]] = []
    entries = data.get("holidays")
    if not isinstance(entries, list) or not entries:
        raise CalendarFileError(f"{origin}: needs a non-empty 'holidays' list")
    for i, entry in enumerate(entries):
        where = f"{origin}: holidays[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CalendarFileError(f"{where}: needs 'name', 'from' and 'to'")
        start, end = _iso(entry.get("from"), where), _iso(entry.get("to"), where)
        if end < start or start < first or end > last:
            raise CalendarFileError(f"{where}: {start}..{end} is not a range within {y}")
        days_off.update(_dates(start, end))
        announced.append({"name": entry["name"], "from": start.isoformat(), "to": end.isoformat()})
    working: set[date] = set()
    extra = data.get("extra_working_days", [])
    if not isinstance(extra, list):
        raise CalendarFileError(f"{origin}: 'extra_working_days' must be a list of dates")
    for value in extra:
        day = _iso(value, f"{origin}: extra_working_days")
        if day < first or day > last or day.weekday() < 5 or day in days_off:
            raise CalendarFileError(
                f"{origin}: extra working day {day} must be a Saturday or Sunday of {y} outside the holidays"
            )
        working.add(day)
    notice = data.get("source")
    if notice is not None and not (isinstance(notice, dict) and isinstance(notice.get("title"), str)):
        raise CalendarFileError(f"{origin}: 'source' must be an object with at least a 'title'")
    return YearSchedule(
        year=y,
        source=source,
        days_off=frozenset(days_off),
        working_days=frozenset(working),
        holidays=tuple(announced),
        notice={k: str(v) for k, v in notice.items()} if notice else None,
        origin=origin,
    )


def read_notice(path: Path, *, source: Source) -> YearSchedule:
    """Parse one ``calendar-cn-YYYY.json`` file."""
    stem = path.stem.removeprefix("calendar-cn-")
    if not stem.isdigit():
        raise CalendarFileError(f"{path}: name must be calendar-cn-YYYY.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalendarFileError(f"{path}: {exc}") from None
    return parse_notice(data, source=source, origin=str(path), year=int(stem))


def package_notice_years() -> frozenset[int]:
    """Years whose State Council notice the pinned ``holidays`` package carries."""
    from holidays.countries.china import ChinaStaticHolidays

    years = set(getattr(ChinaStaticHolidays, "special_public_holidays", {}))
    years |= set(getattr(ChinaStaticHolidays, "special_public_holidays_observed", {}))
    return frozenset(years)


def package_schedule(year: int) -> YearSchedule:
    """The year from ``holidays.China``: its notice if the package has one, else the statutory holidays
    with weekend make-up days (provisional)."""
    cn = holidays_package.China(years=year)
    days_off = frozenset(d for d in cn if d.year == year)
    working = frozenset(d for d in getattr(cn, "weekend_workdays", ()) if d.year == year)
    official = year in package_notice_years()
    return YearSchedule(
        year=year,
        source="package" if official else "statutory",
        days_off=days_off,
        working_days=working if official else frozenset(),
        holidays=tuple(
            {"name": str(cn[d]), "from": d.isoformat(), "to": d.isoformat()} for d in sorted(days_off)
        ),
        origin=f"holidays {holidays_package.__version__}"
        + ("" if official else " (statutory holidays of 全国年节及纪念日放假办法, no adjusted working days)"),
    )


def _fingerprint(directory: Path | None) -> tuple[tuple[str, int, int], ...]:
    if directory is None or not directory.is_dir():
        return ()
    out = []
    for path in sorted(directory.glob(FILE_GLOB)):
        try:
            stat = path.stat()
        except OSError:
            continue
        out.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(out)


@dataclass
class WorkCalendar:
    """Working days by date, year by year from operator files, shipped files, the package or the law."""

    files: dict[int, YearSchedule] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # operator files that could not be used
    operator_dir: Path | None = None
    fingerprint: tuple[tuple[str, int, int], ...] = ()
    _years: dict[int, YearSchedule] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, *, operator_dir: str | Path | None = None, shipped_dir: Path = DATA_DIR) -> "WorkCalendar":
        """Shipped notices, replaced year by year by the operator's. A broken operator file is skipped and
        named in ``errors`` (the year keeps its shipped/package/statutory schedule, and says so)."""
        files: dict[int, YearSchedule] = {}
        for path in sorted(shipped_dir.glob(FILE_GLOB)):
            schedule = read_notice(path, source="shipped")  # a broken shipped file is a bug: fail loudly
            files[schedule.year] = schedule
        errors: list[str] = []
        directory = Path(operator_dir) if operator_dir else None
        if directory is not None:
            if not directory.is_dir():
                errors.append(f"{ENV_DIR}={directory} is not a directory")
            for path in sorted(directory.glob(FILE_GLOB)) if directory.is_dir() else []:
                try:
                    schedule = read_notice(path, source="operator")
                except CalendarFileError as exc:
                    errors.append(str(exc))
                    continue
                files[schedule.year] = schedule
        return cls(files=files, errors=errors, operator_dir=directory, fingerprint=_fingerprint(directory))

    @classmethod
    def from_files(cls, paths: list[Path]) -> "WorkCalendar":
        """A calendar of exactly these notice files (other years from the package or the law)."""
        return cls(files={s.year: s for s in (read_notice(p, source="shipped") for p in paths)})

    def schedule(self, year: int) -> YearSchedule:
        """The schedule of ``year`` (computed once)."""
        found = self._years.get(year)
        if found is None:
            with self._lock:
                found = self.files.get(year) or package_schedule(year)
                self._years[year] = found
        return found

    def is_working_day(self, day: date) -> bool:
        if day.month == 12:  # a New Year notice may move days of the December before
            following = self.files.get(day.year + 1)
            if following is not None:
                if day in following.working_days:
                    return True
                if day in following.days_off:
                    return False
        schedule = self.schedule(day.year)
        if day in schedule.working_days:
            return True
        if day in schedule.days_off:
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

    @property
    def official_years(self) -> list[int]:
        """Years with an official schedule (operator file, shipped file or the package's notices)."""
        return sorted(set(self.files) | package_notice_years())

    def source_of(self, year: int) -> Source:
        """Where the year's schedule comes from: operator | shipped | package | statutory."""
        return self.schedule(year).source

    def is_provisional(self, year: int) -> bool:
        """True when no official notice is known for ``year`` (statutory holidays only)."""
        return self.schedule(year).provisional

    def provisional_years(self, start: date, end: date) -> list[int]:
        """Provisional years a count from ``start`` to ``end`` (either order) runs through."""
        first, last = sorted((start, end))
        return [y for y in range(first.year, last.year + 1) if self.is_provisional(y)]

    def schedule_warning(self, today: date) -> str | None:
        """Why due dates may move: the current year without a notice, or, from 1 November, next year's."""
        years = [today.year] if self.is_provisional(today.year) else []
        if (today.month, today.day) >= WARN_FROM and self.is_provisional(today.year + 1):
            years.append(today.year + 1)
        if not years:
            return None
        named = " and ".join(str(y) for y in years)
        return (
            f"no official holiday schedule for {named}: due dates in {named} are provisional (statutory "
            "holidays only); load the State Council notice (docs/approval.md)"
        )

    def warnings(self, today: date) -> dict[str, str]:
        """What /readyz names under ``warnings``: a provisional year, unusable operator files."""
        out: dict[str, str] = {}
        if (text := self.schedule_warning(today)) is not None:
            out["calendar"] = text
        if self.errors:
            out["calendar_files"] = "; ".join(self.errors)[:1000]
        return out


_current: WorkCalendar | None = None
_checked_at = 0.0
_configured_dir: str | None = None
_state_lock = threading.Lock()


def _wanted_dir() -> str | None:
    return _configured_dir if _configured_dir is not None else (os.environ.get(ENV_DIR) or None)


def configure(operator_dir: str | Path | None = None) -> WorkCalendar:
    """Load the calendar with ``operator_dir`` (else ``ONEWINDOW_CALENDAR_DIR``); services call it at start."""
    global _current, _checked_at, _configured_dir
    with _state_lock:
        _configured_dir = str(operator_dir) if operator_dir else None
        _current = WorkCalendar.load(operator_dir=_wanted_dir())
        _checked_at = time.monotonic()
        return _current


def use(calendar: WorkCalendar | None) -> WorkCalendar | None:
    """Replace the process's calendar (tests; ``None`` = load again on next use); returns the previous one."""
    global _current, _checked_at
    with _state_lock:
        previous, _current, _checked_at = _current, calendar, time.monotonic()
        return previous


def default_calendar() -> WorkCalendar:
    """The process's calendar; reloaded when the operator's notice files change (checked once a minute),
    so next year's notice needs no restart."""
    global _current, _checked_at
    current = _current
    if current is not None and time.monotonic() - _checked_at < RELOAD_SECONDS:
        return current
    with _state_lock:
        if _current is None:
            _current = WorkCalendar.load(operator_dir=_wanted_dir())
        elif (
            _current.operator_dir is not None and _fingerprint(_current.operator_dir) != _current.fingerprint
        ):
            _current = WorkCalendar.load(operator_dir=_current.operator_dir)
        _checked_at = time.monotonic()
        return _current


def hall_today() -> date:
    """Today in the halls' time zone (services without a clock of their own)."""
    return datetime.now(HALL_TZ).date()
