"""The demo hall ``make run`` loads is open round the clock; the other demo halls keep their real hours."""

from datetime import datetime, time

import httpx
import pytest
from pydantic import ValidationError

from services.ticketing import hours
from services.ticketing.cli import load_demo
from services.ticketing.models import Hall
from services.ticketing.schemas import HallIn
from services.ticketing.seed import demo_halls

THURSDAY_3AM = datetime(2026, 11, 26, 3, 0, tzinfo=hours.TZ)  # a working day, 03:00 Asia/Shanghai
SUNDAY_3AM = datetime(2026, 11, 29, 3, 0, tzinfo=hours.TZ)
THURSDAY_10AM = datetime(2026, 11, 26, 10, 0, tzinfo=hours.TZ)


async def test_the_seeded_demo_hall_is_open_at_3am_and_a_real_hall_is_not(tk, infra) -> None:
    admin = infra.auth("hall_admin", halls=["*"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=tk.app), base_url="http://test",
                                 headers=admin) as client:
        # what `make run` does (services.ticketing.cli seed-demo), for two of the demo halls
        assert await load_demo(client, only={"ZS-CITY", "DL-TOWN"}) == ["ZS-CITY", "DL-TOWN"]
    async with tk.app.state.runtime.sessionmaker() as session:
        demo = await session.get(Hall, "ZS-CITY")
        real = await session.get(Hall, "DL-TOWN")
    assert demo is not None and real is not None
    assert hours.is_open(demo, THURSDAY_3AM) and hours.is_open(demo, SUNDAY_3AM) and hours.open_all_day(demo)
    assert not hours.is_open(real, THURSDAY_3AM) and not hours.is_open(real, SUNDAY_3AM)
    assert hours.is_open(real, THURSDAY_10AM)
    # so the README walk-through takes a number at the demo hall whatever the hour
    taken = await tk.post("/halls/ZS-CITY/tickets", json={"matter_code": "SCJG-001", "channel": "kiosk"},
                          headers=infra.auth("kiosk", sub="kiosk:zs-city-1", halls=["ZS-CITY"]))
    assert taken.status_code == 201, taken.text


def test_real_hours_are_kept_for_the_demo_hall_on_request() -> None:
    seeded = {h["code"]: h["hall"] for h in demo_halls()}
    real = {h["code"]: h["hall"] for h in demo_halls(real_hours=True)}
    assert [h["code"] for h in demo_halls() if h.get("demo")] == ["ZS-CITY"]
    assert (seeded["ZS-CITY"]["opens_at"], seeded["ZS-CITY"]["closes_at"]) == ("00:00:00", "00:00:00")
    assert (real["ZS-CITY"]["opens_at"], real["ZS-CITY"]["closes_at"], real["ZS-CITY"]["open_days"]) == (
        "08:30:00", "17:30:00", "workdays")
    assert all(seeded[c] == real[c] for c in seeded if c != "ZS-CITY")  # the others: real hours either way


def test_closing_at_midnight() -> None:
    late = Hall(code="H", name="夜间大厅", opens_at=time(18, 0), closes_at=time(0, 0), open_days="all")
    assert not hours.is_open(late, datetime(2026, 11, 26, 17, 59, tzinfo=hours.TZ))
    assert hours.is_open(late, datetime(2026, 11, 26, 23, 59, 59, tzinfo=hours.TZ))
    assert not hours.is_open(late, datetime(2026, 11, 27, 0, 0, tzinfo=hours.TZ))  # the next day, before 18:00
    zones = [{"code": "A", "name": "A区"}]
    assert HallIn(name="x", opens_at=time(0), closes_at=time(0), open_days="all", zones=zones)
    with pytest.raises(ValidationError):
        HallIn(name="x", opens_at=time(8), closes_at=time(7), zones=zones)  # still refused
