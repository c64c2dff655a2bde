"""Numbers, routing, calling and the window operations through the API, against the real database."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.ticketing import tickets
from services.ticketing.models import Ticket, backbone
from shared.auth import Principal
from tests.ticketing.conftest import HallKit, new_hall


@pytest.fixture(scope="module")
async def hall(tk, infra) -> HallKit:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001", "SCJG-003", "WGL-002"])
    await kit.window("A02", "A", ["SCJG-001", "SWJ-002"])
    await kit.window("B01", "B", ["ZRZY-001", "RS-001"])
    return kit


async def _events(tk, ticket_id: str) -> list[dict]:
    runtime = tk.app.state.runtime
    table = backbone.outbox_table
    async with runtime.sessionmaker() as session:
        rows = await session.execute(select(table.c.envelope).where(table.c.key == ticket_id).order_by(table.c.seq))
        return [r[0] for r in rows]


async def test_numbers_position_and_estimate(hall: HallKit) -> None:
    first = await hall.take("SCJG-003")
    second = await hall.take("SCJG-003", headers=hall.applicant())
    assert first["number"][0] == "A" and first["zone"] == "A"
    assert int(second["number"][1:]) == int(first["number"][1:]) + 1
    assert (first["position"], second["position"]) == (1, 2)
    # SCJG-003 (20 min) is served by A01 only, idle: the first goes at once, the second waits for one
    # service of 20 minutes (no service observed yet in this hall: the catalogue's figure)
    assert first["estimated_wait_minutes"] == 0
    assert second["estimated_wait_minutes"] == pytest.approx(20, abs=0.1)
    status = await hall.client.get(f"/tickets/{second['id']}")
    assert status.status_code == 200 and status.json()["position"] == 2
    events = await _events(hall.client, first["id"])
    assert events[0]["type"] == "ticket.issued"
    assert events[0]["payload"] | {"zone": "A", "matter_code": "SCJG-003", "channel": "kiosk"} == events[0]["payload"]
    assert second["channel"] == "web" and "rating_secret" in first
    # drain: A01 serves both
    for expected in (first, second):
        called = await hall.call("A01")
        assert called.json()["id"] == expected["id"]
        assert (await hall.act("A01", expected["id"], "finish", {"outcome": "consulted"})).status_code == 200


async def test_bad_requests_are_clear_problems(hall: HallKit, tk) -> None:
    unknown = await tk.post(f"/halls/{hall.code}/tickets", json={"matter_code": "NOPE-404"}, headers=hall.kiosk)
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["errors"][0]["field"] == "matter_code"
    not_here = await tk.post(f"/halls/{hall.code}/tickets", json={"matter_code": "MZ-001"}, headers=hall.kiosk)
    assert not_here.status_code == 422 and not_here.json()["code"] == "matter_not_served"
    no_hall = await tk.post("/halls/NO-SUCH-HALL/tickets", json={"matter_code": "SCJG-001"},
                            headers=hall.infra.auth("kiosk", sub="kiosk:nowhere", halls=["NO-SUCH-HALL"]))
    assert no_hall.status_code == 404
    extra = await tk.post(f"/halls/{hall.code}/tickets", json={"matter_code": "SCJG-001", "vip": True},
                          headers=hall.kiosk)
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "vip"
    channel = await tk.post(f"/halls/{hall.code}/tickets", json={"matter_code": "SCJG-001", "channel": "fax"},
                            headers=hall.kiosk)
    assert channel.status_code == 422
    not_mine = await tk.post(f"/halls/{hall.code}/tickets", json={"matter_code": "SCJG-001", "channel": "web"},
                             headers=hall.kiosk)
    assert not_mine.status_code == 422 and not_mine.json()["errors"][0]["field"] == "channel"
    bad_window = await tk.put(f"/halls/{hall.code}/windows/X9", headers=hall.admin,
                              json={"zone": "Q", "skills": ["SCJG-001"]})
    assert bad_window.status_code == 422 and bad_window.json()["errors"][0]["field"] == "zone"


async def test_closed_hall_refuses_numbers(tk, infra) -> None:
    kit = await new_hall(tk, infra, opens_at="08:30:00", closes_at="17:30:00", open_days="workdays")
    await kit.window("A01", "A", ["SCJG-001"], sign_in=False)
    runtime = tk.app.state.runtime
    saturday_noon = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, a Saturday
    thursday_night = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    thursday_ten = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    async with runtime.sessionmaker() as session, session.begin():
        for when in (saturday_noon, thursday_night):
            with pytest.raises(tickets.HallClosed):
                await tickets.take(session, outbox=runtime.outbox, numbers=tk.app.state.ticket_numbers, hall_code=kit.code,
                                   matter_code="SCJG-001", channel="kiosk", now=when)
        ticket, _, _ = await tickets.take(session, outbox=runtime.outbox, numbers=tk.app.state.ticket_numbers, hall_code=kit.code,
                                          matter_code="SCJG-001", channel="kiosk", now=thursday_ten)
        assert ticket.business_day.isoformat() == "2026-11-26"
        await session.rollback()


async def test_numbering_is_per_zone_and_restarts_every_day(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"], sign_in=False)
    await kit.window("B01", "B", ["RS-001"], sign_in=False)
    runtime = tk.app.state.runtime
    day1 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    late_day1 = datetime(2026, 12, 1, 15, 59, tzinfo=UTC)  # 23:59 Shanghai, still Dec 1
    day2 = datetime(2026, 12, 1, 16, 1, tzinfo=UTC)  # 00:01 Shanghai, Dec 2
    numbers = []
    async with runtime.sessionmaker() as session, session.begin():
        for when, matter in [(day1, "SCJG-001"), (day1, "SCJG-001"), (day1, "RS-001"), (late_day1, "SCJG-001"),
                             (day2, "SCJG-001"), (day2, "RS-001")]:
            ticket, _, _ = await tickets.take(session, outbox=runtime.outbox, numbers=tk.app.state.ticket_numbers, hall_code=kit.code,
                                              matter_code=matter, channel="kiosk", now=when)
            numbers.append((ticket.business_day.isoformat(), ticket.number))
    assert numbers == [
        ("2026-12-01", "A001"), ("2026-12-01", "A002"), ("2026-12-01", "B001"), ("2026-12-01", "A003"),
        ("2026-12-02", "A001"), ("2026-12-02", "B001"),
    ]


async def test_priority_first_then_longest_wait(hall: HallKit) -> None:
    normal1 = await hall.take("SWJ-002")
    normal2 = await hall.take("SWJ-002")
    green = await hall.take("SWJ-002", green_channel=True)
    assert green["priority"] == 2 and green["position"] == 1
    order = []
    for _ in range(3):
        called = await hall.call("A02")
        assert called.status_code == 200, called.text
        order.append(called.json()["id"])
        await hall.act("A02", called.json()["id"], "finish", {"outcome": "completed"})
    assert order == [green["id"], normal1["id"], normal2["id"]]
    assert (await hall.call("A02")).status_code == 204


async def test_called_event_carries_hall_window_and_matter(hall: HallKit) -> None:
    ticket = await hall.take("ZRZY-001")
    assert ticket["zone"] == "B"
    called = await hall.call("B01")
    assert called.json()["id"] == ticket["id"] and called.json()["window"] == "B01"
    event = [e for e in await _events(hall.client, ticket["id"]) if e["type"] == "ticket.called"][0]
    assert event["hall"] == hall.code
    assert event["payload"]["hall"] == hall.code
    assert event["payload"]["window"] == "B01"
    assert event["payload"]["matter_code"] == "ZRZY-001"
    assert event["payload"]["number"] == ticket["number"]
    finished = await hall.act("B01", ticket["id"], "finish", {"outcome": "accepted", "application_id": "APP-1"})
    assert finished.json()["status"] == "served"
    served = [e for e in await _events(hall.client, ticket["id"]) if e["type"] == "ticket.served"][0]["payload"]
    assert served["application_id"] == "APP-1" and served["outcome"] == "accepted" and served["wait_seconds"] >= 0


async def test_recall_no_show_twice_drops(hall: HallKit) -> None:
    ticket = await hall.take("SWJ-002")
    assert (await hall.call("A02")).json()["id"] == ticket["id"]
    assert (await hall.call("A02")).status_code == 409  # the current one is not finished
    assert (await hall.act("A02", ticket["id"], "recall")).status_code == 200
    first = await hall.act("A02", ticket["id"], "no-show")
    assert first.json()["status"] == "waiting"  # requeued once
    assert (await hall.call("A02")).json()["id"] == ticket["id"]
    second = await hall.act("A02", ticket["id"], "no-show")
    assert second.json()["status"] == "no_show"
    assert (await hall.act("A02", ticket["id"], "finish", {"outcome": "completed"})).status_code == 409
    types = [e["type"] for e in await _events(hall.client, ticket["id"])]
    assert types == ["ticket.issued", "ticket.called", "ticket.called", "ticket.no_show", "ticket.called",
                     "ticket.no_show"]
    payloads = [e["payload"] for e in await _events(hall.client, ticket["id"]) if e["type"] == "ticket.no_show"]
    assert [p["requeued"] for p in payloads] == [True, False]


async def test_transfer_keeps_the_original_wait(hall: HallKit) -> None:
    early = await hall.take("SCJG-001")  # waits since before the RS-001 tickets below
    later = [await hall.take("RS-001") for _ in range(2)]
    called = await hall.call("A01")
    assert called.json()["id"] == early["id"]
    moved = await hall.act("A01", early["id"], "transfer", {"matter_code": "RS-001"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["zone"] == "B" and moved.json()["matter_code"] == "RS-001"
    assert moved.json()["status"] == "waiting" and moved.json()["position"] == 1  # ahead of the later ones
    assert moved.json()["number"] == early["number"]
    order = []
    for _ in range(3):
        got = (await hall.call("B01")).json()
        order.append(got["id"])
        await hall.act("B01", got["id"], "finish", {"outcome": "completed"})
    assert order == [early["id"], later[0]["id"], later[1]["id"]]
    transferred = [e for e in await _events(hall.client, early["id"]) if e["type"] == "ticket.transferred"][0]
    assert transferred["payload"]["from_matter_code"] == "SCJG-001" and transferred["payload"]["to_zone"] == "B"
    bad = await hall.take("SCJG-001")
    got = (await hall.call("A01")).json()
    assert got["id"] == bad["id"]
    refused = await hall.act("A01", bad["id"], "transfer", {"matter_code": "GA-001", "zone": "A"})
    assert refused.status_code == 422
    await hall.act("A01", bad["id"], "finish", {"outcome": "completed"})


async def test_park_and_resume(hall: HallKit) -> None:
    parked = await hall.take("SWJ-002")
    nxt = await hall.take("SWJ-002")
    assert (await hall.call("A02")).json()["id"] == parked["id"]
    assert (await hall.act("A02", parked["id"], "park")).json()["status"] == "parked"
    assert (await hall.call("A02")).json()["id"] == nxt["id"]  # the window went on
    assert (await hall.act("A02", parked["id"], "resume", params={"window": "A02"})).status_code == 409  # busy
    await hall.act("A02", nxt["id"], "finish", {"outcome": "completed"})
    resumed = await hall.act("A02", parked["id"], "resume", params={"window": "A02"})
    assert resumed.json()["status"] == "called" and resumed.json()["window"] == "A02"
    await hall.act("A02", parked["id"], "finish", {"outcome": "completed"})


async def test_low_volume_matters_do_not_starve(tk, infra) -> None:
    kit = await new_hall(tk, infra, starve_after_minutes=30)
    await kit.window("A01", "A", ["SCJG-001", "WGL-002"], primary=["SCJG-001"])
    runtime = tk.app.state.runtime
    clerk = Principal(sub=f"clerk-{kit.code}-A01", roles=frozenset({"clerk"}), halls=frozenset({kit.code}))
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    async with runtime.sessionmaker() as session, session.begin():
        rare, _, _ = await tickets.take(session, outbox=runtime.outbox, numbers=tk.app.state.ticket_numbers, hall_code=kit.code,
                                        matter_code="WGL-002", channel="kiosk", now=t0)
        for i in range(3):
            await tickets.take(session, outbox=runtime.outbox, numbers=tk.app.state.ticket_numbers, hall_code=kit.code, matter_code="SCJG-001",
                               channel="kiosk", now=t0 + timedelta(minutes=1 + i))
        # ten minutes in: the primary skill goes first
        first = await tickets.call_next(session, outbox=runtime.outbox, hall=kit.code, window_code="A01",
                                        principal=clerk, now=t0 + timedelta(minutes=10))
        assert first is not None and first.matter_code == "SCJG-001"
        await tickets.finish(session, outbox=runtime.outbox, ticket_id=first.id, principal=clerk,
                             outcome="completed", application_id=None, now=t0 + timedelta(minutes=20))
        # past 30 minutes the rare matter is served before the younger primary ones
        second = await tickets.call_next(session, outbox=runtime.outbox, hall=kit.code, window_code="A01",
                                         principal=clerk, now=t0 + timedelta(minutes=31))
        assert second is not None and second.id == rare.id


async def test_rating_once_and_pad(hall: HallKit) -> None:
    ticket = await hall.take("SWJ-002")
    secret = {"rating_secret": ticket["rating_secret"]}
    early = await hall.client.post(f"/tickets/{ticket['id']}/rating", json={"score": 5, **secret})
    assert early.status_code == 409  # not served yet
    await hall.call("A02")
    pad = await hall.client.get(f"/halls/{hall.code}/windows/A02/pad")
    assert pad.json()["staff_name"] == "王小明" and pad.json()["ticket"]["number"] == ticket["number"]
    await hall.act("A02", ticket["id"], "finish", {"outcome": "completed"})
    too_high = await hall.client.post(f"/tickets/{ticket['id']}/rating", json={"score": 6, **secret})
    assert too_high.status_code == 422
    rated = await hall.client.post(f"/tickets/{ticket['id']}/rating", json={"score": 4, "comment": "很快", **secret})
    assert rated.status_code == 200
    again = await hall.client.post(f"/tickets/{ticket['id']}/rating", json={"score": 1, **secret})
    assert again.status_code == 409
    assert (await hall.client.get(f"/tickets/{uuid.uuid4()}")).status_code == 404


async def test_queue_status_stats_and_display(hall: HallKit, infra) -> None:
    waiting = [await hall.take("ZRZY-001") for _ in range(3)]
    status = (await hall.client.get(f"/halls/{hall.code}/queue")).json()
    line = [m for m in status["matters"] if m["zone"] == "B" and m["matter_code"] == "ZRZY-001"][0]
    assert line["waiting"] == 3 and line["estimated_wait_minutes"] > 0
    assert [z for z in status["zones"] if z["zone"] == "B"][0]["waiting"] >= 3
    called = (await hall.call("B01")).json()
    assert called["id"] == waiting[0]["id"]
    stream = await hall.client.get(f"/halls/{hall.code}/display/stream", params={"limit": 1, "backlog": 1})
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    assert "event: call" in stream.text and f'"number":"{called["number"]}"' in stream.text
    assert '"window":"B01"' in stream.text
    page = await hall.client.get(f"/halls/{hall.code}/display")
    assert page.status_code == 200 and "EventSource" in page.text and "测试大厅" in page.text
    await hall.act("B01", called["id"], "finish", {"outcome": "completed"})
    secret = waiting[0]["rating_secret"]
    await hall.client.post(f"/tickets/{called['id']}/rating", json={"score": 5, "rating_secret": secret})
    for _ in waiting[1:]:
        got = (await hall.call("B01")).json()
        await hall.act("B01", got["id"], "finish", {"outcome": "completed"})
    stats = await hall.client.get(f"/halls/{hall.code}/stats", params={"group_by": "matter"}, headers=hall.admin)
    assert stats.status_code == 200, stats.text
    rows = {r["key"]: r for r in stats.json()["rows"]}
    assert rows["ZRZY-001"]["served"] >= 3 and rows["ZRZY-001"]["wait_p50_minutes"] is not None
    assert rows["ZRZY-001"]["rating_avg"] is not None
    assert rows["SWJ-002"]["no_shows"] >= 1 and 0 < rows["SWJ-002"]["no_show_rate"] < 1
    for group_by in ("window", "clerk", "hour", "day", "zone", "hall"):
        response = await hall.client.get(f"/halls/{hall.code}/stats", params={"group_by": group_by},
                                         headers=hall.admin)
        assert response.status_code == 200 and response.json()["rows"], group_by
    other = await hall.client.get(f"/halls/{hall.code}/stats", headers=infra.auth("hall_admin", halls=["X"]))
    assert other.status_code == 403


async def test_ticket_ids_are_the_public_handle(hall: HallKit, tk) -> None:
    ticket = await hall.take("SCJG-001")
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session:
        row = await session.get(Ticket, uuid.UUID(ticket["id"]))
    assert row is not None and row.status == "waiting"
    got = (await hall.call("A01")).json()
    await hall.act("A01", got["id"], "finish", {"outcome": "completed"})
