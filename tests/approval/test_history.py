"""The audit trail against the real database: an entry records the step it was made at; nothing commits."""

from datetime import UTC, datetime

from services.approval import access, history
from shared.auth import Principal, Role
from tests.approval.approval_support import accepted, item, open_application


async def test_record_and_read_back_the_trail_without_committing(approval, infra, sender) -> None:
    [opened] = await open_application(approval, sender, accepted(item("HB-001", "HB")))
    staff = Principal(sub="hb-1", roles=frozenset({Role.APPROVER}), departments=frozenset({"HB"}))
    at = datetime(2026, 9, 24, 3, 0, tzinfo=UTC)
    sessionmaker = approval.app.state.runtime.sessionmaker
    async with sessionmaker() as session:
        task = await access.get_visible_task(session, task_id=opened.id, principal=staff)
        history.record(
            session,
            task,
            actor="hb-1",
            role="approver",
            action="noted",
            reason="材料待核",
            data={"n": 1},
            at=at,
        )
        task.status = "approved"  # once decided, entries carry no step
        history.record(session, task, actor=history.SYSTEM, role=history.SYSTEM, action="checked")
        await session.flush()
        trail = await history.of_task(session, task_id=opened.id)
        assert [(h.actor, h.role, h.action, h.step, h.reason) for h in trail] == [
            ("system", "system", "opened", "review", None),
            ("hb-1", "approver", "noted", "review", "材料待核"),
            ("system", "system", "checked", None, None),
        ]
        assert trail[1].data == {"n": 1} and trail[1].at == at
        assert trail[2].data == {} and trail[2].at is not None
        await session.rollback()
    async with sessionmaker() as session:  # record only adds to the caller's transaction
        assert [h.action for h in await history.of_task(session, task_id=opened.id)] == ["opened"]
