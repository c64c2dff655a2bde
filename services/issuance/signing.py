"""Ed25519 signatures over the canonical JSON of a licence, and the key that makes them.

Canonical form: JSON with sorted keys, UTF-8 (no escaping of non-ASCII), no whitespace
(``separators=(",", ":")``). The signed bytes are stored verbatim, so verification never depends
on how a database or a client re-serialises numbers.
"""

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.issuance.config import IssuanceSettings
from shared.observability import get_logger

log = get_logger(__name__)

CANONICALIZATION = "JSON, keys sorted, UTF-8 without escapes, no whitespace (separators ',' ':')"


def canonical_json(document: dict[str, Any]) -> bytes:
    """The exact bytes that are signed."""
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: only the alphabet, and the one canonical spelling of the bytes
    (the stdlib decoder skips foreign characters and ignores the unused bits of the last character, so
    one signature would have several accepted spellings). ValueError otherwise."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not the canonical base64url spelling")
    return data


def key_id(public_key: Ed25519PublicKey) -> str:
    """A stable id of a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_signature(public_key: Ed25519PublicKey, canonical: bytes, signature: str) -> bool:
    """True only if ``signature`` (base64url) is ``public_key``'s signature over ``canonical``."""
    try:
        public_key.verify(b64url_decode(signature), canonical)
    except (InvalidSignature, ValueError):
        return False
    return True


def _jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(raw),
        "kid": key_id(public_key),
        "alg": "EdDSA",
        "use": "sig",
    }


class LicenceSigner:
    """Holds the private key; signs canonical licences and publishes the public keys.

    ``retired`` are public keys of earlier signing keys (after a rotation): licences they signed
    still verify, nothing new is signed with them.
    """

    def __init__(
        self, private_key: Ed25519PrivateKey, *, retired: list[Ed25519PublicKey] | None = None
    ) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()
        self.kid = key_id(self.public_key)
        self.keys: dict[str, Ed25519PublicKey] = {key_id(k): k for k in retired or []}
        self.keys[self.kid] = self.public_key

    def sign(self, canonical: bytes) -> str:
        """Base64url Ed25519 signature of ``canonical``."""
        return b64url(self._private.sign(canonical))

    def verify(self, canonical: bytes, signature: str, *, kid: str | None = None) -> bool | None:
        """Check with the key ``kid`` (default: the current key); None if that key is unknown."""
        key = self.keys.get(kid or self.kid)
        return None if key is None else verify_signature(key, canonical, signature)

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def jwk(self) -> dict[str, str]:
        return _jwk(self.public_key)

    def jwks(self) -> list[dict[str, str]]:
        """Every key a licence may have been signed with: the current one first."""
        return [self.jwk()] + [_jwk(k) for kid, k in self.keys.items() if kid != self.kid]


def load_signer(settings: IssuanceSettings) -> LicenceSigner:
    """The licence signing key; generated once in development, required in production."""
    path = Path(settings.signing_key_file)
    if not path.exists():
        if settings.environment == "production":
            raise RuntimeError(
                f"licence signing key {path} does not exist; production never generates one "
                "(set ISSUANCE_SIGNING_KEY_FILE to the provisioned Ed25519 PEM)"
            )
        _create_key_file(path)
        log.warning("generated a development licence signing key", path=str(path))
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{path} is not an Ed25519 private key")
    retired = []
    for retired_path in settings.retired_public_key_files:
        public = serialization.load_pem_public_key(Path(retired_path).read_bytes())
        if not isinstance(public, Ed25519PublicKey):
            raise TypeError(f"{retired_path} is not an Ed25519 public key")
        retired.append(public)
    return LicenceSigner(key, retired=retired)


def _create_key_file(path: Path) -> None:
    """Write a fresh key with mode 0600; a concurrent creator wins and its key is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
