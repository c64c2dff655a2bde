"""deploy/docker-compose.yml, checked statically (no Docker engine here): it parses, and every service's
command, port, health check and environment match what the code reads."""

import importlib
import re
from pathlib import Path

import pytest
import yaml

from shared.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
APP_SERVICES = list(SERVICES.names)  # the registry: every service must be in the compose file


def _settings_class(name: str) -> type:
    return SERVICES.get(name).settings_class()


def test_compose_runs_exactly_the_registered_services() -> None:
    infrastructure = {"kafka", "postgres"}
    assert set(COMPOSE["services"]) - infrastructure == set(SERVICES.names)


def test_infrastructure_is_apache_kafka_in_kraft_mode_and_postgres() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert COMPOSE["services"]["postgres"]["image"].startswith("postgres:")
    assert "healthcheck" in kafka and "healthcheck" in COMPOSE["services"]["postgres"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_command_port_health_and_dependencies(name: str) -> None:
    svc = COMPOSE["services"][name]
    cls = _settings_class(name)
    port = cls.model_fields["port"].default
    assert svc["command"][:2] == ["uvicorn", SERVICES.get(name).app_path]
    assert svc["command"][svc["command"].index("--port") + 1] == str(port)
    # forwarded headers are trusted only from <SVC>_FORWARDED_ALLOW_IPS, never uvicorn's default 127.0.0.1
    assert "--no-proxy-headers" in svc["command"]
    assert svc["ports"] == [f"{port}:{port}"]
    assert f"127.0.0.1:{port}/readyz" in " ".join(svc["healthcheck"]["test"])
    assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert svc["depends_on"]["kafka"]["condition"] == "service_healthy"
    importlib.import_module(f"services.{name}.main")  # the module the command names exists


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_environment_matches_its_settings(name: str) -> None:
    cls = _settings_class(name)
    prefix = cls.model_config["env_prefix"]
    env = COMPOSE["services"][name]["environment"]
    fields = set(cls.model_fields)
    for key in env:
        assert key.startswith(prefix) or key.split("_")[0].lower() in APP_SERVICES, f"{key} has no service prefix"
        if key.startswith(prefix):
            field = key[len(prefix):].lower()
            assert field in fields, f"{key}: {cls.__name__} has no field {field}"
    assert f"{prefix}DATABASE_URL" in env and f"{prefix}KAFKA_BOOTSTRAP" in env
    # The values must be accepted by the settings class as they are.
    values = {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)}
    settings = cls(**values)
    assert settings.kafka_bootstrap == "kafka:9092"
    assert re.match(r"postgresql\+asyncpg://\w+:\w+@postgres:5432/\w+", settings.database_url)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_reaches_the_services_it_calls(name: str) -> None:
    """Every peer a service calls (registry ``calls``: prefill, read-your-writes) has its URL setting, and
    the compose file points it at that peer's container and port."""
    entry = SERVICES.get(name)
    fields = set(_settings_class(name).model_fields)
    env = COMPOSE["services"][name]["environment"]
    for peer in entry.calls:
        assert f"{peer}_url" in fields, f"{name} calls {peer} but has no setting {peer}_url"
        port = _settings_class(peer).model_fields["port"].default
        assert env.get(entry.peer_url_env(peer)) == f"http://{peer}:{port}", f"{name} -> {peer}"
    urls = {k for k in env if k.startswith(entry.env_prefix) and k.endswith("_URL")}
    peers = {entry.peer_url_env(p) for p in entry.calls}
    strays = {k for k in urls - peers if k[len(entry.env_prefix):-4].lower() in APP_SERVICES}
    assert not strays, f"{name}: URLs of services it does not call: {strays}"


def test_the_stack_sets_the_same_peer_urls(tmp_path: Path) -> None:
    """``make run`` wires the peers from the same registry list, at its own (offset) ports."""
    from shared.stack import StackPlaces, peer_urls

    places = StackPlaces(tmp_path, 100)
    assert peer_urls(SERVICES.get("acceptance"), places) == {
        "ACCEPTANCE_FORMS_URL": "http://127.0.0.1:8101", "ACCEPTANCE_TICKETING_URL": "http://127.0.0.1:8102"
    }
    assert peer_urls(SERVICES.get("issuance"), places) == {
        "ISSUANCE_ACCEPTANCE_URL": "http://127.0.0.1:8103", "ISSUANCE_APPROVAL_URL": "http://127.0.0.1:8104"
    }
    assert peer_urls(SERVICES.get("forms"), places) == {"FORMS_ACCEPTANCE_URL": "http://127.0.0.1:8103"}
    assert peer_urls(SERVICES.get("identity"), places) == {}
