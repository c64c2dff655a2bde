"""Approval request and response models (requests forbid extra fields)."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
