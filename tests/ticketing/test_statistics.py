"""Queue statistics: percentiles, no-show rate and ratings of a hall's tickets; bad ranges refused."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.ticketing import statistics, tickets
from shared.auth import Principal
from tests.ticketing.conftest import new_hall


async def test_figures_per_matter_and_hour(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    runtime = tk.app.state.runtime
    clerk = Principal(sub=f"clerk-{kit.code}-A01", roles=frozenset({"clerk"}), halls=frozenset({kit.code}))
    t0 = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai

    def at(minutes: int) -> datetime:
        return t0 + timedelta(minutes=minutes)

    async with runtime.sessionmaker() as session, session.begin():
        taken = [
            (
                await tickets.take(
                    session,
                    outbox=runtime.outbox,
                    numbers=tk.app.state.ticket_numbers,
                    hall_code=kit.code,
                    matter_code="SCJG-001",
                    channel="kiosk",
                    rating_secret_hash=tickets.rating_secret_digest("slip-secret"),
                    now=t0,
                )
            )[0]
            for _ in range(3)
        ]
        args = {"outbox": runtime.outbox, "principal": clerk}
        # waits 10, 20 and 50 minutes; services 10 and 30 minutes; the third never comes (twice)
        for call, done in ((10, 20), (20, 50)):
            got = await tickets.call_next(session, hall=kit.code, window_code="A01", now=at(call), **args)
            assert got is not None
            await tickets.finish(
                session, ticket_id=got.id, outcome="completed", application_id=None, now=at(done), **args
            )
        for call in (50, 60):
            got = await tickets.call_next(session, hall=kit.code, window_code="A01", now=at(call), **args)
            assert got is not None and got.id == taken[2].id
            await tickets.no_show(session, ticket_id=got.id, now=at(call + 5), **args)
        for ticket, score in zip(taken[:2], (4, 5), strict=True):
            await tickets.rate(
                session, outbox=runtime.outbox, ticket_id=ticket.id, rating_secret="slip-secret", score=score,
                comment=None, now=at(60),
            )
        day = date(2026, 12, 3)
        rows = await statistics.report(session, hall=kit.code, day_from=day, day_to=day, group_by="matter")
        assert rows == [
            {
                "key": "SCJG-001",
                "tickets": 3,
                "served": 2,
                "no_shows": 1,
                "ratings": 2,
                "rating_avg": 4.5,
                "no_show_rate": 0.3333,
                "wait_p50_minutes": 20.0,
                "wait_p90_minutes": 44.0,
                "service_p50_minutes": 20.0,
                "service_p90_minutes": 28.0,
            }
        ]
        by_hour = await statistics.report(session, hall=kit.code, day_from=day, day_to=day, group_by="hour")
        assert [(r["key"], r["tickets"]) for r in by_hour] == [("10", 3)]
        other_day = await statistics.report(
            session,
            hall=kit.code,
            day_from=day + timedelta(days=1),
            day_to=day + timedelta(days=1),
            group_by="matter",
        )
        assert other_day == []
        await session.rollback()


async def test_ranges_are_checked(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    url = f"/halls/{kit.code}/stats"
    backwards = await tk.get(
        url, params={"day_from": "2026-12-03", "day_to": "2026-12-01"}, headers=kit.admin
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "day_to"
    too_long = await tk.get(url, params={"day_from": "2025-01-01", "day_to": "2026-12-01"}, headers=kit.admin)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["message"] == "at most 366 days"
    empty = await tk.get(url, params={"day_from": "2026-12-01", "group_by": "window"}, headers=kit.admin)
    assert empty.status_code == 200 and empty.json()["rows"] == [] and empty.json()["day_to"] == "2026-12-01"
    unknown = await tk.get("/halls/NO-SUCH-HALL/stats", headers=infra.auth("hall_admin", halls=["*"]))
    assert unknown.status_code == 404


@pytest.mark.parametrize("group_by", ["nope", "HALL"])
async def test_unknown_groupings_are_refused(tk, infra, group_by: str) -> None:
    kit = await new_hall(tk, infra)
    response = await tk.get(f"/halls/{kit.code}/stats", params={"group_by": group_by}, headers=kit.admin)
    assert response.status_code == 422
