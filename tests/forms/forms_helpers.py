"""Forms test helpers: unique valid identifiers, reads of the forms tables."""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from services.forms.models import Licence, ProfileValue
from shared import testing
from shared.testing import new_credit_code  # noqa: F401 (re-exported to tests)


def new_id_number(*, born: str = "19900307", male: bool = True) -> str:
    """A unique valid resident ID number (GB 11643) of someone born on ``born``."""
    return testing.new_id_number(born=born, male=male)


async def stored_value(forms, applicant_id: str, key: str) -> ProfileValue | None:
    async with forms.app.state.runtime.sessionmaker() as session:
        return await session.get(ProfileValue, (applicant_id, key))


async def stored_licence(forms, licence_no: str) -> Licence | None:
    async with forms.app.state.runtime.sessionmaker() as session:
        return (await session.execute(select(Licence).where(Licence.licence_no == licence_no))).scalar_one_or_none()


def now() -> datetime:
    return datetime.now(UTC)


def today() -> date:
    return date.today()


def field_map(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["key"]: f for f in body["fields"]}


def prefill_body(
    applicant_id: str, version: int, *, matter: str | None = None, bundle: str | None = None, ref: str | None = None
) -> dict[str, Any]:
    """A ``POST /prefill`` body."""
    return {"applicant_id": applicant_id, "matter": matter, "bundle": bundle, "application_ref": ref, "catalog_version": version}
