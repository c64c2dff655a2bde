"""Applications pushed through the front desk, the department and the issuance window over REST, as staff
would, retrying through outages; and the audit that reads everything back through the same APIs.

One application is one individual-business registration (SCJG-001 of the demo catalogue: decided on the
spot in one step, a business licence as result) at the suite's own hall, without a ticket (acceptance
opens a draft for a matter directly). Every applicant is new, so a holder's licence list names exactly the
licences of one application.
"""

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from shared.auth import SigningKey, mint_token
from shared.infra import wait_for
from shared.testing import new_id_number

HALL = "CHAOS"
MATTER = "SCJG-001"
DEPARTMENT = "SCJG"
# What acceptance's history shows for a collected SCJG-001 application, each step once.
HISTORY = ("draft", "accepted", "in_approval", "approved", "licence_issued", "result_ready", "collected")
# How far a case got, in order: the audit names the first step an application did not reach.
STAGES = ("new", "opened", "accepted", "task_opened", "decided", "ready", "handed_over", "collected")


class Unavailable(Exception):
    """A service did not answer usefully before the case's deadline."""


@dataclass
class Case:
    """One application the driver pushes, and what it saw on the way."""

    n: int
    phase: str
    id_number: str = field(default_factory=new_id_number)
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    application_id: str | None = None
    tracking_code: str | None = None
    task_id: str | None = None
    stage: str = "new"
    # why requests were sent again, e.g. {"acceptance 500": 3, "approval ConnectError": 2}
    retries: Counter[str] = field(default_factory=Counter)
    error: str | None = None  # why the driver gave up on it
    started: float | None = None
    finished: float | None = None

    def reached(self, stage: str) -> bool:
        return STAGES.index(self.stage) >= STAGES.index(stage)


class Staff:
    """The staff tokens and the services' addresses, and one HTTP client with retries."""

    def __init__(self, key: SigningKey, urls: dict[str, str]) -> None:
        self.urls = urls
        self.http = httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=32))

        def auth(role: str, **claims: Any) -> dict[str, str]:
            token = mint_token(key, sub=f"chaos-{role}", roles=[role], ttl_seconds=6 * 3600, **claims)
            return {"Authorization": f"Bearer {token}"}

        self.clerk = auth("clerk", halls=[HALL])
        self.approver = auth("approver", departments=[DEPARTMENT])
        self.issuance_clerk = auth("issuance_clerk", halls=[HALL])

    async def send(
        self,
        case: Case | None,
        method: str,
        service: str,
        path: str,
        *,
        until: float,
        headers: dict[str, str],
        retry_on: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send until the service gives an answer: no answer, 5xx and 429 (and ``retry_on``) are sent again
        with a short backoff until ``until``. Only idempotent requests, or ones whose repeat is safe (an
        Idempotency-Key, a conflict that the caller resolves by reading), come here."""
        delay, last = 0.1, ""
        while True:
            try:
                response = await self.http.request(
                    method, self.urls[service] + path, headers=headers, **kwargs
                )
                if (
                    response.status_code < 500
                    and response.status_code != 429
                    and response.status_code not in retry_on
                ):
                    return response
                last, reason = f"{response.status_code} {response.text[:200]}", str(response.status_code)
            except httpx.HTTPError as exc:  # refused while down, reset by a kill, timed out while stuck
                last, reason = repr(exc)[:200], type(exc).__name__
            if case is not None:
                case.retries[f"{service} {reason}"] += 1
            if time.monotonic() + delay > until:
                raise Unavailable(f"{method} {service}{path}: {last}")
            await asyncio.sleep(delay)  # backoff between attempts (not a wait for a condition)
            delay = min(delay * 2, 1.0)

    async def poll(self, case: Case, what: str, probe: Any, *, until: float) -> Any:
        """Poll ``probe()`` (None until the state is there) until ``until``."""
        try:
            return await wait_for(probe, timeout=max(until - time.monotonic(), 0), interval=0.3, message=what)
        except TimeoutError as exc:
            raise Unavailable(f"{what} not seen: {exc}") from exc


async def wait_for_catalogue(staff: Staff, *, timeout: float = 60) -> None:
    """Wait until acceptance knows the matter: the stack publishes the demo catalogue just before its banner,
    and acceptance learns it from catalog events a moment later. The probe is one draft, never submitted,
    opened again and again under one Idempotency-Key (so it stays one draft)."""
    probe = Case(n=0, phase="probe")
    until = time.monotonic() + timeout

    async def opened() -> bool:
        response = await staff.send(
            probe,
            "POST",
            "acceptance",
            "/applications",
            until=until,
            headers=staff.clerk | {"Idempotency-Key": probe.idempotency_key},
            json={
                "hall": HALL,
                "matter": MATTER,
                "applicant": {"type": "natural_person", "id_number": probe.id_number, "name": "探针"},
            },
        )
        return response.status_code in (200, 201)

    await wait_for(opened, timeout=timeout, interval=0.3, message=f"acceptance to know {MATTER}")


def _json(response: httpx.Response, *codes: int) -> Any:
    if response.status_code not in (codes or (200,)):
        raise AssertionError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:300]}"
        )
    return response.json()


async def drive(staff: Staff, case: Case, *, until: float) -> None:
    """Take one application from the front desk to the hand-over of its licence; every step is safe to
    repeat, because the answer to a step may be lost in a fault (the step done, the response not sent)."""
    case.started = time.monotonic()
    applicant = {
        "type": "natural_person",
        "id_number": case.id_number,
        "name": "李四",
        "mobile": "13712345678",
    }
    # open: a retried request with the same Idempotency-Key returns the draft it opened (200); 409 while
    # the first attempt is still being handled
    opened = _json(
        await staff.send(
            case,
            "POST",
            "acceptance",
            "/applications",
            until=until,
            retry_on=(409,),
            headers=staff.clerk | {"Idempotency-Key": case.idempotency_key},
            json={"hall": HALL, "matter": MATTER, "applicant": applicant},
        ),
        200,
        201,
    )
    case.application_id, case.stage = opened["id"], "opened"
    app_path = f"/applications/{case.application_id}"
    # submit with complete materials: accepted on the spot; 409 if an earlier attempt already did it
    submitted = await staff.send(
        case,
        "POST",
        "acceptance",
        f"{app_path}/submit",
        until=until,
        headers=staff.clerk,
        json={
            "values": {
                "person.name": "李四",
                "person.id_number": case.id_number,
                "person.mobile": "13712345678",
                "entity.name": f"李四小吃店{case.n}",
                "premises.address": "中山市石岐区民族路8号",
                "entity.business_scope": "小吃服务",
            },
            "presented": ["ID_CARD", "PREMISES_PROOF"],
        },
    )
    if submitted.status_code == 409:
        submitted = await staff.send(case, "GET", "acceptance", app_path, until=until, headers=staff.clerk)
    view = _json(submitted)
    assert view["status"] == "accepted" and view["tracking_code"], view
    case.tracking_code, case.stage = view["tracking_code"], "accepted"

    # approval opens a task from application.accepted (through the broker)
    async def task_id() -> str | None:
        response = await staff.send(case, "GET", "approval", app_path, until=until, headers=staff.approver)
        members = response.json().get("members", []) if response.status_code == 200 else []
        return members[0]["task_id"] if members and members[0].get("task_id") else None

    case.task_id = await staff.poll(case, "approval task", task_id, until=until)
    case.stage = "task_opened"
    task_path = f"/tasks/{case.task_id}"
    # claim (a repeat by the same approver is answered 200) and approve (409 once approved)
    claimed = await staff.send(
        case, "POST", "approval", f"{task_path}/claim", until=until, headers=staff.approver
    )
    if claimed.status_code == 409:  # only if an earlier attempt got further than the claim
        claimed = await staff.send(case, "GET", "approval", task_path, until=until, headers=staff.approver)
    _json(claimed)
    approved = await staff.send(
        case,
        "POST",
        "approval",
        f"{task_path}/approve",
        until=until,
        headers=staff.approver,
        json={"opinion": "准予登记"},
    )
    if approved.status_code == 409:
        approved = await staff.send(case, "GET", "approval", task_path, until=until, headers=staff.approver)
    task = _json(approved)
    assert task["status"] == "approved", task
    case.stage = "decided"
    pickup_path = f"/pickups/{case.tracking_code}"

    async def pickup_view() -> httpx.Response:
        return await staff.send(
            case,
            "GET",
            "issuance",
            pickup_path,
            until=until,
            headers=staff.issuance_clerk,
            params={"hall": HALL},
        )

    # issuance releases the licence from approval.decided (through the broker)
    async def ready() -> dict[str, Any] | None:
        response = await pickup_view()
        view = response.json() if response.status_code == 200 else {}
        return view if view.get("status") in ("ready", "collected") else None

    await staff.poll(case, "result ready at issuance", ready, until=until)
    case.stage = "ready"
    handed = await staff.send(
        case,
        "POST",
        "issuance",
        f"{pickup_path}/handover",
        until=until,
        headers=staff.issuance_clerk,
        json={"hall": HALL, "id_number": case.id_number},
    )
    if handed.status_code == 409:  # already handed over by an earlier attempt
        handed = await pickup_view()
    assert _json(handed)["status"] == "collected", handed.text
    case.stage = "handed_over"

    # acceptance follows delivery.collected (through the broker)
    async def collected() -> bool:
        response = await staff.send(case, "GET", "acceptance", app_path, until=until, headers=staff.clerk)
        return response.status_code == 200 and response.json()["status"] == "collected"

    await staff.poll(case, "acceptance shows collected", collected, until=until)
    case.stage, case.finished = "collected", time.monotonic()


async def drive_safely(staff: Staff, case: Case, *, until: float, slots: asyncio.Semaphore) -> None:
    """``drive`` within a concurrency slot; a case the driver cannot finish is recorded, not raised, so the
    others go on and the audit names all of them at once."""
    async with slots:
        try:
            await drive(staff, case, until=until)
        except (Unavailable, AssertionError) as exc:
            case.error = f"stopped at {case.stage}: {exc}"[:600]


@dataclass
class Finding:
    """What the audit found wrong with one application."""

    case: Case
    kind: str  # lost | doubled | disagrees | not_accepted
    details: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.case.n,
            "phase": self.case.phase,
            "application_id": self.case.application_id,
            "tracking_code": self.case.tracking_code,
            "kind": self.kind,
            "stage": self.case.stage,
            "driver_error": self.case.error,
            "details": self.details,
        }


async def audit(staff: Staff, cases: list[Case], *, until: float) -> list[Finding]:
    """Read every application back through the REST APIs and compare what the services say.

    lost: accepted, but not decided, issued and collected everywhere; doubled: two tasks, two results, two
    licences for one item, or a history step twice; disagrees: the services tell different stories.
    """
    slots = asyncio.Semaphore(8)

    async def one(case: Case) -> Finding | None:
        async with slots:
            return await _audit_one(staff, case, until=until)

    return [f for f in await asyncio.gather(*(one(c) for c in cases)) if f is not None]


async def _audit_one(staff: Staff, case: Case, *, until: float) -> Finding | None:
    if case.application_id is None or not case.reached("accepted"):
        return Finding(case, "not_accepted", [case.error or "the front desk never accepted it"])

    async def get(service: str, path: str, headers: dict[str, str], **params: Any) -> tuple[int, Any]:
        response = await staff.send(
            None, "GET", service, path, until=until, headers=headers, params=params or None
        )
        return response.status_code, response.json()

    _, app = await get("acceptance", f"/applications/{case.application_id}", staff.clerk)
    _, progress = await get("acceptance", f"/progress/{case.tracking_code}", {})
    decision_code, decision = await get("approval", f"/applications/{case.application_id}", staff.approver)
    pickup_code, pickup = await get(
        "issuance", f"/pickups/{case.tracking_code}", staff.issuance_clerk, hall=HALL
    )
    _, licences = await get("issuance", "/licences", staff.issuance_clerk, holder_id=case.id_number)
    members = decision.get("members", []) if decision_code == 200 else []
    results = pickup.get("items", []) if pickup_code == 200 else []
    items = app.get("items", [])
    history = app.get("history", [])
    steps = Counter((h["status"], h.get("item_id")) for h in history)

    doubled = [f"{n} approval tasks" for n in [len(members)] if n > 1]
    doubled += [f"{n} results at issuance" for n in [len(results)] if n > 1]
    doubled += [
        f"{n} licences for the holder: {[x['licence_no'] for x in licences]}"
        for n in [len(licences)]
        if n > 1
    ]
    doubled += [f"history step {s!r} x{n}" for (s, _), n in steps.items() if n > 1]
    doubled += [
        f"acceptance item lists licences {i['licence_nos']}"
        for i in items
        if len(i.get("licence_nos", [])) > 1
    ]
    if doubled:
        return Finding(case, "doubled", doubled)

    lost: list[str] = []
    if not members:
        lost.append(f"no approval task (approval answered {decision_code})")
    elif members[0]["status"] != "approved" or decision.get("status") != "decided":
        lost.append(f"not decided: approval says {decision.get('status')}/{members[0]['status']}")
    if not results or not results[0].get("document_no"):
        lost.append(f"no result at issuance (answered {pickup_code}: {pickup.get('status')})")
    elif pickup.get("status") != "collected":
        lost.append(f"issuance status {pickup.get('status')}")
    if not licences:
        lost.append("no licence in the library")
    if app.get("status") != "collected":
        lost.append(f"acceptance status {app.get('status')}")
    missing = [s for s in HISTORY if s not in {h["status"] for h in history}]
    if missing:
        lost.append(f"acceptance history lacks {missing}")
    if lost:
        return Finding(case, "lost", lost)

    disagrees: list[str] = []
    [item] = items
    [member] = members
    [result] = results
    [licence] = licences
    if item["task_id"] != member["task_id"] or member["task_id"] != case.task_id:
        disagrees.append(
            f"task: acceptance {item['task_id']}, approval {member['task_id']}, driver {case.task_id}"
        )
    if item["item_id"] != member["item_id"] or item["item_id"] != result["item_id"]:
        disagrees.append(
            f"item: acceptance {item['item_id']}, approval {member['item_id']}, issuance {result['item_id']}"
        )
    if not (item["licence_nos"] == [result["document_no"]] == [licence["licence_no"]]):
        disagrees.append(
            f"licence: acceptance {item['licence_nos']}, pickup {result['document_no']}, "
            f"library {licence['licence_no']}"
        )
    if item["status"] != "licence_issued" or result.get("decision") != "approved":
        disagrees.append(f"item status {item['status']}, issuance decision {result.get('decision')}")
    if tuple(h["status"] for h in history) != HISTORY:
        disagrees.append(f"history order {[h['status'] for h in history]}")
    times = [datetime.fromisoformat(h["at"]) for h in history]
    if times != sorted(times):
        disagrees.append("history not in time order")
    if progress.get("status") != app["status"]:
        disagrees.append(f"public progress says {progress.get('status')}, the desk {app['status']}")
    public = [(h["status"], h["at"]) for h in progress.get("history", [])]
    if public != [(h["status"], h["at"]) for h in history if h["status"] != "draft"]:
        disagrees.append(f"public history {[s for s, _ in public]} differs from the desk's")
    return Finding(case, "disagrees", disagrees) if disagrees else None
