"""Issuance fixtures."""

import httpx
import pytest
from issuance_helpers import Issuance


@pytest.fixture(scope="session")
def iss(issuance: httpx.AsyncClient) -> Issuance:
    return Issuance(issuance)
