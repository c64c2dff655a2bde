"""The in-process copies of windows and matters (services/ticketing/snapshots.py): once warm, they never serve
a window that was deactivated, re-skilled or signed out, or a matter the catalogue changed, whichever way the
change reached the database (admin route, sign-out, the catalogue consumer, plain SQL)."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import text

from services.ticketing import catalog, halls
from shared.events.catalog import MatterPublished
from tests.ticketing.conftest import new_hall, remember_matter


async def test_a_window_taken_out_of_service_is_no_longer_routed_to(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    await kit.window("B01", "B", ["SCJG-001"])
    zones = {(await kit.take("SCJG-001"))["zone"] for _ in range(4)}
    assert zones == {"A", "B"}  # the copy is warm and has both zones
    # deactivated through the admin route: every later number goes to B
    response = await tk.put(f"/halls/{kit.code}/windows/A01", headers=kit.admin,
                            json={"zone": "A", "name": "A01号窗", "skills": ["SCJG-001"], "active": False})
    assert response.status_code == 200, response.text
    assert {(await kit.take("SCJG-001"))["zone"] for _ in range(4)} == {"B"}
    # re-skilled (no longer serves the matter): no zone is left, 422
    response = await tk.put(f"/halls/{kit.code}/windows/B01", headers=kit.admin,
                            json={"zone": "B", "name": "B01号窗", "skills": ["RS-001"]})
    assert response.status_code == 200, response.text
    refused = await tk.post(f"/halls/{kit.code}/tickets", json={"matter_code": "SCJG-001"}, headers=kit.kiosk)
    assert refused.status_code == 422 and refused.json()["code"] == "matter_not_served", refused.text


async def test_a_sign_out_and_plain_sql_move_the_hall_stamp(tk, infra) -> None:
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", ["SCJG-001"])
    copies, runtime = tk.app.state.snapshots, tk.app.state.runtime
    await kit.take("SCJG-001")

    async def window_state() -> tuple[int, str]:
        async with runtime.sessionmaker() as session:
            hall = await halls.require_hall(session, code=kit.code)
            (window,) = await copies.windows(session, hall=hall, matters=await copies.matters(session))
            return hall.windows_stamp, window.state

    stamp, state = await window_state()
    assert state == "open"
    signed_out = await tk.post(f"/halls/{kit.code}/windows/A01/sign-out", headers=kit.clerk("A01"))
    assert signed_out.status_code == 200, signed_out.text
    after_sign_out, state = await window_state()
    assert after_sign_out > stamp and state == "closed"
    async with runtime.engine.begin() as conn:  # a change no route made
        await conn.execute(text("UPDATE ticketing.windows SET state = 'paused' WHERE hall = :h"), {"h": kit.code})
    after_sql, state = await window_state()
    assert after_sql > after_sign_out and state == "paused"


async def test_a_newer_catalogue_version_of_a_matter_is_seen_at_once(tk, infra) -> None:
    code = f"TST-{uuid.uuid4().hex[:8].upper()}"
    await remember_matter(tk, code, minutes=10)
    copies, runtime = tk.app.state.snapshots, tk.app.state.runtime
    async with runtime.sessionmaker() as session:
        before, _ = await catalog.require_matter(session, code=code, snapshots=copies)
    newer = MatterPublished(catalog_version=before.catalog_version + 1, code=code, name=f"{code} 新名称",
                            department=before.department, category=before.category, zone="C",
                            applicant_type="natural_person", legal_limit_working_days=5,
                            promised_limit_working_days=3, avg_handling_minutes=17, daily_share_weight=1.0,
                            published_at=datetime.now(UTC))
    async with runtime.sessionmaker() as session, session.begin():
        await catalog.upsert_matter(session, event=newer)
    async with runtime.sessionmaker() as session:
        after, matters = await catalog.require_matter(session, code=code, snapshots=copies)
    assert (before.zone, before.avg_handling_minutes) == ("A", 10)
    assert (after.zone, after.avg_handling_minutes, after.name) == ("C", 17, f"{code} 新名称")
    assert matters[code] is after
    # a matter removed from the read model by hand is gone from the copy as well
    async with runtime.engine.begin() as conn:
        await conn.execute(text("DELETE FROM ticketing.matters WHERE code = :c"), {"c": code})
    async with runtime.sessionmaker() as session:
        assert code not in await copies.matters(session)
