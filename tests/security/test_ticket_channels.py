"""Issue 13, finding 4: one anonymous client flooded a queue (``POST /halls/{hall}/tickets`` was public).

Now kiosks carry a device token of their hall (with a per-device budget), applicants log in (a cap of
waiting web tickets per day), anonymous web visitors bring a single-use captcha proof signed by the
integrator, and clerks issue numbers for walk-ins at the counter.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import select

from services.ticketing import channels
from services.ticketing.models import Ticket
from shared.auth import RateLimiter
from tests.ticketing.conftest import new_hall, remember_matter

MATTER = "SECCH-001"
PROOF_SECRET = "integrator-captcha-secret-0123456789abcdef"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def hall(ticketing: httpx.AsyncClient, infra) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """A hall open round the clock with one window serving MATTER (the matter in the read model)."""
    previous = getattr(ticketing.app.state, "rate_limiter", None)
    ticketing.app.state.rate_limiter = RateLimiter(1_000_000)  # the per-address limit is not under test here
    await remember_matter(ticketing, MATTER, name="渠道测试事项")
    kit = await new_hall(ticketing, infra, name="渠道测试大厅", closes_at="00:00:00")
    await kit.window("W1", "A", [MATTER], sign_in=False)
    code = kit.code
    yield code
    ticketing.app.state.rate_limiter = previous


@pytest.fixture
def proofs_accepted(ticketing: httpx.AsyncClient) -> Iterator[str]:
    """The service configured with TICKETING_WEB_PROOF_SECRET (the session app has none)."""
    settings = ticketing.app.state.runtime.settings
    previous = settings.web_proof_secret
    settings.web_proof_secret = SecretStr(PROOF_SECRET)
    yield PROOF_SECRET
    settings.web_proof_secret = previous


def _proof(hall: str, *, secret: str = PROOF_SECRET, ttl: int = 300, nonce: str | None = None) -> str:
    """A proof as the integrator's captcha service issues it."""
    nonce = nonce or uuid.uuid4().hex
    expiry = int(time.time()) + ttl
    return f"{nonce}.{expiry}.{channels.proof_mac(secret, nonce=nonce, expiry=expiry, hall=hall)}"


def _take(client: httpx.AsyncClient, hall: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.post(f"/halls/{hall}/tickets", json={"matter_code": MATTER}, headers=headers or {})


async def _stored(client: httpx.AsyncClient, ticket_id: str) -> Ticket:
    async with client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        row = (await session.execute(select(Ticket).where(Ticket.id == uuid.UUID(ticket_id)))).scalar_one()
        return row


async def test_anonymous_and_other_callers_cannot_take_a_number(ticketing, infra, hall) -> None:  # type: ignore[no-untyped-def]
    anonymous = await _take(ticketing, hall)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    other_kiosk = await _take(ticketing, hall, infra.auth("kiosk", sub="kiosk:elsewhere", halls=["ELSEWHERE"]))
    assert other_kiosk.status_code == 403, other_kiosk.text
    other_clerk = await _take(ticketing, hall, infra.auth("clerk", sub="clerk-elsewhere", halls=["ELSEWHERE"]))
    assert other_clerk.status_code == 403, other_clerk.text
    display = await _take(ticketing, hall, infra.auth("display", sub="display:1", halls=[hall]))
    assert display.status_code == 403, display.text


async def test_each_caller_takes_numbers_through_its_channel(ticketing, infra, hall) -> None:  # type: ignore[no-untyped-def]
    kiosk = await _take(ticketing, hall, infra.auth("kiosk", sub="kiosk:k1", halls=[hall]))
    assert kiosk.status_code == 201, kiosk.text
    assert kiosk.json()["channel"] == "kiosk"
    clerk = await _take(ticketing, hall, infra.auth("clerk", sub="clerk-walk-in", halls=[hall]))
    assert clerk.status_code == 201 and clerk.json()["channel"] == "window", clerk.text
    applicant_id = "110101199003071234"
    web = await _take(ticketing, hall, infra.auth("applicant", sub=applicant_id))
    assert web.status_code == 201 and web.json()["channel"] == "web", web.text
    assert (await _stored(ticketing, web.json()["id"])).applicant_id == applicant_id
    assert (await _stored(ticketing, kiosk.json()["id"])).applicant_id is None


async def test_a_kiosk_device_has_a_budget_per_minute(ticketing, infra, hall) -> None:  # type: ignore[no-untyped-def]
    state = ticketing.app.state
    previous = getattr(state, "kiosk_rate_limiter", None)
    # made afresh from the settings (tests/ticketing installs a huge one)
    state.kiosk_rate_limiter = channels.kiosk_limiter(state.runtime.settings)
    budget = state.runtime.settings.kiosk_tickets_per_minute
    assert budget == 30
    device = infra.auth("kiosk", sub=f"kiosk:flood-{uuid.uuid4().hex[:6]}", halls=[hall])
    try:
        answers = [await _take(ticketing, hall, device) for _ in range(budget)]
        assert [a.status_code for a in answers] == [201] * budget
        refused = await _take(ticketing, hall, device)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["content-type"].startswith("application/problem+json")
        # another device of the hall has its own budget
        other = await _take(ticketing, hall, infra.auth("kiosk", sub="kiosk:k2", halls=[hall]))
        assert other.status_code == 201, other.text
    finally:
        state.kiosk_rate_limiter = previous


async def test_an_applicant_holds_at_most_two_waiting_web_tickets(ticketing, infra, hall) -> None:  # type: ignore[no-untyped-def]
    me = infra.auth("applicant", sub="110101199003075555")
    assert [(await _take(ticketing, hall, me)).status_code for _ in range(2)] == [201, 201]
    third = await _take(ticketing, hall, me)
    assert third.status_code == 409 and third.json()["code"] == "web_ticket_limit", third.text
    someone_else = await _take(ticketing, hall, infra.auth("applicant", sub="110101199003076666"))
    assert someone_else.status_code == 201


async def test_concurrent_web_tickets_cannot_pass_the_cap_together(ticketing, infra, hall) -> None:  # type: ignore[no-untyped-def]
    me = infra.auth("applicant", sub="110101199003078888")
    answers = await asyncio.gather(*(_take(ticketing, hall, me) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409]


async def test_proofs_are_refused_when_no_secret_is_configured(ticketing, hall) -> None:  # type: ignore[no-untyped-def]
    answer = await ticketing.post(f"/halls/{hall}/web-tickets", json={"matter_code": MATTER, "proof": _proof(hall)})
    assert answer.status_code == 403 and answer.json()["code"] == "proofs_not_accepted", answer.text


async def test_a_captcha_proof_takes_one_web_ticket_once(ticketing, hall, proofs_accepted) -> None:  # type: ignore[no-untyped-def]
    proof = _proof(hall)
    first = await ticketing.post(f"/halls/{hall}/web-tickets", json={"matter_code": MATTER, "proof": proof})
    assert first.status_code == 201, first.text
    assert first.json()["channel"] == "web" and first.json()["rating_secret"]
    replay = await ticketing.post(f"/halls/{hall}/web-tickets", json={"matter_code": MATTER, "proof": proof})
    assert replay.status_code == 403 and replay.json()["code"] == "proof_used", replay.text
    # a proof spent on a request that failed is not used up
    unusable = _proof(hall)
    failed = await ticketing.post(f"/halls/{hall}/web-tickets", json={"matter_code": "NOPE-404", "proof": unusable})
    assert failed.status_code == 422, failed.text
    retried = await ticketing.post(f"/halls/{hall}/web-tickets", json={"matter_code": MATTER, "proof": unusable})
    assert retried.status_code == 201, retried.text


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("forged", "proof_invalid"),
        ("other hall", "proof_invalid"),
        ("expired", "proof_expired"),
        ("too far ahead", "proof_invalid"),
        ("malformed", "proof_invalid"),
        ("tampered expiry", "proof_invalid"),
    ],
)
async def test_bad_proofs_are_refused(ticketing, hall, proofs_accepted, case: str, code: str) -> None:  # type: ignore[no-untyped-def]
    proof = {
        "forged": lambda: _proof(hall, secret="not-the-integrator-secret-0123456789"),
        "other hall": lambda: _proof("ANOTHER-HALL"),
        "expired": lambda: _proof(hall, ttl=-5),
        "too far ahead": lambda: _proof(hall, ttl=3600),
        "malformed": lambda: "hello",
        "tampered expiry": lambda: _bump_expiry(_proof(hall)),
    }[case]()
    answer = await ticketing.post(f"/halls/{hall}/web-tickets", json={"matter_code": MATTER, "proof": proof})
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == code and answer.headers["content-type"].startswith("application/problem+json")


def _bump_expiry(proof: str) -> str:
    nonce, expiry, mac = proof.split(".")
    return f"{nonce}.{int(expiry) + 60}.{mac}"
