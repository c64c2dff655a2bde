"""Forms event handlers: thin, one transaction each (inbox check happens in the bus)."""

from shared.service_app import ConsumerSpec

CONSUMERS: list[ConsumerSpec] = []
