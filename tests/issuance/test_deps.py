"""The rules' dependencies: today's date in the service's time zone; events staged with the application's id."""

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.issuance.config import IssuanceSettings
from services.issuance.deps import IssuanceDeps, emit
from services.issuance.models import Application, backbone
from services.issuance.signing import LicenceSigner
from shared import context
from shared.events.licences import ResultTransferred
from shared.outbox import Outbox
from tests.issuance.issuance_helpers import HALL, OTHER_HALL, Issuance, unique


def deps_in(timezone: str) -> IssuanceDeps:
    return IssuanceDeps(
        outbox=Outbox(backbone.outbox_table, producer="issuance"),
        signer=LicenceSigner(Ed25519PrivateKey.generate()),
        settings=IssuanceSettings(timezone=timezone),
    )


def test_today_is_the_date_in_the_configured_time_zone() -> None:
    east, west = deps_in("Pacific/Kiritimati"), deps_in("Pacific/Pago_Pago")  # UTC+14 and UTC-11
    assert east.today() > west.today()  # 25 hours apart: never the same date
    assert deps_in("UTC").today() == datetime.now(UTC).date()


async def test_events_carry_the_applications_correlation_id_over_the_requests(iss: Issuance) -> None:
    deps = iss.deps()
    app = Application(application_id=unique("APP"), correlation_id=unique("corr"))
    event = ResultTransferred(
        application_id=app.application_id, from_hall=HALL, to_hall=OTHER_HALL, at=datetime.now(UTC)
    )
    token = context.correlation_id.set("clerk-request")  # a clerk's request has its own id
    try:
        async with iss.runtime.sessionmaker() as session:  # never committed: nothing leaves the outbox
            await emit(session, event, app=app, deps=deps, hall=OTHER_HALL)
            await emit(session, event, app=None, deps=deps)
            envelopes = await iss.staged(session, app.application_id)
    finally:
        context.correlation_id.reset(token)
    assert [(e["correlation_id"], e["hall"]) for e in envelopes] == [
        (app.correlation_id, OTHER_HALL),
        ("clerk-request", None),  # without the application, the request's id
    ]
    assert {e["type"] for e in envelopes} == {"delivery.transferred"}
