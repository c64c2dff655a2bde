"""Bundles that don't ask for their own output (issue 14 item 4): a later member's material produced by an
earlier member is derived from the catalogue, not asked for in the bundle form, and published with the bundle."""

import copy
import json
from pathlib import Path

from sqlalchemy import select

from services.forms.catalog import compile_catalog
from services.forms.models import backbone
from services.forms.schemas import CatalogFile

DEMO = Path(__file__).resolve().parents[2] / "services" / "forms" / "seed" / "demo-catalog.json"


def _enterprise(reference_catalog, *, parallel: list[str] | None = None) -> dict:
    catalog = copy.deepcopy(reference_catalog)
    for bundle in catalog["bundles"]:
        if bundle["code"] == "ONE-ENTERPRISE" and parallel is not None:
            bundle["parallel"] = parallel
    return catalog


def test_later_members_need_the_licence_an_earlier_member_produces(reference_catalog) -> None:
    content = CatalogFile.model_validate(reference_catalog).model_dump(mode="json")
    cat = compile_catalog(1, content)
    members = {m["matter"]: m for m in cat.bundle_members["ONE-ENTERPRISE"]}
    assert members["SCJG-002"]["needs"] == [] and members["SCJG-002"]["position"] == 0
    for code in ("GA-001", "SWJ-001", "RS-002", "GJJ-002"):
        assert members[code]["needs"] == [
            {"material": "BIZ_LICENCE", "from_matter": "SCJG-002", "licence_type": "BIZ_LICENCE"}
        ]
        assert members[code]["parallel"] is False
    form = cat.form(bundle="ONE-ENTERPRISE")
    assert form is not None
    biz = next(m for m in form.materials if m.code == "BIZ_LICENCE")
    assert (biz.required, biz.produced_by) == (False, "SCJG-002")  # not asked of the applicant
    assert next(m for m in form.materials if m.code == "ID_CARD").required  # SCJG-002's own materials stay
    # a chain: 养老院 needs the fire pass XF-001 produces, and the licence SCJG-002 produces
    elder = {m["matter"]: m for m in cat.bundle_members["ONE-ELDERCARE"]}
    assert {n["from_matter"] for n in elder["MZ-001"]["needs"]} == {"SCJG-002", "XF-001"}


def test_the_demo_catalogue_starts_the_seal_in_parallel() -> None:
    content = CatalogFile.model_validate(json.loads(DEMO.read_text(encoding="utf-8"))).model_dump(mode="json")
    members = {m["matter"]: m for m in compile_catalog(1, content).bundle_members["ONE-ENTERPRISE"]}
    assert members["GA-001"]["parallel"] is True and members["SWJ-001"]["parallel"] is False


async def test_a_parallel_member_must_belong_to_the_bundle(forms, infra, reference_catalog) -> None:
    admin = infra.auth("catalog_admin")
    broken = _enterprise(reference_catalog, parallel=["GA-001", "XF-001", "SCJG-002"])
    response = await forms.post("/catalog/versions", json=broken, headers=admin)
    assert response.status_code == 422
    index = next(i for i, b in enumerate(broken["bundles"]) if b["code"] == "ONE-ENTERPRISE")
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {f"bundles[{index}].parallel[1]", f"bundles[{index}].parallel[2]"}


async def test_bundle_published_carries_its_members(forms, infra, reference_catalog) -> None:
    admin = infra.auth("catalog_admin")
    created = await forms.post(
        "/catalog/versions", json=_enterprise(reference_catalog, parallel=["GA-001"]), headers=admin
    )
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert (await forms.post(f"/catalog/versions/{version}/publish", headers=admin)).status_code == 200
    table = backbone.outbox_table
    async with forms.app.state.runtime.sessionmaker() as session:
        [payload] = (
            await session.execute(
                select(table.c.envelope["payload"]).where(
                    table.c.type == "catalog.bundle_published",
                    table.c.envelope["payload"]["catalog_version"].as_integer() == version,
                    table.c.envelope["payload"]["code"].astext == "ONE-ENTERPRISE",
                )
            )
        ).scalars().all()
    assert payload["matters"][0] == "SCJG-002"
    members = {m["matter"]: m for m in payload["members"]}
    assert members["GA-001"] == {
        "matter": "GA-001",
        "position": 1,
        "needs": [{"material": "BIZ_LICENCE", "from_matter": "SCJG-002", "licence_type": "BIZ_LICENCE"}],
        "parallel": True,
    }
    assert members["SWJ-001"]["parallel"] is False and members["SCJG-002"]["needs"] == []
    form = (await forms.get("/catalog/bundles/ONE-ENTERPRISE/form", params={"version": version})).json()
    assert {m["code"]: m["required"] for m in form["materials"]}["BIZ_LICENCE"] is False
