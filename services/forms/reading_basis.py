"""Why a clerk may read an applicant's profile: an application of the clerk's hall for that applicant.

Outside testing found that any clerk of any hall could prefill or print the unmasked profile of any ID
number, with no application (issue 13). Now a clerk's read (prefill, printed form, validation against
the profile) names the application it is for (``application_ref``), and forms asks acceptance, with the
clerk's own token, whether that application is one of the clerk's hall for that applicant
(``GET /applications/{id}/reading-basis``). Acceptance commits a draft before it asks forms to prefill
it, so the first prefill of a new draft passes. A positive answer is remembered for
``reading_basis_cache_seconds`` (a clerk prints and re-prefills the same application). A clerk also
reads at most ``clerk_applicants_per_hour`` different applicants in an hour (opening drafts for
arbitrary ID numbers cannot turn into bulk reads). A refused read is recorded in the applicant's access
log with outcome ``refused``; the error keeps that write (``DomainError.keeps_writes``).

Applicants read their own data; services (``service`` role) are trusted callers that check their own
users; auditors read masked profiles.
"""

import asyncio
import time
from collections import OrderedDict
from urllib.parse import quote

import httpx
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import access, repository
from shared.auth import Principal, Role
from shared.observability import get_logger
from shared.problems import DependencyUnavailable, DomainError

log = get_logger(__name__)

RETRY_AFTER = 2  # seconds, when acceptance cannot answer
CACHE_ENTRIES = 10_000


class ReadRefused(DomainError):
    """A clerk's read without a reading basis (403) or beyond the clerk's budget (429); the refusal's
    record in the access log commits with the answer (``keeps_writes``)."""

    status, code, title = 403, "no_reading_basis", "No reason to read this applicant's data"
    keeps_writes = True


class ReadBudgetUsed(ReadRefused):
    status, code, title = 429, "read_budget_used", "Too many applicants read"


class BasisClient:
    """Asks acceptance whether an application is a clerk's reading basis (the clerk's token, a short
    budget, no retry) and remembers positive answers for a while."""

    def __init__(
        self, *, base_url: str, timeout: float, cache_seconds: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._known: OrderedDict[tuple[str, str, str], float] = OrderedDict()  # (clerk, ref, applicant) -> until

    async def has_basis(self, *, principal: Principal, authorization: str | None, application_ref: str,
                        applicant_id: str) -> bool:
        """True when acceptance says ``application_ref`` is an application of the clerk's hall for
        ``applicant_id``; 503 ``dependency_unavailable`` when it cannot answer."""
        key = (principal.sub, application_ref, applicant_id)
        until = self._known.get(key)
        if until is not None and until > time.monotonic():
            return True
        headers = {"Authorization": authorization} if authorization else {}
        path = f"/applications/{quote(application_ref, safe='')}/reading-basis"
        try:
            response = await asyncio.wait_for(
                self._client.get(path, params={"applicant_id": applicant_id}, headers=headers), self.timeout
            )
        except (TimeoutError, httpx.HTTPError) as exc:
            log.warning("acceptance could not say whether a read has a basis", error=type(exc).__name__)
            raise DependencyUnavailable("acceptance cannot confirm the application now; retry shortly",
                                        retry_after=RETRY_AFTER) from exc
        if response.status_code in (403, 404, 422):
            return False
        if response.status_code != 200:
            log.warning("acceptance answered an error to a reading-basis check", status=response.status_code)
            raise DependencyUnavailable(f"acceptance answered {response.status_code}; retry shortly",
                                        retry_after=RETRY_AFTER)
        try:
            matches = response.json().get("applicant_matches") is True
        except (ValueError, AttributeError):
            matches = False
        if matches:
            self._known[key] = time.monotonic() + self.cache_seconds
            self._known.move_to_end(key)
            while len(self._known) > CACHE_ENTRIES:
                self._known.popitem(last=False)
        return matches

    async def aclose(self) -> None:
        await self._client.aclose()


def needs_basis(principal: Principal, applicant_id: str) -> bool:
    """Whether this read must name an application: clerks reading someone (not services, not the
    applicant themselves)."""
    if principal.has(Role.SERVICE):
        return False
    if principal.applicant_id is not None and principal.applicant_id == applicant_id:
        return False
    return principal.has(Role.CLERK)


async def authorize(
    session: AsyncSession,
    *,
    request: Request,
    principal: Principal,
    applicant_id: str,
    application_ref: str | None,
    purpose: str,
    subject: str | None,
) -> None:
    """Check a clerk's reason to read ``applicant_id`` (see the module); raise ``ReadRefused`` after
    recording the refusal in the caller's transaction (which commits it: ``keeps_writes``)."""
    if not needs_basis(principal, applicant_id):
        return
    access.check_applicant_id(applicant_id)  # a malformed identifier is the caller's 422, not a refusal
    settings = request.app.state.runtime.settings

    async def refuse(error: ReadRefused) -> None:
        await access.record_read(session, principal=principal, applicant_id=applicant_id, purpose=purpose,
                                 application_ref=application_ref, subject=subject, outcome="refused")
        log.warning("a clerk's read of a profile was refused", reason=error.code, purpose=purpose)
        raise error

    if application_ref is None:
        await refuse(ReadRefused("a clerk reads an applicant's data for an application of the clerk's hall: "
                                 "give application_ref"))
    assert application_ref is not None
    limit = settings.clerk_applicants_per_hour
    read = await repository.applicants_read_since(session, reader=principal.sub, seconds=3600)
    if applicant_id not in read and len(read) >= limit:
        await refuse(ReadBudgetUsed(f"this account read {len(read)} applicants' data in the last hour "
                                    f"(at most {limit}); ask a hall admin if a queue needs more", retry_after=600))
    client: BasisClient = request.app.state.basis_client
    if not await client.has_basis(principal=principal, authorization=request.headers.get("authorization"),
                                  application_ref=application_ref, applicant_id=applicant_id):
        await refuse(ReadRefused(f"application {application_ref} is not one of your hall's for this applicant"))
