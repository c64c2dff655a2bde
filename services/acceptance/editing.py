"""Changing a draft: validated values, presented materials and collect hall, and re-checking its materials."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.acceptance import access, read_models, rules
from services.acceptance import repository as repo
from services.acceptance.models import Application, ApplicationItem
from services.acceptance.schemas import ApplicationUpdate
from shared.auth import Principal
from shared.problems import Conflict, FieldError, Unprocessable


def apply_changes(
    app: Application, *, values: dict[str, Any], presented: list[str] | None, all_codes: set[str]
) -> None:
    """Validate then merge values and presented materials; raises before changing anything."""
    errors = rules.validate_values(
        values, field_keys=app.field_keys, hints=app.prefill.get("fields", {}), locked=app.locked
    )
    if presented is not None:
        errors += [
            FieldError(
                field=f"presented.{i}",
                message=f"{code} is not a material of this application",
                type="unknown_material",
            )
            for i, code in enumerate(presented)
            if code not in all_codes
        ]
    if errors:
        raise rules.InvalidForm("; ".join(f"{e.field}: {e.message}" for e in errors)[:1000], errors=errors)
    if values:
        app.values = {**app.values, **values}
    if presented is not None:
        app.presented = sorted(set(presented))


def material_codes(items: list[ApplicationItem]) -> set[str]:
    """Every material code the application's matters ask for."""
    return {m["code"] for item in items for m in item.matter.get("materials", [])}


def recheck(app: Application, items: list[ApplicationItem], *, committed: set[str]) -> None:
    """Recompute each item's material states from what was presented, licences and ``committed``."""
    presented = set(app.presented)
    for item in items:
        item.materials = rules.check_materials(
            item.matter, presented=presented, licences=app.licences, committed=committed
        )


async def update_draft(
    session: AsyncSession, *, principal: Principal, application_id: str, body: ApplicationUpdate
) -> Application:
    """Save values / presented materials / collect hall on a draft."""
    app = await access.load(session, application_id=application_id, lock=True)
    access.check(principal, app, write=True)
    if app.status not in rules.EDITABLE:
        raise Conflict(f"application is {app.status}; only drafts are edited")
    if body.collect_hall and body.collect_hall != app.collect_hall:
        # The rule of opening: another hall must be known and open, the opening hall not closed down.
        errors = await read_models.hall_errors(
            session, code=body.collect_hall, field="collect_hall", unknown_ok=body.collect_hall == app.hall
        )
        if errors:
            raise Unprocessable(errors[0].message, errors=errors)
    items = await repo.get_items(session, application_id=app.id)
    apply_changes(app, values=body.values, presented=body.presented, all_codes=material_codes(items))
    if body.collect_hall:
        app.collect_hall = body.collect_hall
    recheck(app, items, committed=set())
    await session.flush()
    return app
