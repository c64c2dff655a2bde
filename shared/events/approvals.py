"""Events of the approval service (stream ``approvals``); key = application id."""

from datetime import date, datetime
from typing import Any

from shared.events.applications import Applicant
from shared.events.envelope import Event, PersonalDataViewed


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
    # Bundle members waiting for this item's licence: issuance issues it at once instead of with the bundle.
    awaited_by: list[str] = []


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


class BundleMemberOverdue(_ApprovalEvent):
    """A member of a bundle passed its promised date: the lead department (牵头部门) is alerted, once per member."""

    TYPE = "approval.bundle_member_overdue"
    bundle_code: str | None = None
    lead_department: str
    promised_due: date
    at: datetime


class BundleDecisionNoticeIssued(Event):
    """The lead department issued the bundle's combined decision notice, listing every member's decision."""

    TYPE = "approval.bundle_decision_notice_issued"
    STREAM = "approvals"

    application_id: str
    application_no: str
    bundle_code: str | None = None
    lead_department: str
    notice_no: str
    members: list[dict[str, Any]] = []  # matter_code, matter_name, department, decision, decided_on, licence_*
    issued_at: datetime

    def aggregate_key(self) -> str:
        return self.application_id


class TaskViewed(PersonalDataViewed):
    """Department staff read an approval task with the applicant's data in full."""

    TYPE = "approval.task_viewed"
    STREAM = "approvals"
