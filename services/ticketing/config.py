"""Ticketing service settings (env prefix TICKETING_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class TicketingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TICKETING_", extra="ignore")

    service_name: str = "ticketing"
    port: int = 8002
    business_timezone: str = "Asia/Shanghai"
    display_poll_seconds: float = Field(default=1.0, gt=0, description="How often a display stream looks for calls.")
    service_time_sample: int = Field(default=30, ge=1, description="Recent services that give mu (per zone).")
