"""Staff tokens carry the account's staff number (工号) and unit, for the window pad."""

import json
from pathlib import Path

import jwt
import pytest

from services.identity.staff import load_staff
from services.ticketing.seed import demo_halls
from shared.auth import Principal

DEMO_PASSWORD = "onewindow-demo-2026"
SEED = Path(__file__).resolve().parents[2] / "services" / "identity" / "seed" / "staff.json"


async def login(identity, username: str) -> str:
    answer = await identity.post("/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


async def test_a_clerk_token_carries_staff_number_and_unit(identity) -> None:
    token = await login(identity, "clerk.zs")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["staff_no"] == "ZS0101" and claims["unit"] == "市行政服务中心综合受理窗口"
    me = (await identity.get("/auth/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert (me["staff_no"], me["unit"]) == ("ZS0101", "市行政服务中心综合受理窗口")


async def test_a_device_account_has_none(identity) -> None:
    token = await login(identity, "kiosk.zs-01")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert "staff_no" not in claims and "unit" not in claims
    me = (await identity.get("/auth/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["staff_no"] is None and me["unit"] is None


async def test_the_claims_reach_the_window_pad(identity, ticketing, infra) -> None:
    token = await login(identity, "clerk.zs")
    admin = infra.auth("hall_admin", halls=["ZS-CITY"])
    demo = next(h for h in demo_halls() if h["code"] == "ZS-CITY")  # as make run loads it
    assert (await ticketing.put("/halls/ZS-CITY", headers=admin, json=demo["hall"])).status_code == 200
    window = await ticketing.put("/halls/ZS-CITY/windows/T901", headers=admin, json={"zone": "A", "skills": ["X-1"]})
    assert window.status_code == 200, window.text
    signed = await ticketing.post("/halls/ZS-CITY/windows/T901/sign-in", headers={"Authorization": f"Bearer {token}"})
    assert signed.status_code == 200, signed.text
    pad = await ticketing.get("/halls/ZS-CITY/windows/T901/pad")
    assert (pad.json()["staff_no"], pad.json()["staff_unit"]) == ("ZS0101", "市行政服务中心综合受理窗口")
    assert "clerk.zs" not in pad.text  # never the account
    out = await ticketing.post("/halls/ZS-CITY/windows/T901/sign-out", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 200, out.text


def test_principal_fields_default_to_none() -> None:
    principal = Principal(sub="x", roles=frozenset({"clerk"}))
    assert principal.staff_no is None and principal.unit is None


@pytest.mark.parametrize("staff_no", ["", "工号1", "A" * 21, "-12"])
def test_a_malformed_staff_number_in_the_seed_is_refused(tmp_path, staff_no: str) -> None:
    seed = json.loads(SEED.read_text(encoding="utf-8"))
    seed["accounts"][0]["staff_no"] = staff_no
    path = tmp_path / "staff.json"
    path.write_text(json.dumps(seed, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="staff_no"):
        load_staff(path=str(path))
    assert load_staff(path=str(SEED))["clerk.zs"].staff_no == "ZS0101"
