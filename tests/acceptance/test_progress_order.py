"""Progress that never goes backwards (services/acceptance/progress.py): back-office events delivered out of
order over the real broker are shown in the order they happened (their occurred_at), and the application's
status is the furthest state reached, while revocation and supplement requests still apply."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.acceptance import progress
from services.acceptance.models import Application, ApplicationItem
from shared.events import Envelope, Event
from shared.events.applications import Applicant
from shared.events.approvals import ApprovalDecided, ApprovalTaskOpened, DecisionRevoked, SupplementRequested
from shared.events.licences import LicenceIssued, ResultCollected, ResultReady
from shared.infra import wait_for
from tests.acceptance.conftest import HALL, new_id_number, open_app, person

MATTER = "RS-003"


async def _accepted(acc: httpx.AsyncClient, clerk: dict[str, str]) -> dict[str, Any]:
    """A one-item application accepted at the window."""
    id_number = new_id_number()
    draft = await open_app(acc, clerk, matter=MATTER, applicant=person(id_number))
    values = {"person.name": "冯十三", "person.id_number": id_number, "person.mobile": "13655556666",
              "person.address": "桐乡市崇福镇1号"}
    app = (await acc.post(f"/applications/{draft['id']}/submit", headers=clerk,
                          json={"values": values, "presented": ["ID_CARD"]})).json()
    assert app["status"] == "accepted", app
    return app


class Back:
    """The back office of one application, as its events reach acceptance: each published on the real
    broker with the time it happened, then waited for until acceptance has recorded it."""

    def __init__(self, acc: httpx.AsyncClient, clerk: dict[str, str], app: dict[str, Any]) -> None:
        self.acc, self.clerk, self.app = acc, clerk, app
        self.item_id = app["items"][0]["item_id"]
        self.applicant = Applicant(type="natural_person", id_number=app["applicant"]["id_number"], name="冯十三")
        self.common = {"application_id": app["id"], "item_id": self.item_id, "task_id": f"task-{self.item_id}",
                       "matter_code": MATTER, "department": "RS"}

    async def view(self) -> dict[str, Any]:
        return (await self.acc.get(f"/applications/{self.app['id']}", headers=self.clerk)).json()

    async def deliver(self, event: Event, *, at: datetime, producer: str) -> dict[str, Any]:
        """Publish ``event`` as having happened at ``at``; the application once acceptance recorded it."""
        envelope = Envelope.wrap(event, producer=producer, correlation_id=self.app["id"])
        envelope = envelope.model_copy(update={"occurred_at": at})
        await self.acc.app.state.runtime.bus.publish(envelope, stream=event.STREAM)  # type: ignore[attr-defined]

        async def recorded() -> dict[str, Any] | None:
            # our own entry, found by when it happened: other entries (the session's real services) may
            # land in between, so a longer history alone does not say this event was applied
            view = await self.view()
            return view if any(datetime.fromisoformat(h["at"]) == at for h in view["history"]) else None

        await wait_for(recorded, timeout=30, interval=0.1, message=f"{event.TYPE} recorded")
        # read again: the view's statements run at READ COMMITTED one after the other, so the one that first
        # showed the entry may have read the application's status just before the event's commit
        return await self.view()

    def opened(self, at: datetime) -> ApprovalTaskOpened:
        return ApprovalTaskOpened(**self.common, at=at)

    def decided(self, at: datetime) -> ApprovalDecided:
        return ApprovalDecided(**self.common, decision="approved", decided_at=at, applicant=self.applicant,
                               collect_hall=HALL)

    def licence(self, at: datetime) -> LicenceIssued:
        return LicenceIssued(licence_no=f"L-{self.item_id}", licence_type="SS_CARD", holder_type="natural_person",
                             holder_id=self.applicant.id_number, holder_name="冯十三", issuing_department="RS",
                             valid_from=at.date(), application_id=self.app["id"], item_id=self.item_id,
                             matter_code=MATTER, issued_at=at)

    def ready(self, at: datetime) -> ResultReady:
        return ResultReady(application_id=self.app["id"], collect_hall=HALL, item_ids=[self.item_id], at=at)

    def collected(self, at: datetime) -> ResultCollected:
        return ResultCollected(application_id=self.app["id"], method="pickup", hall=HALL, at=at)


def _after_acceptance(history: list[dict[str, Any]]) -> list[str]:
    statuses = [h["status"] for h in history]
    return statuses[statuses.index("accepted"):]


def _in_time_order(history: list[dict[str, Any]]) -> bool:
    times = [datetime.fromisoformat(h["at"]) for h in history]
    return times == sorted(times)


async def test_a_lifecycle_delivered_backwards_is_shown_in_time_order_and_stays_collected(
    acc, catalog, clerk
) -> None:
    app = await _accepted(acc, clerk)
    back = Back(acc, clerk, app)
    t = datetime.fromisoformat(app["accepted_at"])
    happened = [
        (back.opened(t + timedelta(minutes=1)), "approval"),
        (back.decided(t + timedelta(minutes=2)), "approval"),
        (back.licence(t + timedelta(minutes=3)), "issuance"),
        (back.ready(t + timedelta(minutes=4)), "issuance"),
        (back.collected(t + timedelta(minutes=5)), "issuance"),
    ]
    for minute, (event, producer) in reversed(list(enumerate(happened, start=1))):
        view = await back.deliver(event, at=t + timedelta(minutes=minute), producer=producer)
        assert view["status"] == "collected", (event.TYPE, view["status"])  # never moved back
        public = (await acc.get(f"/progress/{app['tracking_code']}")).json()
        assert public["status"] == "collected" and _in_time_order(public["history"])

    view = await back.view()
    assert _after_acceptance(view["history"]) == [
        "accepted", "in_approval", "approved", "licence_issued", "result_ready", "collected"
    ]
    assert _in_time_order(view["history"])
    assert view["items"][0]["status"] == "licence_issued" and view["items"][0]["task_id"] == f"task-{back.item_id}"
    public = (await acc.get(f"/progress/{app['tracking_code']}")).json()
    assert [h["status"] for h in public["history"]][-6:] == [
        "accepted", "in_approval", "approved", "licence_issued", "result_ready", "collected"
    ]
    assert public["items"][0]["status"] == "licence_issued"


async def test_supplement_requests_and_revocation_still_apply_in_the_order_they_happened(
    acc, catalog, clerk
) -> None:
    app = await _accepted(acc, clerk)
    back = Back(acc, clerk, app)
    t = datetime.fromisoformat(app["accepted_at"])
    # the supplement request (补正) overtakes the task_opened that happened before it: it stays requested
    request = SupplementRequested(**back.common, materials=["ID_CARD"], reason="复印件不清", at=t)
    view = await back.deliver(request, at=t + timedelta(milliseconds=20), producer="approval")
    assert view["status"] == "supplement_requested"
    view = await back.deliver(back.opened(t), at=t + timedelta(milliseconds=10), producer="approval")
    assert view["status"] == "supplement_requested" and view["items"][0]["status"] == "supplement_requested"
    # the applicant hands the material in (later than the request): back in approval
    supplemented = await acc.post(f"/applications/{app['id']}/supplement", headers=clerk,
                                  json={"materials": ["ID_CARD"], "item_id": back.item_id})
    assert supplemented.status_code == 200 and supplemented.json()["status"] == "in_approval", supplemented.text

    # then: approved, licence, results at the window, a failed post-check revokes the decision;
    # the revocation arrives first and nothing that happened before it undoes it
    now = datetime.now(UTC)
    at = {"decided": now + timedelta(minutes=1), "licence": now + timedelta(minutes=2),
          "ready": now + timedelta(minutes=3), "revoked": now + timedelta(minutes=10)}
    revoked = DecisionRevoked(**back.common, reason="承诺未履行", at=at["revoked"])
    view = await back.deliver(revoked, at=at["revoked"], producer="approval")
    assert view["status"] == "revoked"
    for event, when, producer in [
        (back.ready(at["ready"]), at["ready"], "issuance"),
        (back.decided(at["decided"]), at["decided"], "approval"),
        (back.licence(at["licence"]), at["licence"], "issuance"),
    ]:
        view = await back.deliver(event, at=when, producer=producer)
        assert view["status"] == "revoked" and view["items"][0]["status"] == "revoked", event.TYPE

    assert _after_acceptance(view["history"]) == [
        "accepted", "in_approval", "supplement_requested", "supplemented", "approved", "licence_issued",
        "result_ready", "revoked",
    ]
    assert _in_time_order(view["history"])
    public = (await acc.get(f"/progress/{app['tracking_code']}")).json()
    assert public["status"] == "revoked" and _in_time_order(public["history"])


def test_the_rules_rank_steps_and_let_the_later_of_equal_steps_win() -> None:
    t = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def item(status: str, at: datetime | None = t) -> ApplicationItem:
        return ApplicationItem(status=status, status_at=at)

    # forward always, backward never
    assert progress.advance_item(moved := item("approved"), status="licence_issued", at=t - timedelta(hours=1))
    assert moved.status == "licence_issued"
    assert not progress.advance_item(kept := item("licence_issued"), status="approved", at=t + timedelta(hours=1))
    assert kept.status == "licence_issued"
    assert not progress.advance_item(item("revoked"), status="licence_issued", at=t + timedelta(hours=1))
    # equal rank: the later one wins
    assert not progress.advance_item(item("supplement_requested"), status="in_approval", at=t - timedelta(seconds=1))
    assert progress.advance_item(item("supplement_requested"), status="in_approval", at=t + timedelta(seconds=1))
    assert progress.advance_item(item("in_approval"), status="supplement_requested", at=t + timedelta(seconds=1))
    assert progress.advance_item(item("in_approval", at=None), status="supplement_requested", at=t)

    def rolled(app_status: str, *statuses: str, delivered: str | None = None) -> str:
        app = Application(status=app_status)
        progress.roll_up(app, [ApplicationItem(status=s) for s in statuses], delivered=delivered)
        return app.status

    assert rolled("collected", "approved", delivered="result_ready") == "collected"  # furthest delivery stage
    assert rolled("in_approval", "in_approval", delivered="result_ready") == "result_ready"
    assert rolled("collected", "revoked") == "revoked"  # the legal state wins over the delivery
    assert rolled("revoked", "revoked", delivered="collected") == "revoked"
    assert rolled("collected", "revoked", "licence_issued") == "collected"  # one of a bundle revoked
    assert rolled("refused", "approved", delivered="collected") == "refused"
