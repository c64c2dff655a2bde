"""Forms service settings (env prefix FORMS_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FormsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORMS_", extra="ignore")

    service_name: str = "forms"
    port: int = 8001
    # A clerk's reason to read a profile (services/forms/reading_basis.py).
    acceptance_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Base URL of acceptance: asked whether an application is a clerk's reason to read a profile.",
    )
    reading_basis_timeout_seconds: float = Field(default=1.5, gt=0, le=10)
    reading_basis_cache_seconds: float = Field(
        default=60, ge=0, le=3600, description="How long a confirmed (clerk, application, applicant) is remembered."
    )
    clerk_applicants_per_hour: int = Field(
        default=60, ge=1, le=10_000, description="Different applicants one clerk account may read in an hour; then 429."
    )
