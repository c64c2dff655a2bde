"""What the hall shows the public: queue status per zone and matter, window pads, the call board."""

import uuid

import pytest

from services.ticketing import board
from tests.ticketing.conftest import HallKit, new_hall


@pytest.fixture(scope="module")
async def hall(tk, infra) -> HallKit:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001", "SWJ-002"])
    await kit.window("A02", "A", ["SWJ-002"], sign_in=False)
    await kit.window("B01", "B", ["RS-001"])
    return kit


async def test_queue_status_counts_and_estimates_per_zone_and_matter(hall: HallKit) -> None:
    taken = [await hall.take("SCJG-001") for _ in range(2)]
    status = await hall.client.get(f"/halls/{hall.code}/queue")
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["hall"] == hall.code and body["open_windows"] == 2
    lines = {(m["zone"], m["matter_code"]): m for m in body["matters"]}
    assert set(lines) == {("A", "SCJG-001"), ("A", "SWJ-002"), ("B", "RS-001")}  # only what windows serve
    assert lines[("A", "SCJG-001")]["waiting"] == 2 and lines[("A", "SWJ-002")]["waiting"] == 0
    assert lines[("A", "SCJG-001")]["estimated_wait_minutes"] > 0
    assert lines[("B", "RS-001")]["estimated_wait_minutes"] == 0  # an idle window, nobody ahead
    zones = {z["zone"]: z for z in body["zones"]}
    assert [z["zone"] for z in body["zones"]] == ["A", "B"]
    assert zones["A"]["waiting"] == 2 and zones["B"]["waiting"] == 0
    assert zones["A"]["estimated_wait_minutes"] == max(
        lines[("A", code)]["estimated_wait_minutes"] for code in ("SCJG-001", "SWJ-002")
    )
    assert (await hall.client.get("/halls/NO-SUCH-HALL/queue")).status_code == 404
    for _ in taken:
        got = (await hall.call("A01")).json()
        await hall.act("A01", got["id"], "finish", {"outcome": "completed"})


async def test_the_pad_shows_the_clerk_and_the_number_being_served(hall: HallKit) -> None:
    idle = (await hall.client.get(f"/halls/{hall.code}/windows/B01/pad")).json()
    assert idle["state"] == "open" and idle["staff_name"] == "王小明" and idle["ticket"] is None
    closed = (await hall.client.get(f"/halls/{hall.code}/windows/A02/pad")).json()
    assert closed["state"] == "closed" and closed["staff_name"] is None and closed["ticket"] is None
    assert (await hall.client.get(f"/halls/{hall.code}/windows/Z99/pad")).status_code == 404
    ticket = await hall.take("RS-001")
    await hall.call("B01")
    serving = (await hall.client.get(f"/halls/{hall.code}/windows/B01/pad")).json()
    assert serving["ticket"]["id"] == ticket["id"] and serving["ticket"]["status"] == "called"
    await hall.act("B01", ticket["id"], "finish", {"outcome": "completed"})
    assert (await hall.client.get(f"/halls/{hall.code}/windows/B01/pad")).json()["ticket"] is None


async def test_the_board_reads_calls_oldest_first_after_a_position(hall: HallKit, tk) -> None:
    called = []
    for _ in range(2):
        await hall.take("RS-001")
        got = (await hall.call("B01")).json()
        called.append(uuid.UUID(got["id"]))
        await hall.act("B01", got["id"], "finish", {"outcome": "completed"})
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session:
        latest = await board.calls_after(session, hall=hall.code, after=None, limit=1)
        assert [c.ticket_id for c in latest] == called[-1:]
        backlog = await board.calls_after(session, hall=hall.code, after=None, limit=50)
        assert [c.ticket_id for c in backlog][-2:] == called
        assert [c.seq for c in backlog] == sorted(c.seq for c in backlog)
        assert backlog[-1].seq == await board.position(session, hall=hall.code)
        first = next(c for c in backlog if c.ticket_id == called[0])
        assert [c.ticket_id for c in await board.calls_after(session, hall=hall.code, after=first.seq)] == [
            called[1]
        ]
    assert (
        await hall.client.get("/halls/NO-SUCH-HALL/display/stream", params={"limit": 1})
    ).status_code == 404
