"""Issue 13, finding 1: results collected in the wrong hall.

An issuance clerk of hall B, knowing only a receipt's tracking code, read hall A's pickup, transferred it
to hall B and handed it over with ``id_check`` = the last 4 characters the screen had just shown. Now only
the hall where the results wait reads, hands over or posts them; a transfer is asked for by the holder or
that hall, to a known open hall; the collector proves who they are with the full ID number or a one-time
pickup code sent to the holder, and failed checks lock the pickup out (against the real DB and broker).
"""

import asyncio

import httpx
import pytest
from sqlalchemy import select

from services.issuance.models import PickupCode
from tests.issuance.issuance_helpers import (
    HALL,
    OTHER_HALL,
    Issuance,
    known_halls,
    person,
    released_application,
)

CLOSED_HALL = "SEC-CLOSED"


@pytest.fixture(scope="module")
def iss(issuance: httpx.AsyncClient) -> Issuance:
    return Issuance(issuance)


@pytest.fixture(scope="module", autouse=True)
async def halls(iss: Issuance) -> None:
    await known_halls(iss, HALL, OTHER_HALL)
    await known_halls(iss, CLOSED_HALL, status="closed")


@pytest.fixture(scope="module")
def clerk_a(infra) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return infra.auth("issuance_clerk", halls=[HALL], sub="sec-clerk-a")


@pytest.fixture(scope="module")
def clerk_b(infra) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return infra.auth("issuance_clerk", halls=[OTHER_HALL], sub="sec-clerk-b")


async def test_the_attack_of_the_finding_fails_at_every_step(iss: Issuance, clerk_a, clerk_b) -> None:  # type: ignore[no-untyped-def]
    application_id, tracking, applicant, _ = await released_application(iss)
    read = await iss.client.get(f"/pickups/{tracking}", params={"hall": OTHER_HALL}, headers=clerk_b)
    assert read.status_code == 403 and read.json()["code"] == "wrong_hall", read.text
    assert read.json()["collect_hall"] == HALL
    assert applicant.id_number[-4:] not in read.text and "张" not in read.text  # nothing of the holder
    scanned = await iss.client.post("/pickups/scan", json={"hall": OTHER_HALL, "qr": tracking}, headers=clerk_b)
    assert scanned.status_code == 403 and scanned.json()["code"] == "wrong_hall"
    pulled = await iss.client.post(f"/pickups/{tracking}/transfer", json={"to_hall": OTHER_HALL}, headers=clerk_b)
    assert pulled.status_code == 403 and pulled.json()["code"] == "wrong_hall", pulled.text
    mailed = await iss.client.post(f"/pickups/{tracking}/mail", headers=clerk_b, json={
        "hall": OTHER_HALL, "carrier": "EMS", "tracking_no": "EA123456789CN"})
    assert mailed.status_code == 403
    code = await iss.client.post(f"/pickups/{tracking}/pickup-code", json={"hall": OTHER_HALL}, headers=clerk_b)
    assert code.status_code == 403
    # even at the right hall, the last 4 characters the screen shows are no identity check
    last4 = await iss.client.post(f"/pickups/{tracking}/handover", headers=clerk_a,
                                  json={"hall": HALL, "id_number": applicant.id_number[-4:]})
    assert last4.status_code == 422 and last4.json()["errors"][0]["field"] == "id_number", last4.text
    old_field = await iss.client.post(f"/pickups/{tracking}/handover", headers=clerk_a,
                                      json={"hall": HALL, "id_check": applicant.id_number[-4:]})
    assert old_field.status_code == 422
    both = await iss.client.post(f"/pickups/{tracking}/handover", headers=clerk_a,
                                 json={"hall": HALL, "id_number": applicant.id_number, "pickup_code": "123456"})
    assert both.status_code == 422
    masked = (await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk_a)).json()
    assert masked["holder_id"] != applicant.id_number
    app = await iss.application(application_id)
    assert app is not None and (app.status, app.collect_hall) == ("ready", HALL)
    assert await iss.events(application_id, "delivery.transferred") == []


async def test_the_holder_may_move_their_results_and_no_one_else(iss: Issuance, infra, clerk_a, clerk_b) -> None:  # type: ignore[no-untyped-def]
    application_id, tracking, applicant, _ = await released_application(iss)
    stranger = infra.auth("applicant", sub=person().id_number)
    theirs = await iss.client.post(f"/pickups/{tracking}/transfer", json={"to_hall": OTHER_HALL}, headers=stranger)
    assert theirs.status_code == 404  # someone else's results: not even that they exist
    holder = infra.auth("applicant", sub=applicant.id_number)
    for target, reason in (("NOWHERE-1", "unknown hall"), (CLOSED_HALL, "closed down")):
        refused = await iss.client.post(f"/pickups/{tracking}/transfer", json={"to_hall": target}, headers=holder)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "to_hall", refused.text
        assert reason in refused.json()["errors"][0]["message"]
    moved = await iss.client.post(f"/pickups/{tracking}/transfer", json={"to_hall": OTHER_HALL}, headers=holder)
    assert moved.status_code == 200 and moved.json()["collect_hall"] == OTHER_HALL, moved.text
    [event] = await iss.events(application_id, "delivery.transferred")
    assert event["payload"]["requested_by"] == "holder"
    # now hall A is the wrong hall, and hall B (where they wait) may act
    assert (await iss.client.get(f"/pickups/{tracking}", params={"hall": HALL}, headers=clerk_a)).status_code == 403
    done = await iss.client.post(f"/pickups/{tracking}/handover", headers=clerk_b,
                                 json={"hall": OTHER_HALL, "id_number": applicant.id_number})
    assert done.status_code == 200 and done.json()["status"] == "collected", done.text


async def _code_sent(iss: Issuance, application_id: str, count: int) -> str:
    """The code in the latest pickup-code notification (as the holder's phone receives it)."""
    notices = [e for e in await iss.events(application_id, "notification.requested")
               if e["payload"]["template"] == "pickup_code"]
    assert len(notices) == count
    return str(notices[-1]["payload"]["params"]["code"])


async def test_a_pickup_code_sent_to_the_holder_hands_over_once(iss: Issuance, clerk_a) -> None:  # type: ignore[no-untyped-def]
    application_id, tracking, _, _ = await released_application(iss)
    sent = await iss.client.post(f"/pickups/{tracking}/pickup-code", json={"hall": HALL}, headers=clerk_a)
    assert sent.status_code == 202, sent.text
    assert sent.json()["channel"] == "sms" and sent.json()["recipient"] == "139****5678"
    code = await _code_sent(iss, application_id, 1)
    assert len(code) == 6 and code not in sent.text
    async with iss.runtime.sessionmaker() as session:
        stored = (await session.execute(select(PickupCode).where(PickupCode.application_id == application_id))).scalar_one()
    assert code not in stored.code_hash  # only the hash is kept
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    miss = await iss.client.post(f"/pickups/{tracking}/handover", json={"hall": HALL, "pickup_code": wrong},
                                 headers=clerk_a)
    assert miss.status_code == 422 and "4 tries left" in miss.json()["errors"][0]["message"], miss.text
    done = await iss.client.post(f"/pickups/{tracking}/handover", json={"hall": HALL, "pickup_code": code},
                                 headers=clerk_a)
    assert done.status_code == 200 and done.json()["status"] == "collected", done.text
    checks = await iss.client.get(f"/pickups/{tracking}/checks", params={"hall": HALL}, headers=clerk_a)
    assert [(c["method"], c["outcome"]) for c in checks.json()] == [
        ("code_request", "sent"), ("pickup_code", "failed"), ("pickup_code", "passed")]
    assert {c["clerk"] for c in checks.json()} == {"sec-clerk-a"}


async def test_a_code_is_void_after_five_wrong_tries_and_a_new_one_replaces_it(iss: Issuance, clerk_a) -> None:  # type: ignore[no-untyped-def]
    application_id, tracking, _, _ = await released_application(iss)
    assert (await iss.client.post(f"/pickups/{tracking}/pickup-code", json={"hall": HALL},
                                  headers=clerk_a)).status_code == 202
    code = await _code_sent(iss, application_id, 1)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        miss = await iss.client.post(f"/pickups/{tracking}/handover", json={"hall": HALL, "pickup_code": wrong},
                                     headers=clerk_a)
        assert miss.status_code == 422, miss.text
    # the right code no longer works: five checks failed (429 lock-out), and the code is tried out
    late = await iss.client.post(f"/pickups/{tracking}/handover", json={"hall": HALL, "pickup_code": code},
                                 headers=clerk_a)
    assert late.status_code == 429 and late.json()["code"] == "too_many_checks", late.text
    assert 1 <= int(late.headers["Retry-After"]) <= 900
    app = await iss.application(application_id)
    assert app is not None and app.status == "ready"
    async with iss.runtime.sessionmaker() as session:
        stored = (await session.execute(select(PickupCode).where(PickupCode.application_id == application_id))).scalar_one()
    assert stored.tries == 5 and stored.used_at is None


async def test_failed_checks_lock_the_pickup_out_even_when_fired_together(iss: Issuance, clerk_a) -> None:  # type: ignore[no-untyped-def]
    application_id, tracking, applicant, _ = await released_application(iss)
    guesses = [person().id_number for _ in range(12)]
    answers = await asyncio.gather(*[
        iss.client.post(f"/pickups/{tracking}/handover", json={"hall": HALL, "id_number": guess}, headers=clerk_a)
        for guess in guesses])
    codes = sorted(a.status_code for a in answers)
    assert codes == [422] * 5 + [429] * 7, [a.text for a in answers]  # exactly five compared, none more
    # the holder's own number is blocked too until the window passes
    right = await iss.client.post(f"/pickups/{tracking}/handover", json={"hall": HALL, "id_number": applicant.id_number},
                                  headers=clerk_a)
    assert right.status_code == 429
    checks = await iss.client.get(f"/pickups/{tracking}/checks", params={"hall": HALL}, headers=clerk_a)
    assert [c["outcome"] for c in checks.json()] == ["failed"] * 5


async def test_pickup_codes_per_hour_are_limited(iss: Issuance, clerk_a) -> None:  # type: ignore[no-untyped-def]
    application_id, tracking, _, _ = await released_application(iss)
    answers = [await iss.client.post(f"/pickups/{tracking}/pickup-code", json={"hall": HALL}, headers=clerk_a)
               for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429], [a.text for a in answers]
    assert answers[-1].json()["code"] == "too_many_pickup_codes" and int(answers[-1].headers["Retry-After"]) > 0
    notices = [e["payload"]["params"]["code"] for e in await iss.events(application_id, "notification.requested")
               if e["payload"]["template"] == "pickup_code"]
    assert len(notices) == 3
    first, last = notices[0], notices[-1]
    if first != last:  # (one in a million they are equal) a new code replaces the one before
        replaced = await iss.client.post(f"/pickups/{tracking}/handover", json={"hall": HALL, "pickup_code": first},
                                         headers=clerk_a)
        assert replaced.status_code == 422, replaced.text
    done = await iss.client.post(f"/pickups/{tracking}/handover", json={"hall": HALL, "pickup_code": last},
                                 headers=clerk_a)
    assert done.status_code == 200, done.text
