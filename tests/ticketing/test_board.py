"""The call board follows commit-ordered positions (services/ticketing/board.py): every call and recall
reaches every open board exactly once, also when two windows call at once and commit in the other
order than their call times (real PostgreSQL, two connections)."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from services.ticketing import board, tickets
from services.ticketing.models import BoardCall
from shared.auth import Principal
from tests.ticketing.conftest import HallKit, new_hall


def _clerk(kit: HallKit, window: str) -> Principal:
    """The principal of the clerk the kit signed in at ``window`` (what its token would give)."""
    return Principal(sub=f"clerk-{kit.code}-{window}", roles=frozenset({"clerk"}), halls=frozenset({kit.code}))


def _events(text: str) -> list[dict[str, Any]]:
    """The ``call`` events of an SSE body: id and data."""
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if lines.get("event") == "call":
            out.append({"id": int(lines["id"]), **json.loads(lines["data"])})
    return out


async def test_two_windows_calling_at_once_reach_the_board_once_each_in_commit_order(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    await kit.window("A02", "A", ["SCJG-001"])
    first, second = await kit.take("SCJG-001"), await kit.take("SCJG-001")
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session:
        cursor = await board.position(session, hall=kit.code)
    shown: list[BoardCall] = []

    async def poll() -> list[BoardCall]:
        """One poll of a board that remembers the last position it showed."""
        nonlocal cursor
        async with runtime.sessionmaker() as session:
            rows = await board.calls_after(session, hall=kit.code, after=cursor)
        for row in rows:
            shown.append(row)
            cursor = row.seq
        return rows

    t0 = datetime.now(UTC)
    # A01 calls and stays uncommitted; its call time is the later one
    s1 = runtime.sessionmaker()
    await s1.begin()
    held = await tickets.call_next(s1, outbox=runtime.outbox, hall=kit.code, window_code="A01",
                                   principal=_clerk(kit, "A01"), now=t0 + timedelta(seconds=2))
    assert held is not None and str(held.id) == first["id"]

    # A02 calls at the same instant on another connection, stamped earlier; it commits when told
    a02_called, a02_commit = asyncio.Event(), asyncio.Event()

    async def a02() -> str:
        async with runtime.sessionmaker() as s2, s2.begin():
            got = await tickets.call_next(s2, outbox=runtime.outbox, hall=kit.code, window_code="A02",
                                          principal=_clerk(kit, "A02"), now=t0)
            assert got is not None
            a02_called.set()
            await a02_commit.wait()
            return str(got.id)

    other = asyncio.create_task(a02())
    try:
        # the second call does not wait for the first: positions are taken at commit
        await asyncio.wait_for(a02_called.wait(), timeout=30)
        assert await poll() == []  # nothing is visible before a commit

        await s1.commit()
        assert [str(r.ticket_id) for r in await poll()] == [first["id"]]
        a02_commit.set()
        assert await other == second["id"]  # committed after A01, although called "earlier"
        assert [str(r.ticket_id) for r in await poll()] == [second["id"]]
        assert await poll() == []
    finally:  # a failed assertion must not leave a transaction holding the hall's counter
        a02_commit.set()
        await s1.close()

    assert [str(r.ticket_id) for r in shown] == [first["id"], second["id"]]  # each exactly once
    assert [r.seq for r in shown] == [shown[0].seq, shown[0].seq + 1]
    assert shown[1].called_at < shown[0].called_at  # a call-time cursor would have dropped A02's call


async def test_many_windows_calling_concurrently_each_call_once_on_an_open_board(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    windows = [f"A{i:02d}" for i in range(1, 7)]
    for code in windows:
        await kit.window(code, "A", ["SWJ-002"])
    for _ in range(24):
        await kit.take("SWJ-002")
    async with tk.app.state.runtime.sessionmaker() as session:
        start = await board.position(session, hall=kit.code)
    calls: list[str] = []

    async def work(window: str) -> None:
        while True:
            response = await kit.call(window)
            if response.status_code == 204:
                return
            assert response.status_code == 200, response.text
            calls.append(response.json()["id"])
            await kit.act(window, response.json()["id"], "finish", {"outcome": "completed"})

    async def watch() -> list[dict[str, Any]]:
        response = await tk.get(f"/halls/{kit.code}/display/stream", params={"limit": 24},
                                headers={"Last-Event-ID": str(start)})
        assert response.status_code == 200, response.text
        return _events(response.text)

    watcher = asyncio.create_task(watch())
    await asyncio.gather(*(work(w) for w in windows))
    seen = await asyncio.wait_for(watcher, timeout=60)
    assert sorted(e["ticket_id"] for e in seen) == sorted(calls) and len(calls) == 24
    assert [e["id"] for e in seen] == list(range(start + 1, start + 25))  # gap-free, in commit order


async def test_the_stream_resumes_after_last_event_id_and_shows_recalls(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("B01", "B", ["RS-001"])
    await kit.window("B02", "B", ["RS-001"])
    async with tk.app.state.runtime.sessionmaker() as session:
        start = await board.position(session, hall=kit.code)
    one, two = await kit.take("RS-001"), await kit.take("RS-001")
    assert (await kit.call("B01")).json()["id"] == one["id"]
    assert (await kit.call("B02")).json()["id"] == two["id"]
    assert (await kit.act("B01", one["id"], "recall")).status_code == 200

    stream = await tk.get(f"/halls/{kit.code}/display/stream", params={"limit": 3},
                          headers={"Last-Event-ID": str(start)})
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
    events = _events(stream.text)
    assert [(e["id"], e["seq"], e["ticket_id"], e["window"], e["recall"]) for e in events] == [
        (start + 1, start + 1, one["id"], "B01", False),
        (start + 2, start + 2, two["id"], "B02", False),
        (start + 3, start + 3, one["id"], "B01", True),
    ]
    assert events[0]["window_name"] == "B01号窗"

    # a board that reconnects after the second call gets the recall only, without a backlog
    again = await tk.get(f"/halls/{kit.code}/display/stream", params={"limit": 1, "backlog": 10},
                         headers={"Last-Event-ID": str(start + 2)})
    assert [(e["id"], e["recall"]) for e in _events(again.text)] == [(start + 3, True)]
    # an id ahead of the board (from before a database reset) starts afresh with the backlog
    fresh = await tk.get(f"/halls/{kit.code}/display/stream", params={"limit": 1, "backlog": 1},
                         headers={"Last-Event-ID": str(start + 1000)})
    assert [e["id"] for e in _events(fresh.text)] == [start + 3]
    # a first connection shows the latest ``backlog`` calls, oldest first
    backlog = await tk.get(f"/halls/{kit.code}/display/stream", params={"limit": 2, "backlog": 2})
    assert [e["id"] for e in _events(backlog.text)] == [start + 2, start + 3]


async def test_a_call_rolled_back_never_reaches_the_board_and_leaves_no_gap(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    await kit.take("SCJG-001")
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session:
        before = await board.position(session, hall=kit.code)
    async with runtime.sessionmaker() as session, session.begin():
        assert await tickets.call_next(session, outbox=runtime.outbox, hall=kit.code, window_code="A01",
                                       principal=_clerk(kit, "A01")) is not None
        await session.rollback()
    called = await kit.call("A01")
    assert called.status_code == 200, called.text
    async with runtime.sessionmaker() as session:
        rows = await board.calls_after(session, hall=kit.code, after=before)
        assert [(r.seq, str(r.ticket_id)) for r in rows] == [(before + 1, called.json()["id"])]
        assert await board.position(session, hall=kit.code) == before + 1
