"""Every event type of OneWindow, one module per producing service, and a registry by type name."""

from shared.events import applications, approvals, catalog, licences, ticketing
from shared.events.envelope import Envelope, Event, uuid7

STREAMS = ("catalog", "ticketing", "applications", "approvals", "licences", "notifications")

REGISTRY: dict[str, type[Event]] = {}
for _module in (catalog, ticketing, applications, approvals, licences):
    for _obj in vars(_module).values():
        if isinstance(_obj, type) and issubclass(_obj, Event) and _obj is not Event and hasattr(_obj, "TYPE"):
            if _obj.TYPE in REGISTRY:
                raise RuntimeError(f"event type {_obj.TYPE} defined twice")
            REGISTRY[_obj.TYPE] = _obj


__all__ = ["REGISTRY", "STREAMS", "Envelope", "Event", "uuid7"]
