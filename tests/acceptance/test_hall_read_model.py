"""Collection halls (issue 14, item 3): acceptance keeps the halls ticketing publishes (hall.published) and
refuses a collect hall it does not know or that was closed down, on opening and on a change of the draft;
checked with the real ticketing service through the real broker."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from services.acceptance import read_models
from services.acceptance.models import Application, Hall
from shared.events.ticketing import HallPublished
from shared.infra import wait_for
from tests.acceptance.conftest import HALL, OTHER_HALL, open_app, person, publish


async def _applications(acc: Any) -> int:
    async with acc.app.state.runtime.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(Application))).scalar_one()


async def _hall(acc: Any, code: str) -> Hall | None:
    async with acc.app.state.runtime.sessionmaker() as session:
        return await session.get(Hall, code)


def _hall_error(response: Any, message: str, field: str = "collect_hall") -> None:
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["field"], e["message"]) for e in errors] == [(field, message)], errors


def _hall_event(code: str, *, status: str = "open", version: int = 1, name: str = "测试大厅") -> HallPublished:
    return HallPublished(code=code, name=name, status=status, opens_at="08:30", closes_at="17:30",
                         open_days="workdays", hall_version=version, updated_at=datetime.now(UTC))


async def test_an_unknown_collect_hall_is_refused_and_nothing_stored(acc, catalog, clerk) -> None:
    before = await _applications(acc)
    response = await acc.post("/applications", headers=clerk, json={
        "hall": HALL, "matter": "RS-003", "collect_hall": "NO-SUCH-HALL", "applicant": person()})
    _hall_error(response, "NO-SUCH-HALL: 未知的领取大厅")
    assert response.json()["errors"][0]["type"] == "unknown_hall"
    assert await _applications(acc) == before
    # a hall ticketing published is accepted; omitted, the results wait where the application was opened
    chosen = await open_app(acc, clerk, matter="RS-003", collect_hall="ZS-CITY", applicant=person())
    assert chosen["collect_hall"] == "ZS-CITY"
    default = await open_app(acc, clerk, matter="RS-003", applicant=person())
    assert default["collect_hall"] == HALL


async def test_a_hall_closed_down_in_ticketing_is_refused(acc, catalog, clerk, ticketing, infra) -> None:
    """Through ticketing's REST API and the real broker: created, closed down, reopened."""
    code = f"H{uuid.uuid4().hex[:8].upper()}"
    admin = infra.auth("hall_admin", halls=[code])
    created = await ticketing.put(f"/halls/{code}", headers=admin, json={
        "name": "梧桐街道便民服务中心", "zones": [{"code": "A", "name": "A区"}]})
    assert created.status_code == 200, created.text

    async def arrived(status: str) -> Hall | None:
        hall = await _hall(acc, code)
        return hall if hall is not None and hall.status == status else None

    hall = await wait_for(lambda: arrived("open"), timeout=30, interval=0.2, message="hall.published (open)")
    assert hall.name == "梧桐街道便民服务中心" and hall.hall_version == 1
    opened = await open_app(acc, clerk, matter="RS-003", collect_hall=code, applicant=person())
    assert opened["collect_hall"] == code

    closed = await ticketing.post(f"/halls/{code}/close", headers=admin)
    assert closed.status_code == 200, closed.text
    await wait_for(lambda: arrived("closed"), timeout=30, interval=0.2, message="hall.published (closed)")
    before = await _applications(acc)
    refused = await acc.post("/applications", headers=clerk, json={
        "hall": HALL, "matter": "RS-003", "collect_hall": code, "applicant": person()})
    _hall_error(refused, f"{code}: 该大厅已撤并")
    assert refused.json()["errors"][0]["type"] == "hall_closed_down"
    assert await _applications(acc) == before
    # moving a draft's collection there is refused too; the draft keeps its hall
    draft = await open_app(acc, clerk, matter="RS-003", applicant=person())
    moved = await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"collect_hall": code})
    _hall_error(moved, f"{code}: 该大厅已撤并")
    assert (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()["collect_hall"] == HALL

    assert (await ticketing.post(f"/halls/{code}/reopen", headers=admin)).status_code == 200
    await wait_for(lambda: arrived("open"), timeout=30, interval=0.2, message="hall.published (reopened)")
    moved = await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"collect_hall": code})
    assert moved.status_code == 200 and moved.json()["collect_hall"] == code, moved.text


async def test_changing_the_collect_hall_of_a_draft(acc, catalog, clerk) -> None:
    draft = await open_app(acc, clerk, matter="RS-003", applicant=person())
    unknown = await acc.patch(f"/applications/{draft['id']}", headers=clerk,
                              json={"collect_hall": "NO-SUCH-HALL", "values": {"person.mobile": "13600001111"}})
    _hall_error(unknown, "NO-SUCH-HALL: 未知的领取大厅")
    body = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    assert body["collect_hall"] == HALL  # nothing of the refused change was stored
    assert {f["key"]: f["value"] for f in body["fields"]}.get("person.mobile") != "13600001111"
    moved = await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"collect_hall": OTHER_HALL})
    assert moved.status_code == 200 and moved.json()["collect_hall"] == OTHER_HALL
    back = await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"collect_hall": HALL})
    assert back.status_code == 200 and back.json()["collect_hall"] == HALL


async def test_a_closed_down_opening_hall_takes_no_applications(acc, catalog, infra) -> None:
    """The opening hall (the default collect hall) is refused only once ticketing said it was closed down:
    a hall acceptance has not heard of yet is the clerk's own, its event may lag behind."""
    code = f"H{uuid.uuid4().hex[:8].upper()}"
    clerk = infra.auth("clerk", halls=[code], sub=f"clerk-{code}")
    fresh = await open_app(acc, clerk, hall=code, matter="RS-003", applicant=person())
    assert fresh["collect_hall"] == code
    await publish(acc, _hall_event(code, status="closed", version=3), producer="ticketing")
    await wait_for(lambda: _hall(acc, code), timeout=30, interval=0.2, message="hall.published (closed)")
    refused = await acc.post("/applications", headers=clerk,
                             json={"hall": code, "matter": "RS-003", "applicant": person()})
    _hall_error(refused, f"{code}: 该大厅已撤并", field="hall")
    # its drafts may still send their results elsewhere
    moved = await acc.patch(f"/applications/{fresh['id']}", headers=clerk, json={"collect_hall": HALL})
    assert moved.status_code == 200 and moved.json()["collect_hall"] == HALL
    back = await acc.patch(f"/applications/{fresh['id']}", headers=clerk, json={"collect_hall": code})
    _hall_error(back, f"{code}: 该大厅已撤并")


async def test_the_newest_version_of_a_hall_wins(acc) -> None:
    """A late or replayed hall.published (lower hall_version) changes nothing; a newer one replaces it."""
    code = f"H{uuid.uuid4().hex[:8].upper()}"
    runtime = acc.app.state.runtime
    old = _hall_event(code, status="open", version=1, name="旧名")
    new = _hall_event(code, status="closed", version=2, name="新名")
    async with runtime.sessionmaker() as session, session.begin():
        await read_models.record_hall(session, event=new)
        await read_models.record_hall(session, event=old)  # arrives late
    hall = await _hall(acc, code)
    assert hall is not None and (hall.status, hall.name, hall.hall_version) == ("closed", "新名", 2)
    newer = _hall_event(code, status="open", version=3, name="新名")
    newer = newer.model_copy(update={"updated_at": datetime.now(UTC) + timedelta(seconds=1)})
    async with runtime.sessionmaker() as session, session.begin():
        await read_models.record_hall(session, event=newer)
        await read_models.record_hall(session, event=newer)  # a redelivery
    hall = await _hall(acc, code)
    assert hall is not None and (hall.status, hall.hall_version) == ("open", 3)
