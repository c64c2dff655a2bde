"""The licence library: Ed25519 signatures anyone can check offline, numbers, verification, keys."""

import base64
import json
import stat

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from issuance_helpers import HALL, Issuance, released_application

from services.issuance import numbers
from services.issuance.config import IssuanceSettings
from services.issuance.signing import canonical_json


def verify_signature(key, canonical: bytes, signature: str) -> bool:  # type: ignore[no-untyped-def]
    """What a verifier does offline, with nothing but the published key (independent of the service code)."""
    try:
        key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), canonical)
    except InvalidSignature:
        return False
    return True


@pytest.fixture(scope="module")
async def issued(iss: Issuance, infra) -> dict:
    """One issued licence as its holder downloads it (canonical text + signature)."""
    application_id, _, applicant, _ = await released_application(iss)
    [licence] = await iss.licences(application_id)
    holder = infra.auth("applicant", sub=applicant.id_number)
    response = await iss.client.get(f"/licences/{licence.licence_no}", headers=holder)
    assert response.status_code == 200, response.text
    return response.json() | {"_holder": holder, "_application_id": application_id}


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


async def test_document_check_endpoint(iss: Issuance, issued) -> None:
    good = await iss.client.post(
        "/verify/document", json={"canonical": issued["canonical"], "signature": issued["signature"]}
    )
    assert good.json() == {
        "signature_valid": True,
        "canonical_form": True,
        "licence_no": issued["licence_no"],
        "status": "valid",
    }
    tampered = issued["canonical"].replace(issued["valid_from"], "2000-01-01")
    bad = await iss.client.post(
        "/verify/document", json={"canonical": tampered, "signature": issued["signature"]}
    )
    assert bad.json()["signature_valid"] is False and bad.json()["status"] is None


async def test_public_verification_shows_only_what_a_verifier_needs(iss: Issuance, issued) -> None:
    response = await iss.client.get(
        f"/verify/{issued['licence_no'].lower().replace('-', ' ')}"
    )  # typed loosely
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "valid" and view["signature_valid"] is True
    assert view["licence_type_name"] == "食品经营许可证" and view["issuing_department"] == "SCJG"
    assert view["holder_name"] == "张**" and issued["holder_id"] not in response.text
    assert "data" not in view and "canonical" not in view
    assert issued["qr_payload"].endswith(f"/verify/{issued['licence_no']}")
    qr = await iss.client.get(f"/verify/{issued['licence_no']}/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg")


async def test_unknown_and_forged_licence_numbers(iss: Issuance) -> None:
    unknown = numbers.new_licence_no(2026)
    assert (await iss.client.get(f"/verify/{unknown}")).status_code == 404
    compact = numbers.normalise(unknown)
    forged = compact[:-1] + next(c for c in numbers.ALPHABET if c != compact[-1])
    response = await iss.client.get(f"/verify/{forged}")
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "licence_no"
    garbage = await iss.client.get("/verify/hello")
    assert garbage.status_code == 422


async def test_licence_reads_are_limited_to_holder_department_and_staff(iss: Issuance, issued, infra) -> None:
    no = issued["licence_no"]
    stranger = infra.auth("applicant", sub="110101199003071234")
    assert (await iss.client.get(f"/licences/{no}", headers=stranger)).status_code == 404
    other_dept = infra.auth("approver", departments=["XF"])
    assert (await iss.client.get(f"/licences/{no}", headers=other_dept)).status_code == 404
    assert (await iss.client.get(f"/licences/{no}", headers=infra.auth("auditor"))).status_code == 200
    assert (await iss.client.get(f"/licences/{no}")).status_code == 401
    mine = await iss.client.get("/licences", headers=issued["_holder"])
    assert [lic["licence_no"] for lic in mine.json()] == [no]
    listed = await iss.client.get(
        "/licences",
        params={"holder_id": issued["holder_id"]},
        headers=infra.auth("issuance_clerk", halls=[HALL]),
    )
    assert listed.status_code == 200 and issued["holder_id"] not in listed.text


async def test_department_revokes_with_reason(iss: Issuance, infra) -> None:
    application_id, _, _, _ = await released_application(iss)
    [licence] = await iss.licences(application_id)
    url = f"/licences/{licence.licence_no}/revoke"
    other = await iss.client.post(
        url, json={"reason": "核查不合格"}, headers=infra.auth("approver", departments=["XF"])
    )
    assert other.status_code == 403
    empty = await iss.client.post(
        url, json={"reason": ""}, headers=infra.auth("approver", departments=["SCJG"])
    )
    assert empty.status_code == 422
    done = await iss.client.post(
        url, json={"reason": "核查不合格"}, headers=infra.auth("approver", departments=["SCJG"])
    )
    assert done.status_code == 200 and done.json()["status"] == "revoked"
    again = await iss.client.post(
        url, json={"reason": "核查不合格"}, headers=infra.auth("approver", departments=["SCJG"])
    )
    assert again.status_code == 409 and again.json()["code"] == "already_revoked"
    view = (await iss.client.get(f"/verify/{licence.licence_no}")).json()
    assert view["status"] == "revoked" and view["revocation_reason"] == "核查不合格"
    assert view["signature_valid"] is True  # the signature stays genuine; the status says it no longer holds
    assert len(await iss.events(application_id, "licence.revoked")) == 1


def test_licence_numbers_catch_typos_and_swaps() -> None:
    for _ in range(100):
        no = numbers.new_licence_no(2026)
        compact = numbers.normalise(no)
        assert numbers.check_licence_no(no) == (no, None)
        for i in range(2, len(compact)):
            for c in numbers.ALPHABET if i >= 6 else "0123456789":
                if c != compact[i]:
                    typo = compact[:i] + c + compact[i + 1 :]
                    assert numbers.check_licence_no(typo)[0] is None
        for i in range(2, len(compact) - 1):
            if compact[i] != compact[i + 1]:
                swapped = compact[:i] + compact[i + 1] + compact[i] + compact[i + 2 :]
                assert numbers.check_licence_no(swapped)[0] is None
    assert len({numbers.new_licence_no(2026) for _ in range(1000)}) == 1000


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


async def test_expired_licences_verify_as_expired(iss: Issuance) -> None:
    from datetime import date

    from sqlalchemy import update

    from services.issuance.models import Licence

    application_id, _, _, _ = await released_application(iss)
    [licence] = await iss.licences(application_id)
    async with iss.runtime.sessionmaker() as session, session.begin():  # time passes: five years later
        await session.execute(
            update(Licence)
            .where(Licence.licence_no == licence.licence_no)
            .values(valid_until=date(2020, 1, 1))
        )
    view = (await iss.client.get(f"/verify/{licence.licence_no}")).json()
    assert view["status"] == "expired"


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
