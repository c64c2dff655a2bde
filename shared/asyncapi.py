"""AsyncAPI 3 document of every OneWindow event, generated from the pydantic models."""

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.events import REGISTRY, STREAMS, Envelope
from shared.registry import SERVICES


def build_asyncapi() -> dict[str, Any]:
    """The document: one channel per stream, one message per event type (payload inside the envelope)."""
    classes: list[type[BaseModel]] = [*REGISTRY.values(), Envelope]
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in classes
    ]
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas = top.get("$defs", {})
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {s: {"address": s, "messages": {}} for s in STREAMS}
    operations: dict[str, Any] = {}
    for event_type, model in sorted(REGISTRY.items()):
        name = event_type.replace(".", "_")
        messages[name] = {
            "name": event_type,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip(),
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/Envelope"},
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            "x-version": model.VERSION,
            "x-key": "aggregate id (Envelope.key)",
        }
        channels[model.STREAM]["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    for stream in STREAMS:
        operations[f"publish_{stream}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{stream}"},
            "summary": f"Published by the {SERVICES.producer_of(stream).name} service through its "
            "transactional outbox.",
        }
    for entry in SERVICES:
        for spec in entry.consumers():
            for stream in spec.streams:
                handled = sorted(t for t, route in spec.routes.items() if stream == route.model.STREAM)
                operations[f"consume_{spec.group}_{stream}"] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{stream}"},
                    "summary": f"Consumer group {spec.group} of the {entry.name} service "
                    "(other event types on the stream are skipped).",
                    "messages": [
                        {"$ref": f"#/channels/{stream}/messages/{t.replace('.', '_')}"} for t in handled
                    ],
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "OneWindow events",
            "version": "1.0.0",
            "description": "Every event travels in the Envelope; the Kafka key is Envelope.key (the aggregate id). "
            "Topics are the stream names with an optional prefix; dead-letter topics are dlq.<consumer group>.",
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
