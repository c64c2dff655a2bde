"""Validation of submitted values over HTTP: field-level errors, values verified sources supplied locked."""

from tests.forms.forms_helpers import new_credit_code


async def test_validate_reports_every_wrong_field(forms, infra, catalog_version) -> None:
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    values = {
        "entity.name": "中山市某某有限公司",
        "entity.type": "无限公司",
        "entity.legal_rep_name": "李四",
        "entity.legal_rep_id_number": "110105194912310021",
        "entity.registered_address": "中山市",
        "entity.registered_capital": "一百万",
        "entity.business_scope": "餐饮服务",
        "entity.contact_mobile": "1381234567",
    }
    response = await forms.post(
        "/validate",
        json={"matter": "SCJG-002", "values": values, "catalog_version": catalog_version},
        headers=clerk,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {
        "values.entity.type",
        "values.entity.legal_rep_id_number",
        "values.entity.registered_capital",
        "values.entity.contact_mobile",
    }
    assert "GB 11643" in errors["values.entity.legal_rep_id_number"]
    fixed = values | {
        "entity.type": "有限责任公司",
        "entity.legal_rep_id_number": "11010519491231002X",
        "entity.registered_capital": 100,
        "entity.contact_mobile": "13812345678",
    }
    ok = await forms.post(
        "/validate",
        json={"matter": "SCJG-002", "values": fixed, "catalog_version": catalog_version},
        headers=clerk,
    )
    assert ok.status_code == 200 and ok.json()["valid"] is True
    uscc_bad = {
        "bundle": "ONE-ENTERPRISE",
        "values": {"entity.uscc": "91350100M000100Y44"},
        "partial": True,
        "catalog_version": catalog_version,
    }
    response = await forms.post("/validate", json=uscc_bad, headers=clerk)
    assert response.status_code == 422 and "GB 32100" in response.json()["errors"][0]["message"]


async def test_a_locked_value_may_be_resubmitted_in_another_spelling_but_not_changed(
    forms, infra, catalog_version, acceptance_stub
) -> None:
    uscc = new_credit_code()
    approver = infra.auth("approver", departments=["SCJG"])
    verified = await forms.post(
        f"/profiles/{uscc}/verifications",
        json={"department": "SCJG", "values": {"premises.area_sqm": "120.5"}},
        headers=approver,
    )
    assert verified.status_code == 201, verified.text
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    ref = acceptance_stub.open(uscc)

    def check(values: dict) -> dict:
        return {
            "matter": "SCJG-003",
            "values": values,
            "partial": True,
            "applicant_id": uscc,
            "application_ref": ref,
            "catalog_version": catalog_version,
        }

    for same in ("120.50", 120.5, "120.5"):  # the same number: not a change
        accepted = await forms.post("/validate", json=check({"premises.area_sqm": same}), headers=clerk)
        assert accepted.status_code == 200, (same, accepted.text)
    changed = await forms.post("/validate", json=check({"premises.area_sqm": "121"}), headers=clerk)
    assert changed.status_code == 422
    [error] = changed.json()["errors"]
    assert error["field"] == "values.premises.area_sqm" and error["type"] == "locked"
    assert "department SCJG" in error["message"]
    # the identifier itself is locked too, whichever source: the applicant's own credit code
    other = await forms.post("/validate", json=check({"entity.uscc": new_credit_code()}), headers=clerk)
    assert other.status_code == 422 and "own identifier" in other.json()["errors"][0]["message"]
