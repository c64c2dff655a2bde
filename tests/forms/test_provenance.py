"""Provenance of profile values: the two shapes (response model, prefill's plain dict) agree."""

from datetime import UTC, datetime

from services.forms import provenance
from services.forms.models import ProfileValue
from services.forms.schemas import Provenance


def _stored(**overrides: object) -> ProfileValue:
    values: dict = {
        "applicant_id": "91442000MA0000000X",
        "field_key": "entity.name",
        "value": "中山市味美餐饮有限公司",
        "source": provenance.LICENCE,
        "verified": True,
        "application_ref": "app-1",
        "licence_no": "BL-1",
        "matter_code": "SCJG-002",
        "department": "SCJG",
        "observed_at": datetime(2026, 3, 2, 1, 30, 5, 123456, tzinfo=UTC),
    }
    return ProfileValue(**(values | overrides))


def test_a_stored_value_has_the_same_provenance_in_both_shapes() -> None:
    row = _stored()
    as_dict = provenance.to_dict(row)
    assert as_dict == {
        "source": "licence_issued",
        "verified": True,
        "application_ref": "app-1",
        "licence_no": "BL-1",
        "matter_code": "SCJG-002",
        "department": "SCJG",
        "at": "2026-03-02T01:30:05.123456Z",
    }
    assert provenance.to_model(row).model_dump(mode="json") == as_dict
    assert Provenance.model_validate(as_dict) == provenance.to_model(row)


def test_a_declared_value_is_unverified_and_names_its_application() -> None:
    row = _stored(
        source=provenance.DECLARED, verified=False, licence_no=None, department=None, application_ref="app-2"
    )
    as_dict = provenance.to_dict(row)
    assert as_dict["source"] == "applicant_declared" and as_dict["verified"] is False
    assert as_dict["application_ref"] == "app-2" and as_dict["licence_no"] is None


def test_a_value_the_identifier_gives_is_verified_and_has_no_origin() -> None:
    as_dict = provenance.to_dict(None)
    assert as_dict["source"] == provenance.IDENTITY == "identity" and as_dict["verified"] is True
    assert {k for k, v in as_dict.items() if v is not None} == {"source", "verified"}
    assert set(as_dict) == set(Provenance.model_fields)
