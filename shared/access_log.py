"""Publishing the full reads of an applicant's personal data for their access log (docs/security.md,
"Access log"): acceptance, approval and issuance call ``publish_view`` where they show the data in full;
forms consumes the events into ``profile_reads``."""

import time
from collections import OrderedDict
from collections.abc import Hashable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.events.envelope import PersonalDataViewed
from shared.outbox import Outbox

VIEW_REPEAT_SECONDS = 300


class RecentViews:
    """Full reads already published (per process): the same reader reading the same object for the
    same purpose again within ``seconds`` (a screen that refreshes) is one entry, not one per refresh.
    Bounded: the oldest are forgotten first."""

    def __init__(self, seconds: float = VIEW_REPEAT_SECONDS, size: int = 50_000) -> None:
        self.seconds, self.size = seconds, size
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def first(self, key: Hashable, *, now: float | None = None) -> bool:
        """True when ``key`` was not seen within the window (and remember it from now)."""
        now = time.monotonic() if now is None else now
        seen = self._seen.get(key)
        if seen is not None and now - seen < self.seconds:
            return False
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


_RECENT = RecentViews()


async def publish_view(
    session: AsyncSession,
    outbox: Outbox,
    kind: type[PersonalDataViewed],
    *,
    principal: Principal,
    applicant_id: str,
    purpose: str,
    application_ref: str | None,
    subject: str | None,
    hall: str | None = None,
    department: str | None = None,
    correlation_id: str | None = None,
) -> None:
    """Stage (in the read's own transaction) that ``principal`` read ``applicant_id``'s data in full, as
    ``kind`` (``application.viewed``, ``approval.task_viewed``, ``licence.viewed``); a repeat within
    ``VIEW_REPEAT_SECONDS`` is not published again."""
    if not _RECENT.first((kind.TYPE, principal.sub, purpose, application_ref, subject)):
        return
    event = kind(
        applicant_id=applicant_id, reader=principal.sub, roles=sorted(principal.roles), hall=hall,
        department=department, purpose=purpose, application_ref=application_ref, subject=subject,
        at=datetime.now(UTC),
    )
    await outbox.add(session, event, correlation_id=correlation_id)
