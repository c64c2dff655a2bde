"""Following the back office (services/acceptance/progress.py): approval, licence and delivery events move item
and application statuses (never backwards), and public progress by tracking code.
"""

from datetime import UTC, datetime
from typing import Any

from services.acceptance import progress
from services.acceptance.models import Application, ApplicationItem
from shared.events.applications import Applicant
from shared.events.approvals import ApprovalDecided, ApprovalTaskOpened, SupplementRequested
from shared.events.licences import LicenceIssued, ResultCollected, ResultReady
from shared.infra import wait_for
from tests.acceptance.conftest import (
    HALL,
    new_id_number,
    open_app,
    person,
    publish,
)


async def test_status_follows_the_back_office(acc, catalog, published, clerk) -> None:
    draft = await open_app(acc, clerk, bundle="ONE-HOUSE-SALE", applicant=person())
    assert [i["matter_code"] for i in draft["items"]] == ["ZRZY-001", "ZRZY-002"]
    values = {
        "person.name": "周七",
        "person.id_number": draft["applicant"]["id_number"],
        "person.mobile": "13811112222",
        "property.certificate_no": "浙(2026)桐乡市不动产权第0000001号",
        "property.address": "桐乡市梧桐街道1幢",
        "property.area_sqm": "89.5",
        "transfer.price": "1200000",
        "transfer.buyer_name": "吴八",
        "transfer.buyer_id_number": new_id_number(),
        "mortgage.bank": "建设银行",
        "mortgage.amount": "600000",
    }
    codes = sorted({m["code"] for i in draft["items"] for m in i["materials"]})
    app = (
        await acc.post(
            f"/applications/{draft['id']}/submit", headers=clerk, json={"values": values, "presented": codes}
        )
    ).json()
    assert app["status"] == "accepted", app
    items = {i["matter_code"]: i["item_id"] for i in app["items"]}
    now = datetime.now(UTC)
    applicant = Applicant(type="natural_person", id_number=values["person.id_number"], name="周七")
    common = {"application_id": draft["id"], "department": "ZRZY"}
    for code, item_id in items.items():
        await publish(
            acc,
            ApprovalTaskOpened(
                **common, item_id=item_id, task_id=f"task-{item_id}", matter_code=code, at=now
            ),
            producer="approval",
        )
    await publish(
        acc,
        SupplementRequested(
            **common,
            item_id=items["ZRZY-002"],
            task_id="t2",
            matter_code="ZRZY-002",
            materials=["MORTGAGE_CONTRACT"],
            reason="合同页缺失",
            at=now,
        ),
        producer="approval",
    )

    async def status() -> str:
        return (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()["status"]

    await wait_for(
        lambda: _equals(status(), "supplement_requested"), timeout=30, message="supplement requested"
    )
    fixed = await acc.post(
        f"/applications/{draft['id']}/supplement",
        headers=clerk,
        json={"materials": ["MORTGAGE_CONTRACT"], "item_id": items["ZRZY-002"]},
    )
    assert fixed.status_code == 200 and fixed.json()["status"] == "in_approval"
    await published.wait(
        lambda e: (
            e.type == "application.supplemented"
            and e.key == draft["id"]
            and e.payload["item_id"] == items["ZRZY-002"]
        )
    )
    for code, item_id in items.items():
        await publish(
            acc,
            ApprovalDecided(
                **common,
                item_id=item_id,
                task_id=f"task-{item_id}",
                matter_code=code,
                decision="approved",
                decided_at=now,
                applicant=applicant,
                collect_hall=HALL,
            ),
            producer="approval",
        )
        await publish(
            acc,
            LicenceIssued(
                licence_no=f"L-{item_id}",
                licence_type="PROPERTY_CERT",
                holder_type="natural_person",
                holder_id=applicant.id_number,
                holder_name="周七",
                issuing_department="ZRZY",
                valid_from=now.date(),
                application_id=draft["id"],
                item_id=item_id,
                matter_code=code,
                issued_at=now,
            ),
            producer="issuance",
        )
    await publish(
        acc,
        ResultReady(application_id=draft["id"], collect_hall=HALL, item_ids=list(items.values()), at=now),
        producer="issuance",
    )
    await wait_for(lambda: _equals(status(), "result_ready"), timeout=30, message="result ready")
    await publish(
        acc,
        ResultCollected(application_id=draft["id"], method="pickup", hall=HALL, at=now),
        producer="issuance",
    )
    await wait_for(lambda: _equals(status(), "collected"), timeout=30, message="collected")

    full = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    assert {i["status"] for i in full["items"]} == {"licence_issued"}
    steps = [h["status"] for h in full["history"]]
    for step in (
        "accepted",
        "in_approval",
        "supplement_requested",
        "supplemented",
        "approved",
        "licence_issued",
        "result_ready",
        "collected",
    ):
        assert step in steps, steps
    public = (await acc.get(f"/progress/{app['tracking_code']}")).json()
    assert public["status"] == "collected" and [h["status"] for h in public["history"]][-1] == "collected"
    assert "合同页缺失" not in str(public) and values["person.id_number"] not in str(public)


async def _equals(awaitable: Any, expected: str) -> bool:
    return (await awaitable) == expected


async def test_statuses_never_go_backwards_across_topics(acc, catalog, clerk) -> None:
    id_number = new_id_number()
    draft = await open_app(acc, clerk, matter="RS-003", applicant=person(id_number))
    values = {
        "person.name": "冯十三",
        "person.id_number": id_number,
        "person.mobile": "13655556666",
        "person.address": "桐乡市崇福镇1号",
    }
    app = (
        await acc.post(
            f"/applications/{draft['id']}/submit",
            headers=clerk,
            json={"values": values, "presented": ["ID_CARD"]},
        )
    ).json()
    item_id = app["items"][0]["item_id"]
    now = datetime.now(UTC)
    # the licence (stream licences) overtakes the decision (stream approvals)
    await publish(
        acc,
        LicenceIssued(
            licence_no=f"L-{item_id}",
            licence_type="SS_CARD",
            holder_type="natural_person",
            holder_id=id_number,
            holder_name="冯十三",
            issuing_department="RS",
            valid_from=now.date(),
            application_id=draft["id"],
            item_id=item_id,
            matter_code="RS-003",
            issued_at=now,
        ),
        producer="issuance",
    )

    async def item() -> dict[str, Any]:
        return (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()

    await wait_for(lambda: _equals(_item_status(item()), "licence_issued"), timeout=30, message="licence")
    await publish(
        acc,
        ApprovalDecided(
            application_id=draft["id"],
            item_id=item_id,
            task_id="t-late",
            matter_code="RS-003",
            department="RS",
            decision="approved",
            decided_at=now,
            applicant=Applicant(type="natural_person", id_number=id_number, name="冯十三"),
            collect_hall=HALL,
        ),
        producer="approval",
    )

    async def decided_recorded() -> bool:
        return "approved" in [h["status"] for h in (await item())["history"]]

    await wait_for(decided_recorded, timeout=30, message="late decision recorded")
    body = await item()
    assert body["items"][0]["status"] == "licence_issued" and body["items"][0]["licence_nos"] == [
        f"L-{item_id}"
    ]
    assert body["status"] == "approved"


async def _item_status(awaitable: Any) -> str:
    return (await awaitable)["items"][0]["status"]


def test_roll_up_gives_one_application_status_from_its_items() -> None:
    def rolled(app_status: str, *item_statuses: str) -> str:
        app = Application(status=app_status)
        progress.roll_up(app, [ApplicationItem(status=s) for s in item_statuses])
        return app.status

    assert rolled("accepted", "in_approval", "accepted") == "in_approval"
    assert rolled("in_approval", "approved", "supplement_requested") == "supplement_requested"
    assert rolled("in_approval", "approved", "licence_issued") == "approved"
    assert rolled("in_approval", "denied", "revoked") == "denied"
    assert rolled("approved", "revoked", "revoked") == "revoked"
    assert rolled("in_approval", "approved", "denied") == "partly_approved"
    assert rolled("accepted", "approved", "accepted") == "in_approval"  # one decided, the other still open
    # before acceptance and after delivery the items do not move the application
    for final in ("draft", "submitted", "pending_supplement", "refused", "result_ready", "collected"):
        assert rolled(final, "approved") == final


async def test_public_progress_needs_a_plausible_known_tracking_code(acc, catalog) -> None:
    for code in ("short", "x" * 22, "y" * 65):
        response = await acc.get(f"/progress/{code}")
        assert response.status_code == 404 and response.json()["detail"] == "unknown tracking code"
