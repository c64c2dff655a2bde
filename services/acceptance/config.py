"""Acceptance service settings (env prefix ACCEPTANCE_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AcceptanceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ACCEPTANCE_", extra="ignore")

    service_name: str = "acceptance"
    port: int = 8003
    forms_url: str = Field(default="http://127.0.0.1:8001", description="Base URL of the forms service (prefill).")
    forms_timeout_seconds: float = Field(
        default=1.5, gt=0, le=10, description="Prefill budget; past it the clerk fills the form by hand (degraded)."
    )
    forms_failure_threshold: int = Field(default=3, ge=1, description="Consecutive failures that open the breaker.")
    forms_open_seconds: float = Field(default=10.0, ge=0, description="How long forms is skipped once open.")
    ticketing_url: str = Field(
        default="http://127.0.0.1:8002",
        description="Base URL of the ticketing service (a called ticket read through before its event arrives).",
    )
    ticketing_timeout_seconds: float = Field(
        default=1.0, gt=0, le=10, description="Budget of that read; past it the open answers 503 with Retry-After."
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8003", description="Base of the public progress URL encoded in receipt QR codes."
    )
    commitment_max_working_days: int = Field(default=60, ge=1, description="Longest deadline a commitment may have.")
    timezone: str = "Asia/Shanghai"
