"""Who may act on a task now: the roles each step allows, the current step, open and workable checks."""

from services.approval.models import DECIDED_STATES, OPEN_STATES, PAUSED_STATES, Task
from shared.auth import Principal, Role
from shared.problems import Conflict

# Who may act at each step; unknown step names fall back to approvers.
STEP_ROLES: dict[str, list[str]] = {
    "review": [Role.APPROVER],
    "inspection": [Role.APPROVER],
    "decision": [Role.APPROVER],
}


def current_step(task: Task) -> str | None:
    """Name of the step the task is at (None once decided)."""
    if task.status in DECIDED_STATES or not task.steps:
        return None
    return task.steps[min(task.step_index, len(task.steps) - 1)]["name"]


def acting_role(principal: Principal, allowed: list[str] | tuple[str, ...]) -> str:
    """The role the caller acts in (the first of ``allowed`` it holds)."""
    for role in allowed:
        if principal.has(role):
            return str(role)
    return min(principal.roles) if principal.roles else "unknown"


def check_step_role(task: Task, principal: Principal) -> str:
    """The caller must hold a role allowed at the task's current step; returns that role."""
    step = task.steps[min(task.step_index, len(task.steps) - 1)]
    allowed = step.get("roles") or [Role.APPROVER]
    if not principal.has(*allowed):
        raise Conflict(f"step {step['name']} needs one of the roles {', '.join(allowed)}")
    return acting_role(principal, allowed)


def check_open(task: Task) -> None:
    """409 unless the task still waits for a decision."""
    if task.status not in OPEN_STATES:
        raise Conflict(f"task is {task.status}")


def check_workable(task: Task, principal: Principal) -> str:
    """The task runs (not paused, not decided) and belongs to the caller; returns the acting role."""
    if task.status == "waiting_upstream":  # a bundle member: bundles.py opens it when the licence arrives
        raise Conflict("task waits for the licence of an earlier bundle member (前置事项证照尚未签发)")
    if task.status in PAUSED_STATES:
        raise Conflict(f"task is paused ({task.status}); resume it first")
    check_open(task)
    role = check_step_role(task, principal)
    if task.assignee != principal.sub:
        raise Conflict("claim the task before acting on it")
    return role
