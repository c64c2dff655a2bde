"""Working-day deadlines: the service's today, legal and promised due dates, and a task's clock state."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.approval.models import PAUSED_STATES, Task
from shared.workdays import WorkCalendar, default_calendar


@dataclass
class ServiceClock:
    """The service's notion of today (in the hall's time zone); tests and demos can pin the date."""

    timezone: str = "Asia/Shanghai"
    fixed: date | None = None
    tz: ZoneInfo = field(init=False)

    def __post_init__(self) -> None:
        self.tz = ZoneInfo(self.timezone)

    def today(self) -> date:
        """Today's date in the service's time zone (or the pinned date)."""
        return self.fixed or datetime.now(self.tz).date()

    def local_date(self, moment: datetime) -> date:
        """The calendar day of ``moment`` in the service's time zone."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.tz).date()


def calendar() -> WorkCalendar:
    """The working-day calendar time limits count on."""
    return default_calendar()


def due_dates(
    *, accepted_on: date, legal_limit: int, promised_limit: int, paused_days: int
) -> tuple[date, date]:
    """Legal and promised due dates: working days after acceptance, extended by paused working days."""
    cal = calendar()
    return (
        cal.add_working_days(accepted_on, legal_limit + paused_days),
        cal.add_working_days(accepted_on, promised_limit + paused_days),
    )


def provisional_years(accepted_on: date, *dues: date) -> list[int]:
    """Years without an official holiday notice that the count from ``accepted_on`` to ``dues`` runs
    through: such due dates may move when the State Council notice is loaded."""
    return calendar().provisional_years(accepted_on, max((accepted_on, *dues)))


def clock_of(task: Task, *, as_of: date, warning_days: int) -> dict[str, Any]:
    """Where ``task`` stands against its limits on ``as_of``."""
    cal = calendar()
    paused_days = task.paused_days
    if task.status in PAUSED_STATES and task.paused_since is not None:
        paused_days += max(0, cal.working_days_between(task.paused_since, as_of))
    legal_due, promised_due = due_dates(
        accepted_on=task.accepted_on,
        legal_limit=task.legal_limit,
        promised_limit=task.promised_limit,
        paused_days=paused_days,
    )
    left: int | None = None
    if task.decided_on is not None:
        state = "on_time" if task.decided_on <= promised_due else "late"
    elif task.status in PAUSED_STATES:
        state = "paused"
    else:
        left = cal.working_days_between(as_of, promised_due)
        if as_of > promised_due:
            state = "overdue"
        elif left <= warning_days:
            state = "warning"
        else:
            state = "on_track"
    provisional = provisional_years(task.accepted_on, legal_due, promised_due)
    return {
        "as_of": as_of,
        "state": state,
        "promised_due": promised_due,
        "legal_due": legal_due,
        "paused_days": paused_days,
        "paused_since": task.paused_since,
        "working_days_left": left,
        "legal_overdue": (task.decided_on or as_of) > legal_due,
        "due_dates_provisional": bool(provisional),
        "provisional_years": provisional,
    }
