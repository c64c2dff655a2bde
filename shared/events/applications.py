"""Events of the acceptance service (stream ``applications``); key = application id."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from shared.events.envelope import Event, PersonalDataViewed


class Applicant(BaseModel):
    """Who applies: a natural person (ID number) or a legal person (credit code)."""

    type: str  # natural_person | legal_person
    id_number: str  # resident ID number or unified social credit code
    name: str
    mobile: str | None = None


class MaterialState(BaseModel):
    """A material of the application as checked at the front desk."""

    code: str
    status: str  # present | licence | committed | missing | from_bundle (an earlier member produces it)
    licence_no: str | None = None


class Commitment(BaseModel):
    """A signed commitment (容缺/告知承诺): materials promised by a deadline."""

    materials: list[str]
    deadline: date
    signed_at: datetime
    signatory: str | None = None


class Awaited(BaseModel):
    """A material of a bundle member that an earlier member of the same application will produce."""

    material: str
    from_item_id: str
    from_matter: str
    licence_type: str


class AcceptedItem(BaseModel):
    """One matter of an accepted application; a bundle has several, each approved in parallel unless
    it ``awaits`` an earlier member's licence (then its task waits for licence.issued, or with
    ``parallel`` starts at once but is approved only once the licence arrived)."""

    item_id: str
    matter_code: str
    matter_name: str = ""
    department: str
    steps: list[str] = ["review", "decision"]
    on_the_spot: bool = False
    legal_limit_working_days: int
    promised_limit_working_days: int
    result_licence_type: str | None = None
    materials: list[MaterialState] = []
    commitment: Commitment | None = None
    awaits: list[Awaited] = []
    parallel: bool = False


class ApplicationAccepted(Event):
    """The front desk accepted an application (受理); approval opens one task per item."""

    TYPE = "application.accepted"
    STREAM = "applications"

    application_id: str
    application_no: str
    tracking_code: str | None = None  # printed as QR on the receipt; pickup scans it
    hall: str
    collect_hall: str
    channel: str
    ticket_id: str | None = None
    bundle_code: str | None = None
    lead_department: str | None = None  # a bundle's lead department (牵头部门), as of acceptance
    catalog_version: int
    applicant: Applicant
    values: dict[str, Any]
    items: list[AcceptedItem]
    accepted_at: datetime
    promised_date: date | None = None
    verified_fields: list[str] = []  # values forms vouched for (licence, registry, identity); locked at the desk
    prefill_degraded: bool = False  # forms was unavailable: every value was typed by hand

    def aggregate_key(self) -> str:
        return self.application_id


class ApplicationSupplemented(Event):
    """The applicant supplied what a supplement request (补正) or commitment asked for."""

    TYPE = "application.supplemented"
    STREAM = "applications"

    application_id: str
    item_id: str | None = None
    materials: list[str] = []
    values: dict[str, Any] = {}
    at: datetime

    def aggregate_key(self) -> str:
        return self.application_id


class ApplicationRefused(Event):
    """The front desk refused to accept (不予受理)."""

    TYPE = "application.refused"
    STREAM = "applications"

    application_id: str
    hall: str
    matter_code: str | None = None
    bundle_code: str | None = None
    reason: str
    at: datetime

    def aggregate_key(self) -> str:
        return self.application_id


class ApplicationViewed(PersonalDataViewed):
    """A person read an application (or its receipt or notices) with the applicant's data in full."""

    TYPE = "application.viewed"
    STREAM = "applications"
