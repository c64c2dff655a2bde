"""Departments without resident approvers (issue 14 item 7): the catalogue flags them, forms publishes the flag
with every matter of the department (catalog.matter_published), approval routes their tasks to the liaison."""

import copy
import json
from pathlib import Path

from sqlalchemy import select

from services.forms.models import backbone
from services.forms.schemas import CatalogFile

DEMO = Path(__file__).resolve().parents[2] / "services" / "forms" / "seed" / "demo-catalog.json"


def test_the_demo_catalogue_flags_departments_served_by_a_liaison() -> None:
    content = CatalogFile.model_validate(json.loads(DEMO.read_text(encoding="utf-8")))
    flags = {d.code: d.resident_approvers for d in content.departments}
    assert flags["JTJ"] is False and flags["HG"] is False
    assert flags["SCJG"] is True  # the default
    assert any(m.department == "JTJ" for m in content.matters)  # a matter a liaison carries exists


async def test_publishing_carries_the_flag_with_each_matter(forms, infra, reference_catalog) -> None:
    admin = infra.auth("catalog_admin")
    content = copy.deepcopy(reference_catalog)
    for department in content["departments"]:
        if department["code"] == "JTJ":
            department["resident_approvers"] = False
    bad = copy.deepcopy(content)
    bad["departments"][0]["resident_approvers"] = "sometimes"
    refused = await forms.post("/catalog/versions", json=bad, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "departments.0.resident_approvers"

    created = await forms.post("/catalog/versions", json=content, headers=admin)
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    assert (await forms.post(f"/catalog/versions/{version}/publish", headers=admin)).status_code == 200
    table = backbone.outbox_table
    async with forms.app.state.runtime.sessionmaker() as session:
        payloads = (
            (
                await session.execute(
                    select(table.c.envelope["payload"]).where(
                        table.c.type == "catalog.matter_published",
                        table.c.envelope["payload"]["catalog_version"].as_integer() == version,
                    )
                )
            )
            .scalars()
            .all()
        )
    flags = {p["code"]: p["department_resident_approvers"] for p in payloads}
    assert flags["JTJ-001"] is False
    assert flags["SCJG-003"] is True and flags["STHJ-001"] is True
