"""Issue 13, findings 3 and 7: one applicant booked 5 of 6 appointment places; dates at the calendar's edge
made ``GET /halls/{hall}/slots`` a 500.

Now an applicant holds at most ``TICKETING_MAX_BOOKINGS_PER_MATTER_DAY`` (1) active bookings per matter
and day, checked under a lock so concurrent bookings cannot both pass; every request date is a SaneDate
(1900-01-01..2199-12-31, else a field-level 422).
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import func, select

from services.ticketing import hours
from services.ticketing.models import Appointment
from shared.auth import RateLimiter
from tests.ticketing.conftest import new_hall, remember_matter

MATTER, OTHER_MATTER = "SECBK-001", "SECBK-002"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def hall(ticketing: httpx.AsyncClient, infra) -> AsyncIterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """A hall with two slots of 3 places for MATTER on one day (as in the finding), one for OTHER_MATTER
    that day and one for MATTER the next day."""
    previous = getattr(ticketing.app.state, "rate_limiter", None)
    ticketing.app.state.rate_limiter = RateLimiter(1_000_000)
    for code in (MATTER, OTHER_MATTER):
        await remember_matter(ticketing, code, name="预约测试事项")
    kit = await new_hall(ticketing, infra, name="预约测试大厅", closes_at="00:00:00")
    code, admin = kit.code, kit.admin
    day = hours.business_day(datetime.now(UTC)) + timedelta(days=2)
    nine = datetime.combine(day, datetime.min.time(), tzinfo=hours.TZ) + timedelta(hours=9)

    async def slots(matter: str, start: datetime, minutes: int) -> list[str]:
        created = await ticketing.post(f"/halls/{code}/slots", headers=admin, json={
            "matter_code": matter, "capacity": 3, "length_minutes": 60,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=minutes)).isoformat()})
        assert created.status_code == 201, created.text
        return [s["id"] for s in created.json()]

    yield {
        "code": code,
        "admin": admin,
        "day": day,
        "two": await slots(MATTER, nine, 120),
        "other_matter": (await slots(OTHER_MATTER, nine, 60))[0],
        "next_day": (await slots(MATTER, nine + timedelta(days=1), 60))[0],
    }
    ticketing.app.state.rate_limiter = previous


def _book(client: httpx.AsyncClient, slot: str, who: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post("/appointments", json={"slot_id": slot}, headers=who)


async def _held(client: httpx.AsyncClient, applicant: str) -> int:
    async with client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        query = select(func.count()).where(Appointment.applicant_id == applicant, Appointment.status == "booked")
        return (await session.execute(query)).scalar_one()


async def test_one_booking_per_applicant_matter_and_day(ticketing, infra, hall) -> None:  # type: ignore[no-untyped-def]
    applicant = "110101199003071111"
    me = infra.auth("applicant", sub=applicant)
    first, second = hall["two"]
    booked = await _book(ticketing, first, me)
    assert booked.status_code == 201, booked.text
    for slot in (second, first):  # the other slot of the day, or the same one again
        refused = await _book(ticketing, slot, me)
        assert refused.status_code == 409 and refused.json()["code"] == "booking_limit", refused.text
    # other matters and other days are not capped by this booking
    assert (await _book(ticketing, hall["other_matter"], me)).status_code == 201
    assert (await _book(ticketing, hall["next_day"], me)).status_code == 201
    # the refused attempts took no place: the day still has 5 of 6 places
    listed = await ticketing.get(f"/halls/{hall['code']}/slots",
                                 params={"day": hall["day"].isoformat(), "matter_code": MATTER})
    assert sum(s["available"] for s in listed.json()) == 5
    # a cancelled booking no longer counts
    cancelled = await ticketing.delete(f"/appointments/{booked.json()['id']}", headers=me)
    assert cancelled.status_code == 200
    assert (await _book(ticketing, second, me)).status_code == 201
    assert await _held(ticketing, applicant) == 3


async def test_two_concurrent_bookings_cannot_both_pass(ticketing, infra, hall) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):  # a few rounds: the race is on every time
        applicant = f"11010119900307{2000 + n:04d}"
        me = infra.auth("applicant", sub=applicant)
        answers = await asyncio.gather(*(_book(ticketing, slot, me) for slot in hall["two"]))
        assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]
        assert await _held(ticketing, applicant) == 1
        mine = (await ticketing.get("/appointments/mine", headers=me)).json()
        for booking in mine:  # give the place back for the next round
            assert (await ticketing.delete(f"/appointments/{booking['id']}", headers=me)).status_code == 200


async def test_request_dates_at_the_calendar_edge_are_field_level_422s(ticketing, hall) -> None:  # type: ignore[no-untyped-def]
    code, admin = hall["code"], hall["admin"]
    for day in ("9999-12-31", "0001-01-01", "2200-01-01", "1899-12-31"):
        slots = await ticketing.get(f"/halls/{code}/slots", params={"day": day})
        assert slots.status_code == 422 and slots.json()["errors"][0]["field"] == "day", slots.text
        for param in ("day_from", "day_to"):
            stats = await ticketing.get(f"/halls/{code}/stats", params={param: day}, headers=admin)
            assert stats.status_code == 422 and stats.json()["errors"][0]["field"] == param, stats.text
    edge = await ticketing.post(f"/halls/{code}/slots", headers=admin, json={
        "matter_code": MATTER, "capacity": 1, "starts_at": "9999-12-31T10:00:00+08:00",
        "ends_at": "9999-12-31T11:00:00+08:00"})
    assert edge.status_code == 422 and edge.json()["errors"][0]["field"] == "starts_at", edge.text
    # the edges themselves are fine
    assert (await ticketing.get(f"/halls/{code}/slots", params={"day": "2199-12-31"})).status_code == 200
    for first, last in (("1900-01-01", "1900-01-31"), ("2199-12-01", "2199-12-31")):
        stats = await ticketing.get(f"/halls/{code}/stats", params={"day_from": first, "day_to": last},
                                    headers=admin)
        assert stats.status_code == 200, stats.text
