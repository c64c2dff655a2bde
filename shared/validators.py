"""Validators of identifiers and values a hall needs; pure functions returning an error text or None.

- Resident ID number: GB 11643-1999, ISO 7064 MOD 11-2 check digit, birth date inside it.
- Unified social credit code: GB 32100-2015, MOD 31 check character.
"""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

_ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_ID_CHECK = "10X98765432"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def id_number_check_digit(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def check_id_number(value: str, *, today: date | None = None) -> str | None:
    """None if ``value`` is a valid 18-character resident ID number, else why not."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{17}[\dX]", value):
        return "must be 18 characters: 17 digits and a digit or X"
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "contains an impossible birth date"
    if born.year < 1850 or born > (today or date.today()):
        return "contains a birth date out of range"
    if id_number_check_digit(value[:17]) != value[17]:
        return "check digit is wrong (GB 11643)"
    return None


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters."""
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def check_credit_code(value: str) -> str | None:
    """None if ``value`` is a valid unified social credit code, else why not."""
    if not isinstance(value, str) or len(value) != 18 or any(c not in _USCC_ALPHABET for c in value):
        return "must be 18 characters of 0-9 and A-Y without I, O, S, V, Z"
    if not value[2:8].isdigit():
        return "administrative division code (characters 3-8) must be digits"
    if uscc_check_char(value[:17]) != value[17]:
        return "check character is wrong (GB 32100)"
    return None


def check_mobile(value: str) -> str | None:
    """Mainland China mobile number: 11 digits starting 13-19."""
    return None if isinstance(value, str) and _MOBILE.match(value) else "must be a mainland mobile number (11 digits, 1[3-9]...)"


def check_email(value: str) -> str | None:
    return None if isinstance(value, str) and _EMAIL.match(value) else "must be an e-mail address"


def check_date(value: Any) -> str | None:
    if isinstance(value, date):
        return None
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return "must be a date (YYYY-MM-DD)"
    return None


VALIDATORS = {
    # names used by the reference catalogue
    "GB11643": check_id_number,
    "GB32100": check_credit_code,
    "CN_MOBILE": check_mobile,
    "EMAIL": check_email,
    # aliases
    "id_number": check_id_number,
    "resident_id": check_id_number,
    "credit_code": check_credit_code,
    "uscc": check_credit_code,
    "mobile": check_mobile,
    "email": check_email,
    "date": check_date,
}


# Dates a hall can mean: anything outside makes no sense for a matter, a slot or a deadline, and
# ``date.max`` itself overflows the first ``+ timedelta(days=1)`` (a 500 instead of a 422).
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


def _sane_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}")
    return value


def _sane_datetime(value: datetime) -> datetime:
    day = value.astimezone(UTC).date() if value.tzinfo else value.date()
    _sane_date(day)
    return value


# Use these for every date or date-time a request carries (query, path or body): out of range -> 422.
SaneDate = Annotated[date, AfterValidator(_sane_date)]
SaneDateTime = Annotated[datetime, AfterValidator(_sane_datetime)]


# A hall code in a path or body: letters, digits, ``-`` and ``_`` (at most 40, the column's width), so a
# code can never carry markup or a path into a page, a log line or a URL (else 422).
HALL_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"
HallCode = Annotated[str, StringConstraints(pattern=HALL_CODE_PATTERN, max_length=40)]
