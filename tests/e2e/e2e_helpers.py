"""What the end-to-end tests share: response checks, reading an outbox, the services' HTTP links to each
other (read-your-writes), and a hall with one staffed window."""

from typing import Any

import httpx
from sqlalchemy import func, select

from services.acceptance import models as acceptance_models
from services.acceptance.clients import TicketingClient
from services.approval import models as approval_models
from services.forms.reading_basis import BasisClient
from services.issuance import models as issuance_models
from services.ticketing import models as ticketing_models
from shared.infra import wait_for
from shared.readthrough import EnvelopeClient

MATTER = "SCJG-001"  # 个体工商户设立登记: on the spot, one decision step, result 营业执照 (BIZ_LICENCE)

OUTBOXES = {
    "ticketing": ticketing_models.backbone.outbox_table,
    "acceptance": acceptance_models.backbone.outbox_table,
    "approval": approval_models.backbone.outbox_table,
    "issuance": issuance_models.backbone.outbox_table,
}


async def ok(response: httpx.Response, *codes: int) -> Any:
    """The JSON body of a response whose status is one of ``codes`` (200 by default)."""
    assert response.status_code in (codes or (200,)), response.text
    return response.json() if response.content else None


async def envelopes(client: httpx.AsyncClient, schema: str, where: Any) -> list[dict[str, Any]]:
    """Envelopes in ``schema``'s outbox matching ``where(envelope column)`` (a tuple of conditions)."""
    table = OUTBOXES[schema]
    async with client.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
        rows = await session.execute(
            select(table.c.envelope).where(*where(table.c.envelope)).order_by(table.c.seq)
        )
        return list(rows.scalars())


async def open_hall_with_one_window(
    *,
    forms: httpx.AsyncClient,
    ticketing: httpx.AsyncClient,
    catalog: dict[str, Any],
    admin: dict[str, str],
    hall_admin: dict[str, str],
    clerk: dict[str, str],
    hall: str,
    name: str,
) -> None:
    """Publish ``catalog``; open ``hall`` all day with window W01 skilled for MATTER and ``clerk`` signed in."""
    version = (await ok(await forms.post("/catalog/versions", json=catalog, headers=admin), 201))["version"]
    await ok(await forms.post(f"/catalog/versions/{version}/publish", headers=admin))
    zones = [{"code": code, "name": f"{code}区"} for code in "ABC"]
    await ok(
        await ticketing.put(
            f"/halls/{hall}",
            headers=hall_admin,
            json={
                "name": name,
                "opens_at": "00:00:00",
                "closes_at": "23:59:59",
                "open_days": "all",
                "zones": zones,
            },
        )
    )
    await ok(
        await ticketing.put(
            f"/halls/{hall}/windows/W01",
            headers=hall_admin,
            json={"zone": "A", "name": "1号窗", "skills": [MATTER]},
        )
    )
    await ok(
        await ticketing.post(
            f"/halls/{hall}/windows/W01/sign-in", headers=clerk, json={"staff_name": "王小明"}
        )
    )


async def link_services(
    *, ticketing: httpx.AsyncClient, acceptance: httpx.AsyncClient, approval: httpx.AsyncClient,
    issuance: httpx.AsyncClient, forms: httpx.AsyncClient | None = None,
) -> None:
    """Point the services' calls to each other (``make run``: their URLs) at the apps running in-process:
    acceptance -> ticketing, approval -> acceptance, issuance -> acceptance and approval, forms ->
    acceptance (a clerk's reason to read a profile)."""

    def to(client: httpx.AsyncClient) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]

    links: list[tuple[Any, str, Any]] = [
        (acceptance.app.state, "ticketing_client",  # type: ignore[attr-defined]
         TicketingClient(base_url="http://ticketing", timeout=5.0, transport=to(ticketing))),
        (approval.app.state, "acceptance_client",  # type: ignore[attr-defined]
         EnvelopeClient(base_url="http://acceptance", timeout=5.0, producer="acceptance", transport=to(acceptance))),
        (issuance.app.state, "acceptance_client",  # type: ignore[attr-defined]
         EnvelopeClient(base_url="http://acceptance", timeout=5.0, producer="acceptance", transport=to(acceptance))),
        (issuance.app.state, "approval_client",  # type: ignore[attr-defined]
         EnvelopeClient(base_url="http://approval", timeout=5.0, producer="approval", transport=to(approval))),
    ]
    if forms is not None:
        links.append((forms.app.state, "basis_client",  # type: ignore[attr-defined]
                      BasisClient(base_url="http://acceptance", timeout=5.0, cache_seconds=60,
                                  transport=to(acceptance))))
    for state, name, client in links:
        await getattr(state, name).aclose()
        setattr(state, name, client)  # the app's lifespan closes it at shutdown


async def acceptance_knows(acceptance: httpx.AsyncClient, matter: str) -> None:
    """Wait until acceptance's catalogue read model has ``matter`` (published by forms, over the broker)."""
    Matter = acceptance_models.Matter

    async def known() -> bool:
        async with acceptance.app.state.runtime.sessionmaker() as session:  # type: ignore[attr-defined]
            query = select(func.count()).select_from(Matter).where(Matter.code == matter)
            return (await session.execute(query)).scalar_one() > 0

    await wait_for(known, timeout=60, interval=0.3, message=f"acceptance knows {matter}")
