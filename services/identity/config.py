"""Identity service settings (env prefix IDENTITY_): the embedded token issuer."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent.parent


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: str = "identity"
    port: int = 8000
    keys_dir: str = Field(
        default=str(ROOT / "var" / "keys"),
        description="Signing key (issuer.pem, issuer.kid) and the pepper of hashed identifiers; created once; "
        "replicas must share it (a mounted secret).",
    )
    staff_seed_file: str = Field(
        default=str(Path(__file__).resolve().parent / "seed" / "staff.json"),
        description="Staff and device accounts with scrypt password hashes.",
    )
    staff_token_ttl_seconds: int = Field(default=8 * 3600, ge=60, le=24 * 3600)
    applicant_token_ttl_seconds: int = Field(default=30 * 60, ge=60, le=24 * 3600)
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins per account before a lock-out."
    )
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)
    otp_ttl_seconds: int = Field(default=5 * 60, ge=30)
    otp_max_attempts: int = Field(default=5, ge=1)
    otp_resend_seconds: int = Field(
        default=60, ge=0, description="At most one code per mobile number this often."
    )
    otp_require_known_contact: bool = Field(
        default=True,
        description="Send codes only to a mobile number given on an accepted application of that ID number "
        "(learnt from application.accepted). Off: any valid mobile number (demo only).",
    )
    otp_log_code: bool = Field(
        default=False, description="Development: the log sender also logs the code itself."
    )
