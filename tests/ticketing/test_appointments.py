"""Appointments: capacity holds under concurrent booking; check-in window; late arrivals walk in."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.ticketing import appointments, hours
from tests.ticketing.conftest import new_hall


def _slot_range(start: datetime, minutes: int = 30) -> dict[str, str]:
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(minutes=minutes)).isoformat()}


@pytest.fixture(scope="module")
async def kit(tk, infra):
    hall = await new_hall(tk, infra)
    await hall.window("A01", "A", ["SCJG-001"])
    return hall


async def test_bookings_never_exceed_capacity(kit, infra) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=10)
    created = await kit.client.post(f"/halls/{kit.code}/slots", headers=kit.admin,
                                    json={"matter_code": "SCJG-001", "capacity": 3, "length_minutes": 30,
                                          **_slot_range(start)})
    assert created.status_code == 201, created.text
    slot = created.json()[0]
    applicants = [infra.auth("applicant", sub=f"11010119900307{n:04d}") for n in range(8)]
    results = await asyncio.gather(*(kit.client.post("/appointments", json={"slot_id": slot["id"]}, headers=h)
                                     for h in applicants))
    codes = sorted(r.status_code for r in results)
    assert codes == [201] * 3 + [409] * 5
    listed = await kit.client.get(f"/halls/{kit.code}/slots",
                                  params={"day": hours.business_day(start).isoformat(), "matter_code": "SCJG-001"})
    assert [s["available"] for s in listed.json() if s["id"] == slot["id"]] == [0]
    # a cancellation gives the place back, to someone else
    winner = next(i for i, r in enumerate(results) if r.status_code == 201)
    loser = next(i for i, r in enumerate(results) if r.status_code == 409)
    booking = results[winner].json()
    assert (await kit.client.delete(f"/appointments/{booking['id']}", headers=applicants[loser])).status_code == 404
    cancelled = await kit.client.delete(f"/appointments/{booking['id']}", headers=applicants[winner])
    assert cancelled.json()["status"] == "cancelled"
    rebooked = await kit.client.post("/appointments", json={"slot_id": slot["id"]}, headers=applicants[loser])
    assert rebooked.status_code == 201
    mine = await kit.client.get("/appointments/mine", headers=applicants[loser])
    assert [a["id"] for a in mine.json()] == [rebooked.json()["id"]]
    # on time (10 minutes before the slot): an appointment-priority ticket, ahead of walk-ins
    walk_in = await kit.take("SCJG-001")
    checked = await kit.client.post(f"/appointments/{rebooked.json()['id']}/check-in")
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["on_time"] is True and body["ticket"]["channel"] == "appointment" and body["ticket"]["priority"] == 1
    assert body["ticket"]["position"] == 1
    assert (await kit.client.post(f"/appointments/{rebooked.json()['id']}/check-in")).status_code == 409
    first = (await kit.call("A01")).json()
    assert first["id"] == body["ticket"]["id"]
    await kit.act("A01", first["id"], "finish", {"outcome": "completed"})
    assert (await kit.call("A01")).json()["id"] == walk_in["id"]
    await kit.act("A01", walk_in["id"], "finish", {"outcome": "completed"})


async def test_too_early_is_refused_and_late_becomes_walk_in(kit, infra, tk) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
    created = await kit.client.post(f"/halls/{kit.code}/slots", headers=kit.admin,
                                    json={"matter_code": "SCJG-001", "capacity": 2, **_slot_range(start, 60),
                                          "length_minutes": 60})
    slot = created.json()[0]
    who = infra.auth("applicant", sub="110101199003079999")
    booking = (await kit.client.post("/appointments", json={"slot_id": slot["id"]}, headers=who)).json()
    early = await kit.client.post(f"/appointments/{booking['id']}/check-in")
    assert early.status_code == 409 and early.json()["code"] == "too_early"
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        import uuid

        _, ticket, _, _, on_time = await appointments.check_in(
            session, outbox=runtime.outbox, appointment_id=uuid.UUID(booking["id"]), numbers=tk.app.state.ticket_numbers,
            now=start + timedelta(minutes=20),
        )
        assert on_time is False and ticket.priority == 0 and ticket.channel == "appointment"
        await session.rollback()


async def test_slot_requests_are_validated(kit) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    bad = await kit.client.post(f"/halls/{kit.code}/slots", headers=kit.admin,
                                json={"matter_code": "SCJG-001", "capacity": 0, **_slot_range(start)})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "capacity"
    naive = await kit.client.post(f"/halls/{kit.code}/slots", headers=kit.admin,
                                  json={"matter_code": "SCJG-001", "capacity": 1,
                                        "starts_at": "2026-12-01T09:00:00", "ends_at": "2026-12-01T10:00:00"})
    assert naive.status_code == 422
    unknown = await kit.client.post(f"/halls/{kit.code}/slots", headers=kit.admin,
                                    json={"matter_code": "NOPE-1", "capacity": 1, **_slot_range(start)})
    assert unknown.status_code == 422
    assert (await kit.client.post("/appointments", json={"slot_id": "not-a-uuid"},
                                  headers=kit.infra.auth("applicant", sub="x"))).status_code == 422


async def test_slots_are_listed_by_shanghai_business_day(kit) -> None:
    # 23:00 and 00:00 in Shanghai: the second slot belongs to the next day
    created = await kit.client.post(f"/halls/{kit.code}/slots", headers=kit.admin,
                                    json={"matter_code": "SCJG-001", "capacity": 1, "length_minutes": 60,
                                          "starts_at": "2027-03-10T15:00:00Z", "ends_at": "2027-03-10T17:00:00Z"})
    assert created.status_code == 201, created.text
    late, midnight = (s["id"] for s in created.json())
    for day, expected in (("2027-03-10", [late]), ("2027-03-11", [midnight]), ("2027-03-12", [])):
        listed = await kit.client.get(f"/halls/{kit.code}/slots", params={"day": day})
        assert listed.status_code == 200 and [s["id"] for s in listed.json()] == expected, day
    other_matter = await kit.client.get(f"/halls/{kit.code}/slots",
                                        params={"day": "2027-03-10", "matter_code": "RS-001"})
    assert other_matter.json() == []
    assert (await kit.client.get("/halls/NO-SUCH-HALL/slots", params={"day": "2027-03-10"})).status_code == 404
