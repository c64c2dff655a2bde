"""What an operator sees of the backbone: /metrics carries outbox backlog, oldest unpublished age, consumer
lag per group and partition, re-publish and DLQ counters; /readyz names a broker that lost data."""

import re

from shared.infra import wait_for


async def test_metrics_show_backlog_lag_republish_and_dead_letters(forms) -> None:
    async def exposition() -> str | None:
        text = (await forms.get("/metrics")).text
        lag = re.search(r'onewindow_consumer_lag\{group="forms",partition="\d+",service="forms",topic="[^"]+"\}', text)
        return text if lag and 'onewindow_outbox_backlog{service="forms"}' in text else None

    text = await wait_for(exposition, timeout=60, interval=0.5, message="backbone metrics of forms")
    assert re.search(r'onewindow_outbox_oldest_unpublished_seconds\{service="forms"\} \d', text)
    assert "# TYPE onewindow_outbox_republished_total counter" in text
    assert "# TYPE onewindow_events_dead_lettered_total counter" in text


async def test_readyz_names_a_broker_that_lost_data_while_the_resend_runs(forms) -> None:
    relay = forms.app.state.runtime.relay  # type: ignore[attr-defined]
    await wait_for(lambda: forms.get("/readyz"), timeout=60, message="forms answers")
    relay.loss = "the broker lost its log (new lifetime 01a2b3c4); re-sending 12 event(s)"
    try:
        body = (await forms.get("/readyz")).json()
    finally:
        relay.loss = None
    # still ready (requests are served meanwhile), and the reason is named
    assert body["status"] == "ready" and "re-sending 12 event(s)" in body["warnings"]["broker_data_loss"]
