"""The matter read model follows catalog.matter_published; the demo seed is valid."""

from sqlalchemy import select

from services.ticketing.models import Matter
from services.ticketing.schemas import HallIn, WindowIn
from services.ticketing.seed import demo_halls, window_specs
from shared.infra import wait_for


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
    assert zrzy is not None and zrzy.zone == "B" and zrzy.avg_handling_minutes == 40 and zrzy.daily_share_weight == 15


def test_demo_halls_match_the_reference_figures(reference_catalog) -> None:
    halls = {h["code"]: h for h in demo_halls()}
    assert {"ZS-CITY", "DL-TOWN"} <= set(halls)
    windows = {code: list(window_specs(h)) for code, h in halls.items()}
    assert len(windows["ZS-CITY"]) == 220 and len(windows["DL-TOWN"]) == 88
    matter_codes = {m["code"] for m in reference_catalog["matters"]}
    for hall in halls.values():
        HallIn.model_validate(hall["hall"])
        for code, body in window_specs(hall):
            WindowIn.model_validate(body)
            assert set(body["skills"]) <= matter_codes, code
    served = {s for _, body in windows["ZS-CITY"] for s in body["skills"]}
    assert served == matter_codes  # every reference matter has a window in the city centre
