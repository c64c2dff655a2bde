"""Prefill over HTTP: a matter's or bundle's form filled from the profile; requests it refuses."""

from shared.validators import check_credit_code, check_id_number
from tests.forms.forms_helpers import field_map, new_credit_code, new_id_number, prefill_body


async def test_bundle_form_asks_each_shared_field_once(
    forms, infra, catalog_version, reference_catalog, acceptance_stub
) -> None:
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    uscc = new_credit_code()
    ref = acceptance_stub.open(uscc)
    response = await forms.post(
        "/prefill", json=prefill_body(uscc, catalog_version, bundle="ONE-RESTAURANT", ref=ref), headers=clerk
    )
    assert response.status_code == 200, response.text
    body = response.json()
    keys = [f["key"] for f in body["fields"]]
    matters = {m["code"]: m for m in reference_catalog["matters"]}
    members = reference_catalog["bundles"][0]["matters"]
    assert keys == list(dict.fromkeys(k for code in members for k in matters[code]["fields"]))
    assert len(keys) < sum(len(matters[code]["fields"]) for code in members)
    codes = [m["code"] for m in body["materials"]]
    assert (
        len(codes)
        == len(set(codes))
        == len({m["code"] for code in members for m in matters[code]["materials"]})
    )
    assert body["bundle"] == "ONE-RESTAURANT" and body["matter"] is None
    assert field_map(body)["entity.uscc"]["value"] == uscc
    assert set(body["missing_fields"]) == set(keys) - {"entity.uscc"}
    expected = {
        "key",
        "label_zh",
        "label_en",
        "type",
        "required",
        "value",
        "source",
        "verified",
        "editable",
        "provenance",
    }
    assert set(body["fields"][0]) == expected
    assert set(body["materials"][0]) == {
        "code",
        "name",
        "required",
        "tolerable_missing",
        "satisfied",
        "licence_no",
        "licence_type",
    }


async def test_prefill_refuses_bad_requests(forms, infra, catalog_version, acceptance_stub) -> None:
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    person = new_id_number()
    ref = acceptance_stub.open(person)
    # a wrong check digit (that does not happen to make a valid credit code: 18 digits can be both)
    bad_id = next(b for d in "0123456789" if check_credit_code(b := person[:-1] + d) and check_id_number(b))
    response = await forms.post(
        "/prefill", json=prefill_body(bad_id, catalog_version, matter="RS-001"), headers=clerk
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "applicant_id"
    both = prefill_body(person, catalog_version, matter="RS-001", bundle="ONE-GYM")
    assert (await forms.post("/prefill", json=both, headers=clerk)).status_code == 422
    extra = prefill_body(person, catalog_version, matter="RS-001") | {"locked": False}
    assert (await forms.post("/prefill", json=extra, headers=clerk)).status_code == 422
    unknown = await forms.post(
        "/prefill", json=prefill_body(person, catalog_version, matter="XX-999", ref=ref), headers=clerk
    )
    assert unknown.status_code == 404
    assert (
        await forms.post("/prefill", json=prefill_body(person, catalog_version, matter="RS-001"))
    ).status_code == 401
    approver = infra.auth("approver", departments=["RS"])
    assert (
        await forms.post(
            "/prefill", json=prefill_body(person, catalog_version, matter="RS-001"), headers=approver
        )
    ).status_code == 403


async def test_text_postgresql_cannot_store_is_a_422_not_a_500(forms, infra, catalog_version) -> None:
    person = new_id_number()
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    nul_ref = await forms.post(
        "/prefill", json=prefill_body(person, catalog_version, matter="RS-003", ref="A\x00B"), headers=clerk
    )
    assert nul_ref.status_code == 422
    approver = infra.auth("approver", departments=["RS"])
    nul_value = await forms.post(
        f"/profiles/{person}/verifications",
        json={"department": "RS", "values": {"person.address": "东区\x00"}},
        headers=approver,
    )
    assert nul_value.status_code == 422
    admin = infra.auth("catalog_admin")
    assert (await forms.post(f"/catalog/versions/{2**40}/publish", headers=admin)).status_code == 422
    assert (await forms.get("/profiles/" + "1" * 40, headers=infra.auth("auditor"))).status_code == 422
