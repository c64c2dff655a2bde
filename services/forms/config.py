"""Forms service settings (env prefix FORMS_)."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FormsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FORMS_", extra="ignore")

    service_name: str = "forms"
    port: int = 8001
