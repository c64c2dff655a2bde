"""The catalogue read model: follows catalog.matter_published, never goes back a version."""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.ticketing import catalog
from services.ticketing.models import Matter
from shared.events.catalog import MatterPublished
from shared.infra import wait_for
from shared.problems import Unprocessable


def _published(code: str, *, version: int, minutes: int, zone: str = "A") -> MatterPublished:
    return MatterPublished(
        catalog_version=version,
        code=code,
        name=f"{code} v{version}",
        department="TST",
        category=f"CAT-{code}",
        zone=zone,
        applicant_type="natural_person",
        legal_limit_working_days=5,
        promised_limit_working_days=3,
        avg_handling_minutes=minutes,
        daily_share_weight=1.0,
        published_at=datetime.now(UTC),
    )


async def test_published_catalogue_reaches_the_matter_read_model(forms, tk, infra, reference_catalog) -> None:
    admin = infra.auth("catalog_admin")
    draft = await forms.post("/catalog/versions", json=reference_catalog, headers=admin)
    version = draft.json()["version"]
    assert (await forms.post(f"/catalog/versions/{version}/publish", headers=admin)).status_code == 200
    runtime = tk.app.state.runtime
    codes = {m["code"] for m in reference_catalog["matters"]}

    async def arrived() -> bool:
        async with runtime.sessionmaker() as session:
            rows = (await session.execute(select(Matter).where(Matter.code.in_(codes)))).scalars().all()
            return len(rows) == len(codes) and all(r.catalog_version >= version for r in rows)

    await wait_for(arrived, timeout=60, message="matters in the ticketing read model")
    async with runtime.sessionmaker() as session:
        zrzy = await session.get(Matter, "ZRZY-001")
    assert (
        zrzy is not None
        and zrzy.zone == "B"
        and zrzy.avg_handling_minutes == 40
        and zrzy.daily_share_weight == 15
    )


async def test_an_older_catalogue_version_never_overwrites_a_newer_one(tk) -> None:
    code = f"TST-{uuid.uuid4().hex[:8].upper()}"
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        await catalog.upsert_matter(session, event=_published(code, version=5, minutes=12, zone="B"))
        await catalog.upsert_matter(session, event=_published(code, version=3, minutes=99, zone="C"))
        matter, matters = await catalog.require_matter(session, code=code)
        assert (matter.catalog_version, matter.avg_handling_minutes, matter.zone) == (5, 12, "B")
        assert matter.name == f"{code} v5" and matters[code] is matter
        await catalog.upsert_matter(session, event=_published(code, version=6, minutes=20, zone="C"))
        matter, _ = await catalog.require_matter(session, code=code)
        assert (matter.catalog_version, matter.avg_handling_minutes, matter.zone) == (6, 20, "C")
        await session.rollback()


async def test_an_unknown_matter_is_a_field_error(tk) -> None:
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session:
        with pytest.raises(Unprocessable) as refused:
            await catalog.require_matter(session, code="NOPE-404", field="matter")
    assert [(e.field, e.message) for e in refused.value.errors] == [("matter", "unknown matter NOPE-404")]
