"""Local read models (services/acceptance/read_models.py) against the real database: newer catalogue versions
win, called tickets are refreshed. Each test runs in a transaction that is rolled back."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import read_models
from services.acceptance.models import Bundle, CalledTicket, Matter
from shared.events.catalog import BundlePublished, MaterialRequirement, MatterPublished
from shared.events.ticketing import TicketCalled
from tests.acceptance.conftest import new_id_number


@pytest_asyncio.fixture(loop_scope="session")
async def session(acc: Any) -> AsyncIterator[AsyncSession]:
    """A session on acceptance's database whose work is rolled back."""
    async with acc.app.state.runtime.sessionmaker() as session:
        yield session
        await session.rollback()


def matter(code: str, *, version: int, name: str) -> MatterPublished:
    return MatterPublished(
        catalog_version=version,
        code=code,
        name=name,
        department="RS",
        category="社保",
        zone="A",
        applicant_type="natural_person",
        materials=[MaterialRequirement(code="ID_CARD", name="身份证明", tolerable_missing=False)],
        fields=["person.name"],
        legal_limit_working_days=5,
        promised_limit_working_days=3,
        steps=["decision"],
        published_at=datetime.now(UTC),
    )


async def test_newer_catalogue_versions_win(session: AsyncSession) -> None:
    code = f"T-{new_id_number()[-8:]}"
    await read_models.record_matter(session, event=matter(code, version=5, name="v5"))
    await read_models.record_matter(session, event=matter(code, version=3, name="v3"))  # late, older: ignored
    held = await session.get(Matter, code, populate_existing=True)
    assert held is not None and (held.catalog_version, held.name) == (5, "v5")
    assert held.materials == [
        {
            "code": "ID_CARD",
            "name": "身份证明",
            "required": True,
            "tolerable_missing": False,
            "satisfied_by_licence_type": None,
        }
    ]
    assert held.steps == ["decision"] and held.promised_limit_working_days == 3
    await read_models.record_matter(session, event=matter(code, version=7, name="v7"))
    held = await session.get(Matter, code, populate_existing=True)
    assert held is not None and (held.catalog_version, held.name) == (7, "v7")

    bundle = f"B-{code}"
    now = datetime.now(UTC)
    await read_models.record_bundle(
        session,
        event=BundlePublished(
            catalog_version=2, code=bundle, name="b2", lead_department="RS", matters=[code], published_at=now
        ),
    )
    await read_models.record_bundle(
        session,
        event=BundlePublished(
            catalog_version=1, code=bundle, name="b1", lead_department="GA", matters=[], published_at=now
        ),
    )
    held_bundle = await session.get(Bundle, bundle, populate_existing=True)
    assert held_bundle is not None and (held_bundle.name, held_bundle.matters) == ("b2", [code])


async def test_a_called_ticket_is_remembered_and_refreshed_on_recall(session: AsyncSession) -> None:
    ticket_id = f"T-{new_id_number()[-8:]}"
    called = TicketCalled(
        ticket_id=ticket_id,
        hall="TX-CITY",
        number="A001",
        matter_code="RS-003",
        window="W01",
        called_at=datetime.now(UTC),
    )
    await read_models.record_called_ticket(session, event=called, correlation_id="corr-1")
    recalled = called.model_copy(update={"window": "W07", "recall": True})
    await read_models.record_called_ticket(session, event=recalled, correlation_id="corr-2")
    held = await session.get(CalledTicket, ticket_id, populate_existing=True)
    assert held is not None
    assert (held.hall, held.window, held.matter_code, held.correlation_id) == (
        "TX-CITY",
        "W07",
        "RS-003",
        "corr-2",
    )
