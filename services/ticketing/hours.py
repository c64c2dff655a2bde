"""Hall time: the Asia/Shanghai business day and a hall's opening hours."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from services.ticketing.models import Hall
from shared.workdays import default_calendar

TZ = ZoneInfo("Asia/Shanghai")
# A hall that closes at 00:00 closes at midnight (24:00): 00:00-00:00 every day is open round the clock,
# which is what the demo hall of ``make run`` uses (services/ticketing/seed).
MIDNIGHT = time(0)


def business_day(at: datetime) -> date:
    """The business day (Asia/Shanghai) of an instant."""
    return at.astimezone(TZ).date()


def is_open(hall: Hall, at: datetime) -> bool:
    """Whether ``hall`` takes numbers at ``at`` (its hours, on working days unless open every day;
    closing at 00:00 means at midnight)."""
    local = at.astimezone(TZ)
    if hall.open_days == "workdays" and not default_calendar().is_working_day(local.date()):
        return False
    now = local.time().replace(tzinfo=None)
    return hall.opens_at <= now and (hall.closes_at == MIDNIGHT or now < hall.closes_at)


def open_all_day(hall: Hall) -> bool:
    """Whether the hall never closes (00:00-00:00 every day)."""
    return hall.open_days == "all" and hall.opens_at == MIDNIGHT and hall.closes_at == MIDNIGHT
