"""Kiosk search: find a matter the hall serves by code, Chinese name, pinyin initials or full pinyin.

A citizen at a kiosk rarely knows a matter code. The keys (initials like ``gtgsh`` for 个体工商户设立登记
and the full pinyin) are computed once, when the catalogue read model records a matter, and stored
with it; a search ranks the hall's served matters in memory (a catalogue is hundreds of matters).

Polyphonic characters: the phrase-aware reading comes first (银行 yin-hang, 行政 xing-zheng); when
reading every character on its own gives something else (银行 -> yin-xing), that is kept as a second
variant, so a citizen who reads the character the common way still finds the matter.
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pypinyin import lazy_pinyin
from sqlalchemy.ext.asyncio import AsyncSession

from services.ticketing import halls, routing, tickets
from services.ticketing import repository as repo
from services.ticketing.snapshots import MatterView, Snapshots, WindowView

MAX_QUERY = 40
DEFAULT_LIMIT = 10
MAX_LIMIT = 50
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_RUNS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[^\u3400-\u9fff\uf900-\ufaff]+")

# Ranks, best first: the order results come in.
EXACT_CODE, NAME_PREFIX, INITIALS_PREFIX, PINYIN_PREFIX, NAME_SUBSTRING, PINYIN_SUBSTRING = range(6)


def _syllables(name: str, *, phrases: bool) -> list[str]:
    """The name's syllables: Chinese runs in pinyin (phrase-aware, or one character at a time), and each
    ASCII letter or digit as a syllable of its own (B超 -> b, chao); punctuation is dropped."""
    out: list[str] = []
    for run in _RUNS.findall(name):
        if _CJK.match(run):
            out += lazy_pinyin(run) if phrases else [s for ch in run for s in lazy_pinyin(ch)]
        else:
            out += [c.lower() for c in run if c.isascii() and c.isalnum()]
    return [s for s in out if s]


def _readings(name: str) -> list[list[str]]:
    """The phrase-aware reading, and the character-by-character one if it differs."""
    phrase, single = _syllables(name, phrases=True), _syllables(name, phrases=False)
    return [phrase] if single == phrase else [phrase, single]


def pinyin_keys(name: str) -> tuple[list[str], list[str]]:
    """(initials, full pinyin) of a matter name, one entry per reading, e.g. (["gtgshsldj"], [...])."""
    initials: list[str] = []
    full: list[str] = []
    for syllables in _readings(unicodedata.normalize("NFKC", name)):
        for values, key in ((initials, "".join(s[0] for s in syllables)), (full, "".join(syllables))):
            if key and key not in values:
                values.append(key)
    return initials, full


def normalise(query: str) -> str:
    """The query as searched: NFKC (full-width letters from a kiosk IME become ASCII), trimmed."""
    return unicodedata.normalize("NFKC", query).strip()


def rank(matter: MatterView, query: str) -> int | None:
    """How well ``matter`` matches a normalised query (lower is better), or None when it does not."""
    code = matter.code.upper()
    upper = query.upper()
    if code == upper:
        return EXACT_CODE
    if _CJK.search(query):
        name = unicodedata.normalize("NFKC", matter.name)
        if name.startswith(query):
            return NAME_PREFIX
        return NAME_SUBSTRING if query in name else None
    if code.startswith(upper):
        return NAME_PREFIX  # a code prefix (SCJG) is as good a lead as the start of a name
    letters = "".join(c for c in query.lower() if c.isalnum())
    if not letters:
        return None
    if any(i.startswith(letters) for i in matter.pinyin_initials):
        return INITIALS_PREFIX
    if any(f.startswith(letters) for f in matter.pinyin_full):
        return PINYIN_PREFIX
    if len(letters) >= 2 and any(letters in k for k in (*matter.pinyin_initials, *matter.pinyin_full)):
        return PINYIN_SUBSTRING
    return None


def best_matches(matters: Iterable[MatterView], query: str, *, limit: int) -> list[MatterView]:
    """The matters matching ``query``, best rank first, then shorter names, then by code."""
    ranked = [(r, m) for m in matters if (r := rank(m, query)) is not None]
    ranked.sort(key=lambda rm: (rm[0], len(rm[1].name), rm[1].code))
    return [m for _, m in ranked[:limit]]


@dataclass(frozen=True)
class Hit:
    """One search result: the matter, the zone that would serve it and the hint of a wait."""

    matter: MatterView
    zone: str
    waiting: int
    estimated_wait_minutes: float | None


def _serving_zone(matter: MatterView, windows: Sequence[WindowView]) -> str | None:
    """The zone a ticket would go to first: the matter's own zone if it serves it, else the first one."""
    zones = sorted({w.zone for w in windows if routing.serves(w, matter)}, key=lambda z: (z != matter.zone, z))
    return zones[0] if zones else None


async def search(
    session: AsyncSession, *, hall: str, query: str, limit: int = DEFAULT_LIMIT, snapshots: Snapshots | None = None
) -> list[Hit]:
    """The matters ``hall`` serves (some active window's skills cover them) that match ``query``."""
    snapshots = snapshots or Snapshots()
    matters = await snapshots.matters(session)
    windows = await snapshots.windows(session, hall=await halls.require_hall(session, code=hall), matters=matters)
    served = [m for m in matters.values() if any(routing.serves(w, m) for w in windows)]
    found = best_matches(served, query, limit=limit)
    if not found:
        return []
    counts = await repo.waiting_counts(session, hall=hall)
    zone_of = {m.code: _serving_zone(m, windows) for m in found}  # served: some window covers each
    loads = await routing.zone_loads(session, hall=hall, zones={z for z in zone_of.values() if z},
                                     priority=tickets.PRIORITY_NORMAL, queue_at=None)
    hits = []
    for matter in found:
        zone = zone_of[matter.code]
        assert zone is not None
        _, minutes = routing.predict(zone=zone, matter=matter, windows=windows, loads=loads)
        waiting = sum(n for (_, code), n in counts.items() if code == matter.code)
        hits.append(Hit(matter=matter, zone=zone, waiting=waiting, estimated_wait_minutes=minutes))
    return hits
