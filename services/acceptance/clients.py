"""The one synchronous call on the hot path: forms ``POST /prefill``, with a short budget.

Whatever goes wrong (forms down, slow, answering an error or nonsense) the result is a degraded
prefill: no values, nothing checked off, and a reason for the clerk; the form is then typed by hand.
"""

import asyncio
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


class FormsClient:
    """Calls the forms service; one pooled HTTP client per process."""

    def __init__(self, *, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = timeout
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

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
        headers = {"Authorization": authorization} if authorization else {}
        body = {"applicant_id": applicant_id, "matter": matter, "bundle": bundle, "application_ref": application_ref}
        try:
            response = await asyncio.wait_for(self._client.post("/prefill", json=body, headers=headers), self.timeout)
        except TimeoutError:
            return self._degraded("forms did not answer in time")
        except httpx.HTTPError as exc:
            return self._degraded(f"forms unreachable ({type(exc).__name__})")
        if response.status_code != 200:
            return self._degraded(f"forms answered {response.status_code}")
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

    def _degraded(self, reason: str) -> Prefill:
        log.warning("prefill degraded; the clerk fills the form by hand", reason=reason)
        return Prefill(degraded=True, reason=reason)

    async def aclose(self) -> None:
        await self._client.aclose()
