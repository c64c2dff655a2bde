"""Forms request and response models; requests forbid extra fields."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Code = Field(min_length=1, max_length=64)


INT32 = 2**31 - 1
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text and JSONB cannot hold NUL characters


def _reject_nul(value: Any, depth: int = 0) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif isinstance(value, dict) and depth < 50:
        for key, item in value.items():
            _reject_nul(key, depth + 1)
            _reject_nul(item, depth + 1)
    elif isinstance(value, list) and depth < 50:
        for item in value:
            _reject_nul(item, depth + 1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        _reject_nul(data)
        return data


# ---- the catalogue file (reference format) --------------------------------------------------------


class CodeName(_Strict):
    code: str = Code
    name: str = Field(min_length=1, max_length=200)


class ZoneDef(CodeName):
    departments: list[str] = []


class DepartmentDef(CodeName):
    """A department; ``resident_approvers`` false: no approvers in the hall, a liaison officer (联络官)
    carries its files and brings its signed decision back."""

    resident_approvers: bool = True


class LicenceTypeDef(CodeName):
    validity_years: int | None = Field(default=None, ge=1)


class FieldDefIn(_Strict):
    """An entry of the field dictionary."""

    key: str = Field(min_length=1, max_length=100)
    label_zh: str = Field(min_length=1, max_length=200)
    label_en: str = Field(default="", max_length=200)
    type: str = Field(min_length=1, max_length=1000)
    validator: str | None = None
    sensitivity: Literal["public", "personal", "sensitive"] = "public"


class MaterialDefIn(CodeName):
    satisfied_by_licence_type: str | None = None


class MatterMaterialIn(_Strict):
    code: str = Code
    required: bool = True
    tolerable_missing: bool = False  # may be missing on commitment (容缺)


class MatterFieldIn(_Strict):
    """A template entry with options, or a matter-specific field (then label_zh and type are needed)."""

    key: str = Field(min_length=1, max_length=100)
    required: bool = True
    label_zh: str | None = None
    label_en: str | None = None
    type: str | None = None
    validator: str | None = None
    sensitivity: Literal["public", "personal", "sensitive"] | None = None


class MatterDefIn(_Strict):
    """A matter (事项)."""

    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    department: str = Code
    category: str = Code
    applicant_type: Literal["natural_person", "legal_person"]
    materials: list[MatterMaterialIn] = []
    fields: list[str | MatterFieldIn] = []
    legal_limit_working_days: int = Field(ge=0, le=365)
    promised_limit_working_days: int = Field(ge=0, le=365)
    on_the_spot: bool = False
    notify_commit_approval: bool = False
    result_licence_type: str | None = None
    avg_handling_minutes: int = Field(default=15, ge=1, le=600)
    daily_share_weight: float = Field(default=1, ge=0)


class BundleDefIn(_Strict):
    """A bundle (一件事)."""

    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    lead_department: str = Code
    matters: list[str] = Field(min_length=2)
    # Members whose task starts at once although they need an earlier member's licence (checked when it arrives).
    parallel: list[str] = []


class CatalogFile(_Strict):
    """A catalogue file in the reference format (../shared/data/catalog-reference.json)."""

    about: str | None = None
    zones: list[ZoneDef] = []
    departments: list[DepartmentDef] = []
    categories: list[CodeName] = []
    fields: list[FieldDefIn]
    materials: list[MaterialDefIn] = []
    licence_types: list[LicenceTypeDef] = []
    matters: list[MatterDefIn] = Field(min_length=1)
    bundles: list[BundleDefIn] = []
    halls: list[dict[str, Any]] = []


class VersionOut(BaseModel):
    version: int
    status: str
    created_at: datetime | None = None
    published_at: datetime | None = None
    matters: int | None = None
    bundles: int | None = None


# ---- prefill, validation, verification ---------------------------------------------------------


class _FormTarget(_Strict):
    matter: str | None = Field(default=None, max_length=64)
    bundle: str | None = Field(default=None, max_length=64)
    catalog_version: int | None = Field(default=None, ge=1, le=INT32, description="Default: the latest published.")

    @model_validator(mode="after")
    def _one_target(self) -> "_FormTarget":
        if (self.matter is None) == (self.bundle is None):
            raise ValueError("give exactly one of matter or bundle")
        return self


class PrefillRequest(_FormTarget):
    applicant_id: str = Field(min_length=1, max_length=32, description="ID number or unified social credit code.")
    application_ref: str | None = Field(default=None, max_length=64, description="For the audit trail.")


class Provenance(BaseModel):
    source: str  # applicant_declared | department_verified | licence_issued | identity
    verified: bool
    application_ref: str | None = None
    licence_no: str | None = None
    matter_code: str | None = None
    department: str | None = None
    at: datetime | None = None


class PrefillField(BaseModel):
    key: str
    label_zh: str
    label_en: str
    type: str
    required: bool
    value: Any = None
    source: str | None = None
    verified: bool = False
    editable: bool = True
    provenance: Provenance | None = None


class PrefillMaterial(BaseModel):
    code: str
    name: str
    required: bool
    tolerable_missing: bool
    satisfied: bool
    licence_no: str | None = None
    licence_type: str | None = None


class PrefillResponse(BaseModel):
    applicant_id: str
    matter: str | None
    bundle: str | None
    catalog_version: int
    fields: list[PrefillField]
    missing_fields: list[str]
    materials: list[PrefillMaterial]


class ValidateRequest(_FormTarget):
    values: dict[str, Any]
    applicant_id: str | None = Field(
        default=None, max_length=32, description="When given, values verified sources supplied are locked."
    )
    application_ref: str | None = Field(default=None, max_length=64)
    partial: bool = Field(default=False, description="Skip the required-field check (a draft).")


class ValidateResponse(BaseModel):
    valid: bool
    matter: str | None
    bundle: str | None
    catalog_version: int


class VerificationRequest(_Strict):
    """A department confirms values of an applicant (department-verified source)."""

    department: str = Code
    values: dict[str, Any] = Field(min_length=1)
    application_ref: str | None = Field(default=None, max_length=64)


class ProfileValueOut(BaseModel):
    key: str
    value: Any
    source: str
    verified: bool
    provenance: Provenance


class LicenceOut(BaseModel):
    licence_no: str
    licence_type: str
    status: str
    valid_from: date
    valid_until: date | None
    matter_code: str | None


class ProfileOut(BaseModel):
    applicant_id: str
    applicant_type: str
    values: list[ProfileValueOut]
    licences: list[LicenceOut]


class AccessLogEntry(BaseModel):
    reader: str
    roles: list[str]
    purpose: str
    application_ref: str | None
    subject: str | None
    outcome: str = Field(default="read", description="read, or refused (a clerk's read without a reason)")
    hall: str | None = Field(default=None, description="The reader's hall, where known")
    department: str | None = Field(default=None, description="The reader's department (approval staff)")
    service: str = Field(default="forms", description="The service that showed the data")
    at: datetime


class AccessLog(BaseModel):
    applicant_id: str
    items: list[AccessLogEntry]


class ProfileSummary(BaseModel):
    applicant_id: str  # masked
    applicant_type: str
    values: int
    verified: int
    updated_at: datetime


class ProfilePage(BaseModel):
    items: list[ProfileSummary]
    limit: int
    offset: int
