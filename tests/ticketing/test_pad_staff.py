"""The window pad shows who serves: name, staff number (工号) and unit, never the account id."""

import pytest

from tests.ticketing.conftest import HallKit, new_hall


@pytest.fixture(scope="module")
async def hall(tk, infra) -> HallKit:
    kit = await new_hall(tk, infra)
    for code in ("A01", "A02", "A03", "A04"):
        await kit.window(code, "A", ["SCJG-001"], sign_in=False)
    return kit


def clerk(hall: HallKit, sub: str, **claims: str) -> dict[str, str]:
    return hall.infra.auth("clerk", halls=[hall.code], sub=sub, name="李晓红", **claims)


async def pad(hall: HallKit, window: str) -> dict:
    response = await hall.client.get(f"/halls/{hall.code}/windows/{window}/pad")
    assert response.status_code == 200, response.text
    return response.json()


async def test_staff_number_and_unit_from_the_token_show_on_the_pad(hall: HallKit) -> None:
    sub = f"acct-{hall.code}-a01"
    headers = clerk(hall, sub, staff_no="ZS0107", unit="市行政服务中心综合受理窗口")
    signed = await hall.client.post(f"/halls/{hall.code}/windows/A01/sign-in", headers=headers,
                                    json={"photo_url": "https://example/p.jpg"})
    assert signed.status_code == 200, signed.text
    assert signed.json()["staff_no"] == "ZS0107"
    response = await hall.client.get(f"/halls/{hall.code}/windows/A01/pad")
    shown = response.json()
    assert shown["state"] == "open" and shown["staff_name"] == "李晓红"
    assert shown["staff_no"] == "ZS0107" and shown["staff_unit"] == "市行政服务中心综合受理窗口"
    assert sub not in response.text  # the account id is never on a public pad
    # hall administration sees the same on the window list
    windows = (await hall.client.get(f"/halls/{hall.code}/windows", headers=hall.admin)).json()
    a01 = next(w for w in windows if w["code"] == "A01")
    assert (a01["staff_no"], a01["staff_unit"]) == ("ZS0107", "市行政服务中心综合受理窗口")
    # signing out clears them
    out = await hall.client.post(f"/halls/{hall.code}/windows/A01/sign-out", headers=headers)
    assert out.status_code == 200, out.text
    closed = await pad(hall, "A01")
    assert closed["state"] == "closed" and closed["staff_no"] is None and closed["staff_unit"] is None


async def test_a_token_without_them_takes_staff_number_and_unit_from_the_body(hall: HallKit) -> None:
    headers = clerk(hall, f"acct-{hall.code}-a02")  # e.g. an OIDC provider without these claims
    signed = await hall.client.post(f"/halls/{hall.code}/windows/A02/sign-in", headers=headers,
                                    json={"staff_name": "李晓红", "staff_no": "DL-0042", "unit": "市市场监督管理局"})
    assert signed.status_code == 200, signed.text
    shown = await pad(hall, "A02")
    assert (shown["staff_name"], shown["staff_no"], shown["staff_unit"]) == ("李晓红", "DL-0042", "市市场监督管理局")


async def test_a_body_that_contradicts_the_token_is_refused_and_nothing_stored(hall: HallKit) -> None:
    headers = clerk(hall, f"acct-{hall.code}-a03", staff_no="ZS0108")
    refused = await hall.client.post(f"/halls/{hall.code}/windows/A03/sign-in", headers=headers,
                                     json={"staff_no": "ZS9999"})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["staff_no"]
    assert (await pad(hall, "A03"))["state"] == "closed"
    # the same number as the token's is fine
    same = await hall.client.post(f"/halls/{hall.code}/windows/A03/sign-in", headers=headers,
                                  json={"staff_no": "ZS0108"})
    assert same.status_code == 200 and (await pad(hall, "A03"))["staff_no"] == "ZS0108"


@pytest.mark.parametrize("body", [{"staff_no": "<b>1</b>"}, {"staff_no": "X" * 21}, {"staff_no": ""},
                                  {"unit": ""}, {"unit": "局" * 101}])
async def test_malformed_staff_number_or_unit_is_a_field_error(hall: HallKit, body: dict) -> None:
    headers = clerk(hall, f"acct-{hall.code}-a04")
    refused = await hall.client.post(f"/halls/{hall.code}/windows/A04/sign-in", headers=headers, json=body)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == list(body)
    assert (await pad(hall, "A04"))["state"] == "closed"


async def test_an_oversized_token_claim_is_ignored_not_stored(hall: HallKit) -> None:
    headers = clerk(hall, f"acct-{hall.code}-a04b", staff_no="9" * 30)
    await hall.window("A05", "A", ["SCJG-001"], sign_in=False)
    signed = await hall.client.post(f"/halls/{hall.code}/windows/A05/sign-in", headers=headers)
    assert signed.status_code == 200, signed.text
    assert (await pad(hall, "A05"))["staff_no"] is None
