"""Request and response models of the issuance service (requests forbid extra fields)."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

HALL = r"^[A-Za-z0-9_-]{1,32}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ScanRequest(_Request):
    """What the scanner read from the receipt QR: the progress URL or the bare tracking code."""

    hall: str = Field(pattern=HALL, description="The clerk's hall.")
    qr: str = Field(min_length=8, max_length=500)


class HandoverRequest(_Request):
    """The clerk scanned the receipt QR, checked who collects, and hands over: with the holder's full ID
    number / credit code as typed or read from the ID card, or the one-time pickup code sent to the
    holder (``POST /pickups/{tracking_code}/pickup-code``). Exactly one of the two."""

    hall: str = Field(pattern=HALL, description="Hall of the issuance window handing over.")
    id_number: str | None = Field(
        default=None,
        pattern=r"^[0-9A-Za-z]{15,18}$",
        description="The holder's full ID number or unified social credit code (never shown on the pickup screen).",
        examples=["440102199003071234"],
    )
    pickup_code: str | None = Field(
        default=None, pattern=r"^[0-9]{6}$", description="The one-time code sent to the holder.", examples=["042917"]
    )
    window: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _one_proof(self) -> "HandoverRequest":
        if (self.id_number is None) == (self.pickup_code is None):
            raise PydanticCustomError(
                "one_identity_proof", "give exactly one of id_number and pickup_code"
            )
        return self


class PickupCodeRequest(_Request):
    """Send the holder a one-time pickup code (the collector shows it at the window)."""

    hall: str = Field(pattern=HALL, description="Hall of the issuance window asking.")


class PickupCodeSent(BaseModel):
    """Where the code went (masked); the code itself is only in the message to the holder."""

    application_id: str
    channel: str = Field(description="sms (the holder's known mobile) or app (a message to their account)")
    recipient: str = Field(description="The mobile, masked; empty for app messages.")
    expires_at: datetime


class PickupCheckView(BaseModel):
    """One step of the identity check at pickup: the pickup's audit trail."""

    method: str = Field(description="id_number | pickup_code | code_request")
    outcome: str = Field(description="failed | passed | sent")
    hall: str
    clerk: str
    at: datetime


class TransferRequest(_Request):
    """Move results waiting for pickup to another hall (the citizen asked to collect there)."""

    to_hall: str = Field(pattern=HALL)


class MailRequest(_Request):
    """Results sent by post (EMS or another carrier) with a tracking number."""

    hall: str = Field(pattern=HALL, description="The hall posting the results (the collection hall).")
    carrier: str = Field(min_length=1, max_length=50)
    tracking_no: str = Field(pattern=r"^[A-Za-z0-9]{6,30}$")
    address: str | None = Field(default=None, min_length=5, max_length=300)


class RevokeRequest(_Request):
    """Revocation by the issuing department, e.g. after a failed post-check (事后核查)."""

    reason: str = Field(min_length=2, max_length=500)


class DocumentCheck(_Request):
    """A licence file as a verifier holds it: the canonical text and its signature."""

    canonical: str = Field(min_length=2, max_length=65536, description="The signed canonical JSON text.")
    signature: str = Field(pattern=r"^[A-Za-z0-9_-]{40,100}$", description="Base64url Ed25519 signature.")


class ResultItem(BaseModel):
    item_id: str
    matter_code: str
    matter_name: str
    department: str
    decision: str
    kind: str | None
    document_no: str | None
    reason: str | None = None


class PickupView(BaseModel):
    """What the issuance window sees after scanning a receipt (holder masked)."""

    application_id: str
    application_no: str | None
    status: str
    collect_hall: str
    accepting_hall: str | None
    on_the_spot: bool
    holder_type: str
    holder_name: str | None
    holder_id: str | None
    items: list[ResultItem]
    ready_at: datetime | None
    collected_at: datetime | None
    collected_hall: str | None
    delivery_method: str | None
    mail_tracking_no: str | None
    correlation_id: str | None = Field(default=None, description="The flow's id, from the ticket to the licence.")


class LicenceView(BaseModel):
    """The full licence, for its holder and for staff: everything needed to verify it offline."""

    licence_no: str
    licence_type: str
    licence_type_name: str
    holder_type: str
    holder_id: str
    holder_name: str
    issuing_department: str
    valid_from: date
    valid_until: date | None
    data: dict[str, Any]
    status: str
    issued_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    canonical: str
    signature: str
    key_id: str
    qr_payload: str
    correlation_id: str | None = Field(default=None, description="The flow's id, from the ticket to the licence.")


class LicenceSummary(BaseModel):
    """A licence in a list (holder masked)."""

    licence_no: str
    licence_type: str
    licence_type_name: str
    holder_name: str | None
    holder_id: str | None
    status: str
    valid_from: date
    valid_until: date | None
    correlation_id: str | None = Field(default=None, description="The flow's id, from the ticket to the licence.")


class VerificationView(BaseModel):
    """What a verifier needs, and nothing more: the holder is masked, the licence data left out."""

    licence_no: str
    licence_type: str
    licence_type_name: str
    holder_type: str
    holder_name: str | None
    holder_id: str | None
    issuing_department: str
    valid_from: date
    valid_until: date | None
    status: str  # valid | revoked | expired
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    signature_valid: bool | None
    key_id: str


class DocumentCheckResult(BaseModel):
    signature_valid: bool
    canonical_form: bool
    licence_no: str | None = None
    status: str | None = None  # library status when the number is known


class PublicKeyView(BaseModel):
    key_id: str
    algorithm: str = "Ed25519"
    public_key_pem: str
    jwk: dict[str, str]
    keys: list[dict[str, str]] = Field(
        description="Every key licences may carry (current first, then retired)."
    )
    canonicalization: str
    signature_encoding: str = "base64url without padding"
