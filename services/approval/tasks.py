"""Opening tasks from application.accepted: one per item, with its steps and due dates (a bundle member
that needs an earlier member's licence opens waiting_upstream: bundles.py opens it when the licence arrives)."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import deadlines, history, repository, steps
from services.approval.deadlines import ServiceClock
from services.approval.models import TaskHistory
from shared import context
from shared.auth import Role
from shared.events.applications import ApplicationAccepted
from shared.events.approvals import ApprovalTaskOpened
from shared.ids import approval_task_id
from shared.outbox import Outbox


async def open_tasks(
    session: AsyncSession,
    *,
    outbox: Outbox,
    event: ApplicationAccepted,
    clock: ServiceClock,
    correlation_id: str | None = None,
) -> list[str]:
    """One task per item of an accepted application; a repeated application opens nothing twice.

    ``correlation_id`` is the flow's (application.accepted's envelope); the application row keeps it
    for every later approval event, and each task shows it.
    """
    correlation_id = correlation_id or context.correlation_id.get()
    held = await repository.insert_application(
        session,
        values={
            "application_id": event.application_id,
            "application_no": event.application_no,
            "hall": event.hall,
            "collect_hall": event.collect_hall,
            "bundle_code": event.bundle_code,
            "lead_department": event.lead_department,
            "item_ids": [item.item_id for item in event.items],
            "status": "open",
            "correlation_id": correlation_id,
        },
    )
    # the flow the application row already holds wins (a repeated acceptance under another id changes nothing)
    flow = held or correlation_id
    accepted_on = clock.local_date(event.accepted_at)
    # departments without resident approvers (catalogue read model): their tasks go to the liaison officer
    via_liaison = await repository.liaison_departments(session, codes={i.department for i in event.items})
    opened: list[str] = []
    for item in event.items:
        names = (
            ["decision"] if item.on_the_spot and not item.steps else (item.steps or ["review", "decision"])
        )
        legal_due, promised_due = deadlines.due_dates(
            accepted_on=accepted_on,
            legal_limit=item.legal_limit_working_days,
            promised_limit=item.promised_limit_working_days,
            paused_days=0,
        )
        commitment = item.commitment
        task_id = approval_task_id(item.item_id)  # acceptance named it in the submit response already
        # a bundle member needing an earlier member's licence waits for it, clock stopped (bundles.py)
        waiting = bool(item.awaits) and not item.parallel
        values = {
            "id": task_id,
            "application_id": event.application_id,
            "item_id": item.item_id,
            "application_no": event.application_no,
            "hall": event.hall,
            "collect_hall": event.collect_hall,
            "bundle_code": event.bundle_code,
            "matter_code": item.matter_code,
            "matter_name": item.matter_name,
            "department": item.department,
            "applicant": event.applicant.model_dump(mode="json"),
            "values": event.values,
            "materials": [m.model_dump(mode="json") for m in item.materials],
            "result_licence_type": item.result_licence_type,
            "on_the_spot": item.on_the_spot,
            "steps": [
                {"name": s, "roles": [str(r) for r in steps.STEP_ROLES.get(s, [Role.APPROVER])]}
                for s in names
            ],
            "step_index": 0,
            "status": "waiting_upstream" if waiting else "pending",
            "paused_since": accepted_on if waiting else None,
            "awaits": [a.model_dump() | {"licence_no": None, "arrived_at": None} for a in item.awaits],
            "parallel": item.parallel and bool(item.awaits),
            "accepted_at": event.accepted_at,
            "accepted_on": accepted_on,
            "legal_limit": item.legal_limit_working_days,
            "promised_limit": item.promised_limit_working_days,
            "legal_due": legal_due,
            "promised_due": promised_due,
            "paused_days": 0,
            "commitment_materials": list(commitment.materials) if commitment else [],
            "commitment_delivered": [],
            "commitment_deadline": commitment.deadline if commitment else None,
            "commitment_status": "pending" if commitment and commitment.materials else None,
            "supplement_materials": [],
            "correlation_id": flow,
            "via_liaison": item.department in via_liaison,
        }
        if not await repository.insert_task(session, values=values):
            continue
        session.add(
            TaskHistory(
                task_id=task_id,
                actor=history.SYSTEM,
                role=history.SYSTEM,
                action="opened",
                step=names[0],
                data={"promised_due": promised_due.isoformat(), "legal_due": legal_due.isoformat()}
                | ({"waiting_for": [a.model_dump() for a in item.awaits]} if item.awaits else {}),
            )
        )
        if waiting:  # approval.task_opened follows when the upstream licence arrives
            opened.append(task_id)
            continue
        await outbox.add(
            session,
            ApprovalTaskOpened(
                application_id=event.application_id,
                item_id=item.item_id,
                task_id=task_id,
                matter_code=item.matter_code,
                department=item.department,
                promised_due=promised_due,
                legal_due=legal_due,
                at=datetime.now(UTC),
            ),
            hall=event.hall,
            correlation_id=flow,
        )
        opened.append(task_id)
    await session.flush()
    return opened


async def records_present(session: AsyncSession, *, task_id: str) -> set[str]:
    """Which of a task's rarer records exist (hand-overs, post checks, a decision document): a task's answer
    reads only those."""
    return await repository.records_present(session, task_id=task_id)
