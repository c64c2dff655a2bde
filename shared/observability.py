"""Structured JSON logs carrying the correlation id (with personal data scrubbed), and Prometheus metrics."""

import logging
import sys
import time
import uuid
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import context
from shared.privacy import scrub

CORRELATION_HEADER = "X-Correlation-ID"

HTTP_REQUESTS = Counter(
    "onewindow_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "onewindow_http_request_seconds", "HTTP request latency", ["service", "method", "route"]
)
OUTBOX_PUBLISHED = Counter("onewindow_outbox_published_total", "Events relayed to Kafka", ["service"])
OUTBOX_PENDING = Histogram(
    "onewindow_outbox_delay_seconds", "Time from outbox write to publish", ["service"]
)
EVENTS_HANDLED = Counter(
    "onewindow_events_handled_total", "Events consumed", ["service", "type", "result"]
)
EVENTS_SKIPPED = Counter(
    "onewindow_events_skipped_total",
    "Events on a consumed stream that the group has no handler for",
    ["service", "group", "type"],
)
DEAD_LETTERED = Counter(
    "onewindow_events_dead_lettered_total", "Events sent to a DLQ", ["service", "group", "type"]
)
OUTBOX_BACKLOG = Gauge("onewindow_outbox_backlog", "Outbox rows waiting for the relay", ["service"])
OUTBOX_OLDEST_SECONDS = Gauge(
    "onewindow_outbox_oldest_unpublished_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
OUTBOX_REPUBLISHED = Counter(
    "onewindow_outbox_republished_total",
    "Outbox rows queued again because the broker lost them (reason: broker_lifetime, partition_truncated)",
    ["service", "reason"],
)
CONSUMER_LAG = Gauge(
    "onewindow_consumer_lag", "Messages behind the partition's end", ["service", "group", "topic", "partition"]
)
PRUNED = Counter("onewindow_backbone_pruned_total", "Outbox and inbox rows pruned after retention", ["service", "table"])


def _add_context(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    cid = context.correlation_id.get()
    if cid and "correlation_id" not in event_dict:
        event_dict["correlation_id"] = cid
    return event_dict


def _scrub_personal_data(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


def configure_logging(*, service: str, level: str = "INFO", json: bool = True) -> None:
    """Route stdlib and structlog logs through one JSON renderer that scrubs personal data."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_context,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _scrub_personal_data,
    ]
    renderer = structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=processors,
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # aiokafka logs every failed reconnect at ERROR; the relay and consumers report an outage
    # once (and its end) themselves, so keep the client library quiet instead of a log storm.
    logging.getLogger("aiokafka").setLevel("CRITICAL")
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structured logger."""
    return structlog.get_logger(name)


class CorrelationMiddleware:
    """Takes or creates the correlation id, echoes it, and records request metrics.

    Pure ASGI (not ``BaseHTTPMiddleware``, which runs every request through an extra task and memory
    streams): the id is set in the context of the request's own task, so handlers and logs see it.
    """

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = (Headers(scope=scope).get(CORRELATION_HEADER) or str(uuid.uuid4()))[:100]
        token = context.correlation_id.set(cid)
        started = time.perf_counter()
        status = 500
        header = (CORRELATION_HEADER.lower().encode("latin-1"), cid.encode("latin-1", "replace"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, path).observe(time.perf_counter() - started)
            context.correlation_id.reset(token)
