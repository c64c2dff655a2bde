"""Events of the forms service's catalogue (stream ``catalog``): published matters and bundles."""

from datetime import datetime

from pydantic import BaseModel

from shared.events.envelope import Event


class MaterialRequirement(BaseModel):
    """One material a matter asks for."""

    code: str
    name: str
    required: bool = True
    tolerable_missing: bool = False  # may be missing on commitment (容缺)
    satisfied_by_licence_type: str | None = None


class MatterPublished(Event):
    """A matter (事项) as of a published catalogue version; consumers upsert their read models."""

    TYPE = "catalog.matter_published"
    STREAM = "catalog"

    catalog_version: int
    code: str
    name: str
    department: str
    department_name: str = ""
    # False: the department has no approvers in the hall; its tasks go to the liaison officer (联络官)
    department_resident_approvers: bool = True
    category: str
    zone: str
    applicant_type: str  # natural_person | legal_person
    materials: list[MaterialRequirement] = []
    fields: list[str] = []
    legal_limit_working_days: int
    promised_limit_working_days: int
    on_the_spot: bool = False
    notify_commit_approval: bool = False
    result_licence_type: str | None = None
    avg_handling_minutes: int = 15
    daily_share_weight: float = 1.0
    steps: list[str] = ["review", "decision"]
    published_at: datetime

    def aggregate_key(self) -> str:
        return self.code


class BundleNeed(BaseModel):
    """A material of a bundle member that an earlier member's result licence provides."""

    material: str
    from_matter: str
    licence_type: str


class BundleMember(BaseModel):
    """One member of a bundle, in order: what it needs from earlier members, and whether it starts at once."""

    matter: str
    position: int
    needs: list[BundleNeed] = []
    parallel: bool = False  # starts at once; the needed licence is checked before approval


class BundlePublished(Event):
    """A bundle (一件事) as of a published catalogue version."""

    TYPE = "catalog.bundle_published"
    STREAM = "catalog"

    catalog_version: int
    code: str
    name: str
    lead_department: str
    matters: list[str]  # member codes in order (kept for consumers that only need these)
    members: list[BundleMember] = []  # empty from producers before members were derived
    published_at: datetime

    def aggregate_key(self) -> str:
        return self.code


class CatalogVersionPublished(Event):
    """A catalogue version is complete: every matter and bundle event of it precedes this one."""

    TYPE = "catalog.version_published"
    STREAM = "catalog"

    catalog_version: int
    matters: list[str]
    bundles: list[str]
    published_at: datetime

    def aggregate_key(self) -> str:
        return f"catalog-v{self.catalog_version}"
