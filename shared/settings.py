"""Settings every service shares; each service subclasses with its own env prefix (FORMS_, ...)."""

import os

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Connection and backbone settings. Subclasses set ``env_prefix`` and ``service_name``."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    service_name: str = "service"
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/onewindow",
        description="SQLAlchemy async URL; the service keeps its tables in its own schema.",
    )
    db_pool_size: int = Field(
        default=16, ge=1, description="Connections kept open; past it, up to db_max_overflow more are opened and "
        "closed again, which costs a connection setup each time: size it for the requests the process serves at once.",
    )
    db_max_overflow: int = Field(default=4, ge=0)
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_idempotence: bool = Field(
        default=False, description="On for Apache Kafka; the embedded broker does not support it."
    )
    topic_prefix: str = Field(default="", description="Prefixes every topic, e.g. per environment.")
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    consumer_max_attempts: int = Field(default=5, ge=1, description="Then the message goes to the DLQ.")
    relay_batch_size: int = Field(default=200, ge=1)
    relay_poll_seconds: float = Field(
        default=1.0, gt=0,
        description="How often an idle relay looks for events anyway. Every commit of the process wakes it at "
        "once; the poll is for rows another replica (or plain SQL) wrote while this one held the turn.",
    )
    broker_check_seconds: float = Field(
        default=5.0, gt=0, description="How often the relay checks that the broker still holds what it acknowledged."
    )
    outbox_retention_hours: float = Field(
        default=168, gt=0, description="Published outbox rows are kept this long (re-sent if the broker loses them)."
    )
    inbox_retention_hours: float = Field(
        default=336, gt=0, description="Handled event ids are kept this long; at least the outbox retention."
    )
    prune_interval_seconds: float = Field(default=300, gt=0)
    drain_seconds: float = Field(
        default=10, ge=0, description="On SIGTERM: at most this long to flush the outbox and let consumers catch up."
    )
    migrate_on_start: bool = True
    log_level: str = "INFO"
    log_json: bool = True
    # Auth: tokens are verified against a JWKS (file for the embedded issuer, URL for an OIDC provider).
    auth_jwks_url: str | None = None
    auth_jwks_file: str | None = None
    auth_issuer: str = "onewindow-dev-issuer"
    auth_audience: str = "onewindow"
    auth_accept_shared_audience: bool = Field(
        default=True,
        description="Also accept tokens whose aud is the shared auth_audience (external providers, older "
        "tokens); identity mints per-service audiences (<auth_audience>.<service>), accepted either way.",
    )
    auth_revocations_url: str | None = Field(
        default=None,
        description="identity's GET /auth/revocations (tokens revoked before they expire); unset: not checked.",
    )
    auth_revocation_poll_seconds: float = Field(default=30, gt=0, le=3600)
    public_rate_limit_per_minute: int = Field(default=120, ge=1)
    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated addresses or networks of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are trusted (e.g. 10.0.0.5,10.1.0.0/16); empty: none, the client is the TCP peer.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Request bodies over this size are refused (413) before they are read."
    )
    rate_limit_storage_uri: str = Field(
        default="memory://",
        description="Where public rate limits count: memory:// per replica, or redis://host:6379/0 shared by replicas.",
    )
    calendar_dir: str | None = Field(
        default_factory=lambda: os.environ.get("ONEWINDOW_CALENDAR_DIR") or None,
        description="Directory of operator notice files calendar-cn-YYYY.json: ONEWINDOW_CALENDAR_DIR for all "
        "services (a prefixed variable overrides it); a file replaces the shipped year (docs/approval.md).",
    )

    @model_validator(mode="after")
    def _inbox_outlives_outbox(self) -> "ServiceSettings":
        if self.inbox_retention_hours < self.outbox_retention_hours:
            raise ValueError("inbox_retention_hours must be at least outbox_retention_hours (re-sent events are deduped)")
        return self

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("database_url must be a PostgreSQL URL (postgresql+asyncpg://...)")
        return value

    def topic(self, stream: str) -> str:
        """Full topic name of a stream (catalog, ticketing, applications, ...)."""
        return f"{self.topic_prefix}{stream}"

    def dlq_topic(self, group: str) -> str:
        """Dead-letter topic of one consumer group (given with or without the topic prefix)."""
        return f"{self.topic_prefix}dlq.{group.removeprefix(self.topic_prefix)}"
