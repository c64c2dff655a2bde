"""Where a profile value came from: the source names, and the provenance answers carry with a value."""

from typing import Any

from services.forms.schemas import Provenance

DECLARED, DEPARTMENT, LICENCE, IDENTITY = (
    "applicant_declared",
    "department_verified",
    "licence_issued",
    "identity",
)


def to_model(row: Any) -> Provenance:
    """The provenance of a stored value (a ``profile_values`` row) as a response model."""
    return Provenance.model_construct(
        source=row.source,
        verified=row.verified,
        application_ref=row.application_ref,
        licence_no=row.licence_no,
        matter_code=row.matter_code,
        department=row.department,
        at=row.observed_at,
    )


def to_dict(row: Any) -> dict[str, Any]:
    """The same, JSON-ready (the prefill hot path); ``None`` for a value the identifier itself gives."""
    if row is None:
        return {
            "source": IDENTITY,
            "verified": True,
            "application_ref": None,
            "licence_no": None,
            "matter_code": None,
            "department": None,
            "at": None,
        }
    return {
        "source": row.source,
        "verified": row.verified,
        "application_ref": row.application_ref,
        "licence_no": row.licence_no,
        "matter_code": row.matter_code,
        "department": row.department,
        "at": row.observed_at.isoformat().replace("+00:00", "Z"),
    }
