"""Working-day deadlines without a database: the service clock, due dates, a task's clock state."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from services.approval import deadlines
from services.approval.deadlines import ServiceClock
from services.approval.models import Task

ACCEPTED = date(
    2026, 9, 24
)  # Thursday before 中秋 (25-27 Sep) and 国庆 (1-7 Oct); 10 Oct is a working Saturday


def task(**fields) -> Task:
    """A task accepted on ACCEPTED with a promised limit of 3 and a legal limit of 10 working days."""
    values = {
        "accepted_on": ACCEPTED,
        "legal_limit": 10,
        "promised_limit": 3,
        "paused_days": 0,
        "paused_since": None,
        "status": "pending",
        "decided_on": None,
    }
    return Task(**(values | fields))


def test_service_clock_days_are_the_halls() -> None:
    evening_utc = datetime(2026, 9, 24, 18, 0, tzinfo=UTC)  # 02:00 on the 25th in Beijing
    assert ServiceClock().local_date(evening_utc) == date(2026, 9, 25)
    assert ServiceClock().local_date(evening_utc.replace(tzinfo=None)) == date(2026, 9, 25)  # naive = UTC
    assert ServiceClock(timezone="UTC").local_date(evening_utc) == date(2026, 9, 24)
    assert ServiceClock(fixed=date(2026, 1, 6)).today() == date(2026, 1, 6)
    tz = ZoneInfo("Asia/Shanghai")
    before = datetime.now(tz).date()
    today = ServiceClock().today()
    assert today in {before, datetime.now(tz).date()}


def test_due_dates_skip_holidays_and_move_with_pauses() -> None:
    assert deadlines.due_dates(accepted_on=ACCEPTED, legal_limit=10, promised_limit=3, paused_days=0) == (
        date(2026, 10, 15),  # 1-7 Oct off, 10 Oct (Saturday) worked
        date(2026, 9, 30),  # 28, 29, 30 Sep: 25 Sep is a holiday, 26-27 a weekend
    )
    assert deadlines.due_dates(accepted_on=ACCEPTED, legal_limit=10, promised_limit=3, paused_days=4) == (
        date(2026, 10, 21),
        date(2026, 10, 12),
    )
    # A limit of 0 is due the day of acceptance, or the next working day after a holiday.
    assert deadlines.due_dates(
        accepted_on=date(2026, 9, 25), legal_limit=0, promised_limit=0, paused_days=0
    ) == (
        date(2026, 9, 28),
        date(2026, 9, 28),
    )


def test_clock_state_of_a_running_task() -> None:
    running = task()
    on_track = deadlines.clock_of(running, as_of=date(2026, 9, 25), warning_days=1)
    assert on_track["state"] == "on_track" and on_track["working_days_left"] == 3
    assert on_track["promised_due"] == date(2026, 9, 30) and on_track["legal_due"] == date(2026, 10, 15)
    warning = deadlines.clock_of(running, as_of=date(2026, 9, 29), warning_days=1)
    assert warning["state"] == "warning" and warning["working_days_left"] == 1
    assert deadlines.clock_of(running, as_of=date(2026, 9, 29), warning_days=0)["state"] == "on_track"
    assert deadlines.clock_of(running, as_of=date(2026, 9, 30), warning_days=1)["state"] == "warning"
    overdue = deadlines.clock_of(running, as_of=date(2026, 10, 8), warning_days=1)
    assert overdue["state"] == "overdue" and overdue["working_days_left"] == -1
    assert overdue["legal_overdue"] is False
    assert deadlines.clock_of(running, as_of=date(2026, 10, 16), warning_days=1)["legal_overdue"] is True


def test_clock_state_of_a_paused_task_counts_the_pause() -> None:
    paused = task(status="supplement", paused_since=date(2026, 9, 28), paused_days=1)
    clock = deadlines.clock_of(paused, as_of=date(2026, 10, 9), warning_days=1)
    # 1 earlier paused day + 29, 30 Sep, 8, 9 Oct of the current pause
    assert clock["state"] == "paused" and clock["paused_days"] == 5
    assert clock["promised_due"] == date(2026, 10, 13) and clock["working_days_left"] is None
    assert clock["paused_since"] == date(2026, 9, 28)


def test_clock_state_of_a_decided_task() -> None:
    assert (
        deadlines.clock_of(task(decided_on=date(2026, 9, 30)), as_of=date(2026, 12, 1), warning_days=1)[
            "state"
        ]
        == "on_time"
    )
    late = deadlines.clock_of(task(decided_on=date(2026, 10, 8)), as_of=date(2026, 12, 1), warning_days=1)
    assert late["state"] == "late" and late["legal_overdue"] is False  # judged on the decision day
