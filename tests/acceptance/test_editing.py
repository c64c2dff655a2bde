"""Editing drafts (services/acceptance/editing.py): values validated server side, locked values kept, nothing
stored when a change fails.
"""

from tests.acceptance.conftest import (
    HALL,
    new_credit_code,
    new_id_number,
    open_app,
    person,
)


async def test_invalid_values_name_the_field_and_change_nothing(acc, catalog, clerk, forms_stub) -> None:
    draft = await open_app(acc, clerk, matter="RS-001", applicant=person())
    good = {"person.name": "陈一", "person.mobile": "13512345678"}
    assert (
        await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"values": good})
    ).status_code == 200
    valid = new_id_number()
    bad_id = valid[:17] + ("0" if valid[17] != "0" else "1")
    bad = {
        "person.name": "陈二",
        "person.id_number": "110101199003071235",
        "person.mobile": "12345",
        "person.gender": "未知",
        "person.birth_date": "1990-02-30",
        "entity.uscc": new_credit_code(),
    }
    response = await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"values": bad})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e for e in response.json()["errors"]}
    assert set(errors) == {
        "values.person.id_number",
        "values.person.mobile",
        "values.person.birth_date",
        "values.entity.uscc",
    }
    assert "GB 11643" in errors["values.person.id_number"]["message"]
    assert errors["values.entity.uscc"]["type"] == "unknown_field"
    after = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    assert {f["key"]: f["value"] for f in after["fields"]}["person.name"] == "陈一"  # nothing changed
    assert bad_id  # a second wrong check digit is refused the same way
    wrong = await acc.patch(
        f"/applications/{draft['id']}", headers=clerk, json={"values": {"person.id_number": bad_id}}
    )
    assert wrong.status_code == 422

    missing = await acc.post(
        f"/applications/{draft['id']}/submit", headers=clerk, json={"presented": ["ID_CARD"]}
    )
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} >= {"values.person.id_number", "values.ss.bank"}
    extra = await acc.post(
        "/applications",
        headers=clerk,
        json={"hall": HALL, "matter": "RS-001", "applicant": person(), "colour": "red"},
    )
    assert extra.status_code == 422 and extra.json()["errors"][0]["field"] == "colour"
    calls = len(forms_stub.calls)
    bad_applicant = await acc.post(
        "/applications",
        headers=clerk,
        json={"hall": HALL, "matter": "RS-001", "applicant": person("110101199003071235")},
    )
    assert (
        bad_applicant.status_code == 422
        and bad_applicant.json()["errors"][0]["field"] == "applicant.id_number"
    )
    assert len(forms_stub.calls) == calls  # forms is not asked about an invalid identifier
    unknown = await acc.post(
        "/applications", headers=clerk, json={"hall": HALL, "matter": "NOPE-1", "applicant": person()}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "matter"
    unknown_material = await acc.patch(
        f"/applications/{draft['id']}", headers=clerk, json={"presented": ["PASSPORT"]}
    )
    assert (
        unknown_material.status_code == 422 and unknown_material.json()["errors"][0]["field"] == "presented.0"
    )
