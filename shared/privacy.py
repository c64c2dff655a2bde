"""Masking of personal data (ID numbers, credit codes, mobile numbers) for lists and logs."""

import re

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_CREDIT_CODE = re.compile(r"(?<![0-9A-Z])([0-9A-HJ-NP-RTUWXY]{2}\d{6})[0-9A-HJ-NP-RTUWXY]{9}([0-9A-HJ-NP-RTUWXY])(?![0-9A-Z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_id_number(value: str | None) -> str | None:
    """110101199003071234 -> 110101********1234; short values are fully starred."""
    if not value:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_mobile(value: str | None) -> str | None:
    """13812345678 -> 138****5678."""
    if not value:
        return value
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """张三丰 -> 张**; keeps the family name only."""
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1)


def scrub(text: str) -> str:
    """Mask every ID number, credit code and mobile number found in free text (logs)."""
    text = _ID_NUMBER.sub(lambda m: m.group(1) + "********" + m.group(2), text)
    text = _CREDIT_CODE.sub(lambda m: m.group(1) + "*********" + m.group(2), text)
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)

