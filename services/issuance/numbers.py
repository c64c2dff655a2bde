"""Licence and notice numbers: unguessable (84 random bits) and checkable (weighted MOD 31 check character).

A licence number looks like ``ZZ2026-K7QF-3M9X-TT2B-8RLC-5H``: prefix ``ZZ`` (证照), the year, 17
random characters of the GB 32100 alphabet (0-9 and A-Y without I, O, S, V, Z) and one check
character. Positions are weighted 1, 2, 3, ... and the weighted sum including the check character
is 0 modulo the prime 31, so every single mistyped character and every swap of two neighbours is
caught: a typo is told apart from a valid number without touching the database.
"""

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100 (unified social credit code) characters
_N = len(ALPHABET)  # 31, a prime
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_RANDOM_CHARS = 17
_SHAPE = re.compile(rf"^ZZ\d{{4}}[{ALPHABET}]{{{_RANDOM_CHARS + 1}}}$")
_CONFUSABLE = str.maketrans({"O": "0", "I": "1"})


def check_char(body: str) -> str:
    """The check character c of ``body`` (year + random part): sum of (position weight x value) = 0 mod 31."""
    total = sum((i + 1) * _INDEX[char] for i, char in enumerate(body))
    weight = len(body) + 1
    value = (-total * pow(weight, -1, _N)) % _N
    return ALPHABET[value]


def format_licence_no(compact: str) -> str:
    """ZZ2026K7QF... -> ZZ2026-K7QF-3M9X-TT2B-8RLC-5H."""
    rest = compact[6:]
    return "-".join([compact[:6], *(rest[i : i + 4] for i in range(0, len(rest), 4))])


def new_licence_no(year: int) -> str:
    """A fresh licence number for ``year``."""
    body = f"{year:04d}" + "".join(secrets.choice(ALPHABET) for _ in range(_RANDOM_CHARS))
    return format_licence_no("ZZ" + body + check_char(body))


def normalise(text: str) -> str:
    """Upper-case, without separators, with confusable letters mapped (O -> 0, I -> 1)."""
    return re.sub(r"[\s\-_.]", "", text.upper()).translate(_CONFUSABLE)


def check_licence_no(text: str) -> tuple[str | None, str | None]:
    """(formatted number, None) when well-formed with a correct check character, else (None, why not)."""
    compact = normalise(text)
    if not _SHAPE.match(compact):
        return None, "must look like ZZ2026-XXXX-XXXX-XXXX-XXXX-XX"
    if check_char(compact[2:-1]) != compact[-1]:
        return None, "check character is wrong: not a licence number"
    return format_licence_no(compact), None


def new_notice_no(prefix: str, year: int) -> str:
    """A decision-notice number such as ``JD2026-7KQ2-MX9T`` (not a secret; the tracking code guards pickup)."""
    tail = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"{prefix}{year:04d}-{tail[:4]}-{tail[4:]}"
