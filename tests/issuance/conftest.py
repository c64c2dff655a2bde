"""Issuance fixtures."""

import httpx
import pytest

from tests.issuance.issuance_helpers import Issuance, released_application


@pytest.fixture(scope="session")
def iss(issuance: httpx.AsyncClient) -> Issuance:
    return Issuance(issuance)


@pytest.fixture(scope="module")
async def issued(iss: Issuance, infra) -> dict:
    """One issued licence as its holder downloads it (canonical text + signature)."""
    application_id, _, applicant, _ = await released_application(iss)
    [licence] = await iss.licences(application_id)
    holder = infra.auth("applicant", sub=applicant.id_number)
    response = await iss.client.get(f"/licences/{licence.licence_no}", headers=holder)
    assert response.status_code == 200, response.text
    return response.json() | {"_holder": holder, "_application_id": application_id}
