"""The profile store learns through the real broker (application.accepted, licence.issued / revoked) and from
department verification."""

from datetime import timedelta

from sqlalchemy import select

from services.forms import learning
from services.forms.models import ProfileValueHistory
from shared.events.applications import AcceptedItem, Applicant, ApplicationAccepted
from shared.events.licences import LicenceIssued, LicenceRevoked
from shared.infra import wait_for
from tests.forms.forms_helpers import (
    field_map,
    new_credit_code,
    new_id_number,
    now,
    stored_licence,
    stored_value,
    today,
)

SCJG_003_VALUES = {
    "entity.name": "中山市味美餐饮有限公司",
    "entity.legal_rep_name": "李四",
    "entity.legal_rep_id_number": "11010519491231002X",
    "entity.registered_address": "中山市石岐区孙文中路1号",
    "entity.contact_mobile": "13812345678",
    "premises.address": "中山市石岐区孙文中路1号首层",
    "premises.area_sqm": "120.5",
    "food.business_items": ["热食类食品制售", "自制饮品制售"],
    "food.safety_manager": "王五",
}


def _accepted(
    applicant: Applicant, *, matter: str, values: dict, app_id: str, version: int
) -> ApplicationAccepted:
    return ApplicationAccepted(
        application_id=app_id,
        application_no=f"NO-{app_id}",
        tracking_code="t" * 20,
        hall="ZS-CITY",
        collect_hall="ZS-CITY",
        channel="window",
        catalog_version=version,
        applicant=applicant,
        values=values,
        items=[
            AcceptedItem(
                item_id=f"{app_id}-1",
                matter_code=matter,
                department=matter.split("-")[0],
                legal_limit_working_days=10,
                promised_limit_working_days=5,
            )
        ],
        accepted_at=now(),
    )


async def test_values_of_an_accepted_application_fill_another_matter(
    forms, infra, emit, catalog_version, reference_catalog
) -> None:
    uscc = new_credit_code()
    app_id = f"app-{uscc}"
    applicant = Applicant(
        type="legal_person", id_number=uscc, name="中山市味美餐饮有限公司", mobile="13812345678"
    )
    values = {"entity.uscc": uscc} | SCJG_003_VALUES
    await emit(
        _accepted(applicant, matter="SCJG-003", values=values, app_id=app_id, version=catalog_version),
        producer="acceptance",
    )

    async def learnt() -> bool:
        return await stored_value(forms, uscc, "food.safety_manager") is not None

    await wait_for(learnt, timeout=40, message="application.accepted consumed")
    reader = infra.auth("service", sub="acceptance")  # a trusted service (clerks: tests/security/test_clerk_reads.py)
    response = await forms.post(
        "/prefill",
        json={
            "applicant_id": uscc,
            "matter": "WJ-001",
            "bundle": None,
            "application_ref": "app-next",
            "catalog_version": catalog_version,
        },
        headers=reader,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    fields = field_map(body)
    matters = {m["code"]: m for m in reference_catalog["matters"]}
    shared_keys = set(matters["SCJG-003"]["fields"]) & set(matters["WJ-001"]["fields"])
    assert len(shared_keys) == 8
    for key in shared_keys - {"entity.uscc"}:
        assert fields[key]["value"] == values[key], key
        assert fields[key]["source"] == "applicant_declared"
        assert fields[key]["verified"] is False and fields[key]["editable"] is True
        assert fields[key]["provenance"]["application_ref"] == app_id
        assert fields[key]["provenance"]["matter_code"] == "SCJG-003"
    assert fields["entity.uscc"]["value"] == uscc and fields["entity.uscc"]["editable"] is False
    assert body["missing_fields"] == ["hygiene.place_type", "hygiene.employee_count"]
    assert [f["key"] for f in body["fields"]] == matters["WJ-001"]["fields"]
    assert body["catalog_version"] == catalog_version
    assert not any(m["satisfied"] for m in body["materials"])  # no licence yet


async def test_a_business_licence_satisfies_its_material_and_locks_its_values(
    forms, infra, emit, catalog_version
) -> None:
    uscc = new_credit_code()
    applicant = Applicant(type="legal_person", id_number=uscc, name="旧名称有限公司")
    await emit(
        _accepted(
            applicant,
            matter="SCJG-003",
            values={"entity.uscc": uscc} | SCJG_003_VALUES | {"entity.name": "旧名称有限公司"},
            app_id=f"app1-{uscc}",
            version=catalog_version,
        ),
        producer="acceptance",
    )
    licence_no = f"BL-{uscc}"
    await emit(
        LicenceIssued(
            licence_no=licence_no,
            licence_type="BIZ_LICENCE",
            holder_type="legal_person",
            holder_id=uscc,
            holder_name="中山市味美餐饮有限公司",
            issuing_department="SCJG",
            valid_from=today() - timedelta(days=1),
            data={
                "entity.registered_address": "中山市石岐区孙文中路1号",
                "entity.type": "有限责任公司",
                "licence_remark": "x",
            },
            application_id=f"app0-{uscc}",
            item_id="i1",
            matter_code="SCJG-002",
            issued_at=now() - timedelta(days=1),
        ),
        producer="issuance",
    )

    async def both() -> bool:
        return (
            await stored_licence(forms, licence_no) is not None
            and await stored_value(forms, uscc, "food.safety_manager") is not None
        )

    await wait_for(both, timeout=40, message="licence.issued and application.accepted consumed")
    reader = infra.auth("service", sub="acceptance")
    request = {
        "applicant_id": uscc,
        "matter": "SCJG-003",
        "bundle": None,
        "application_ref": None,
        "catalog_version": catalog_version,
    }
    body = (await forms.post("/prefill", json=request, headers=reader)).json()
    materials = {m["code"]: m for m in body["materials"]}
    assert (
        materials["BIZ_LICENCE"]["satisfied"] is True and materials["BIZ_LICENCE"]["licence_no"] == licence_no
    )
    assert materials["ID_CARD"]["satisfied"] is False
    fields = field_map(body)
    # the licence (verified, though older) outranks the newer declared name
    assert fields["entity.name"]["value"] == "中山市味美餐饮有限公司"
    assert fields["entity.name"]["source"] == "licence_issued" and fields["entity.name"]["editable"] is False
    assert fields["entity.name"]["provenance"]["licence_no"] == licence_no
    assert fields["food.safety_manager"]["source"] == "applicant_declared"

    # a submission that alters a locked value is refused by the server
    submitted = {k: v for k, v in SCJG_003_VALUES.items()} | {
        "entity.uscc": uscc,
        "entity.name": "改个名字有限公司",
    }
    check = {
        "matter": "SCJG-003",
        "values": submitted,
        "applicant_id": uscc,
        "catalog_version": catalog_version,
    }
    refused = await forms.post("/validate", json=check, headers=reader)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["values.entity.name"]
    assert refused.json()["errors"][0]["type"] == "locked"
    check["values"]["entity.name"] = "中山市味美餐饮有限公司"
    assert (await forms.post("/validate", json=check, headers=reader)).status_code == 200
    check["values"]["entity.uscc"] = new_credit_code()  # someone else's identifier
    assert (await forms.post("/validate", json=check, headers=reader)).status_code == 422

    # revoking the licence withdraws both the material and the values it vouched for
    await emit(
        LicenceRevoked(
            licence_no=licence_no,
            licence_type="BIZ_LICENCE",
            holder_id=uscc,
            reason="post-check failed",
            revoked_at=now(),
        ),
        producer="issuance",
    )

    async def revoked() -> bool:
        licence = await stored_licence(forms, licence_no)
        return licence is not None and licence.status == "revoked"

    await wait_for(revoked, timeout=40, message="licence.revoked consumed")
    body = (await forms.post("/prefill", json=request, headers=reader)).json()
    assert {m["code"]: m for m in body["materials"]}["BIZ_LICENCE"]["satisfied"] is False
    fields = field_map(body)
    assert fields["entity.name"]["value"] == "旧名称有限公司" and fields["entity.name"]["editable"] is True


async def test_department_verified_values_outrank_later_declarations(
    forms, infra, emit, catalog_version
) -> None:
    person = new_id_number()
    approver = infra.auth("approver", departments=["RS"], sub="rs-officer")
    verified = await forms.post(
        f"/profiles/{person}/verifications",
        json={
            "department": "RS",
            "values": {"person.address": "中山市东区中山四路88号"},
            "application_ref": "rs-1",
        },
        headers=approver,
    )
    assert verified.status_code == 201, verified.text
    wrong_dept = await forms.post(
        f"/profiles/{person}/verifications",
        json={"department": "SCJG", "values": {"person.address": "x"}},
        headers=approver,
    )
    assert wrong_dept.status_code == 403
    bad_value = await forms.post(
        f"/profiles/{person}/verifications",
        json={"department": "RS", "values": {"person.mobile": "123"}},
        headers=approver,
    )
    assert bad_value.status_code == 422 and bad_value.json()["errors"][0]["field"] == "values.person.mobile"
    applicant = Applicant(type="natural_person", id_number=person, name="张三", mobile="13900001111")
    await emit(
        _accepted(
            applicant,
            matter="RS-003",
            values={"person.address": "随便写的地址"},
            app_id=f"app-{person}",
            version=catalog_version,
        ),
        producer="acceptance",
    )

    async def learnt() -> bool:
        return await stored_value(forms, person, "person.name") is not None

    await wait_for(learnt, timeout=40, message="application.accepted consumed")
    reader = infra.auth("service", sub="acceptance")
    body = (
        await forms.post(
            "/prefill",
            json={
                "applicant_id": person,
                "matter": "RS-001",
                "bundle": None,
                "application_ref": None,
                "catalog_version": catalog_version,
            },
            headers=reader,
        )
    ).json()
    fields = field_map(body)
    assert fields["person.address"]["value"] == "中山市东区中山四路88号"
    assert (
        fields["person.address"]["source"] == "department_verified"
        and fields["person.address"]["editable"] is False
    )
    assert fields["person.address"]["provenance"]["department"] == "RS"
    # the applicant's name and mobile came with the application, birth date and gender from the ID number
    assert fields["person.name"]["value"] == "张三" and fields["person.mobile"]["value"] == "13900001111"
    assert fields["person.birth_date"]["value"] == "1990-03-07" and fields["person.gender"]["value"] == "男"
    assert body["missing_fields"] == ["ss.bank"]


async def test_an_older_application_arriving_late_does_not_overwrite_a_newer_value(
    forms, infra, emit, catalog_version
) -> None:
    person = new_id_number(male=False)
    applicant = Applicant(type="natural_person", id_number=person, name="陈七")
    newer = _accepted(
        applicant,
        matter="RS-003",
        values={"person.mobile": "13700000002"},
        app_id=f"new-{person}",
        version=catalog_version,
    )
    older = _accepted(
        applicant,
        matter="RS-003",
        values={"person.mobile": "13700000001"},
        app_id=f"old-{person}",
        version=catalog_version,
    )
    older.accepted_at = newer.accepted_at - timedelta(days=30)
    await emit(newer, producer="acceptance")
    await emit(older, producer="acceptance")

    async def both_seen() -> bool:
        async with forms.app.state.runtime.sessionmaker() as session:
            rows = (
                (
                    await session.execute(
                        select(ProfileValueHistory.application_ref).where(
                            ProfileValueHistory.applicant_id == person,
                            ProfileValueHistory.field_key == "person.mobile",
                        )
                    )
                )
                .scalars()
                .all()
            )
        return len(rows) == 2

    await wait_for(both_seen, timeout=40, message="both applications consumed")
    current = await stored_value(forms, person, "person.mobile")
    assert (
        current is not None and current.value == "13700000002" and current.application_ref == f"new-{person}"
    )


async def test_events_with_an_invalid_identifier_are_not_learnt(forms, catalog_version) -> None:
    bogus = "BOGUS-" + new_credit_code()  # neither an ID number nor a credit code
    applicant = Applicant(type="legal_person", id_number=bogus, name="某公司")
    event = _accepted(
        applicant,
        matter="RS-002",
        values={"entity.name": "某公司"},
        app_id=f"bogus-{bogus}",
        version=catalog_version,
    )
    async with forms.app.state.runtime.sessionmaker() as session, session.begin():
        await learning.learn_from_application(session, event=event)
    assert await stored_value(forms, bogus, "entity.name") is None
