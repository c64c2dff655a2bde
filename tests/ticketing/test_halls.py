"""Halls and windows: administration, listing, and clerks staffing windows (sign-in, pause, sign-out)."""

import pytest

from tests.ticketing.conftest import HallKit, new_hall


@pytest.fixture(scope="module")
async def hall(tk, infra) -> HallKit:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001", "SCJG-003", "WGL-002"])
    return kit


async def test_window_rules_roles_and_halls(hall: HallKit, infra) -> None:
    await hall.window("A09", "A", ["SCJG-001"], sign_in=False)
    assert (await hall.call("A09")).status_code == 409  # nobody signed in
    other_hall_clerk = infra.auth("clerk", halls=["ELSEWHERE"], sub="intruder")
    response = await hall.client.post(f"/halls/{hall.code}/windows/A09/sign-in", headers=other_hall_clerk)
    assert response.status_code == 403
    applicant = infra.auth("applicant", sub="110101199003071234")
    assert (
        await hall.client.post(f"/halls/{hall.code}/windows/A01/call-next", headers=applicant)
    ).status_code == 403
    assert (await hall.client.post(f"/halls/{hall.code}/windows/A01/call-next")).status_code == 401
    clerk_as_admin = await hall.client.put(
        f"/halls/{hall.code}/windows/A09",
        headers=hall.clerk("A09"),
        json={"zone": "A", "skills": ["SCJG-001"]},
    )
    assert clerk_as_admin.status_code == 403
    # a second clerk cannot take a staffed window
    await hall.window("A08", "A", ["SCJG-001"])
    taken = await hall.client.post(
        f"/halls/{hall.code}/windows/A08/sign-in",
        headers=infra.auth("clerk", halls=[hall.code], sub="someone-else"),
    )
    assert taken.status_code == 409
    # pause stops calls
    paused = await hall.client.post(f"/halls/{hall.code}/windows/A08/pause", headers=hall.clerk("A08"))
    assert paused.json()["state"] == "paused"
    assert (await hall.call("A08")).status_code == 409
    await hall.client.post(f"/halls/{hall.code}/windows/A08/resume", headers=hall.clerk("A08"))
    assert (await hall.call("A08")).status_code in (200, 204)
    out = await hall.client.post(f"/halls/{hall.code}/windows/A08/sign-out", headers=hall.clerk("A08"))
    assert out.json()["state"] == "closed"


async def test_the_window_list_shows_every_window_with_its_state(hall: HallKit, infra) -> None:
    response = await hall.client.put(
        f"/halls/{hall.code}/windows/B07",
        headers=hall.admin,
        json={"zone": "B", "name": "7号窗", "skills": ["RS-001"], "active": False},
    )
    assert response.status_code == 200, response.text
    listed = await hall.client.get(
        f"/halls/{hall.code}/windows", headers=infra.auth("auditor", halls=[hall.code])
    )
    assert listed.status_code == 200, listed.text
    windows = {w["code"]: w for w in listed.json()}
    assert [w["code"] for w in listed.json()] == sorted(windows)
    assert windows["B07"]["active"] is False and windows["B07"]["state"] == "closed"
    assert windows["A01"]["state"] == "open" and windows["A01"]["staff_name"] == "王小明"
    other = await hall.client.get(
        f"/halls/{hall.code}/windows", headers=infra.auth("hall_admin", halls=["X"])
    )
    assert other.status_code == 403
    unknown = await hall.client.get(
        "/halls/NO-SUCH-HALL/windows", headers=infra.auth("hall_admin", halls=["*"])
    )
    assert unknown.status_code == 404
    # an inactive window cannot be staffed
    refused = await hall.client.post(f"/halls/{hall.code}/windows/B07/sign-in", headers=hall.clerk("B07"))
    assert refused.status_code == 404


async def test_signing_out_puts_the_called_ticket_back_at_its_place(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    first = await kit.take("SCJG-001")
    second = await kit.take("SCJG-001")
    assert (await kit.call("A01")).json()["id"] == first["id"]
    out = await kit.client.post(f"/halls/{kit.code}/windows/A01/sign-out", headers=kit.clerk("A01"))
    assert out.status_code == 200 and out.json()["state"] == "closed" and out.json()["staff_name"] is None
    back = (await kit.client.get(f"/tickets/{first['id']}")).json()
    assert back["status"] == "waiting" and back["window"] is None and back["position"] == 1
    assert (await kit.client.get(f"/tickets/{second['id']}")).json()["position"] == 2
    await kit.window("A01", "A", ["SCJG-001"])  # signs in again
    assert (await kit.call("A01")).json()["id"] == first["id"]
