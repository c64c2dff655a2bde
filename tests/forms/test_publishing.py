"""Catalogue versions over HTTP: drafts, publishing (the catalog.* events through the outbox), the published
catalogue."""

import copy

from sqlalchemy import func, select

from services.forms.models import CatalogVersion, backbone
from shared.infra import wait_for
from shared.outbox import pending_count


async def _version_count(forms) -> int:
    async with forms.app.state.runtime.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(CatalogVersion))).scalar_one()


async def test_a_broken_catalogue_is_refused_field_by_field_and_not_stored(
    forms, infra, reference_catalog
) -> None:
    admin = infra.auth("catalog_admin")
    before = await _version_count(forms)
    broken = copy.deepcopy(reference_catalog)
    broken["matters"][0]["fields"].append("person.shoe_size")
    broken["fields"][1]["validator"] = "NO_SUCH_CHECK"
    response = await forms.post("/catalog/versions", json=broken, headers=admin)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"matters[0].fields[6]", "fields[1].validator"} <= fields
    extra = copy.deepcopy(reference_catalog)
    extra["matters"][0]["colour"] = "red"
    response = await forms.post("/catalog/versions", json=extra, headers=admin)
    assert response.status_code == 422
    assert any("colour" in e["field"] for e in response.json()["errors"])
    assert await _version_count(forms) == before


async def test_catalogue_administration_needs_the_catalogue_admin_role(
    forms, infra, reference_catalog
) -> None:
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    assert (await forms.post("/catalog/versions", json=reference_catalog, headers=clerk)).status_code == 403
    assert (await forms.get("/catalog/versions", headers=clerk)).status_code == 403
    assert (await forms.post("/catalog/versions/1/publish", headers=clerk)).status_code == 403


async def test_drafts_change_until_published_and_versions_are_listed(
    forms, infra, reference_catalog, catalog_version
) -> None:
    admin = infra.auth("catalog_admin")
    draft = (await forms.post("/catalog/versions", json=reference_catalog, headers=admin)).json()
    assert draft["status"] == "draft"
    changed = copy.deepcopy(reference_catalog)
    changed["matters"][0]["name"] = "个体工商户设立登记(修订)"
    replaced = await forms.put(f"/catalog/versions/{draft['version']}", json=changed, headers=admin)
    assert replaced.status_code == 200, replaced.text
    stored = (await forms.get(f"/catalog/versions/{draft['version']}", headers=admin)).json()
    assert stored["content"]["matters"][0]["name"] == "个体工商户设立登记(修订)"
    listed = {v["version"]: v for v in (await forms.get("/catalog/versions", headers=admin)).json()}
    assert listed[catalog_version]["status"] == "published"
    assert listed[draft["version"]]["status"] == "draft" and listed[draft["version"]]["matters"] == 25
    published_again = await forms.put(f"/catalog/versions/{catalog_version}", json=changed, headers=admin)
    assert published_again.status_code == 409
    missing = await forms.post("/catalog/versions/999999/publish", headers=admin)
    assert missing.status_code == 404


async def test_an_older_draft_cannot_be_published_over_a_newer_version(
    forms, infra, reference_catalog
) -> None:
    admin = infra.auth("catalog_admin")
    older = (await forms.post("/catalog/versions", json=reference_catalog, headers=admin)).json()["version"]
    newer = (await forms.post("/catalog/versions", json=reference_catalog, headers=admin)).json()["version"]
    assert (await forms.post(f"/catalog/versions/{newer}/publish", headers=admin)).status_code == 200
    refused = await forms.post(f"/catalog/versions/{older}/publish", headers=admin)
    assert refused.status_code == 409


async def test_published_catalogue_is_public(forms, catalog_version) -> None:
    fields = (await forms.get("/catalog/fields", params={"version": catalog_version})).json()
    assert fields["catalog_version"] == catalog_version and len(fields["items"]) == 55
    matter = (await forms.get("/catalog/matters/SCJG-003/form", params={"version": catalog_version})).json()
    assert [f["key"] for f in matter["fields"]][:2] == ["entity.name", "entity.uscc"]
    assert {m["code"]: m["licence_type"] for m in matter["materials"]}["BIZ_LICENCE"] == "BIZ_LICENCE"
    bundle = (
        await forms.get("/catalog/bundles/ONE-RESTAURANT/form", params={"version": catalog_version})
    ).json()
    keys = [f["key"] for f in bundle["fields"]]
    assert len(keys) == len(set(keys)) and bundle["matters"][0] == "SCJG-002"
    assert (await forms.get("/catalog/matters/NOPE-001/form")).status_code == 404
    assert (await forms.get("/catalog/fields", params={"version": 999999})).status_code == 404


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
        types = (
            (
                await session.execute(
                    select(table.c.type).where(
                        table.c.envelope["payload"]["catalog_version"].as_integer() == version
                    )
                )
            )
            .scalars()
            .all()
        )
    assert types.count("catalog.matter_published") == len(reference_catalog["matters"])
    assert types.count("catalog.bundle_published") == len(reference_catalog["bundles"])
    again = await forms.post(f"/catalog/versions/{version}/publish", headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_catalog_admin_routes_need_a_token(forms) -> None:
    assert (await forms.post("/catalog/versions", json={})).status_code == 401
