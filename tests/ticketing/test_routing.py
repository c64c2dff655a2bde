"""Routing: which windows serve a matter (codes or categories), and the zone with the least expected wait."""

import pytest

from services.ticketing import estimate, halls, routing
from services.ticketing.models import Ticket
from services.ticketing.snapshots import MatterView, Snapshots, WindowView, categories, expand
from tests.ticketing.conftest import HallKit, new_hall


def _window(
    code: str, skills: list[str], *, zone: str = "A", state: str = "open", active: bool = True
) -> WindowView:
    return WindowView(hall="H", code=code, zone=zone, skills=frozenset(skills), primary_skills=(), active=active,
                      state=state, staff_id=None, codes=expand(skills, MATTERS, categories(MATTERS)))


def _matter(code: str, category: str, zone: str = "A", minutes: int = 10) -> MatterView:
    return MatterView(code=code, name=code, zone=zone, category=category, department=code.split("-")[0],
                      avg_handling_minutes=minutes, daily_share_weight=1.0, catalog_version=0, pinyin_initials=(),
                      pinyin_full=())


MATTERS = {
    m.code: m
    for m in [
        _matter("SCJG-001", "ENTERPRISE"),
        _matter("SCJG-003", "PERMIT"),
        _matter("WGL-002", "PERMIT"),
        _matter("SWJ-002", "TAX"),
    ]
}


@pytest.fixture(scope="module")
async def hall(tk, infra) -> HallKit:
    return await new_hall(tk, infra)


def test_a_window_serves_its_matter_codes_and_categories() -> None:
    window = _window("A01", ["SCJG-001", "PERMIT"])
    assert routing.serves(window, MATTERS["SCJG-001"])
    assert routing.serves(window, MATTERS["WGL-002"])  # by category
    assert not routing.serves(window, MATTERS["SWJ-002"])
    ticket = Ticket(matter_code="SCJG-003", category="PERMIT")
    assert routing.serves(window, ticket)
    assert not routing.serves(_window("A02", ["SWJ-002"]), ticket)


def test_staffed_windows_are_the_open_ones_or_else_every_active_one() -> None:
    open_, closed, paused = (
        _window("A01", ["X"]),
        _window("A02", ["X"], state="closed"),
        _window("A03", ["X"], state="paused"),
    )
    assert routing.staffed([open_, closed, paused]) == [open_]
    inactive = _window("A04", ["X"], state="closed", active=False)
    assert routing.staffed([closed, paused, inactive]) == [closed, paused]  # nobody signed in yet
    assert routing.staffed([]) == []


def test_the_predictor_sees_categories_expanded_and_busy_windows_not_idle() -> None:
    windows = [
        _window("A01", ["SCJG-001", "PERMIT", "NOT-IN-CATALOGUE"]),
        _window("A02", ["SWJ-002"]),
        _window("A03", ["SWJ-002"], state="paused"),
    ]
    view = routing.skill_view(windows, busy={"A02"})
    assert view == [
        estimate.WindowSkills(frozenset({"SCJG-001", "SCJG-003", "WGL-002"}), idle=True),
        estimate.WindowSkills(frozenset({"SWJ-002"}), idle=False),  # serving a ticket
        estimate.WindowSkills(frozenset({"SWJ-002"}), idle=False),  # paused
    ]


async def test_category_skills_cover_their_matters(hall: HallKit) -> None:
    await hall.window("C01", "C", ["POLICE"])
    ticket = await hall.take("GA-001")
    assert ticket["zone"] == "C" and ticket["number"].startswith("C")
    called = await hall.call("C01")
    assert called.json()["id"] == ticket["id"]
    await hall.act("C01", ticket["id"], "finish", {"outcome": "completed"})


async def test_a_new_ticket_goes_to_the_zone_with_the_least_expected_wait(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SWJ-002"])
    await kit.window("B01", "B", ["SWJ-002"])
    await kit.window("C01", "C", ["GA-001"])
    first = await kit.take("SWJ-002")
    second = await kit.take("SWJ-002")  # the first one's zone has a ticket waiting now: the other is free
    assert {first["zone"], second["zone"]} == {"A", "B"}
    assert (first["position"], second["position"]) == (1, 1)
    assert first["estimated_wait_minutes"] == 0 and second["estimated_wait_minutes"] == 0
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session:
        copies = Snapshots()
        matters = await copies.matters(session)
        windows = await copies.windows(session, hall=await halls.require_hall(session, code=kit.code), matters=matters)
        # one ticket waits in each zone: a tie, which the matter's own catalogue zone wins
        for own_zone in ("A", "B"):
            matter = _matter("SWJ-002", "TAX", zone=own_zone, minutes=matters["SWJ-002"].avg_handling_minutes)
            zone, ahead, minutes = await routing.route(
                session, hall=kit.code, matter=matter, priority=0, windows=windows
            )
            assert (zone, ahead) == (own_zone, 1) and minutes is not None and minutes > 0
        with pytest.raises(routing.MatterNotServed):
            await routing.route(
                session,
                hall=kit.code,
                matter=_matter("MZ-001", "LIVELIHOOD"),
                priority=0,
                windows=windows,
            )
    for window in ("A01", "B01"):
        got = (await kit.call(window)).json()
        await kit.act(window, got["id"], "finish", {"outcome": "completed"})
