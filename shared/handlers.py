"""Typed event handlers: a consumer group declares ``{EventType: handler}``; the bus does the rest.

A handler receives its event already parsed into the declared model, and a ``Delivery`` with the
envelope, the message's transaction (the inbox row is in it), the service's outbox and the
service's own dependencies (a clock, a signing key...):

    async def on_application_accepted(event: ApplicationAccepted, ctx: Delivery[ServiceClock]) -> None:
        await tasks.open_tasks(ctx.session, outbox=ctx.outbox, event=event, clock=ctx.deps)

    CONSUMERS = [ConsumerSpec(group="approval", handlers={ApplicationAccepted: on_application_accepted})]

The streams a group reads follow from the event types it handles, so they cannot disagree.
"""

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, get_type_hints

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import REGISTRY, Envelope, Event
from shared.outbox import Outbox

D = TypeVar("D")


@dataclass(frozen=True)
class Delivery(Generic[D]):
    """What a handler gets beside its typed event."""

    envelope: Envelope
    session: AsyncSession  # the message's transaction: commits with the inbox row, or not at all
    outbox: Outbox  # the service's outbox: events written here leave only if the handler commits
    deps: D  # the service's own dependencies, as given to create_service_app(deps=...)

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id


Handler = Callable[[Any, Delivery[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Route:
    """One event type a group handles: the model the payload is parsed into, and the handler."""

    model: type[Event]
    handler: Handler

    @property
    def qualified_name(self) -> str:
        return f"{self.handler.__module__}.{self.handler.__qualname__}"


@dataclass
class ConsumerSpec:
    """One consumer group of a service: a handler per event type.

    Each handler's first parameter must be annotated with the event type it is registered for;
    this is checked here, at import, so a handler can never receive a payload of another type.
    """

    group: str
    handlers: Mapping[type[Event], Handler]
    routes: dict[str, Route] = field(init=False)

    def __post_init__(self) -> None:
        self.routes = {}
        for model, handler in self.handlers.items():
            if REGISTRY.get(getattr(model, "TYPE", "")) is not model:
                raise TypeError(f"{self.group}: {model!r} is not a registered event type")
            declared = _first_parameter_type(handler)
            if declared is not model:
                raise TypeError(
                    f"{self.group}: {handler.__qualname__} is registered for {model.__name__} "
                    f"but its event parameter is annotated {declared!r}"
                )
            self.routes[model.TYPE] = Route(model=model, handler=handler)

    @property
    def streams(self) -> list[str]:
        """The streams (topics without prefix) of the handled event types."""
        return sorted({route.model.STREAM for route in self.routes.values()})


def _first_parameter_type(handler: Handler) -> Any:
    first = next(iter(inspect.signature(handler).parameters), None)
    if first is None:
        return None
    return get_type_hints(handler).get(first)


__all__ = ["ConsumerSpec", "Delivery", "Handler", "Route"]
