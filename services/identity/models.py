"""Identity tables, all in schema ``identity``. Identifiers of applicants are stored only as keyed hashes."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.service_app import Backbone


class Base(DeclarativeBase):
    """Every table of the identity service, in its own schema."""

    metadata = schema_metadata("identity")


backbone = Backbone(Base.metadata)


class SecurityEvent(Base):
    """One audited security event: a login, a failed login, a code sent, a lock-out (subject masked)."""

    __tablename__ = "security_events"
    __table_args__ = (
        Index("ix_security_events_subject_action_at", "subject", "action", "at"),
        Index("ix_security_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(100))
    subject_kind: Mapped[str] = mapped_column(String(20))  # staff | applicant
    client_ip: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class ApplicantContact(Base):
    """A mobile number given on an accepted application of an applicant (both as keyed hashes)."""

    __tablename__ = "applicant_contacts"

    applicant_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    mobile_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OtpChallenge(Base):
    """A one-time code sent to a mobile number (only its keyed hash is kept)."""

    __tablename__ = "otp_challenges"
    __table_args__ = (Index("ix_otp_challenges_mobile_created", "mobile_key", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant_key: Mapped[str] = mapped_column(String(64))
    mobile_key: Mapped[str] = mapped_column(String(64))
    code_hash: Mapped[str] = mapped_column(String(64))  # empty: no code was sent, never matches
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TokenRevocation(Base):
    """Tokens of a subject issued up to ``revoked_before`` are void (a logout, a hall admin's revoke).
    Served hashed at ``GET /auth/revocations``; a later revocation moves the time forward."""

    __tablename__ = "token_revocations"

    subject_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # shared.auth.subject_hash
    revoked_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str] = mapped_column(String(100))
