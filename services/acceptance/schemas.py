"""Acceptance request and response models (requests forbid extra fields)."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Code = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")


class ApplicantIn(BaseModel):
    """Who applies; the ID number is a resident ID (natural person) or a credit code (legal person)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["natural_person", "legal_person"]
    id_number: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    mobile: str | None = Field(default=None, max_length=20)


class ApplicationOpen(BaseModel):
    """Open an application for one matter or one bundle (一件事), at a window or online."""

    model_config = ConfigDict(extra="forbid")

    hall: str = Code
    matter: str | None = Field(default=None, min_length=1, max_length=40)
    bundle: str | None = Field(default=None, min_length=1, max_length=40)
    ticket_id: str | None = Field(default=None, min_length=1, max_length=64)
    channel: Literal["window", "web"] = "window"
    collect_hall: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")
    applicant: ApplicantIn

    @model_validator(mode="after")
    def _one_target(self) -> "ApplicationOpen":
        if self.matter and self.bundle:
            raise ValueError("give either matter or bundle, not both")
        if not (self.matter or self.bundle or self.ticket_id):
            raise ValueError("give a matter, a bundle or a called ticket")
        return self


class ApplicationUpdate(BaseModel):
    """Save form values and the materials handed in, on a draft."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(default_factory=dict, max_length=200)
    presented: list[str] | None = Field(default=None, max_length=100)
    collect_hall: str | None = Field(default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")


class CommitmentIn(BaseModel):
    """A signed commitment (容缺受理 / 告知承诺): the listed materials follow by a deadline."""

    model_config = ConfigDict(extra="forbid")

    materials: list[str] = Field(min_length=1, max_length=50)
    deadline_working_days: int = Field(ge=1, le=250)
    signatory: str = Field(min_length=1, max_length=200)
    signature: str = Field(min_length=1, max_length=4000, description="Reference or data of the signed commitment.")


class SubmitIn(BaseModel):
    """Submit for the material check; the last values and materials may come with it."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Any] = Field(default_factory=dict, max_length=200)
    presented: list[str] | None = Field(default=None, max_length=100)
    commitment: CommitmentIn | None = None


class SupplementIn(BaseModel):
    """Materials (and values) handed in later: after a one-time notice, a commitment or a 补正 request."""

    model_config = ConfigDict(extra="forbid")

    materials: list[str] = Field(default_factory=list, max_length=100)
    values: dict[str, Any] = Field(default_factory=dict, max_length=200)
    item_id: str | None = Field(default=None, max_length=64)
    commitment: CommitmentIn | None = None

    @model_validator(mode="after")
    def _something(self) -> "SupplementIn":
        if not (self.materials or self.values or self.commitment):
            raise ValueError("a supplement brings materials, values or a commitment")
        return self


class RefuseIn(BaseModel):
    """Refuse to accept (不予受理), with the reason printed on the notice."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=2, max_length=2000)


class MaterialView(BaseModel):
    code: str
    name: str
    required: bool
    tolerable_missing: bool
    status: str  # present | licence | from_bundle | committed | missing | not_provided
    licence_no: str | None = None
    from_matter: str | None = None  # from_bundle: the earlier member of the bundle that produces it


class ItemView(BaseModel):
    item_id: str
    matter_code: str
    matter_name: str
    department: str
    status: str
    promised_date: date | None = None
    materials: list[MaterialView] = []
    commitment: dict[str, Any] | None = None
    task_id: str | None = None  # the approval task, once the department opened it
    licence_nos: list[str] = []


class FieldView(BaseModel):
    key: str
    value: Any = None
    source: str | None = None
    verified: bool = False
    locked: bool = False


class HistoryView(BaseModel):
    """One step, in the order things happened (``at``), whatever order the events arrived in."""

    status: str
    at: datetime
    item_id: str | None = None
    note: str | None = None


class QuestionIn(BaseModel):
    """A pre-check question (预审咨询) to a department's approver about a draft; the draft goes with it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    department: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$",
                            description="A department of one of the draft's matters.")
    question: str = Field(min_length=2, max_length=2000)


class AnswerIn(BaseModel):
    """The approver's answer to a pre-check question."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    answer: str = Field(min_length=2, max_length=4000)


class QuestionView(BaseModel):
    """A pre-check question with the draft as asked about (personal data masked) and its answer."""

    id: str
    application_id: str
    department: str
    question: str
    draft: dict[str, Any]
    status: str  # open | answered
    asked_by: str
    asked_at: datetime
    answer: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None


class ApplicationView(BaseModel):
    """An application as staff and its applicant see it."""

    id: str
    application_no: str | None
    tracking_code: str | None
    status: str
    channel: str
    hall: str
    collect_hall: str
    ticket_id: str | None
    matter_code: str | None
    bundle_code: str | None
    title: str
    catalog_version: int
    applicant: dict[str, Any]
    degraded: bool
    prefill_note: str | None = None
    fields: list[FieldView]
    missing_fields: list[str]
    items: list[ItemView]
    notice: dict[str, Any] | None = None
    refusal_reason: str | None = None
    promised_date: date | None = None
    due_dates_provisional: bool = Field(
        default=False,
        description="Promised dates or commitment deadlines count through a year without the State Council's "
        "holiday notice (statutory holidays only): they may move when the notice is loaded.",
    )
    provisional_years: list[int] = Field(default_factory=list, description="Those years, e.g. [2027].")
    accepted_at: datetime | None = None
    correlation_id: str = Field(
        description="The flow's id, from the ticket to the licence: the called ticket's when opened from one, "
        "else the opening request's X-Correlation-ID, else the application id. Every event about the "
        "application carries it."
    )
    history: list[HistoryView] = []
    questions: list[QuestionView] = Field(
        default=[], description="Pre-check questions to departments' approvers about the draft, with answers."
    )


class ReadingBasis(BaseModel):
    """Whether an application is a clerk's reason to read an applicant's profile (asked by forms)."""

    application_id: str
    hall: str
    status: str
    applicant_matches: bool


class ApplicationSummary(BaseModel):
    """A row of a list: personal data masked."""

    id: str
    application_no: str | None
    status: str
    title: str
    hall: str
    collect_hall: str
    applicant_name: str | None
    applicant_id: str | None
    promised_date: date | None
    created_at: datetime
    correlation_id: str = Field(description="The flow's id, from the ticket to the licence.")


class ProgressView(BaseModel):
    """Public progress by tracking code: no personal data."""

    application_no: str | None
    status: str
    title: str
    hall: str
    collect_hall: str
    accepted_at: datetime | None
    promised_date: date | None
    items: list[dict[str, Any]]
    history: list[HistoryView]
