"""The service registry and the typed handler declarations agree with the code they describe."""

from pathlib import Path

import pytest

from shared.eventmap import build_events_markdown
from shared.events import REGISTRY, STREAMS
from shared.events.applications import ApplicationAccepted
from shared.events.ticketing import TicketRated
from shared.handlers import ConsumerSpec, Delivery
from shared.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def test_every_service_folder_is_in_the_registry_and_every_entry_has_a_folder() -> None:
    folders = {p.parent.name for p in (ROOT / "services").glob("*/main.py")}
    assert folders == set(SERVICES.names)


@pytest.mark.parametrize("name", SERVICES.names)
def test_entry_agrees_with_the_service_settings_models_and_migrations(name: str) -> None:
    entry = SERVICES.get(name)
    settings = entry.settings_class()
    assert settings.model_config.get("env_prefix") == entry.env_prefix
    assert settings.model_fields["port"].default == entry.port
    assert settings.model_fields["service_name"].default == name
    assert entry.module("models").Base.metadata.schema == entry.schema
    assert (ROOT / "services" / name / "migrations" / "env.py").exists()


def test_ports_and_consumer_groups_are_unique() -> None:
    ports = [s.port for s in SERVICES]
    assert len(ports) == len(set(ports))
    groups = [spec.group for s in SERVICES for spec in s.consumers()]
    assert len(groups) == len(set(groups))


def test_every_stream_has_exactly_one_producer() -> None:
    for stream in STREAMS:
        assert SERVICES.producer_of(stream).name in SERVICES.names
    published = [stream for s in SERVICES for stream in s.publishes]
    assert sorted(published) == sorted(STREAMS)


def test_unknown_service_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown service 'hotline'; known: identity"):
        SERVICES.get("hotline")


def test_streams_follow_from_the_handled_event_types() -> None:
    for entry in SERVICES:
        for spec in entry.consumers():
            assert spec.streams == sorted({REGISTRY[t].STREAM for t in spec.routes})


def test_a_handler_annotated_for_another_event_type_is_refused() -> None:
    async def on_rated(event: TicketRated, ctx: Delivery[None]) -> None:
        return None

    with pytest.raises(TypeError, match="registered for ApplicationAccepted but its event parameter"):
        ConsumerSpec(group="g", handlers={ApplicationAccepted: on_rated})


def test_an_unregistered_event_class_is_refused() -> None:
    class NotAnEvent(TicketRated):
        TYPE = "ticket.something_else"

    async def on_other(event: NotAnEvent, ctx: Delivery[None]) -> None:
        return None

    with pytest.raises(TypeError, match="not a registered event type"):
        ConsumerSpec(group="g", handlers={NotAnEvent: on_other})


def test_published_event_map_is_current() -> None:
    published = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert published == build_events_markdown(), "run `make events` after changing events or handlers"


def test_event_map_names_producer_consumer_and_handler() -> None:
    text = build_events_markdown()
    row = next(line for line in text.splitlines() if line.startswith("| `application.accepted`"))
    assert "approval / `approval` → `services.approval.consumers.on_application_accepted`" in row
    assert "## Stream `applications` (published by acceptance)" in text
