"""Two windows calling at the same instant never get the same ticket (real PostgreSQL, row locks)."""

import asyncio
from collections import Counter
from datetime import UTC, datetime

from services.ticketing import repository as repo
from tests.ticketing.conftest import new_hall


async def test_a_ticket_held_by_one_caller_is_skipped_by_the_other(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    await kit.window("A02", "A", ["SCJG-001"])
    first = await kit.take("SCJG-001")
    second = await kit.take("SCJG-001")
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as s1, runtime.sessionmaker() as s2, s1.begin(), s2.begin():
        w1 = await repo.get_window(s1, hall=kit.code, code="A01")
        w2 = await repo.get_window(s2, hall=kit.code, code="A02")
        assert w1 is not None and w2 is not None
        now = datetime.now(UTC)
        got1 = await repo.pick_next(s1, window=w1, starve_before=now)  # locks the oldest, open transaction
        got2 = await repo.pick_next(s2, window=w2, starve_before=now)  # same instant, other connection
        assert got1 is not None and got2 is not None
        assert str(got1.id) == first["id"] and str(got2.id) == second["id"]
        await s2.rollback()
        await s1.rollback()


async def test_many_windows_calling_concurrently_never_share_a_ticket(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    windows = [f"A{i:02d}" for i in range(1, 9)]
    for code in windows:
        await kit.window(code, "A", ["SCJG-001", "SWJ-002"])
    tickets = [await kit.take("SCJG-001" if i % 2 else "SWJ-002") for i in range(60)]
    start = asyncio.Event()
    calls: list[tuple[str, str]] = []

    async def work(window: str) -> None:
        await start.wait()
        while True:
            response = await kit.call(window)
            if response.status_code == 204:
                return
            assert response.status_code == 200, response.text
            ticket = response.json()
            calls.append((window, ticket["id"]))
            finished = await kit.act(window, ticket["id"], "finish", {"outcome": "completed"})
            assert finished.status_code == 200, finished.text

    tasks = [asyncio.create_task(work(w)) for w in windows]
    start.set()
    await asyncio.gather(*tasks)
    counts = Counter(ticket_id for _, ticket_id in calls)
    assert max(counts.values()) == 1, "a ticket was called twice"
    assert set(counts) == {t["id"] for t in tickets}
    assert len({w for w, _ in calls}) > 1  # the work really was shared


async def test_concurrent_numbers_are_unique_and_dense(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"], sign_in=False)
    taken = await asyncio.gather(*(kit.take("SCJG-001") for _ in range(40)))
    numbers = sorted(int(t["number"][1:]) for t in taken)
    assert numbers == list(range(1, 41))
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session:
        busy, ahead, _ = await repo.zone_figures(session, hall=kit.code, zones=["A"], priority=0, queue_at=None,
                                                 recent=60)
        assert (busy, ahead) == (set(), {("A", "SCJG-001"): 40})
