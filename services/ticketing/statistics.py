"""Queue statistics: waiting and service time percentiles, no-show rate and ratings of a hall, grouped."""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import halls
from services.ticketing import repository as repo
from shared.problems import FieldError, Unprocessable


async def report(
    session: AsyncSession, *, hall: str, day_from: date, day_to: date, group_by: str
) -> list[dict]:
    """Percentiles of waiting and service time, no-show rate and ratings, grouped."""
    await halls.require_hall(session, code=hall)
    if day_to < day_from:
        raise Unprocessable(
            "day_to before day_from", errors=[FieldError(field="day_to", message="before day_from")]
        )
    if (day_to - day_from).days > 366:
        raise Unprocessable(
            "at most one year", errors=[FieldError(field="day_to", message="at most 366 days")]
        )
    rows = await repo.statistics(
        session, hall=hall, day_from=day_from, day_to=day_to, group_by=group_by, tz="Asia/Shanghai"
    )
    for row in rows:
        done = row["served"] + row["no_shows"]
        row["no_show_rate"] = round(row["no_shows"] / done, 4) if done else None
        for key in ("wait_p50", "wait_p90", "service_p50", "service_p90"):
            value = row.pop(key)
            row[f"{key}_minutes"] = None if value is None else round(float(value), 2)
        row["rating_avg"] = None if row["rating_avg"] is None else round(row["rating_avg"], 2)
    return rows
