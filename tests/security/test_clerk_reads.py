"""Issue 13, finding 2: clerks could look anyone up.

``POST /prefill`` and ``GET /forms/{code}/print`` gave any clerk of any hall the unmasked profile of any ID
number, with no application. Now a clerk's read names an application of the clerk's hall for that
applicant, confirmed with the real acceptance service (which commits a new draft before it asks forms to
prefill it); refusals are 403 and on the applicant's access log as ``refused``; a clerk reads at most
``clerk_applicants_per_hour`` different applicants in an hour.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from services.forms.reading_basis import BasisClient
from shared.testing import new_id_number
from tests.e2e.e2e_helpers import acceptance_knows

HALL, OTHER_HALL = "SEC-READ-A", "SEC-READ-B"
MATTER = "RS-001"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def linked(forms, acceptance, infra, reference_catalog) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """The catalogue published (acceptance knows the matter); forms asks this acceptance for reasons."""
    admin = infra.auth("catalog_admin")
    created = await forms.post("/catalog/versions", json=reference_catalog, headers=admin)
    assert created.status_code == 201, created.text
    published = await forms.post(f"/catalog/versions/{created.json()['version']}/publish", headers=admin)
    assert published.status_code == 200, published.text
    await acceptance_knows(acceptance, MATTER)
    state = forms.app.state
    previous = state.basis_client
    state.basis_client = BasisClient(base_url="http://acceptance", timeout=5.0, cache_seconds=60,
                                     transport=httpx.ASGITransport(app=acceptance.app))
    # acceptance's prefill calls go to this forms (make run: its URL)
    acceptance_forms = acceptance.app.state.forms_client
    previous_forms_http = acceptance_forms._client
    acceptance_forms._client = httpx.AsyncClient(base_url="http://forms", timeout=5.0,
                                                 transport=httpx.ASGITransport(app=forms.app))
    # failures earlier tests caused on the unreachable forms (acceptance tests' 127.0.0.1:9) do not count
    # against this one: the breaker starts closed (it stays open 10 s, longer than a fast suite takes)
    acceptance_forms.failures = 0
    yield
    await state.basis_client.aclose()
    state.basis_client = previous
    await acceptance_forms._client.aclose()
    acceptance_forms._client = previous_forms_http


async def _draft(acceptance: httpx.AsyncClient, clerk: dict[str, str], person: str) -> dict[str, Any]:
    opened = await acceptance.post("/applications", headers=clerk, json={
        "hall": HALL, "matter": MATTER, "applicant": {"type": "natural_person", "id_number": person, "name": "陈七"}})
    assert opened.status_code == 201, opened.text
    return opened.json()  # type: ignore[no-any-return]


def _prefill(person: str, ref: str | None) -> dict[str, Any]:
    return {"applicant_id": person, "matter": MATTER, "bundle": None, "application_ref": ref}


async def _log(forms: httpx.AsyncClient, infra, person: str) -> list[tuple[str, str, str | None, str]]:  # type: ignore[no-untyped-def]
    answer = await forms.get(f"/profiles/{person}/access-log", headers=infra.auth("applicant", sub=person))
    assert answer.status_code == 200, answer.text
    return [(i["reader"], i["purpose"], i["application_ref"], i["outcome"]) for i in answer.json()["items"]]


async def test_a_new_draft_is_prefilled_at_once_and_is_the_clerk_s_only_reason(forms, acceptance, infra, linked) -> None:  # type: ignore[no-untyped-def]
    clerk = infra.auth("clerk", halls=[HALL], sub="sec-read-clerk-a")
    person, stranger = new_id_number(), new_id_number(male=False)
    draft = await _draft(acceptance, clerk, person)
    assert draft["degraded"] is False, draft.get("prefill_note")  # forms confirmed the committed draft
    fields = {f["key"]: f for f in draft["fields"]}
    assert fields["person.id_number"]["value"] == person

    own = await forms.post("/prefill", json=_prefill(person, draft["id"]), headers=clerk)
    assert own.status_code == 200, own.text
    printed = await forms.get(f"/forms/{MATTER}/print", headers=clerk,
                              params={"applicant_id": person, "application_ref": draft["id"]})
    assert printed.status_code == 200 and person in printed.text

    # the attack of the finding: any ID number, no application, or someone else's application
    for ref in (None, draft["id"], "no-such-application"):
        refused = await forms.post("/prefill", json=_prefill(stranger, ref), headers=clerk)
        assert refused.status_code == 403 and refused.json()["code"] == "no_reading_basis", refused.text
        assert stranger not in refused.text
    page = await forms.get(f"/forms/{MATTER}/print", headers=clerk, params={"applicant_id": stranger})
    assert page.status_code == 403 and stranger not in page.text
    other_hall = infra.auth("clerk", halls=[OTHER_HALL], sub="sec-read-clerk-b")
    elsewhere = await forms.post("/prefill", json=_prefill(person, draft["id"]), headers=other_hall)
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "no_reading_basis"

    assert await _log(forms, infra, stranger) == [
        ("sec-read-clerk-a", "print", None, "refused"),
        ("sec-read-clerk-a", "prefill", "no-such-application", "refused"),
        ("sec-read-clerk-a", "prefill", draft["id"], "refused"),
        ("sec-read-clerk-a", "prefill", None, "refused"),
    ]
    readers = {(r, o) for r, _, _, o in await _log(forms, infra, person)}
    assert ("sec-read-clerk-b", "refused") in readers and ("sec-read-clerk-a", "read") in readers


async def test_a_clerk_reads_a_bounded_number_of_applicants(forms, acceptance, infra, linked, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(forms.app.state.runtime.settings, "clerk_applicants_per_hour", 2)
    clerk = infra.auth("clerk", halls=[HALL], sub="sec-read-clerk-budget")
    people = [new_id_number() for _ in range(3)]
    drafts = [await _draft(acceptance, clerk, p) for p in people]
    assert [d["degraded"] for d in drafts] == [False, False, True]  # the third prefill was refused
    again = await forms.post("/prefill", json=_prefill(people[0], drafts[0]["id"]), headers=clerk)
    assert again.status_code == 200  # the same applicant again is no new read
    over = await forms.post("/prefill", json=_prefill(people[2], drafts[2]["id"]), headers=clerk)
    assert over.status_code == 429 and over.json()["code"] == "read_budget_used", over.text
    assert int(over.headers["Retry-After"]) > 0
    assert [o for *_, o in await _log(forms, infra, people[2])] == ["refused", "refused"]


async def test_when_acceptance_cannot_answer_a_clerk_s_read_waits(forms, infra, linked) -> None:  # type: ignore[no-untyped-def]
    state = forms.app.state
    working = state.basis_client
    state.basis_client = BasisClient(base_url="http://127.0.0.1:9", timeout=1.0, cache_seconds=0)
    try:
        clerk = infra.auth("clerk", halls=[HALL], sub="sec-read-clerk-outage")
        person = new_id_number()
        answer = await forms.post("/prefill", json=_prefill(person, "some-application"), headers=clerk)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "2", answer.text
        assert person not in answer.text
    finally:
        await state.basis_client.aclose()
        state.basis_client = working


@pytest.mark.parametrize("role", ["service", "applicant"])
async def test_services_and_the_applicant_need_no_application(forms, infra, linked, role: str) -> None:  # type: ignore[no-untyped-def]
    person = new_id_number()
    who = infra.auth(role, sub=person if role == "applicant" else "a-service")
    assert (await forms.post("/prefill", json=_prefill(person, None), headers=who)).status_code == 200
