"""Catalogue versions: drafts, publishing (the catalog.* events) and the compiled published catalogue."""

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import repository
from services.forms.catalog import Compiled, Form, check_catalog, compile_catalog
from services.forms.models import CatalogVersion
from services.forms.schemas import CatalogFile
from shared.events.catalog import BundlePublished, CatalogVersionPublished, MatterPublished
from shared.outbox import Outbox
from shared.problems import Conflict, NotFound, Unprocessable

_published: dict[int, Compiled] = {}  # published versions never change: safe to cache per process
LATEST_TTL_SECONDS = 2.0  # how long a replica may keep answering with the previous latest version
_latest: tuple[float, int] | None = None


def _checked(content: CatalogFile) -> dict[str, Any]:
    data = content.model_dump(mode="json")
    errors = check_catalog(data)
    if errors:
        raise Unprocessable(f"the catalogue has {len(errors)} error(s)", errors=errors[:200])
    return data


async def create_draft(
    session: AsyncSession, *, content: CatalogFile, by: str | None = None
) -> CatalogVersion:
    """A new draft version holding a checked catalogue file."""
    data = _checked(content)
    await repository.lock_versions(session)
    version = CatalogVersion(
        version=await repository.next_version(session), status="draft", content=data, created_by=by
    )
    session.add(version)
    await session.flush()
    return version


async def replace_draft(session: AsyncSession, *, version: int, content: CatalogFile) -> CatalogVersion:
    """Replace the content of a draft (published versions never change)."""
    data = _checked(content)
    row = await session.get(CatalogVersion, version, with_for_update=True)
    if row is None:
        raise NotFound(f"catalogue version {version} does not exist")
    if row.status != "draft":
        raise Conflict(f"catalogue version {version} is published and cannot change")
    row.content = data
    await session.flush()
    return row


async def list_versions(session: AsyncSession) -> list[CatalogVersion]:
    """Every catalogue version, oldest first."""
    return list(await repository.list_versions(session))


async def get_version(session: AsyncSession, *, version: int) -> CatalogVersion:
    """One catalogue version (draft or published)."""
    row = await session.get(CatalogVersion, version)
    if row is None:
        raise NotFound(f"catalogue version {version} does not exist")
    return row


async def latest_version(session: AsyncSession) -> int:
    """The newest published version (remembered for a couple of seconds: publishing is rare)."""
    global _latest
    if _latest is not None and time.monotonic() - _latest[0] < LATEST_TTL_SECONDS:
        return _latest[1]
    version = await repository.latest_published(session)
    if version is None:
        raise NotFound("no catalogue version is published yet")
    _latest = (time.monotonic(), version)
    return version


async def compiled(
    session: AsyncSession, *, version: int | None = None, allow_draft: bool = False
) -> Compiled:
    """A compiled catalogue version: ``version``, or the newest published one."""
    if version is None:
        version = await latest_version(session)
    if version in _published:
        return _published[version]
    row = await session.get(CatalogVersion, version)
    if row is None or (row.status != "published" and not allow_draft):
        raise NotFound(f"catalogue version {version} is not published")
    result = compile_catalog(row.version, row.content)
    if row.status == "published":
        _published[version] = result
    return result


async def publish(
    session: AsyncSession, *, version: int, outbox: Outbox, by: str | None = None
) -> CatalogVersion:
    """Publish a draft; every matter and bundle becomes a catalog.* event, then catalog.version_published."""
    await repository.lock_versions(session)
    row = await session.get(CatalogVersion, version, with_for_update=True)
    if row is None:
        raise NotFound(f"catalogue version {version} does not exist")
    if row.status == "published":
        raise Conflict(f"catalogue version {version} is already published")
    latest = await repository.latest_published(session)
    if latest is not None and latest > version:
        raise Conflict(f"version {latest} is already published; a newer draft is needed")
    now = datetime.now(UTC)
    content = row.content
    cat = compile_catalog(version, content)
    zone_of = {dep: z["code"] for z in content.get("zones", []) for dep in z.get("departments", [])}
    for matter in content["matters"]:
        form = cat.forms[f"matter:{matter['code']}"]
        await outbox.add(
            session,
            MatterPublished(
                catalog_version=version,
                code=matter["code"],
                name=matter["name"],
                department=matter["department"],
                department_name=cat.departments.get(matter["department"], ""),
                department_resident_approvers=cat.resident_approvers.get(matter["department"], True),
                category=matter["category"],
                zone=zone_of.get(matter["department"], "A"),
                applicant_type=matter["applicant_type"],
                materials=[
                    {
                        "code": m.code,
                        "name": m.name,
                        "required": m.required,
                        "tolerable_missing": m.tolerable_missing,
                        "satisfied_by_licence_type": m.licence_type,
                    }
                    for m in form.materials
                ],
                fields=[f.key for f in form.fields],
                legal_limit_working_days=matter["legal_limit_working_days"],
                promised_limit_working_days=matter["promised_limit_working_days"],
                on_the_spot=matter["on_the_spot"],
                notify_commit_approval=matter["notify_commit_approval"],
                result_licence_type=matter.get("result_licence_type"),
                avg_handling_minutes=matter["avg_handling_minutes"],
                daily_share_weight=matter["daily_share_weight"],
                steps=["decision"] if matter["on_the_spot"] else ["review", "decision"],
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
                members=cat.bundle_members[bundle["code"]],
                published_at=now,
            ),
        )
    await outbox.add(
        session,
        CatalogVersionPublished(
            catalog_version=version,
            matters=[m["code"] for m in content["matters"]],
            bundles=[b["code"] for b in content.get("bundles", [])],
            published_at=now,
        ),
    )
    row.status, row.published_at, row.published_by = "published", now, by
    await session.flush()
    return row


def form_of(cat: Compiled, *, matter: str | None, bundle: str | None) -> Form:
    """The form of a matter or bundle of ``cat``; 404 if it has none."""
    form = cat.form(matter=matter, bundle=bundle)
    if form is None:
        what = f"matter {matter}" if matter is not None else f"bundle {bundle}"
        raise NotFound(f"{what} is not in catalogue version {cat.version}")
    return form
