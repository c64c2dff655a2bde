"""Issuance service settings (env prefix ISSUANCE_)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent.parent

# Reference licence types (shared/data catalogue): validity in years, None = without limit.
DEFAULT_VALIDITY_YEARS: dict[str, int | None] = {
    "BIZ_LICENCE": None,
    "FOOD_LICENCE": 5,
    "HYGIENE_LICENCE": 4,
    "FIRE_PASS": None,
    "SEAL_RECORD": None,
    "PROPERTY_CERT": None,
    "LAND_PLAN_PERMIT": None,
    "ID_CARD": 20,
}
DEFAULT_TYPE_NAMES: dict[str, str] = {
    "BIZ_LICENCE": "营业执照",
    "FOOD_LICENCE": "食品经营许可证",
    "HYGIENE_LICENCE": "公共场所卫生许可证",
    "FIRE_PASS": "公众聚集场所投入使用营业前消防安全检查合格证",
    "SEAL_RECORD": "印章备案回执",
    "PROPERTY_CERT": "不动产权证书",
    "LAND_PLAN_PERMIT": "建设工程规划许可证",
    "ID_CARD": "居民身份证",
}


class IssuanceSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ISSUANCE_", extra="ignore")

    service_name: str = "issuance"
    port: int = 8005
    environment: str = Field(
        default="development", description="development | test | production; production never generates keys."
    )
    signing_key_file: Path = Field(
        default=ROOT / "var" / "issuance" / "licence-signing.pem",
        description="Ed25519 private key (PKCS#8 PEM) that signs licences; generated here in dev if absent.",
    )
    retired_public_key_files: list[Path] = Field(
        default_factory=list,
        description="Public keys (PEM) of earlier signing keys: their licences keep verifying after a rotation.",
    )
    public_base_url: str = Field(
        default="https://onewindow.example/issuance", description="Printed in licence QR codes (verify URL)."
    )
    notification_sender: str = Field(
        default="log", description="'log' (default, masked) or 'package.module:factory' returning a sender."
    )
    licence_validity_years: dict[str, int | None] = Field(
        default_factory=lambda: dict(DEFAULT_VALIDITY_YEARS)
    )
    licence_type_names: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_TYPE_NAMES))
    acceptance_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Base URL of acceptance: application.accepted read through when a receipt is scanned early.",
    )
    approval_url: str = Field(
        default="http://127.0.0.1:8004",
        description="Base URL of approval: approval.decided read through when a receipt is scanned early.",
    )
    read_through_timeout_seconds: float = Field(
        default=1.5, gt=0, le=10, description="Budget of each such read; past it the scan is 503 with Retry-After."
    )
    # Checking who collects (docs/issuance.md, "Identity at hand-over").
    pickup_code_ttl_seconds: int = Field(
        default=600, gt=0, le=3600, description="How long a one-time pickup code (sent to the holder) is valid."
    )
    pickup_code_max_tries: int = Field(
        default=5, ge=1, le=10, description="Tries of one pickup code (the right one included) before it is void."
    )
    pickup_code_requests_per_hour: int = Field(
        default=3, ge=1, le=20, description="Pickup codes one application may be sent per hour; then 429."
    )
    pickup_check_max_failures: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Identity checks of one pickup (ID number or code) that did not pass within "
        "pickup_check_window_seconds after which hand-over is 429 until the window has passed.",
    )
    pickup_check_window_seconds: int = Field(default=900, gt=0, le=86400)
    timezone: str = "Asia/Shanghai"
