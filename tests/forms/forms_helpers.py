"""Forms test helpers: unique valid identifiers, reads of the forms tables."""

import random
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from services.forms.models import Licence, ProfileValue
from shared.validators import id_number_check_digit, uscc_check_char

_rng = random.Random()
_USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def new_id_number(*, born: str = "19900307", male: bool = True) -> str:
    """A unique valid resident ID number (GB 11643)."""
    seq = _rng.randrange(0, 50) * 2 + (1 if male else 0)
    first17 = f"44200{_rng.randrange(10)}{born}{_rng.randrange(10)}{seq:02d}"
    return first17 + id_number_check_digit(first17)


def new_credit_code() -> str:
    """A unique valid unified social credit code (GB 32100)."""
    first17 = "914420" + "00" + "".join(_rng.choice(_USCC) for _ in range(9))
    return first17 + uscc_check_char(first17)


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
