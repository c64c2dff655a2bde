"""Ticketing service settings (env prefix TICKETING_)."""

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class TicketingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TICKETING_", extra="ignore")

    service_name: str = "ticketing"
    port: int = 8002
    business_timezone: str = "Asia/Shanghai"
    display_poll_seconds: float = Field(default=1.0, gt=0, description="How often a display stream looks for calls.")
    service_time_sample: int = Field(default=30, ge=1, description="Recent services that give mu (per zone).")
    # Who may take a number (docs/ticketing.md, "Channels"): kiosks with a device token, applicants
    # logged in on the web, anonymous web users with the integrator's captcha proof, window staff.
    kiosk_tickets_per_minute: int = Field(
        default=30, ge=1, description="Tickets one kiosk device (token sub) may take per minute; then 429."
    )
    web_tickets_per_applicant_day: int = Field(
        default=2, ge=1, description="Waiting web tickets one logged-in applicant may hold per business day "
        "across a hall; the next is a 409."
    )
    web_proof_secret: SecretStr | None = Field(
        default=None, description="HMAC key shared with the integrator's captcha service for anonymous web "
        "tickets (POST /halls/{hall}/web-tickets); unset = proofs are not accepted."
    )
    web_proof_max_ttl_seconds: int = Field(
        default=600, ge=1, le=3600, description="A proof may expire at most this far ahead (else refused)."
    )
    max_bookings_per_matter_day: int = Field(
        default=1, ge=1, description="Active bookings one applicant may hold per matter and business day; "
        "the next is a 409."
    )

    @field_validator("web_proof_secret", mode="before")
    @classmethod
    def _strong_proof_secret(cls, value: object) -> object:
        """Empty means unset; a short key would let anyone forge proofs, so it is refused at start."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str) or len(raw) < 32:
            raise ValueError("web_proof_secret must be at least 32 characters (or unset)")
        return value
