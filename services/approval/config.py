"""Approval service settings (env prefix APPROVAL_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ApprovalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="APPROVAL_", extra="ignore")

    service_name: str = "approval"
    port: int = 8004
    timezone: str = Field(default="Asia/Shanghai", description="Whose calendar day the clock counts.")
    sweep_interval_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Background time-limit sweep period; 0 turns the background sweep off.",
    )
    warning_working_days: int = Field(
        default=1,
        ge=0,
        description="A task is in the warning state this many working days before its promised date.",
    )
    high_risk_matters: list[str] = Field(
        default_factory=list,
        description="Matters whose commitment cases are sampled for post-checks more often.",
    )
    acceptance_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Base URL of acceptance: application.accepted read through before the broker delivers it.",
    )
    acceptance_timeout_seconds: float = Field(
        default=1.5, gt=0, le=10, description="Budget of that read; past it the answer is 503 with Retry-After."
    )
    rectification_working_days: int = Field(
        default=10, ge=1, description="Time given to rectify after a post-check."
    )
