"""Bundles (一件事) in approval: members waiting for an earlier member's licence, and the lead department
(牵头部门) that sees every member, is alerted when one runs late and issues one combined decision notice.

- A member whose ``awaits`` an earlier member's licence opens ``waiting_upstream`` with its clock stopped
  (tasks.py); licence.issued of the producing item marks the material satisfied by that licence number and
  opens it (pending). Its time limit counts from the day the licence was issued: the waiting working days
  are paused days, exactly like a supplement pause, so reports stay right.
- A ``parallel`` member starts at once but cannot be approved before every awaited licence arrived.
- A denied (or closed) member ends every open member that waits for it, as denied with the reason
  前置事项未获批准; approval.decided tells acceptance and issuance as for any decision.
- The lead department comes with application.accepted (``lead_department``): versioned with the application,
  so a later catalogue change of the lead does not move bundles already in approval.
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime
from html import escape
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.approval import deadlines, history, pauses, repository
from services.approval.deadlines import ServiceClock
from services.approval.models import OPEN_STATES, Application, BundleAlert, BundleNotice, Task
from shared.auth import Principal
from shared.events.approvals import (
    ApprovalTaskOpened,
    BundleDecisionNoticeIssued,
    BundleMemberOverdue,
)
from shared.events.licences import LicenceIssued
from shared.outbox import Outbox
from shared.problems import Conflict, Forbidden, NotFound

UPSTREAM_DENIED = "前置事项未获批准"


# ---- waiting for the upstream licence ---------------------------------------------------------------


def missing_licences(task: Task) -> list[dict[str, Any]]:
    """What the task still waits for (awaited licences that have not arrived)."""
    return [a for a in task.awaits or [] if not a.get("licence_no")]


def check_may_approve(task: Task) -> None:
    """409 while a (parallel) member still waits for an earlier member's licence."""
    missing = missing_licences(task)
    if missing:
        names = ", ".join(f"{a['licence_type']} of {a['from_matter']}" for a in missing)
        raise Conflict(
            f"前置事项证照尚未签发: the task needs {names}; approve it once the licence has been issued",
            waiting_for=missing,
        )


async def licence_issued(
    session: AsyncSession, *, event: LicenceIssued, clock: ServiceClock, outbox: Outbox
) -> None:
    """A licence of one of our applications: remember it on its task, satisfy the members awaiting it and
    open those that waited (pending, approval.task_opened). Repeated events change nothing."""
    application = await repository.lock_application(session, application_id=event.application_id)
    if application is None:
        return  # not an application approval knows (e.g. a licence imported from elsewhere)
    tasks = await repository.tasks_of_application(session, application_id=event.application_id, lock=True)
    on = clock.local_date(event.issued_at)
    now = datetime.now(UTC)
    for task in tasks:
        if task.item_id == event.item_id and task.licence_no is None:
            task.licence_no = event.licence_no
        hits = [
            a
            for a in task.awaits or []
            if a["from_item_id"] == event.item_id
            and a["licence_type"] == event.licence_type
            and not a.get("licence_no")
        ]
        if not hits or task.status not in OPEN_STATES:
            continue
        arrived = {a["material"] for a in hits}
        task.awaits = [
            a | {"licence_no": event.licence_no, "arrived_at": event.issued_at.isoformat()}
            if a in hits
            else a
            for a in task.awaits
        ]
        task.materials = [
            m | {"status": "licence", "licence_no": event.licence_no} if m.get("code") in arrived else m
            for m in task.materials
        ]
        history.record(
            session,
            task,
            actor=history.SYSTEM,
            role=history.SYSTEM,
            action="upstream_licence_arrived",
            data={
                "licence_no": event.licence_no,
                "licence_type": event.licence_type,
                "from_matter": event.matter_code,
                "materials": sorted(arrived),
            },
            at=now,
        )
        if task.status == "waiting_upstream" and not missing_licences(task):
            await _open_waiting(session, task=task, on=on, outbox=outbox, correlation_id=application.correlation_id)
    await session.flush()


async def _open_waiting(
    session: AsyncSession, *, task: Task, on: date, outbox: Outbox, correlation_id: str | None
) -> None:
    """Start a waiting member's clock on ``on`` (the licence's day): the waited working days are paused days."""
    paused = pauses.resume_clock(task, on=on)
    history.record(
        session,
        task,
        actor=history.SYSTEM,
        role=history.SYSTEM,
        action="upstream_opened",
        data={
            "waited_working_days": paused,
            "promised_due": task.promised_due.isoformat(),
            "legal_due": task.legal_due.isoformat(),
        },
    )
    await outbox.add(
        session,
        ApprovalTaskOpened(
            application_id=task.application_id,
            item_id=task.item_id,
            task_id=task.id,
            matter_code=task.matter_code,
            department=task.department,
            promised_due=task.promised_due,
            legal_due=task.legal_due,
            at=datetime.now(UTC),
        ),
        hall=task.hall,
        correlation_id=correlation_id or task.correlation_id,
    )


def awaited_by(tasks: Sequence[Task], *, item_id: str) -> list[str]:
    """Item ids of open members that wait for ``item_id``'s licence."""
    return [
        t.item_id
        for t in tasks
        if t.status in OPEN_STATES and any(a["from_item_id"] == item_id and not a.get("licence_no") for a in t.awaits or [])
    ]


async def close_dependants(
    session: AsyncSession, *, task: Task, outbox: Outbox, clock: ServiceClock, now: datetime
) -> list[Task]:
    """After ``task`` was denied: end every open member waiting for it (and for those, transitively) as
    denied with 前置事项未获批准; each emits approval.decided (after this function the caller counts
    open tasks, so the last event of the application says it is decided)."""
    tasks = await repository.tasks_of_application(session, application_id=task.application_id, lock=True)
    ended: list[Task] = []
    failed = {task.item_id: task}
    changed = True
    while changed:
        changed = False
        for t in tasks:
            if t.status not in OPEN_STATES:
                continue
            upstream = next((failed[a["from_item_id"]] for a in t.awaits or [] if a["from_item_id"] in failed), None)
            if upstream is None:
                continue
            reason = f"{UPSTREAM_DENIED}：{upstream.matter_name or upstream.matter_code}（{upstream.matter_code}）"
            history.record(
                session,
                t,
                actor=history.SYSTEM,
                role=history.SYSTEM,
                action="closed_upstream_denied",
                reason=reason,
                data={"upstream_task_id": upstream.id, "upstream_matter": upstream.matter_code},
                at=now,
            )
            t.status = t.decision = "denied"
            t.reason = reason
            t.decided_by = history.SYSTEM
            t.decided_at = now
            t.decided_on = clock.today()
            t.paused_since = None
            t.assignee = None
            failed[t.item_id] = t
            ended.append(t)
            changed = True
    await session.flush()
    return ended


# ---- the lead department: alerts ------------------------------------------------------------------------


async def member_late(session: AsyncSession, *, task: Task, outbox: Outbox, as_of: date, now: datetime) -> bool:
    """Alert the bundle's lead department that ``task`` ran late: one stored alert and one
    approval.bundle_member_overdue per member, whatever later sweeps find. True if alerted now."""
    if task.bundle_code is None:
        return False
    application = await repository.get_application(session, application_id=task.application_id)
    if application is None or not application.lead_department:
        return False
    inserted = await session.execute(
        insert(BundleAlert)
        .values(
            application_id=task.application_id,
            task_id=task.id,
            kind="member_late",
            lead_department=application.lead_department,
            department=task.department,
            matter_code=task.matter_code,
            promised_due=task.promised_due,
            as_of=as_of,
        )
        .on_conflict_do_nothing()
        .returning(BundleAlert.id)
    )
    if inserted.first() is None:
        return False
    await outbox.add(
        session,
        BundleMemberOverdue(
            application_id=task.application_id,
            item_id=task.item_id,
            task_id=task.id,
            matter_code=task.matter_code,
            department=task.department,
            bundle_code=task.bundle_code,
            lead_department=application.lead_department,
            promised_due=task.promised_due,
            at=now,
        ),
        hall=task.hall,
        correlation_id=application.correlation_id or task.correlation_id,
    )
    return True


# ---- the lead department: views and the combined notice ---------------------------------------------------


def _check_lead(principal: Principal, application: Application) -> None:
    if not application.lead_department:
        raise NotFound(f"application {application.application_id} is not a bundle with a lead department")
    if not principal.may_act_for_department(application.lead_department):
        raise Forbidden(f"only the lead department {application.lead_department} sees this bundle")


async def lead_bundles(
    session: AsyncSession, *, principal: Principal, status: str | None, limit: int, offset: int
) -> list[tuple[Application, list[Task], list[BundleAlert], BundleNotice | None]]:
    """Bundles whose lead department is one of the caller's, newest first, with members, alerts, notice."""
    query = select(Application).where(Application.lead_department.is_not(None))
    if "*" not in principal.departments:
        query = query.where(Application.lead_department.in_(sorted(principal.departments)))
    if status:
        query = query.where(Application.status == status)
    query = query.order_by(Application.created_at.desc(), Application.application_id).limit(limit).offset(offset)
    applications = list((await session.execute(query)).scalars())
    ids = [a.application_id for a in applications]
    if not ids:
        return []
    tasks = (await session.execute(select(Task).where(Task.application_id.in_(ids)))).scalars()
    alerts = (await session.execute(select(BundleAlert).where(BundleAlert.application_id.in_(ids)))).scalars()
    notices = (await session.execute(select(BundleNotice).where(BundleNotice.application_id.in_(ids)))).scalars()
    by_app: dict[str, list[Task]] = {i: [] for i in ids}
    for t in tasks:
        by_app[t.application_id].append(t)
    alerts_of: dict[str, list[BundleAlert]] = {i: [] for i in ids}
    for alert in alerts:
        alerts_of[alert.application_id].append(alert)
    notice_of = {n.application_id: n for n in notices}
    return [
        (a, _ordered(a, by_app[a.application_id]), sorted(alerts_of[a.application_id], key=lambda x: x.id),
         notice_of.get(a.application_id))
        for a in applications
    ]


def _ordered(application: Application, tasks: Sequence[Task]) -> list[Task]:
    """Members in the bundle's order (the application's item order)."""
    order = {item_id: i for i, item_id in enumerate(application.item_ids)}
    return sorted(tasks, key=lambda t: order.get(t.item_id, len(order)))


async def lead_bundle(
    session: AsyncSession, *, application_id: str, principal: Principal
) -> tuple[Application, list[Task], list[BundleAlert], BundleNotice | None]:
    """One bundle for its lead department: 404 unknown, 403 for other departments."""
    application = await repository.get_application(session, application_id=application_id)
    if application is None:
        raise NotFound(f"application {application_id} does not exist")
    _check_lead(principal, application)
    tasks = await repository.tasks_of_application(session, application_id=application_id)
    alerts = (
        await session.execute(
            select(BundleAlert).where(BundleAlert.application_id == application_id).order_by(BundleAlert.id)
        )
    ).scalars()
    notice = await session.get(BundleNotice, application_id)
    return application, _ordered(application, tasks), list(alerts), notice


def overall_due(tasks: Sequence[Task], *, as_of: date, warning_days: int) -> date | None:
    """The bundle's due date: the latest member's promised date (as the clock stands on ``as_of``)."""
    dues = [deadlines.clock_of(t, as_of=as_of, warning_days=warning_days)["promised_due"] for t in tasks]
    return max(dues) if dues else None


async def issue_notice(
    session: AsyncSession,
    *,
    application_id: str,
    principal: Principal,
    outbox: Outbox,
    clock: ServiceClock,
) -> tuple[BundleNotice, bool]:
    """The combined decision notice (一件事联合审批决定书): once every member is decided, by the lead
    department; issued once (a repeated request returns the same notice, False). 409 while members are open."""
    application = await repository.lock_application(session, application_id=application_id)
    if application is None:
        raise NotFound(f"application {application_id} does not exist")
    _check_lead(principal, application)
    existing = await session.get(BundleNotice, application_id)
    if existing is not None:
        return existing, False
    tasks = _ordered(application, await repository.tasks_of_application(session, application_id=application_id))
    still_open = [t for t in tasks if t.status in OPEN_STATES]
    if still_open:
        raise Conflict(
            f"{len(still_open)} member(s) are not decided yet: "
            + ", ".join(f"{t.matter_code} ({t.department}, {t.status})" for t in still_open),
            open_members=[t.matter_code for t in still_open],
        )
    now = datetime.now(UTC)
    today = clock.today()
    assert application.lead_department is not None
    members = [
        {
            "item_id": t.item_id,
            "matter_code": t.matter_code,
            "matter_name": t.matter_name,
            "department": t.department,
            "decision": t.decision or t.status,
            "reason": t.reason,
            "decided_on": t.decided_on.isoformat() if t.decided_on else None,
            "licence_type": t.result_licence_type,
            "licence_no": t.licence_no,
        }
        for t in tasks
    ]
    applicant = tasks[0].applicant if tasks else {}
    notice_no = f"LB-{application.lead_department}-{today:%Y%m%d}-{secrets.token_hex(3).upper()}"
    notice = BundleNotice(
        application_id=application_id,
        notice_no=notice_no,
        lead_department=application.lead_department,
        issued_by=principal.sub,
        issued_at=now,
        content={
            "notice_no": notice_no,
            "application_id": application_id,
            "application_no": application.application_no,
            "bundle_code": application.bundle_code,
            "lead_department": application.lead_department,
            "applicant": {"type": applicant.get("type"), "name": applicant.get("name"), "id_number": applicant.get("id_number")},
            "issued_on": today.isoformat(),
            "issued_at": now.isoformat(),
            "issued_by": principal.sub,
            "members": members,
            "approved": sum(1 for m in members if m["decision"] == "approved"),
            "denied": sum(1 for m in members if m["decision"] != "approved"),
        },
    )
    session.add(notice)
    await session.flush()
    await outbox.add(
        session,
        BundleDecisionNoticeIssued(
            application_id=application_id,
            application_no=application.application_no,
            bundle_code=application.bundle_code,
            lead_department=application.lead_department,
            notice_no=notice_no,
            members=members,
            issued_at=now,
        ),
        hall=application.hall,
        correlation_id=application.correlation_id,
    )
    await session.flush()
    return notice, True


async def get_notice(session: AsyncSession, *, application_id: str, principal: Principal) -> BundleNotice:
    """The issued combined notice, for the lead department; 404 before it is issued."""
    application = await repository.get_application(session, application_id=application_id)
    if application is None:
        raise NotFound(f"application {application_id} does not exist")
    _check_lead(principal, application)
    notice = await session.get(BundleNotice, application_id)
    if notice is None:
        raise NotFound("the combined decision notice has not been issued yet")
    return notice


_DECISIONS = {"approved": "准予许可", "denied": "不予许可", "revoked": "已撤销"}
_STYLE = (
    "@page{size:A4;margin:20mm}"
    "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;max-width:180mm;margin:0 auto;}"
    "h1{text-align:center;font-size:1.4em}table{border-collapse:collapse;width:100%}"
    "td,th{border:1px solid #444;padding:4px 8px;text-align:left}.sign{text-align:right;margin-top:3em}"
    "@media print{.noprint{display:none}}"
)


def notice_html(content: dict[str, Any]) -> str:
    """The printable A4 combined decision notice."""
    rows = "".join(
        f"<tr><td>{i}</td><td>{escape(m['matter_name'] or m['matter_code'])}（{escape(m['matter_code'])}）</td>"
        f"<td>{escape(m['department'])}</td><td>{escape(_DECISIONS.get(m['decision'], m['decision']))}"
        f"{'：' + escape(m['reason']) if m['decision'] != 'approved' and m.get('reason') else ''}</td>"
        f"<td>{escape(m['decided_on'] or '')}</td>"
        f"<td>{escape(m['licence_type'] or '')}{' ' + escape(m['licence_no']) if m.get('licence_no') else ''}</td></tr>"
        for i, m in enumerate(content["members"], start=1)
    )
    applicant = content.get("applicant") or {}
    body = (
        "<h1>一件事联合审批决定书</h1>"
        f"<p>编号：{escape(content['notice_no'])}</p>"
        f"<p>受理编号：{escape(content.get('application_no') or '')}　一件事：{escape(content.get('bundle_code') or '')}</p>"
        f"<p>申请人：{escape(applicant.get('name') or '')}</p>"
        f"<p>经各承办部门审查，现将本次一件事各事项的审批决定一并告知如下（准予 {content['approved']} 项，"
        f"不予 {content['denied']} 项）：</p>"
        "<table><tr><th>序号</th><th>事项</th><th>承办部门</th><th>审批决定</th><th>决定日期</th><th>证照</th></tr>"
        f"{rows}</table>"
        "<p>如对上述决定不服，可依法申请行政复议或者提起行政诉讼。</p>"
        f"<p class=\"sign\">牵头部门：{escape(content['lead_department'])}<br>{escape(content['issued_on'])}</p>"
    )
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>一件事联合审批决定书 '
        f"{escape(content['notice_no'])}</title><style>{_STYLE}</style></head><body>{body}"
        '<p class="noprint"><button onclick="window.print()">打印</button></p></body></html>'
    )
