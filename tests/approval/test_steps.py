"""Who may act on a task now, without a database: current step, step roles, open and workable checks."""

import pytest

from services.approval import steps
from services.approval.models import Task
from shared.auth import Principal, Role
from shared.problems import Conflict

REVIEW_THEN_DECIDE = [{"name": "review", "roles": ["approver"]}, {"name": "decision", "roles": ["approver"]}]


def principal(*roles: str, sub: str = "a-1") -> Principal:
    return Principal(sub=sub, roles=frozenset(roles), departments=frozenset({"SCJG"}))


def task(**fields) -> Task:
    values = {"status": "pending", "steps": REVIEW_THEN_DECIDE, "step_index": 0, "assignee": None}
    return Task(**(values | fields))


def test_current_step() -> None:
    assert steps.current_step(task()) == "review"
    assert steps.current_step(task(step_index=1)) == "decision"
    assert steps.current_step(task(step_index=7)) == "decision"  # clamped to the last step
    assert steps.current_step(task(status="supplement")) == "review"  # paused, still at its step
    assert steps.current_step(task(step_index=1, status="approved")) is None
    assert steps.current_step(task(steps=[])) is None


def test_acting_role_is_the_first_allowed_role_held() -> None:
    both = principal(Role.AUDITOR, Role.APPROVER)
    assert steps.acting_role(both, [Role.APPROVER, Role.AUDITOR]) == "approver"
    assert steps.acting_role(both, (Role.AUDITOR, Role.APPROVER)) == "auditor"
    assert steps.acting_role(principal(Role.LIAISON, Role.CLERK), [Role.APPROVER]) == "clerk"  # min of held
    assert steps.acting_role(principal(), [Role.APPROVER]) == "unknown"


def test_step_roles_decide_who_may_act() -> None:
    assert steps.check_step_role(task(), principal(Role.APPROVER)) == "approver"
    with pytest.raises(Conflict, match="step review needs one of the roles approver"):
        steps.check_step_role(task(), principal(Role.LIAISON))
    inspection = task(steps=[{"name": "inspection", "roles": ["auditor"]}])
    assert steps.check_step_role(inspection, principal(Role.AUDITOR)) == "auditor"
    unnamed_roles = task(steps=[{"name": "custom"}])  # no roles given: approvers
    assert steps.check_step_role(unnamed_roles, principal(Role.APPROVER)) == "approver"
    assert steps.STEP_ROLES["decision"] == [Role.APPROVER]


def test_open_and_workable() -> None:
    for status in ("pending", "supplement", "suspended"):
        steps.check_open(task(status=status))
    for status in ("approved", "denied", "revoked"):
        with pytest.raises(Conflict, match=f"task is {status}"):
            steps.check_open(task(status=status))
    me = principal(Role.APPROVER, sub="me")
    assert steps.check_workable(task(assignee="me"), me) == "approver"
    with pytest.raises(Conflict, match="claim the task"):
        steps.check_workable(task(assignee=None), me)
    with pytest.raises(Conflict, match="claim the task"):
        steps.check_workable(task(assignee="someone-else"), me)
    with pytest.raises(Conflict, match=r"paused \(suspended\); resume it first"):
        steps.check_workable(task(assignee="me", status="suspended"), me)
    with pytest.raises(Conflict, match="task is approved"):
        steps.check_workable(task(assignee="me", status="approved"), me)
