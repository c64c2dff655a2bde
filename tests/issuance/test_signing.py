"""Ed25519 licence signatures anyone can check offline; the signing key, its generation and rotation."""

import base64
import json
import stat

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from services.issuance.config import IssuanceSettings
from services.issuance.signing import canonical_json
from tests.issuance.issuance_helpers import Issuance


def verify_signature(key, canonical: bytes, signature: str) -> bool:  # type: ignore[no-untyped-def]
    """What a verifier does offline, with nothing but the published key (independent of the service code)."""
    try:
        key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), canonical)
    except InvalidSignature:
        return False
    return True


async def test_signature_verifies_offline_and_fails_on_any_altered_byte(iss: Issuance, issued) -> None:
    published = (await iss.client.get("/licences/public-key")).json()
    assert published["key_id"] == issued["key_id"] and published["algorithm"] == "Ed25519"
    key = load_pem_public_key(published["public_key_pem"].encode())
    canonical = issued["canonical"].encode("utf-8")
    document = json.loads(canonical)
    assert canonical_json(document) == canonical  # sorted keys, UTF-8, no whitespace
    assert document["licence_no"] == issued["licence_no"] and document["holder"]["id"] == issued["holder_id"]
    assert verify_signature(key, canonical, issued["signature"])
    for position in range(len(canonical)):
        altered = bytearray(canonical)
        altered[position] ^= 0x01
        assert not verify_signature(key, bytes(altered), issued["signature"]), position
    signature = bytearray(base64.urlsafe_b64decode(issued["signature"] + "=="))
    signature[0] ^= 0x80
    forged = base64.urlsafe_b64encode(bytes(signature)).rstrip(b"=").decode()
    assert not verify_signature(key, canonical, forged)


def test_signing_key_generated_in_dev_and_required_in_production(tmp_path) -> None:
    from services.issuance.main import create_app

    missing = tmp_path / "keys" / "licence.pem"
    with pytest.raises(RuntimeError, match="production never generates"):
        create_app(IssuanceSettings(environment="production", signing_key_file=missing))
    assert not missing.exists()
    app = create_app(IssuanceSettings(environment="development", signing_key_file=missing))
    assert missing.exists() and stat.S_IMODE(missing.stat().st_mode) == 0o600
    kid = app.state.signer.kid
    again = create_app(IssuanceSettings(environment="production", signing_key_file=missing))
    assert again.state.signer.kid == kid  # the same key, reused


def test_rotated_keys_keep_old_licences_verifiable(tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from services.issuance.signing import LicenceSigner, load_signer

    old = Ed25519PrivateKey.generate()
    canonical = canonical_json({"licence_no": "ZZ2026-OLD"})
    old_signature = LicenceSigner(old).sign(canonical)
    retired = tmp_path / "old.pub.pem"
    retired.write_bytes(
        old.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    signer = load_signer(
        IssuanceSettings(signing_key_file=tmp_path / "new.pem", retired_public_key_files=[retired])
    )
    old_kid = LicenceSigner(old).kid
    assert signer.kid != old_kid and [k["kid"] for k in signer.jwks()] == [signer.kid, old_kid]
    assert signer.verify(canonical, old_signature, kid=old_kid) is True
    assert signer.verify(canonical, old_signature) is False  # not the current key's signature
    assert signer.verify(canonical, old_signature, kid="unknown") is None
