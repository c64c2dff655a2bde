"""Forms tables, all in schema ``forms``."""

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Identity, Index, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.service_app import Backbone


class Base(DeclarativeBase):
    """Every table of the forms service, in its own schema."""

    metadata = schema_metadata("forms")


backbone = Backbone(Base.metadata)


class CatalogVersion(Base):
    """A catalogue version: a draft until published; published versions never change."""

    __tablename__ = "catalog_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | published
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_by: Mapped[str | None] = mapped_column(String(100))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Profile(Base):
    """An applicant: natural person keyed by ID number, legal person by unified social credit code."""

    __tablename__ = "profiles"

    applicant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    applicant_type: Mapped[str] = mapped_column(String(20))  # natural_person | legal_person
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProfileValue(Base):
    """The best known value of one field of one applicant (verified outranks declared, then newest)."""

    __tablename__ = "profile_values"
    __table_args__ = (
        Index("ix_profile_values_licence_no", "licence_no", postgresql_where=text("licence_no IS NOT NULL")),
    )

    applicant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    field_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(
        String(30)
    )  # applicant_declared | department_verified | licence_issued
    verified: Mapped[bool] = mapped_column(Boolean)
    application_ref: Mapped[str | None] = mapped_column(String(64))
    licence_no: Mapped[str | None] = mapped_column(String(64))
    matter_code: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(64))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProfileValueHistory(Base):
    """Every value ever learnt, with its provenance; ``withdrawn`` when its licence was revoked."""

    __tablename__ = "profile_value_history"
    __table_args__ = (Index("ix_profile_value_history_subject", "applicant_id", "field_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    applicant_id: Mapped[str] = mapped_column(String(32))
    field_key: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(String(30))
    verified: Mapped[bool] = mapped_column(Boolean)
    application_ref: Mapped[str | None] = mapped_column(String(64))
    licence_no: Mapped[str | None] = mapped_column(String(64), index=True)
    matter_code: Mapped[str | None] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(64))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    withdrawn: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class Licence(Base):
    """An electronic licence held by an applicant, as learnt from licence.issued / licence.revoked."""

    __tablename__ = "licences"

    licence_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    licence_type: Mapped[str] = mapped_column(String(64))
    holder_id: Mapped[str] = mapped_column(String(32), index=True)
    holder_type: Mapped[str] = mapped_column(String(20))
    issuing_department: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="valid")  # valid | revoked
    application_id: Mapped[str | None] = mapped_column(String(64))
    matter_code: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class ProfileRead(Base):
    """Audit trail: who read an applicant's data, in which role, for which application, when."""

    __tablename__ = "profile_reads"
    __table_args__ = (
        Index("ix_profile_reads_applicant_at", "applicant_id", "at"),
        Index("ix_profile_reads_reader_at", "reader", "at"),  # a clerk's budget of applicants per hour
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    applicant_id: Mapped[str] = mapped_column(String(32))
    reader: Mapped[str] = mapped_column(String(100))
    roles: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(30))  # prefill | validate | print | profile
    application_ref: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(64))  # matter or bundle code
    # read | refused (a clerk's read without a reason: no application of the clerk's hall, or over budget)
    outcome: Mapped[str] = mapped_column(String(10), server_default="read")
    # who read where: the reader's hall or department, and the service that showed the data
    hall: Mapped[str | None] = mapped_column(String(40))
    department: Mapped[str | None] = mapped_column(String(40))
    service: Mapped[str] = mapped_column(String(20), server_default="forms")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
