"""Idle windows long-poll call-next (services/ticketing/wakeups.py): a ticket taken wakes the longest idle window
that serves it, through PostgreSQL notifications, without the window polling an empty queue."""

import asyncio

import pytest

from services.ticketing import wakeups
from tests.ticketing.conftest import new_hall


@pytest.fixture
def no_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiters never look again by themselves: only a notification can wake them within the test's wait."""
    monkeypatch.setattr(wakeups, "RECHECK_SECONDS", 60.0)


def _waiting(tk, hall: str) -> list[object]:  # type: ignore[no-untyped-def]
    return [w for w in tk.app.state.wakeups._waiters if w.hall == hall]


async def _until_waiting(tk, hall: str, count: int) -> None:  # type: ignore[no-untyped-def]
    async def waiting() -> bool:
        return len(_waiting(tk, hall)) >= count

    for _ in range(200):
        if await waiting():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} windows never started waiting")


async def test_a_taken_ticket_wakes_the_longest_idle_window_that_serves_it(tk, infra, no_recheck) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    await kit.window("A02", "A", ["SCJG-001"])
    await kit.window("A03", "A", ["RS-001"])  # idle too, but does not serve SCJG-001
    rs = asyncio.create_task(kit.client.post(f"/halls/{kit.code}/windows/A03/call-next", params={"wait": 20},
                                             headers=kit.clerk("A03")))
    await _until_waiting(tk, kit.code, 1)
    first = asyncio.create_task(kit.client.post(f"/halls/{kit.code}/windows/A01/call-next", params={"wait": 20},
                                                headers=kit.clerk("A01")))
    await _until_waiting(tk, kit.code, 2)
    second = asyncio.create_task(kit.client.post(f"/halls/{kit.code}/windows/A02/call-next", params={"wait": 20},
                                                 headers=kit.clerk("A02")))
    await _until_waiting(tk, kit.code, 3)

    one = await kit.take("SCJG-001")
    called = await asyncio.wait_for(first, timeout=15)
    assert called.status_code == 200 and called.json()["id"] == one["id"], called.text
    assert not second.done() and not rs.done()  # one ticket, one window woken

    two = await kit.take("SCJG-001")
    called = await asyncio.wait_for(second, timeout=15)
    assert called.status_code == 200 and called.json()["id"] == two["id"], called.text

    three = await kit.take("RS-001")
    called = await asyncio.wait_for(rs, timeout=15)
    assert called.status_code == 200 and called.json()["id"] == three["id"], called.text


async def test_a_requeued_no_show_wakes_a_waiting_window(tk, infra, no_recheck) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    await kit.window("A02", "A", ["SCJG-001"])
    ticket = await kit.take("SCJG-001")
    assert (await kit.call("A01")).status_code == 200
    waiting = asyncio.create_task(kit.client.post(f"/halls/{kit.code}/windows/A02/call-next", params={"wait": 20},
                                                  headers=kit.clerk("A02")))
    await _until_waiting(tk, kit.code, 1)
    assert (await kit.act("A01", ticket["id"], "no-show")).status_code == 200  # back in the queue once
    called = await asyncio.wait_for(waiting, timeout=15)
    assert called.status_code == 200 and called.json()["id"] == ticket["id"], called.text


async def test_nothing_within_the_wait_is_a_204_and_the_wait_is_bounded(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    empty = await kit.client.post(f"/halls/{kit.code}/windows/A01/call-next", params={"wait": 0.3},
                                  headers=kit.clerk("A01"))
    assert empty.status_code == 204
    assert _waiting(tk, kit.code) == []  # the waiter left
    too_long = await kit.client.post(f"/halls/{kit.code}/windows/A01/call-next", params={"wait": 31},
                                     headers=kit.clerk("A01"))
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "wait", too_long.text
