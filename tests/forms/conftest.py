"""Forms fixtures: the published reference catalogue, events of other producers via the real broker."""

from collections.abc import Awaitable, Callable

import pytest
import pytest_asyncio

from services.forms.models import backbone
from shared.events import Event
from shared.outbox import Outbox


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def catalog_version(forms, infra, reference_catalog) -> int:
    """The reference catalogue, published once for the run; tests pin this version."""
    admin = infra.auth("catalog_admin")
    created = await forms.post("/catalog/versions", json=reference_catalog, headers=admin)
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    published = await forms.post(f"/catalog/versions/{version}/publish", headers=admin)
    assert published.status_code == 200, published.text
    return version


@pytest.fixture(scope="session")
def emit(forms, infra) -> Callable[..., Awaitable[None]]:
    """Send an event of another producer through the outbox, the relay and the real broker."""

    async def _emit(event: Event, *, producer: str) -> None:
        runtime = forms.app.state.runtime
        outbox = Outbox(backbone.outbox_table, producer=producer, topic_prefix=infra.topic_prefix)
        async with runtime.sessionmaker() as session, session.begin():
            await outbox.add(session, event)
        runtime.relay.wake()

    return _emit
