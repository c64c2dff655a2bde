"""Hall time: the Asia/Shanghai business day and a hall's opening hours."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.ticketing.models import Hall
from shared.workdays import default_calendar

TZ = ZoneInfo("Asia/Shanghai")


def business_day(at: datetime) -> date:
    """The business day (Asia/Shanghai) of an instant."""
    return at.astimezone(TZ).date()


def is_open(hall: Hall, at: datetime) -> bool:
    """Whether ``hall`` takes numbers at ``at`` (its hours, on working days unless open every day)."""
    local = at.astimezone(TZ)
    if hall.open_days == "workdays" and not default_calendar().is_working_day(local.date()):
        return False
    return hall.opens_at <= local.time().replace(tzinfo=None) < hall.closes_at
