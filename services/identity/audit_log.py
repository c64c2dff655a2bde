"""The security audit log: every login, lock-out and code, as a log line and a row (subjects masked).

A refused login is *returned* (a ``Refusal``), not raised, so that the request boundary commits the
audit row and the failure counter with it.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import repository
from shared import context
from shared.auth import audit, mask_subject


@dataclass(frozen=True)
class Refusal:
    """A refused login: status, reason and, for lock-outs and throttling, when to retry."""

    status: int
    detail: str
    retry_after: int | None = None


async def record_event(
    session: AsyncSession,
    *,
    action: str,
    subject: str | None,
    subject_kind: str,
    client_ip: str | None,
    **detail: Any,
) -> None:
    """Audit a security event: a structured log line and a row in ``security_events`` (subject masked)."""
    masked = mask_subject(subject) if subject_kind == "applicant" else subject
    audit(action, sub=masked, subject_kind=subject_kind, client_ip=client_ip, **detail)
    await repository.add_event(
        session,
        values={
            "action": action,
            "subject": masked,
            "subject_kind": subject_kind,
            "client_ip": client_ip,
            "correlation_id": context.correlation_id.get(),
            "detail": detail,
        },
    )


async def list_events(
    session: AsyncSession, *, action: str | None, before_id: int | None, limit: int
) -> tuple[list[Any], int | None]:
    """A page of security events, newest first, and the cursor of the next page."""
    rows = await repository.list_events(session, action=action, before_id=before_id, limit=limit)
    return rows, (rows[-1].id if len(rows) == limit else None)
