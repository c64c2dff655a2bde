"""Approval request and response models (requests forbid extra fields)."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _no_blank_items(values: list[str]) -> list[str]:
    cleaned = [v.strip() for v in values]
    if any(not v for v in cleaned):
        raise ValueError("entries must not be blank")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("entries must be unique")
    return cleaned


class AssignRequest(_Request):
    assignee: str = Field(
        min_length=1, max_length=128, description="Staff id (token subject) of the approver."
    )


class OpinionRequest(_Request):
    opinion: str | None = Field(default=None, max_length=2000, description="Opinion recorded with the step.")


class DenyRequest(_Request):
    reason: str = Field(
        min_length=2, max_length=2000, description="Why the application is denied (shown to the applicant)."
    )


class SupplementRequest(_Request):
    materials: list[str] = Field(min_length=1, max_length=50, description="Material codes to supply (补正).")
    reason: str = Field(min_length=2, max_length=2000)

    _materials = field_validator("materials")(_no_blank_items)


class SuspendRequest(_Request):
    reason: str = Field(
        min_length=2, max_length=2000, description="Why a site inspection (现场勘查) is needed."
    )


class ResumeRequest(_Request):
    findings: str = Field(min_length=2, max_length=2000, description="What the site inspection found.")


class HandoverCreate(_Request):
    files: list[str] = Field(min_length=1, max_length=100, description="Files carried to the department.")
    note: str | None = Field(default=None, max_length=2000)
    received_by: str | None = Field(default=None, max_length=128, description="Who signed for them there.")

    _files = field_validator("files")(_no_blank_items)


class HandoverReturn(_Request):
    files: list[str] = Field(
        min_length=1, max_length=100, description="Files brought back from the department."
    )
    note: str | None = Field(default=None, max_length=2000)

    _files = field_validator("files")(_no_blank_items)


class DecisionDocumentIn(_Request):
    """The department's signed decision (决定书): its number, signatory and date, and the scanned PDF
    (base64) and/or its SHA-256 digest when the paper stays at the department."""

    number: str = Field(min_length=1, max_length=100, description="The document number (文号).")
    signed_by: str = Field(min_length=1, max_length=128, description="Who signed it at the department.")
    signed_on: date
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the signed PDF (hex)."
    )
    file_base64: str | None = Field(
        default=None, min_length=8, max_length=7_000_000, description="The signed PDF, base64 (at most 5 MiB)."
    )
    file_name: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _file_or_digest(self) -> "DecisionDocumentIn":
        if self.sha256 is None and self.file_base64 is None:
            raise ValueError("give the signed PDF (file_base64) or its sha256")
        return self


class LiaisonDecisionRequest(_Request):
    """A liaison officer records the decision the department signed, after the files came back."""

    decision: Literal["approved", "denied"]
    reason: str | None = Field(
        default=None, max_length=2000, description="The department's opinion; required for a denial."
    )
    document: DecisionDocumentIn


class SamplingRequest(_Request):
    department: str = Field(min_length=1, max_length=64)
    decided_from: date
    decided_to: date
    base_rate: float = Field(ge=0, le=1, description="Sampling rate of an average-risk case.")
    seed: str = Field(default="", max_length=64, description="Makes the draw reproducible for audits.")


class PostCheckResult(_Request):
    outcome: Literal["passed", "rectification", "revoke"]
    note: str = Field(min_length=2, max_length=2000)


class HistoryRead(BaseModel):
    at: datetime
    actor: str
    role: str
    action: str
    step: str | None
    reason: str | None
    data: dict[str, Any]


class HandoverRead(BaseModel):
    id: str
    task_id: str
    department: str
    files: list[str]
    sent_by: str
    sent_at: datetime
    sent_note: str | None
    received_by: str | None
    returned_files: list[str] | None
    returned_by: str | None
    returned_at: datetime | None
    returned_note: str | None


class DecisionDocumentRead(BaseModel):
    """A recorded decision document (the PDF itself at GET /tasks/{id}/decision-document)."""

    task_id: str
    handover_id: str
    number: str
    signed_by: str
    signed_on: date
    sha256: str
    file_name: str | None
    size: int | None
    has_file: bool
    recorded_by: str
    recorded_at: datetime


class PostCheckRead(BaseModel):
    id: str
    task_id: str
    application_id: str
    department: str
    reason: str
    risk_score: float | None
    status: str
    opened_on: date
    rectification_due: date | None
    result_note: str | None
    checked_by: str | None
    checked_at: datetime | None


class Clock(BaseModel):
    """Where a task stands against its time limits on ``as_of``."""

    as_of: date
    state: str  # on_track | warning | overdue | paused | on_time | late
    promised_due: date
    legal_due: date
    paused_days: int
    paused_since: date | None
    working_days_left: int | None
    legal_overdue: bool  # past the legal limit (法定时限), undecided, or decided after it
    due_dates_provisional: bool = Field(
        default=False,
        description="The due dates count through a year without the State Council's holiday notice (statutory "
        "holidays only, no adjusted working days): they may move when the notice is loaded.",
    )
    provisional_years: list[int] = Field(default_factory=list, description="Those years, e.g. [2027].")


class TaskSummary(BaseModel):
    """A worklist row; the applicant is masked."""

    id: str
    application_id: str
    application_no: str
    item_id: str
    bundle_code: str | None
    matter_code: str
    matter_name: str
    department: str
    status: str
    step: str | None
    assignee: str | None
    applicant_name: str | None
    applicant_id: str | None
    accepted_on: date
    clock: Clock
    overdue_notified: bool
    commitment_status: str | None
    correlation_id: str | None = Field(
        default=None, description="The flow's id, from the ticket to the licence (that of application.accepted)."
    )
    via_liaison: bool = Field(
        default=False,
        description="The department has no approvers in the hall: a liaison officer (联络官) carries the task.",
    )
    awaits: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Bundle member: materials an earlier member's licence provides (material, from_item_id, "
        "from_matter, licence_type, licence_no once arrived). A waiting_upstream task opens when all arrived.",
    )
    parallel: bool = Field(default=False, description="Started at once; approvable once every awaited licence arrived.")


class LiaisonTaskSummary(TaskSummary):
    """A row of the liaison worklist: where the files are."""

    files: Literal["in_hall", "at_department", "returned"] = Field(
        description="in_hall: not yet carried; at_department: a hand-over is open; returned: the files came back."
    )
    handover_id: str | None = Field(default=None, description="The latest hand-over.")


class TaskRead(TaskSummary):
    """A task in full, for its own department."""

    hall: str
    collect_hall: str
    on_the_spot: bool
    steps: list[dict[str, Any]]
    step_index: int
    applicant: dict[str, Any]
    values: dict[str, Any]
    materials: list[dict[str, Any]]
    result_licence_type: str | None
    decision: str | None
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None
    commitment_materials: list[str]
    commitment_delivered: list[str]
    commitment_deadline: date | None
    supplement_materials: list[str]
    history: list[HistoryRead]
    handovers: list[HandoverRead]
    post_checks: list[PostCheckRead]
    decision_document: DecisionDocumentRead | None = None


class ApplicationRead(BaseModel):
    """An application (bundle) as approval sees it: decided when every member task is."""

    application_id: str
    application_no: str
    bundle_code: str | None
    item_ids: list[str]
    status: str
    decided_at: datetime | None
    members: list[dict[str, Any]]
    correlation_id: str | None = Field(default=None, description="The flow's id, from the ticket to the licence.")


class SweepResult(BaseModel):
    as_of: date
    overdue: list[str]
    commitments_overdue: list[str]


class DepartmentReport(BaseModel):
    """Time-limit report of one department over tasks decided in [date_from, date_to]."""

    department: str
    date_from: date
    date_to: date
    decided: int
    on_time: int
    late: int
    on_time_rate: float | None
    average_working_days: float | None
    open: int
    open_overdue: int
    open_warning: int


class BundleMemberRead(TaskSummary):
    """A member task of a bundle as its lead department sees it (read-only outside its own department)."""

    decision: str | None = None
    reason: str | None = None
    decided_on: date | None = None
    result_licence_type: str | None = None
    licence_no: str | None = None
    late_alerted: bool = False


class BundleAlertRead(BaseModel):
    """An alert to the lead department: a member ran past its promised date."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    task_id: str
    department: str
    matter_code: str
    promised_due: date
    as_of: date
    created_at: datetime


class BundleRead(BaseModel):
    """A bundle (一件事) for its lead department (牵头部门): every member, the overall due date, alerts."""

    application_id: str
    application_no: str
    bundle_code: str | None
    lead_department: str
    status: str
    decided_at: datetime | None
    due_date: date | None = Field(description="The bundle's due date: the latest member's promised date.")
    members: list[BundleMemberRead]
    alerts: list[BundleAlertRead]
    notice_no: str | None = Field(default=None, description="The combined decision notice, once issued.")


class BundleNoticeMember(BaseModel):
    item_id: str
    matter_code: str
    matter_name: str
    department: str
    decision: str
    reason: str | None = None
    decided_on: date | None = None
    licence_type: str | None = None
    licence_no: str | None = None


class BundleNoticeRead(BaseModel):
    """The combined decision notice (一件事联合审批决定书): one document listing every member's decision."""

    notice_no: str
    application_id: str
    application_no: str
    bundle_code: str | None
    lead_department: str
    applicant: dict[str, Any]
    issued_on: date
    issued_at: datetime
    issued_by: str
    members: list[BundleNoticeMember]
    approved: int
    denied: int
