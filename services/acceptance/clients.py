"""The one synchronous call on the hot path: forms ``POST /prefill``, with a short budget.

Whatever goes wrong (forms down, slow, answering an error or nonsense) the result is a degraded
prefill: no values, nothing checked off, and a reason for the clerk; the form is then typed by hand.
After ``failure_threshold`` consecutive failures forms is skipped for ``open_seconds`` (a circuit
breaker), so a hung forms costs the hall one timeout per few calls, not one per application.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.observability import get_logger

log = get_logger(__name__)


@dataclass
class Prefill:
    """What forms could tell about an applicant for a matter or bundle."""

    degraded: bool
    reason: str | None = None
    fields: list[dict[str, Any]] = field(default_factory=list)
    missing_fields: list[str] = field(default_factory=list)
    materials: list[dict[str, Any]] = field(default_factory=list)
    catalog_version: int | None = None
    outage: bool = False  # forms down, slow or failing (5xx): counts towards the circuit breaker


class FormsClient:
    """Calls the forms service; one pooled HTTP client per process."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        failure_threshold: int = 3,
        open_seconds: float = 10.0,
    ) -> None:
        self.timeout = timeout
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.failures = 0  # consecutive
        self._open_until = 0.0
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    @property
    def circuit_open(self) -> bool:
        """True while forms is skipped after repeated failures (one probe call goes through after)."""
        return time.monotonic() < self._open_until

    async def prefill(
        self,
        *,
        authorization: str | None,
        applicant_id: str,
        matter: str | None,
        bundle: str | None,
        application_ref: str,
    ) -> Prefill:
        """Prefilled fields and licence-satisfied materials, or a degraded result within the budget."""
        if self.circuit_open:
            return Prefill(degraded=True, reason="forms unavailable (recent failures); retry later")
        result = await self._call(authorization=authorization, applicant_id=applicant_id, matter=matter,
                                  bundle=bundle, application_ref=application_ref)
        if result.outage:
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self._open_until = time.monotonic() + self.open_seconds
        else:
            self.failures, self._open_until = 0, 0.0
        return result

    async def _call(
        self, *, authorization: str | None, applicant_id: str, matter: str | None, bundle: str | None,
        application_ref: str,
    ) -> Prefill:
        headers = {"Authorization": authorization} if authorization else {}
        body = {"applicant_id": applicant_id, "matter": matter, "bundle": bundle, "application_ref": application_ref}
        try:
            response = await asyncio.wait_for(self._client.post("/prefill", json=body, headers=headers), self.timeout)
        except TimeoutError:
            return self._degraded("forms did not answer in time", outage=True)
        except httpx.HTTPError as exc:
            return self._degraded(f"forms unreachable ({type(exc).__name__})", outage=True)
        if response.status_code != 200:
            return self._degraded(f"forms answered {response.status_code}", outage=response.status_code >= 500)
        try:
            data = response.json()
            fields = [f for f in data.get("fields", []) if isinstance(f, dict) and isinstance(f.get("key"), str)]
            materials = [m for m in data.get("materials", []) if isinstance(m, dict) and isinstance(m.get("code"), str)]
            missing = [k for k in data.get("missing_fields", []) if isinstance(k, str)]
            version = data.get("catalog_version")
        except (ValueError, AttributeError, TypeError):
            return self._degraded("forms answered an unreadable body")
        return Prefill(
            degraded=False,
            fields=fields,
            missing_fields=missing,
            materials=materials,
            catalog_version=version if isinstance(version, int) else None,
        )

    def _degraded(self, reason: str, *, outage: bool = False) -> Prefill:
        log.warning("prefill degraded; the clerk fills the form by hand", reason=reason)
        return Prefill(degraded=True, reason=reason, outage=outage)

    async def aclose(self) -> None:
        await self._client.aclose()
