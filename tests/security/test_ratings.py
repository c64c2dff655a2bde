"""Issue 13, finding 10: the ticket id was the only credential of ``POST /tickets/{id}/rating``, and the
public pad and display stream show it: an outsider rated first.

Now the issue response alone carries a random rating secret (only its hash is stored); the rating
needs it, and a wrong one is a 403 that uses nothing up.
"""

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import select

from services.ticketing.models import Ticket
from shared.auth import RateLimiter
from tests.ticketing.conftest import new_hall, remember_matter

MATTER = "SECRT-001"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def hall(ticketing: httpx.AsyncClient, infra) -> AsyncIterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """A hall with window W1 staffed by a clerk, serving MATTER."""
    previous = getattr(ticketing.app.state, "rate_limiter", None)
    ticketing.app.state.rate_limiter = RateLimiter(1_000_000)
    await remember_matter(ticketing, MATTER, name="评价测试事项")
    kit = await new_hall(ticketing, infra, name="评价测试大厅", closes_at="00:00:00")
    await kit.window("W1", "A", [MATTER])
    code, clerk = kit.code, kit.clerk("W1")
    yield {"code": code, "clerk": clerk, "kiosk": infra.auth("kiosk", sub=f"kiosk:{code}", halls=[code])}
    ticketing.app.state.rate_limiter = previous


async def test_only_the_slip_s_secret_rates_and_no_public_view_shows_it(ticketing, hall) -> None:  # type: ignore[no-untyped-def]
    code = hall["code"]
    taken = await ticketing.post(f"/halls/{code}/tickets", json={"matter_code": MATTER}, headers=hall["kiosk"])
    assert taken.status_code == 201, taken.text
    ticket = taken.json()
    secret = ticket["rating_secret"]
    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) >= 16  # at least 128 bits
    called = await ticketing.post(f"/halls/{code}/windows/W1/call-next", headers=hall["clerk"])
    assert called.status_code == 200 and called.json()["id"] == ticket["id"]

    # what anybody in the hall sees: the pad shows the ticket id, the board streams it
    pad = await ticketing.get(f"/halls/{code}/windows/W1/pad")
    assert pad.status_code == 200 and pad.json()["ticket"]["id"] == ticket["id"]
    stream = await ticketing.get(f"/halls/{code}/display/stream", params={"limit": 1, "backlog": 1})
    assert ticket["id"] in stream.text
    public = [pad, stream, await ticketing.get(f"/tickets/{ticket['id']}"), await ticketing.get(f"/halls/{code}/queue"),
              await ticketing.get(f"/halls/{code}/display"), called]
    for answer in public:
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text and "rating_secret" not in answer.text, answer.request.url
    async with ticketing.app.state.runtime.sessionmaker() as session:
        row = (await session.execute(select(Ticket).where(Ticket.id == uuid.UUID(ticket["id"])))).scalar_one()
    assert row.rating_secret_hash is not None and secret not in row.rating_secret_hash  # only a hash is kept

    # the outsider who read the id on the pad
    rate = f"/tickets/{ticket['id']}/rating"
    id_only = await ticketing.post(rate, json={"score": 1})
    assert id_only.status_code == 422 and id_only.json()["errors"][0]["field"] == "rating_secret"
    for guess in ("guess", ticket["id"], secret[:-1] + ("A" if secret[-1] != "A" else "B")):
        wrong = await ticketing.post(rate, json={"score": 1, "rating_secret": guess})
        assert wrong.status_code == 403 and wrong.json()["code"] == "rating_secret_mismatch", wrong.text
    # the refused attempts used nothing up: the citizen rates with the slip
    rated = await ticketing.post(rate, json={"score": 5, "comment": "很好", "rating_secret": secret})
    assert rated.status_code == 200 and rated.json()["score"] == 5, rated.text
    again = await ticketing.post(rate, json={"score": 1, "rating_secret": secret})
    assert again.status_code == 409


async def test_a_wrong_secret_reveals_nothing_about_the_ticket(ticketing, hall) -> None:  # type: ignore[no-untyped-def]
    code = hall["code"]
    waiting = (await ticketing.post(f"/halls/{code}/tickets", json={"matter_code": MATTER},
                                    headers=hall["kiosk"])).json()
    # not served yet: the outsider gets the same 403 as for a served one, not the state (409)
    wrong = await ticketing.post(f"/tickets/{waiting['id']}/rating", json={"score": 1, "rating_secret": "x" * 32})
    assert wrong.status_code == 403
    unknown = await ticketing.post(f"/tickets/{uuid.uuid4()}/rating", json={"score": 1, "rating_secret": "x" * 32})
    assert unknown.status_code == 404
