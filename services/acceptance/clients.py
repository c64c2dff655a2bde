"""Synchronous calls from acceptance: forms ``POST /prefill`` on the hot path, with a short budget; and
ticketing's called ticket, read through when its ``ticket.called`` event has not arrived yet
(``TicketingClient``, at the end).

Prefill: whatever goes wrong (forms down, slow, answering an error or nonsense) the result is a degraded
prefill: no values, nothing checked off, and a reason for the clerk; the form is then typed by hand.
After ``failure_threshold`` consecutive failures forms is skipped for ``open_seconds`` (a circuit
breaker), then one probe call at a time goes through until one succeeds, so a hung forms costs the
hall one timeout per few calls, not one per application.

No retries: the clerk is waiting, the budget (1.5 s) is for one call, and the degraded form is the
fallback. A retry would spend the budget twice, and repeat forms' access-log entry for the applicant.

The breaker is hand-written on purpose (about 30 lines, below). Of the libraries: aiobreaker 1.2.0 is
unmaintained (last release 2021) and times its open state with naive ``datetime.now()``; purgatory
3.0.1 is asyncio-native but signals through exceptions (it raises its open state, and failures must be
raised into it, while this client classifies *results*: a 5xx is an outage, a 404 is not), runs each
call through a message bus and unit of work, times with the wall clock (an NTP step shifts the open
window), turns ``ttl=0``/``threshold=0`` into its defaults, and lets every concurrent call through
when half open. This one: monotonic clock, a single probe when half open, and its state as a metric
(``onewindow_forms_circuit_state``: 0 closed, 1 half open, 2 open) and one log line per transition.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx
from prometheus_client import Gauge
from pydantic import ValidationError

from shared.events.ticketing import TicketCalled
from shared.observability import get_logger

log = get_logger(__name__)

CircuitState = Literal["closed", "half_open", "open"]
_STATE_VALUE: dict[CircuitState, int] = {"closed": 0, "half_open": 1, "open": 2}
FORMS_CIRCUIT = Gauge(
    "onewindow_forms_circuit_state", "Breaker of acceptance's prefill calls: 0 closed, 1 half open, 2 open"
)


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
        self._probing = False  # a half-open probe call is under way
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        FORMS_CIRCUIT.set_function(lambda: _STATE_VALUE[self.circuit_state])  # read at scrape time

    @property
    def circuit_state(self) -> CircuitState:
        """closed (calls go to forms), open (forms skipped) or half_open (one probe call may go)."""
        if self.failures < self.failure_threshold:
            return "closed"
        return "open" if time.monotonic() < self._open_until else "half_open"

    @property
    def circuit_open(self) -> bool:
        """True while a call now would skip forms (open, or half open with the probe under way)."""
        state = self.circuit_state
        return state == "open" or (state == "half_open" and self._probing)

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
        probe = self.circuit_state == "half_open"
        if probe:
            self._probing = True
        try:
            result = await self._call(authorization=authorization, applicant_id=applicant_id, matter=matter,
                                      bundle=bundle, application_ref=application_ref)
        finally:
            if probe:
                self._probing = False
        self._record(outage=result.outage)
        return result

    def _record(self, *, outage: bool) -> None:
        """Count the call's outcome towards the breaker; log state changes."""
        before = self.circuit_state
        if outage:
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self._open_until = time.monotonic() + self.open_seconds
        else:
            self.failures, self._open_until = 0, 0.0
        after = self.circuit_state
        if (before == "closed") != (after == "closed"):
            if after == "closed":
                log.info("forms answers again; prefill circuit closed")
            else:
                log.warning("forms keeps failing; prefill circuit open", failures=self.failures,
                            open_seconds=self.open_seconds)

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


class TicketingUnavailable(Exception):
    """Ticketing could not say whether the ticket was called (down, slow, failing): retry shortly."""


@dataclass(frozen=True)
class TicketCall:
    """A called ticket as ticketing knows it: the ``ticket.called`` event it staged, and its flow's id."""

    event: TicketCalled
    correlation_id: str


class TicketingClient:
    """Reads a called ticket from ticketing ``GET /tickets/{id}/call`` when acceptance has not received
    its ``ticket.called`` event yet, so the clerk's first try right after call-next works.

    Only on that miss (the read model answers every later open), with the caller's bearer token (a
    clerk sees the tickets of their halls), a short budget and no retry: the clerk is waiting, and a
    503 with ``Retry-After`` tells the desk software when to try again.
    """

    def __init__(self, *, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout = timeout
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def called_ticket(self, *, authorization: str | None, ticket_id: str) -> TicketCall | None:
        """The ticket's last call, or None if ticketing does not know it, cannot show it to this caller,
        or it was never called; raises ``TicketingUnavailable`` when ticketing cannot answer."""
        headers = {"Authorization": authorization} if authorization else {}
        try:
            response = await asyncio.wait_for(
                self._client.get(f"/tickets/{quote(ticket_id, safe='')}/call", headers=headers), self.timeout
            )
        except TimeoutError as exc:
            log.warning("ticketing did not answer in time; the clerk retries")
            raise TicketingUnavailable("ticketing did not answer in time") from exc
        except httpx.HTTPError as exc:
            log.warning("ticketing unreachable; the clerk retries", error=type(exc).__name__)
            raise TicketingUnavailable(f"ticketing unreachable ({type(exc).__name__})") from exc
        if response.status_code in (403, 404, 422):  # another hall, unknown, not a ticket id
            return None
        if response.status_code != 200:
            log.warning("ticketing answered an error; the clerk retries", status=response.status_code)
            raise TicketingUnavailable(f"ticketing answered {response.status_code}")
        try:
            data = response.json()
            if not data.get("called_at") or not data.get("window"):
                return None  # waiting, never called
            event = TicketCalled(
                ticket_id=str(data["ticket_id"]), hall=data["hall"], number=data["number"],
                matter_code=data["matter_code"], window=data["window"], staff_id=data.get("staff_id"),
                called_at=data["called_at"], zone=data.get("zone"),
            )
            correlation_id = str(data["correlation_id"])
        except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
            raise TicketingUnavailable("ticketing answered an unreadable body") from exc
        return TicketCall(event=event, correlation_id=correlation_id)

    async def aclose(self) -> None:
        await self._client.aclose()
