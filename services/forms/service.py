"""Catalogue rules: drafts, publishing (emits catalog.* through the outbox)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.forms.models import CatalogVersion
from shared.events.catalog import BundlePublished, CatalogVersionPublished, MatterPublished
from shared.outbox import Outbox
from shared.problems import Conflict, NotFound


async def create_draft(session: AsyncSession, *, content: dict[str, Any]) -> CatalogVersion:
    """A new draft version holding ``content``."""
    latest = (await session.execute(select(func.max(CatalogVersion.version)))).scalar_one() or 0
    version = CatalogVersion(version=latest + 1, status="draft", content=content)
    session.add(version)
    await session.flush()
    return version


async def publish(session: AsyncSession, *, version: int, outbox: Outbox) -> CatalogVersion:
    """Publish a draft; every matter and bundle becomes a catalog.* event."""
    row = await session.get(CatalogVersion, version, with_for_update=True)
    if row is None:
        raise NotFound(f"catalogue version {version} does not exist")
    if row.status == "published":
        raise Conflict(f"catalogue version {version} is already published")
    now = datetime.now(UTC)
    content = row.content
    departments = {d["code"]: d["name"] for d in content.get("departments", [])}
    zone_of = {dep: z["code"] for z in content.get("zones", []) for dep in z.get("departments", [])}
    materials = {m["code"]: m for m in content.get("materials", [])}
    for matter in content.get("matters", []):
        await outbox.add(
            session,
            MatterPublished(
                catalog_version=version,
                code=matter["code"],
                name=matter["name"],
                department=matter["department"],
                department_name=departments.get(matter["department"], ""),
                category=matter["category"],
                zone=zone_of.get(matter["department"], "A"),
                applicant_type=matter["applicant_type"],
                materials=[
                    {
                        "code": m["code"],
                        "name": materials.get(m["code"], {}).get("name", m["code"]),
                        "required": m.get("required", True),
                        "tolerable_missing": m.get("tolerable_missing", False),
                        "satisfied_by_licence_type": materials.get(m["code"], {}).get("satisfied_by_licence_type"),
                    }
                    for m in matter.get("materials", [])
                ],
                fields=matter.get("fields", []),
                legal_limit_working_days=matter["legal_limit_working_days"],
                promised_limit_working_days=matter["promised_limit_working_days"],
                on_the_spot=matter.get("on_the_spot", False),
                notify_commit_approval=matter.get("notify_commit_approval", False),
                result_licence_type=matter.get("result_licence_type"),
                avg_handling_minutes=matter.get("avg_handling_minutes", 15),
                daily_share_weight=matter.get("daily_share_weight", 1),
                steps=["decision"] if matter.get("on_the_spot") else ["review", "decision"],
                published_at=now,
            ),
        )
    for bundle in content.get("bundles", []):
        await outbox.add(
            session,
            BundlePublished(
                catalog_version=version,
                code=bundle["code"],
                name=bundle["name"],
                lead_department=bundle["lead_department"],
                matters=bundle["matters"],
                published_at=now,
            ),
        )
    await outbox.add(
        session,
        CatalogVersionPublished(
            catalog_version=version,
            matters=[m["code"] for m in content.get("matters", [])],
            bundles=[b["code"] for b in content.get("bundles", [])],
            published_at=now,
        ),
    )
    row.status, row.published_at = "published", now
    await session.flush()
    return row
