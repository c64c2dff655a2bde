"""The printable form over HTTP: every field in template order, everything escaped, audited."""

from tests.forms.forms_helpers import new_id_number


async def test_printable_form_lists_every_field_in_template_order_escaped(
    forms, infra, catalog_version, reference_catalog, acceptance_stub
) -> None:
    person = new_id_number()
    approver = infra.auth("approver", departments=["RS"])
    stored = await forms.post(
        f"/profiles/{person}/verifications",
        json={
            "department": "RS",
            "values": {"person.name": "<script>alert(1)</script>", "person.address": "中山市东区"},
        },
        headers=approver,
    )
    assert stored.status_code == 201
    clerk = infra.auth("clerk", halls=["ZS-CITY"], sub="clerk-print")
    ref = acceptance_stub.open(person)
    response = await forms.get(
        "/forms/RS-001/print",
        params={"applicant_id": person, "application_ref": ref, "catalog_version": catalog_version},
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
    assert person in html and "1990-03-07" in html and ref in html
    bundle = await forms.get("/forms/ONE-BEAUTY/print", params={"applicant_id": person, "application_ref": ref},
                             headers=clerk)
    assert bundle.status_code == 200 and "开办美容院一件事" in bundle.text
    assert (await forms.get("/forms/RS-001/print", params={"applicant_id": person})).status_code == 401


async def test_printable_form_is_dated_in_the_halls_time_zone_not_the_servers(
    forms, infra, catalog_version, monkeypatch, acceptance_stub
) -> None:
    """At 01:30 in Zhongshan the server (UTC) still says yesterday; the signature line must say today."""
    from datetime import date

    from services.forms import render

    monkeypatch.setattr(render, "today", lambda: date(2027, 1, 4))
    clerk = infra.auth("clerk", halls=["ZS-CITY"], sub="clerk-print-date")
    person = new_id_number()
    response = await forms.get(
        "/forms/RS-001/print",
        params={"applicant_id": person, "application_ref": acceptance_stub.open(person),
                "catalog_version": catalog_version},
        headers=clerk,
    )
    assert response.status_code == 200
    assert "日期：2027-01-04" in response.text
