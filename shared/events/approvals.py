"""Events of the approval service (stream ``approvals``); key = application id."""

from datetime import date, datetime
from typing import Any

from shared.events.applications import Applicant
from shared.events.envelope import Event


class _ApprovalEvent(Event):
    STREAM = "approvals"

    application_id: str
    item_id: str
    task_id: str
    matter_code: str
    department: str

    def aggregate_key(self) -> str:
        return self.application_id


class ApprovalTaskOpened(_ApprovalEvent):
    """A department received an approval task."""

    TYPE = "approval.task_opened"
    promised_due: date | None = None
    legal_due: date | None = None
    at: datetime


class ApprovalDecided(_ApprovalEvent):
    """A task was decided; carries what issuance needs to produce the result."""

    TYPE = "approval.decided"
    decision: str  # approved | denied
    reason: str | None = None
    decided_at: datetime
    applicant: Applicant
    values: dict[str, Any] = {}
    result_licence_type: str | None = None
    matter_name: str = ""
    bundle_code: str | None = None
    bundle_item_ids: list[str] = []  # every item of the application, to release a bundle together
    collect_hall: str
    on_the_spot: bool = False
    application_no: str | None = None
    application_decided: bool = False  # every item of the application (bundle) has a decision now


class SupplementRequested(_ApprovalEvent):
    """The approver asked for a supplement (补正); the clock is paused."""

    TYPE = "approval.supplement_requested"
    materials: list[str] = []
    reason: str
    at: datetime


class ApprovalOverdue(_ApprovalEvent):
    """A task passed its promised date without a decision; for escalation. Fires once per task."""

    TYPE = "approval.overdue"
    promised_due: date
    at: datetime


class DecisionRevoked(_ApprovalEvent):
    """A failed post-check revoked an approval; issuance revokes the licence."""

    TYPE = "approval.decision_revoked"
    reason: str
    at: datetime
