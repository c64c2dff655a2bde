"""Hall time is pure: Shanghai business days and opening hours on the CN working-day calendar."""

from datetime import UTC, datetime, time, timedelta, timezone

from services.ticketing import hours
from services.ticketing.models import Hall


def _hall(open_days: str = "workdays") -> Hall:
    return Hall(code="H", name="测试大厅", opens_at=time(8, 30), closes_at=time(17, 30), open_days=open_days)


def _shanghai(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=timezone(timedelta(hours=8)))


def test_the_business_day_turns_at_shanghai_midnight() -> None:
    assert hours.business_day(datetime(2026, 12, 1, 15, 59, tzinfo=UTC)).isoformat() == "2026-12-01"
    assert hours.business_day(datetime(2026, 12, 1, 16, 1, tzinfo=UTC)).isoformat() == "2026-12-02"
    assert hours.business_day(_shanghai(2026, 12, 2, 0, 1)).isoformat() == "2026-12-02"


def test_opening_hours_start_inclusive_and_end_exclusive() -> None:
    hall = _hall()
    thursday = (2026, 11, 26)
    assert not hours.is_open(hall, _shanghai(*thursday, 8, 29))
    assert hours.is_open(hall, _shanghai(*thursday, 8, 30))
    assert hours.is_open(hall, _shanghai(*thursday, 17, 29))
    assert not hours.is_open(hall, _shanghai(*thursday, 17, 30))
    # the same instant given in UTC is judged by the Shanghai clock
    assert hours.is_open(hall, datetime(2026, 11, 26, 2, 0, tzinfo=UTC))  # 10:00 Shanghai
    assert not hours.is_open(hall, datetime(2026, 11, 26, 12, 0, tzinfo=UTC))  # 20:00 Shanghai


def test_workday_halls_follow_the_cn_calendar_and_all_day_halls_do_not() -> None:
    workdays, every_day = _hall("workdays"), _hall("all")
    saturday = _shanghai(2026, 11, 28, 10)
    national_day = _shanghai(2026, 10, 1, 10)  # a Thursday, public holiday
    adjusted_saturday = _shanghai(2026, 10, 10, 10)  # a Saturday worked to make up for the holiday
    assert not hours.is_open(workdays, saturday) and hours.is_open(every_day, saturday)
    assert not hours.is_open(workdays, national_day) and hours.is_open(every_day, national_day)
    assert hours.is_open(workdays, adjusted_saturday)
    assert not hours.is_open(every_day, _shanghai(2026, 11, 28, 18))  # hours still hold every day
