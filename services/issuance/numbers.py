"""Licence and notice numbers: unguessable (80 random bits) and checkable (Luhn mod 32 check character).

A licence number looks like ``ZZ2026-K7QF-3M9X-TT2B-8RZC-5``: prefix ``ZZ`` (证照), the year, 16
random characters of the Crockford base-32 alphabet and one check character over everything before it.
Any single mistyped character and any swap of two neighbours is caught by the check character,
so a typo is told apart from a forgery attempt without touching the database.
"""

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_SHAPE = re.compile(rf"^ZZ\d{{4}}[{ALPHABET}]{{17}}$")
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


def check_char(body: str) -> str:
    """Luhn mod N check character of ``body`` (characters of ALPHABET)."""
    factor, total, n = 2, 0, len(ALPHABET)
    for char in reversed(body):
        addend = factor * _INDEX[char]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def new_licence_no(year: int) -> str:
    """A fresh licence number for ``year``."""
    body = f"ZZ{year:04d}" + "".join(secrets.choice(ALPHABET) for _ in range(16))
    full = body + check_char(body)
    return f"{full[:6]}-{full[6:10]}-{full[10:14]}-{full[14:18]}-{full[18:22]}-{full[22]}"


def normalise(text: str) -> str:
    """Upper-case, without separators, with confusable letters mapped (O->0, I/L->1)."""
    return re.sub(r"[\s\-_.]", "", text.upper()).translate(_CONFUSABLE)


def format_licence_no(compact: str) -> str:
    return f"{compact[:6]}-{compact[6:10]}-{compact[10:14]}-{compact[14:18]}-{compact[18:22]}-{compact[22]}"


def check_licence_no(text: str) -> tuple[str | None, str | None]:
    """(formatted number, None) when well-formed with a correct check character, else (None, why not)."""
    compact = normalise(text)
    if not _SHAPE.match(compact):
        return None, "must look like ZZ2026-XXXX-XXXX-XXXX-XXXX-C"
    if check_char(compact[:-1]) != compact[-1]:
        return None, "check character is wrong: not a licence number"
    return format_licence_no(compact), None


def new_notice_no(prefix: str, year: int) -> str:
    """A decision-notice number such as ``JD2026-7KQ2-MX9T`` (not a secret; the tracking code guards pickup)."""
    tail = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{prefix}{year:04d}-{tail[:4]}-{tail[4:]}"
