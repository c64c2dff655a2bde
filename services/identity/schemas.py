"""Identity request and response models (requests forbid extra fields)."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.validators import check_credit_code, check_id_number, check_mobile


def _applicant_id(value: str) -> str:
    value = value.strip().upper()
    if len(value) == 18 and check_id_number(value) is None:
        return value
    if len(value) == 18 and check_credit_code(value) is None:
        return value
    raise ValueError("must be a valid resident ID number (GB 11643) or unified social credit code (GB 32100)")


def _mobile(value: str) -> str:
    error = check_mobile(value)
    if error:
        raise ValueError(error)
    return value


ApplicantId = Annotated[
    str,
    Field(min_length=18, max_length=18, description="GB 11643 resident ID number or GB 32100 credit code"),
    AfterValidator(_applicant_id),
]
Mobile = Annotated[
    str, Field(min_length=11, max_length=11, description="Mainland mobile number"), AfterValidator(_mobile)
]


class StaffLogin(BaseModel):
    """Staff or device account credentials."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class CodeRequest(BaseModel):
    """Ask for a one-time code: the applicant's ID number (or credit code) and mobile number."""

    model_config = ConfigDict(extra="forbid")

    id_number: ApplicantId
    mobile: Mobile


class CodeSent(BaseModel):
    """The code was sent if the number belongs to the applicant; the answer is the same either way."""

    challenge_id: str
    expires_in: int
    resend_after: int


class CodeLogin(BaseModel):
    """Exchange a one-time code for an applicant token."""

    model_config = ConfigDict(extra="forbid")

    challenge_id: str = Field(min_length=1, max_length=32)
    id_number: ApplicantId
    mobile: Mobile
    code: str = Field(pattern=r"^\d{6}$", description="The six digits sent by SMS")


class Unlocked(BaseModel):
    """A staff account's lock-outs were lifted."""

    username: str
    unlocked_by: str


class TokensRevoked(BaseModel):
    """Tokens of ``subject`` issued up to ``revoked_before`` are void."""

    subject: str
    revoked_before: datetime


class Revocations(BaseModel):
    """The revocation list services poll: SHA-256 of a token's ``sub`` -> unix time up to which its
    tokens (``iat`` at or before it) are void."""

    subjects: dict[str, int]


class TokenResponse(BaseModel):
    """An access token (OAuth 2.0 bearer) and the scopes it carries."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    roles: list[str]
    halls: list[str]
    departments: list[str]


class Me(BaseModel):
    """The verified caller of this request."""

    sub: str
    name: str | None = None
    staff_no: str | None = Field(default=None, description="Staff number (工号), if the account has one.")
    unit: str | None = Field(default=None, description="The unit (department) the staff member belongs to.")
    roles: list[str]
    halls: list[str]
    departments: list[str]


class SecurityEventRead(BaseModel):
    """One audited security event (subject masked)."""

    id: int
    at: datetime
    action: str
    subject: str | None
    subject_kind: str
    client_ip: str | None
    correlation_id: str | None
    detail: dict[str, Any]


class SecurityEventPage(BaseModel):
    """Security events, newest first."""

    items: list[SecurityEventRead]
    next_before_id: int | None = None
