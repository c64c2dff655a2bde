"""Prefill, validation, printing, profiles and the access log over HTTP (no events needed)."""

from forms_helpers import field_map, new_credit_code, new_id_number

from shared.validators import check_credit_code, check_id_number


def _prefill(applicant_id: str, version: int, *, matter: str | None = None, bundle: str | None = None, ref: str | None = None) -> dict:
    return {"applicant_id": applicant_id, "matter": matter, "bundle": bundle, "application_ref": ref, "catalog_version": version}


async def test_bundle_form_asks_each_shared_field_once(forms, infra, catalog_version, reference_catalog) -> None:
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    uscc = new_credit_code()
    response = await forms.post("/prefill", json=_prefill(uscc, catalog_version, bundle="ONE-RESTAURANT"), headers=clerk)
    assert response.status_code == 200, response.text
    body = response.json()
    keys = [f["key"] for f in body["fields"]]
    matters = {m["code"]: m for m in reference_catalog["matters"]}
    members = reference_catalog["bundles"][0]["matters"]
    assert keys == list(dict.fromkeys(k for code in members for k in matters[code]["fields"]))
    assert len(keys) < sum(len(matters[code]["fields"]) for code in members)
    codes = [m["code"] for m in body["materials"]]
    assert len(codes) == len(set(codes)) == len({m["code"] for code in members for m in matters[code]["materials"]})
    assert body["bundle"] == "ONE-RESTAURANT" and body["matter"] is None
    assert field_map(body)["entity.uscc"]["value"] == uscc
    assert set(body["missing_fields"]) == set(keys) - {"entity.uscc"}
    expected = {"key", "label_zh", "label_en", "type", "required", "value", "source", "verified", "editable", "provenance"}
    assert set(body["fields"][0]) == expected
    assert set(body["materials"][0]) == {"code", "name", "required", "tolerable_missing", "satisfied", "licence_no", "licence_type"}


async def test_prefill_refuses_bad_requests(forms, infra, catalog_version) -> None:
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    person = new_id_number()
    # a wrong check digit (that does not happen to make a valid credit code: 18 digits can be both)
    bad_id = next(b for d in "0123456789" if check_credit_code(b := person[:-1] + d) and check_id_number(b))
    response = await forms.post("/prefill", json=_prefill(bad_id, catalog_version, matter="RS-001"), headers=clerk)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "applicant_id"
    both = _prefill(person, catalog_version, matter="RS-001", bundle="ONE-GYM")
    assert (await forms.post("/prefill", json=both, headers=clerk)).status_code == 422
    extra = _prefill(person, catalog_version, matter="RS-001") | {"locked": False}
    assert (await forms.post("/prefill", json=extra, headers=clerk)).status_code == 422
    unknown = await forms.post("/prefill", json=_prefill(person, catalog_version, matter="XX-999"), headers=clerk)
    assert unknown.status_code == 404
    assert (await forms.post("/prefill", json=_prefill(person, catalog_version, matter="RS-001"))).status_code == 401
    approver = infra.auth("approver", departments=["RS"])
    assert (await forms.post("/prefill", json=_prefill(person, catalog_version, matter="RS-001"), headers=approver)).status_code == 403


async def test_an_applicant_prefills_only_their_own_data(forms, infra, catalog_version) -> None:
    person, other = new_id_number(), new_id_number(male=False)
    own = await forms.post("/prefill", json=_prefill(person, catalog_version, matter="RS-003"), headers=infra.auth("applicant", sub=person))
    assert own.status_code == 200
    theirs = await forms.post("/prefill", json=_prefill(other, catalog_version, matter="RS-003"), headers=infra.auth("applicant", sub=person))
    assert theirs.status_code == 403


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
    response = await forms.post("/validate", json={"matter": "SCJG-002", "values": values, "catalog_version": catalog_version}, headers=clerk)
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
    ok = await forms.post("/validate", json={"matter": "SCJG-002", "values": fixed, "catalog_version": catalog_version}, headers=clerk)
    assert ok.status_code == 200 and ok.json()["valid"] is True
    uscc_bad = {"bundle": "ONE-ENTERPRISE", "values": {"entity.uscc": "91350100M000100Y44"}, "partial": True, "catalog_version": catalog_version}
    response = await forms.post("/validate", json=uscc_bad, headers=clerk)
    assert response.status_code == 422 and "GB 32100" in response.json()["errors"][0]["message"]


async def test_printable_form_lists_every_field_in_template_order_escaped(forms, infra, catalog_version, reference_catalog) -> None:
    person = new_id_number()
    approver = infra.auth("approver", departments=["RS"])
    stored = await forms.post(
        f"/profiles/{person}/verifications",
        json={"department": "RS", "values": {"person.name": "<script>alert(1)</script>", "person.address": "中山市东区"}},
        headers=approver,
    )
    assert stored.status_code == 201
    clerk = infra.auth("clerk", halls=["ZS-CITY"], sub="clerk-print")
    response = await forms.get(
        "/forms/RS-001/print",
        params={"applicant_id": person, "application_ref": "APP-PRINT-1", "catalog_version": catalog_version},
        headers=clerk,
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    labels = {f["key"]: f["label_zh"] for f in reference_catalog["fields"]}
    matter = next(m for m in reference_catalog["matters"] if m["code"] == "RS-001")
    positions = [html.index(f'data-key="{key}"') for key in matter["fields"]]
    assert positions == sorted(positions)
    assert all(labels[key] in html for key in matter["fields"])
    assert person in html and "1990-03-07" in html and "APP-PRINT-1" in html
    bundle = await forms.get("/forms/ONE-BEAUTY/print", params={"applicant_id": person}, headers=clerk)
    assert bundle.status_code == 200 and "开办美容院一件事" in bundle.text
    assert (await forms.get("/forms/RS-001/print", params={"applicant_id": person})).status_code == 401


async def test_every_read_is_in_the_applicants_access_log(forms, infra, catalog_version) -> None:
    person = new_id_number()
    clerk = infra.auth("clerk", halls=["ZS-CITY"], sub="clerk-audit-1")
    await forms.post("/prefill", json=_prefill(person, catalog_version, matter="RS-003", ref="APP-A1"), headers=clerk)
    await forms.get("/forms/RS-003/print", params={"applicant_id": person, "application_ref": "APP-A1"}, headers=clerk)
    service = infra.auth("service", sub="acceptance")
    await forms.post(
        "/validate",
        json={"matter": "RS-003", "values": {"person.name": "赵六"}, "partial": True, "applicant_id": person, "application_ref": "APP-A2"},
        headers=service,
    )
    refused = await forms.post(
        "/validate",
        json={"matter": "RS-003", "values": {"person.id_number": new_id_number()}, "partial": True,
              "applicant_id": person, "application_ref": "APP-A3"},
        headers=service,
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["type"] == "locked"
    assert refused.headers["content-type"].startswith("application/problem+json")
    log = await forms.get(f"/profiles/{person}/access-log", headers=infra.auth("applicant", sub=person))
    assert log.status_code == 200, log.text
    items = log.json()["items"]
    assert [(i["reader"], i["purpose"], i["application_ref"]) for i in items] == [
        ("acceptance", "validate", "APP-A3"),  # a refused validation read the profile too
        ("acceptance", "validate", "APP-A2"),
        ("clerk-audit-1", "print", "APP-A1"),
        ("clerk-audit-1", "prefill", "APP-A1"),
    ]
    assert items[-1]["roles"] == ["clerk"] and items[-1]["subject"] == "RS-003"
    other = new_id_number()
    assert (await forms.get(f"/profiles/{person}/access-log", headers=infra.auth("applicant", sub=other))).status_code == 403
    assert (await forms.get(f"/profiles/{person}/access-log", headers=clerk)).status_code == 403
    audited = await forms.get(f"/profiles/{person}/access-log", headers=infra.auth("auditor", sub="auditor-1"))
    assert audited.status_code == 200 and audited.json()["applicant_id"] == person[:6] + "********" + person[-4:]


async def test_profile_is_masked_for_staff_and_audited(forms, infra, catalog_version) -> None:
    person = new_id_number()
    approver = infra.auth("approver", departments=["GJJ"])
    await forms.post(
        f"/profiles/{person}/verifications",
        json={"department": "GJJ", "values": {"person.mobile": "13912345678", "hpf.account_no": "6222020200112233"}},
        headers=approver,
    )
    auditor = infra.auth("auditor", sub="auditor-2")
    masked = (await forms.get(f"/profiles/{person}", headers=auditor)).json()
    values = {v["key"]: v["value"] for v in masked["values"]}
    assert values["person.mobile"] == "139****5678"
    assert "6222020200112233" not in str(masked) and person not in str(masked)
    own = (await forms.get(f"/profiles/{person}", headers=infra.auth("applicant", sub=person))).json()
    assert {v["key"]: v["value"] for v in own["values"]}["hpf.account_no"] == "6222020200112233"
    log = (await forms.get(f"/profiles/{person}/access-log", headers=infra.auth("applicant", sub=person))).json()
    assert [(i["reader"], i["purpose"]) for i in log["items"]] == [(person, "profile"), ("auditor-2", "profile")]
    assert (await forms.get(f"/profiles/{new_id_number()}", headers=auditor)).status_code == 404


async def test_text_postgresql_cannot_store_is_a_422_not_a_500(forms, infra, catalog_version) -> None:
    person = new_id_number()
    clerk = infra.auth("clerk", halls=["ZS-CITY"])
    nul_ref = await forms.post("/prefill", json=_prefill(person, catalog_version, matter="RS-003", ref="A\x00B"), headers=clerk)
    assert nul_ref.status_code == 422
    approver = infra.auth("approver", departments=["RS"])
    nul_value = await forms.post(
        f"/profiles/{person}/verifications", json={"department": "RS", "values": {"person.address": "东区\x00"}}, headers=approver
    )
    assert nul_value.status_code == 422
    admin = infra.auth("catalog_admin")
    assert (await forms.post(f"/catalog/versions/{2**40}/publish", headers=admin)).status_code == 422
    assert (await forms.get("/profiles/" + "1" * 40, headers=infra.auth("auditor"))).status_code == 422


async def test_profile_list_is_for_auditors_and_masks_identifiers(forms, infra) -> None:
    person = new_id_number()
    approver = infra.auth("approver", departments=["RS"])
    await forms.post(f"/profiles/{person}/verifications", json={"department": "RS", "values": {"person.mobile": "13812340000"}}, headers=approver)
    listed = await forms.get("/profiles", params={"applicant_type": "natural_person", "limit": 200}, headers=infra.auth("auditor"))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert person not in listed.text and "13812340000" not in listed.text
    assert any(i["applicant_id"] == person[:6] + "********" + person[-4:] and i["verified"] == 1 for i in items)
    assert (await forms.get("/profiles", headers=infra.auth("clerk", halls=["ZS-CITY"]))).status_code == 403
