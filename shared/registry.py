"""The one list of OneWindow's services: everything else (stack, CLI, migrations, AsyncAPI, docs,
deployment checks) reads it. Adding a service is one entry here plus its folder under services/.

Nothing here imports a service: the entries name modules, so ``shared`` stays below ``services``.
"""

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.service_app import ConsumerSpec
    from shared.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceEntry:
    """One service: where its code is, where it listens, where its data lives, what it publishes."""

    name: str
    port: int
    title: str
    publishes: tuple[str, ...] = ()  # streams whose events this service writes to its outbox
    # Services this one calls over HTTP (prefill, read-your-writes): their base URLs are its settings
    # ``<peer>_url`` (env ``<NAME>_<PEER>_URL``), set by the stack and the compose file from this list.
    calls: tuple[str, ...] = ()

    @property
    def package(self) -> str:
        """Python package of the service (``services.approval``)."""
        return f"services.{self.name}"

    @property
    def app_path(self) -> str:
        """What uvicorn runs (``services.approval.main:app``)."""
        return f"{self.package}.main:app"

    @property
    def schema(self) -> str:
        """The PostgreSQL schema that holds the service's tables, outbox, inbox and Alembic history."""
        return self.name

    @property
    def env_prefix(self) -> str:
        """Prefix of the service's environment variables (``APPROVAL_``)."""
        return f"{self.name.upper()}_"

    @property
    def local_url(self) -> str:
        """Base URL on one machine (``make run``)."""
        return f"http://127.0.0.1:{self.port}"

    def peer_url_env(self, peer: str) -> str:
        """The environment variable holding ``peer``'s base URL for this service (``ACCEPTANCE_FORMS_URL``)."""
        return f"{self.env_prefix}{peer.upper()}_URL"

    def module(self, name: str) -> ModuleType:
        """Import one of the service's fixed-name modules (``main``, ``config``, ``consumers``...)."""
        return importlib.import_module(f"{self.package}.{name}")

    def settings_class(self) -> "type[ServiceSettings]":
        """The service's ``<Name>Settings`` class from its ``config.py``."""
        cls: type[ServiceSettings] = getattr(self.module("config"), f"{self.name.capitalize()}Settings")
        return cls

    def consumers(self) -> "list[ConsumerSpec]":
        """The consumer groups the service declares in ``consumers.py`` (``CONSUMERS``)."""
        specs: list[ConsumerSpec] = getattr(self.module("consumers"), "CONSUMERS", [])
        return specs


@dataclass(frozen=True)
class Registry:
    """All services, in start order (the token issuer first, then forms, whose catalogue others read)."""

    services: tuple[ServiceEntry, ...]

    def __iter__(self) -> Iterator[ServiceEntry]:
        return iter(self.services)

    def get(self, name: str) -> ServiceEntry:
        """The entry of ``name``; a clear error for an unknown service."""
        for entry in self.services:
            if entry.name == name:
                return entry
        raise KeyError(f"unknown service {name!r}; known: {', '.join(self.names)}")

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    def producer_of(self, stream: str) -> ServiceEntry:
        """The one service that publishes ``stream``."""
        [entry] = [s for s in self.services if stream in s.publishes]
        return entry


SERVICES = Registry(
    (
        ServiceEntry("identity", 8000, "identity (token issuer)"),
        ServiceEntry(
            "forms", 8001, "forms (catalogue, profiles, prefill)", publishes=("catalog",), calls=("acceptance",)
        ),
        ServiceEntry("ticketing", 8002, "ticketing (smart queue)", publishes=("ticketing",)),
        ServiceEntry(
            "acceptance", 8003, "acceptance (front desk)", publishes=("applications",), calls=("forms", "ticketing")
        ),
        ServiceEntry("approval", 8004, "approval (back office)", publishes=("approvals",), calls=("acceptance",)),
        ServiceEntry(
            "issuance",
            8005,
            "issuance (results, licences)",
            publishes=("licences", "notifications"),
            calls=("acceptance", "approval"),
        ),
    )
)

__all__ = ["SERVICES", "Registry", "ServiceEntry"]
