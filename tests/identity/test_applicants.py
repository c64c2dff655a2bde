"""Applicants log in with a one-time code sent to the mobile number they gave on an accepted application."""

import uuid
from datetime import UTC, datetime

import jwt

from shared.events.applications import Applicant, ApplicationAccepted
from shared.infra import wait_for
from shared.validators import id_number_check_digit

MOBILE = "13912345678"


def _id_number() -> str:
    first17 = f"110105198{uuid.uuid4().int % 10}0101{uuid.uuid4().int % 1000:03d}"
    return first17 + id_number_check_digit(first17)


async def _accepted(identity, *, id_number: str, mobile: str) -> None:  # type: ignore[no-untyped-def]
    """Publish application.accepted through the real broker (staged in identity's own outbox)."""
    runtime = identity.app.state.runtime
    event = ApplicationAccepted(
        application_id=uuid.uuid4().hex,
        application_no="A-1",
        hall="ZS-CITY",
        collect_hall="ZS-CITY",
        channel="counter",
        catalog_version=1,
        applicant=Applicant(type="natural_person", id_number=id_number, name="张三", mobile=mobile),
        values={},
        items=[],
        accepted_at=datetime.now(UTC),
    )
    async with runtime.sessionmaker() as session, session.begin():
        await runtime.outbox.add(session, event)
    runtime.relay.wake()


async def _ask(identity, id_number: str, mobile: str = MOBILE):  # type: ignore[no-untyped-def]
    return await identity.post("/auth/applicant/code", json={"id_number": id_number, "mobile": mobile})


async def test_code_login_gives_an_applicant_token_for_their_own_id(identity) -> None:
    id_number = _id_number()
    await _accepted(identity, id_number=id_number, mobile=MOBILE)
    sender = identity.app.state.code_sender

    async def code_sent():  # type: ignore[no-untyped-def]
        sender.codes.pop(MOBILE, None)
        answer = await _ask(identity, id_number)
        return (
            answer.json()["challenge_id"] if answer.status_code == 202 and sender.last_code(MOBILE) else None
        )

    challenge = await wait_for(code_sent, timeout=30, interval=2.1, message="contact learnt and code sent")
    code = sender.last_code(MOBILE)
    body = {"challenge_id": challenge, "id_number": id_number, "mobile": MOBILE, "code": code}
    answer = await identity.post("/auth/applicant/token", json=body)
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == id_number and claims["roles"] == ["applicant"] and claims["halls"] == []
    assert (await identity.post("/auth/applicant/token", json=body)).status_code == 401  # single use


async def test_unknown_number_gets_the_same_answer_but_no_code(identity) -> None:
    id_number = _id_number()
    sender = identity.app.state.code_sender
    answer = await _ask(identity, id_number, "13700000000")
    assert answer.status_code == 202 and set(answer.json()) == {"challenge_id", "expires_in", "resend_after"}
    assert sender.last_code("13700000000") is None
    for code in ("000000", "123456"):
        body = {
            "challenge_id": answer.json()["challenge_id"],
            "id_number": id_number,
            "mobile": "13700000000",
            "code": code,
        }
        assert (await identity.post("/auth/applicant/token", json=body)).status_code == 401


async def test_wrong_codes_exhaust_the_challenge(identity) -> None:
    id_number = _id_number()
    await _accepted(identity, id_number=id_number, mobile="13612345678")
    sender = identity.app.state.code_sender

    async def code_sent():  # type: ignore[no-untyped-def]
        answer = await _ask(identity, id_number, "13612345678")
        return (
            answer.json()["challenge_id"]
            if answer.status_code == 202 and sender.last_code("13612345678")
            else None
        )

    challenge = await wait_for(code_sent, timeout=30, interval=2.1, message="code sent")
    right = sender.last_code("13612345678")
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    body = {"challenge_id": challenge, "id_number": id_number, "mobile": "13612345678"}
    for _ in range(5):
        assert (await identity.post("/auth/applicant/token", json=body | {"code": wrong})).status_code == 401
    assert (await identity.post("/auth/applicant/token", json=body | {"code": right})).status_code == 401


async def test_asking_again_too_soon_is_throttled(identity) -> None:
    id_number = _id_number()
    assert (await _ask(identity, id_number, "13512345678")).status_code == 202
    again = await _ask(identity, id_number, "13512345678")
    assert again.status_code == 429 and int(again.headers["Retry-After"]) >= 1


async def test_bad_identifiers_are_field_errors(identity) -> None:
    answer = await _ask(identity, "110105194912310021", "12345678901")
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"id_number", "mobile"}
