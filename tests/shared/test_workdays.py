"""The working-day calendar: official notices for 2025/2026, 2027 provisional (statutory holidays only)
until an operator loads its notice, two sources cross-checked, warnings from 1 November."""

import json
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest

from shared import workdays
from shared.workdays import CalendarFileError, WorkCalendar

NOTICE_2027 = {  # invented for the test: the real 2027 notice is not published yet
    "year": 2027,
    "source": {"title": "国务院办公厅关于2027年部分节假日安排的通知（测试）", "published": "2026-11-20"},
    "holidays": [
        {"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"},
        {"name": "春节", "from": "2027-02-05", "to": "2027-02-12"},
        {"name": "清明节", "from": "2027-04-03", "to": "2027-04-05"},
        {"name": "劳动节", "from": "2027-05-01", "to": "2027-05-05"},
        {"name": "端午节", "from": "2027-06-09", "to": "2027-06-09"},
        {"name": "中秋节", "from": "2027-09-15", "to": "2027-09-15"},
        {"name": "国庆节", "from": "2027-10-01", "to": "2027-10-07"},
    ],
    "extra_working_days": ["2027-02-13", "2027-02-14", "2027-04-10", "2027-09-26", "2027-10-09"],
}


def write_notice(directory: Path, notice: dict) -> Path:
    path = directory / f"calendar-cn-{notice['year']}.json"
    path.write_text(json.dumps(notice, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def shipped() -> WorkCalendar:
    """The shipped calendar without operator files (whatever ONEWINDOW_CALENDAR_DIR says)."""
    return WorkCalendar.load(operator_dir=None)


def test_2026_is_the_official_notice(shipped: WorkCalendar) -> None:
    assert shipped.source_of(2026) == "shipped" and not shipped.is_provisional(2026)
    assert shipped.schedule(2026).notice == {
        "title": "国务院办公厅关于2026年部分节假日安排的通知",
        "published": "2025-11-04",
        "url": "https://www.gov.cn/gongbao/2025/issue_12406/202511/content_7048922.html",
    }
    for day in (date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)):
        assert not shipped.is_working_day(day)  # 元旦
    assert shipped.is_working_day(date(2026, 1, 4))  # Sunday, adjusted working day
    for offset in range(9):  # 春节: 15-23 Feb
        assert not shipped.is_working_day(date(2026, 2, 15) + timedelta(days=offset))
    assert shipped.is_working_day(date(2026, 2, 14)) and shipped.is_working_day(
        date(2026, 2, 28)
    )  # Saturdays
    assert shipped.is_working_day(date(2026, 2, 24))


def test_2027_without_a_notice_is_provisional_with_the_statutory_holidays(shipped: WorkCalendar) -> None:
    assert shipped.is_provisional(2027) and shipped.source_of(2027) == "statutory"
    assert 2027 not in shipped.official_years and {2025, 2026} <= set(shipped.official_years)
    assert not shipped.is_working_day(date(2027, 1, 1))  # 元旦, a Friday: not a Monday-Friday guess
    # 春节: 除夕 Fri 5 Feb + 6-8 Feb, two of them on the weekend, made up on Tue 9 and Wed 10 (Art. 6)
    for offset in range(6):
        assert not shipped.is_working_day(date(2027, 2, 5) + timedelta(days=offset))
    assert shipped.is_working_day(date(2027, 2, 4)) and shipped.is_working_day(date(2027, 2, 11))
    assert not shipped.is_working_day(date(2027, 2, 13))  # no adjusted working days are known
    assert shipped.provisional_years(date(2026, 12, 2), date(2027, 1, 14)) == [2027]
    assert shipped.provisional_years(date(2026, 9, 1), date(2026, 12, 31)) == []


def test_thirty_working_days_across_new_year_2027(shipped: WorkCalendar) -> None:
    # ZRZY-001 (legal limit 30) accepted Wed 2 Dec 2026: 22 working days left in December, 1 Jan off,
    # 4-14 Jan the other 8.
    assert shipped.add_working_days(date(2026, 12, 2), 30) == date(2027, 1, 14)
    assert shipped.working_days_between(date(2026, 12, 2), date(2027, 1, 14)) == 30
    # Across the Spring Festival: Thu 4 Feb + 3 working days = Thu 11, Fri 12, Mon 15 Feb.
    assert shipped.add_working_days(date(2027, 2, 4), 3) == date(2027, 2, 15)


def test_operator_notice_replaces_the_provisional_year(tmp_path: Path, shipped: WorkCalendar) -> None:
    write_notice(tmp_path, NOTICE_2027)
    cal = WorkCalendar.load(operator_dir=tmp_path)
    assert cal.source_of(2027) == "operator" and not cal.is_provisional(2027) and 2027 in cal.official_years
    assert cal.schedule(2027).notice is not None
    assert cal.is_working_day(date(2027, 2, 13)) and cal.is_working_day(
        date(2027, 2, 14)
    )  # weekend, adjusted
    assert not cal.is_working_day(date(2027, 2, 11)) and not cal.is_working_day(
        date(2027, 2, 12)
    )  # extra off
    assert not cal.is_working_day(date(2027, 10, 6)) and cal.is_working_day(date(2027, 10, 9))
    assert shipped.is_working_day(date(2027, 2, 11)) and not shipped.is_working_day(date(2027, 2, 13))
    assert cal.provisional_years(date(2026, 12, 2), date(2027, 12, 31)) == []
    # Accepted Thu 4 Feb 2027, 3 working days: Sat 13, Sun 14, Mon 15 Feb.
    assert cal.add_working_days(date(2027, 2, 4), 3) == date(2027, 2, 15)
    assert cal.add_working_days(date(2027, 2, 4), 1) == date(2027, 2, 13)
    assert cal.source_of(2026) == "shipped"  # other years keep their source
    # An operator file for a year the project ships replaces it.
    write_notice(
        tmp_path, {"year": 2026, "holidays": [{"name": "元旦", "from": "2026-01-01", "to": "2026-01-01"}]}
    )
    assert WorkCalendar.load(operator_dir=tmp_path).is_working_day(date(2026, 1, 2))


def test_broken_operator_files_are_named_not_used(tmp_path: Path, shipped: WorkCalendar) -> None:
    bad = dict(NOTICE_2027, extra_working_days=["2027-02-10"])  # a Wednesday, inside the holiday
    write_notice(tmp_path, bad)
    (tmp_path / "calendar-cn-2028.json").write_text("{not json", encoding="utf-8")
    cal = WorkCalendar.load(operator_dir=tmp_path)
    assert cal.is_provisional(2027) and len(cal.errors) == 2
    assert "calendar_files" in cal.warnings(date(2026, 6, 1))
    with pytest.raises(CalendarFileError, match="named for 2026"):
        workdays.parse_notice(dict(NOTICE_2027), source="operator", origin="x", year=2026)
    with pytest.raises(CalendarFileError, match="not a range"):
        workdays.parse_notice(
            {"year": 2027, "holidays": [{"name": "x", "from": "2027-03-02", "to": "2027-03-01"}]},
            source="operator",
            origin="x",
        )


def test_shipped_notices_agree_with_the_holidays_package(shipped: WorkCalendar) -> None:
    """Two independent sources: the notice files and ``holidays.China`` agree day by day."""
    for year in (2025, 2026):
        cn = holidays.China(years=year)
        weekend_workdays = {d for d in cn.weekend_workdays if d.year == year}
        day = date(year, 1, 1)
        while day.year == year:
            expected = day in weekend_workdays or (day not in cn and day.weekday() < 5)
            assert shipped.is_working_day(day) is expected, day
            day += timedelta(days=1)
        assert shipped.schedule(year).working_days == frozenset(weekend_workdays)


def test_warnings_from_first_november(shipped: WorkCalendar, tmp_path: Path) -> None:
    assert shipped.schedule_warning(date(2026, 10, 31)) is None
    warning = shipped.schedule_warning(date(2026, 11, 1))
    assert warning is not None and "2027" in warning and "provisional" in warning
    assert shipped.warnings(date(2026, 12, 2)) == {"calendar": warning}
    assert "2027" in (shipped.schedule_warning(date(2027, 3, 1)) or "")  # the year itself, always
    write_notice(tmp_path, NOTICE_2027)
    assert WorkCalendar.load(operator_dir=tmp_path).warnings(date(2026, 12, 2)) == {}


def test_default_calendar_reloads_changed_operator_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = workdays.use(None)
    monkeypatch.setattr(workdays, "RELOAD_SECONDS", 0.0)
    try:
        cal = workdays.configure(tmp_path)
        assert cal.is_provisional(2027) and workdays.default_calendar() is cal
        write_notice(tmp_path, NOTICE_2027)  # the operator drops next year's notice in: no restart
        reloaded = workdays.default_calendar()
        assert reloaded is not cal and not reloaded.is_provisional(2027)
    finally:
        workdays.configure(None)
        workdays.use(previous)


def test_calendar_command_shows_sources_and_refuses_a_broken_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shared.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["calendar", "2026", "2027", "--dir", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "2026: official; source shipped" in shown.output and "2027: PROVISIONAL" in shown.output
    write_notice(tmp_path, NOTICE_2027)
    loaded = runner.invoke(app, ["calendar", "2027", "--dir", str(tmp_path), "--json"])
    assert json.loads(loaded.output)["years"][0]["source"] == "operator"
    write_notice(tmp_path, dict(NOTICE_2027, extra_working_days=["2027-03-03"]))  # a Wednesday
    assert runner.invoke(app, ["calendar", "2027", "--dir", str(tmp_path)]).exit_code == 1
