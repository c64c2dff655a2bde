"""Applicant profiles over HTTP: masked for staff, audited, listed for auditors only."""

from tests.forms.forms_helpers import new_id_number


async def test_profile_is_masked_for_staff_and_audited(forms, infra, catalog_version) -> None:
    person = new_id_number()
    approver = infra.auth("approver", departments=["GJJ"])
    await forms.post(
        f"/profiles/{person}/verifications",
        json={
            "department": "GJJ",
            "values": {"person.mobile": "13912345678", "hpf.account_no": "6222020200112233"},
        },
        headers=approver,
    )
    auditor = infra.auth("auditor", sub="auditor-2")
    masked = (await forms.get(f"/profiles/{person}", headers=auditor)).json()
    values = {v["key"]: v["value"] for v in masked["values"]}
    assert values["person.mobile"] == "139****5678"
    assert "6222020200112233" not in str(masked) and person not in str(masked)
    own = (await forms.get(f"/profiles/{person}", headers=infra.auth("applicant", sub=person))).json()
    assert {v["key"]: v["value"] for v in own["values"]}["hpf.account_no"] == "6222020200112233"
    log = (
        await forms.get(f"/profiles/{person}/access-log", headers=infra.auth("applicant", sub=person))
    ).json()
    assert [(i["reader"], i["purpose"]) for i in log["items"]] == [
        (person, "profile"),
        ("auditor-2", "profile"),
    ]
    assert (await forms.get(f"/profiles/{new_id_number()}", headers=auditor)).status_code == 404


async def test_profile_list_is_for_auditors_and_masks_identifiers(forms, infra) -> None:
    person = new_id_number()
    approver = infra.auth("approver", departments=["RS"])
    await forms.post(
        f"/profiles/{person}/verifications",
        json={"department": "RS", "values": {"person.mobile": "13812340000"}},
        headers=approver,
    )
    listed = await forms.get(
        "/profiles", params={"applicant_type": "natural_person", "limit": 200}, headers=infra.auth("auditor")
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert person not in listed.text and "13812340000" not in listed.text
    assert any(
        i["applicant_id"] == person[:6] + "********" + person[-4:] and i["verified"] == 1 for i in items
    )
    assert (await forms.get("/profiles", headers=infra.auth("clerk", halls=["ZS-CITY"]))).status_code == 403
