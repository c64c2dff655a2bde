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
