"""The embedded issuer: its signing key and the pepper that hashes applicant identifiers."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.auth import SigningKey, load_or_create_keys


@dataclass(frozen=True)
class Issuer:
    """The embedded issuer's signing key and the pepper of hashed applicant identifiers."""

    key: SigningKey
    jwks_path: Path
    pepper: bytes

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 of an identifier (ID numbers and mobiles are never stored in clear)."""
        return hmac.new(self.pepper, value.encode(), hashlib.sha256).hexdigest()


def load_issuer(*, keys_dir: str) -> Issuer:
    """Signing key and pepper under ``keys_dir`` (created on first use, mode 0600)."""
    directory = Path(keys_dir)
    key, jwks_path = load_or_create_keys(directory)
    pepper_path = directory / "identity.pepper"
    if not pepper_path.exists():
        pepper_path.write_text(secrets.token_hex(32))
        pepper_path.chmod(0o600)
    return Issuer(key=key, jwks_path=jwks_path, pepper=bytes.fromhex(pepper_path.read_text().strip()))
