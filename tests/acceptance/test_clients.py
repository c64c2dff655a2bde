"""The forms client (services/acceptance/clients.py): degraded prefills and the circuit breaker."""

import asyncio

import httpx
from prometheus_client import REGISTRY

from services.acceptance.clients import FormsClient


async def test_circuit_breaker_skips_forms_after_repeated_outages() -> None:
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    client = FormsClient(base_url="http://forms", timeout=1, transport=httpx.MockTransport(refuse),
                         failure_threshold=2, open_seconds=30)
    args = {"authorization": None, "applicant_id": "x", "matter": "RS-003", "bundle": None, "application_ref": "a"}
    results = [await client.prefill(**args) for _ in range(4)]
    assert all(r.degraded for r in results) and calls == 2
    assert "recent failures" in (results[-1].reason or "") and client.circuit_open

    answers = iter([httpx.Response(404, json={}), httpx.Response(200, json={"fields": [], "materials": []})])
    client = FormsClient(base_url="http://forms", timeout=1, failure_threshold=1,
                         transport=httpx.MockTransport(lambda request: next(answers)))
    assert (await client.prefill(**args)).degraded and not client.circuit_open  # a 404 is not an outage
    assert not (await client.prefill(**args)).degraded
    await client.aclose()


async def test_half_open_circuit_lets_one_probe_through() -> None:
    calls = 0
    healthy = False

    async def forms(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if not healthy:
            return httpx.Response(503, json={})
        await asyncio.sleep(0.1)
        return httpx.Response(200, json={"fields": [], "materials": []})

    client = FormsClient(base_url="http://forms", timeout=1, transport=httpx.MockTransport(forms),
                         failure_threshold=1, open_seconds=0.05)
    args = {"authorization": None, "applicant_id": "x", "matter": "RS-003", "bundle": None, "application_ref": "a"}
    assert (await client.prefill(**args)).degraded and client.circuit_state == "open"
    assert REGISTRY.get_sample_value("onewindow_forms_circuit_state") == 2
    await asyncio.sleep(0.06)
    assert client.circuit_state == "half_open" and not client.circuit_open
    healthy = True
    results = await asyncio.gather(*(client.prefill(**args) for _ in range(5)))
    assert calls == 2  # the first outage, then one probe; the four others did not wait for forms
    assert sorted(r.degraded for r in results) == [False, True, True, True, True]
    assert client.circuit_state == "closed" and REGISTRY.get_sample_value("onewindow_forms_circuit_state") == 0
    await client.aclose()
