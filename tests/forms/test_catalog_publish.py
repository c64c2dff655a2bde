"""Publishing a catalogue version emits catalog.* events through the outbox."""

from sqlalchemy import select

from services.forms.models import backbone
from shared.infra import wait_for
from shared.outbox import pending_count


async def test_publish_reference_catalog_emits_matter_events(forms, infra, reference_catalog) -> None:
    admin = infra.auth("catalog_admin")
    created = await forms.post("/catalog/versions", json=reference_catalog, headers=admin)
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    published = await forms.post(f"/catalog/versions/{version}/publish", headers=admin)
    assert published.status_code == 200, published.text
    runtime = forms.app.state.runtime
    table = backbone.outbox_table

    async def relayed() -> bool:
        async with runtime.sessionmaker() as session:
            return await pending_count(session, table) == 0

    await wait_for(relayed, timeout=30, message="outbox drained")
    async with runtime.sessionmaker() as session:
        types = (await session.execute(select(table.c.type).where(table.c.envelope["payload"]["catalog_version"].as_integer() == version))).scalars().all()
    assert types.count("catalog.matter_published") == len(reference_catalog["matters"])
    assert types.count("catalog.bundle_published") == len(reference_catalog["bundles"])
    again = await forms.post(f"/catalog/versions/{version}/publish", headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_catalog_admin_routes_need_a_token(forms) -> None:
    assert (await forms.post("/catalog/versions", json={})).status_code == 401
