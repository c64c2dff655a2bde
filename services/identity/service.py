"""Identity rules: staff login against the seed accounts, applicant one-time codes, security audit.

Functions flush, never commit. A refused login is *returned* (not raised) so that the request
boundary commits the audit row and the failure counter with it.
"""

import asyncio
import hashlib
import hmac
import json
import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import repository
from services.identity.config import IdentitySettings
from services.identity.passwords import DUMMY_HASH, verify_password
from services.identity.schemas import CodeSent, TokenResponse
from services.identity.sender import CodeSender
from shared import context
from shared.auth import Role, SigningKey, audit, load_or_create_keys, mask_subject, mint_token

STAFF_ROLES = {str(r) for r in Role} - {Role.APPLICANT, Role.SERVICE}


@dataclass(frozen=True)
class StaffAccount:
    """A staff member or device (kiosk, display board) from the seed file."""

    username: str
    password_hash: str
    roles: list[str]
    halls: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    name: str | None = None
    disabled: bool = False


@dataclass(frozen=True)
class Issuer:
    """The embedded issuer's signing key and the pepper of hashed applicant identifiers."""

    key: SigningKey
    jwks_path: Path
    pepper: bytes

    def keyed_hash(self, value: str) -> str:
        """HMAC-SHA256 of an identifier (ID numbers and mobiles are never stored in clear)."""
        return hmac.new(self.pepper, value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Refusal:
    """A refused login: status, reason and, for lock-outs and throttling, when to retry."""

    status: int
    detail: str
    retry_after: int | None = None


def load_issuer(*, keys_dir: str) -> Issuer:
    """Signing key and pepper under ``keys_dir`` (created on first use, mode 0600)."""
    directory = Path(keys_dir)
    key, jwks_path = load_or_create_keys(directory)
    pepper_path = directory / "identity.pepper"
    if not pepper_path.exists():
        pepper_path.write_text(secrets.token_hex(32))
        pepper_path.chmod(0o600)
    return Issuer(key=key, jwks_path=jwks_path, pepper=bytes.fromhex(pepper_path.read_text().strip()))


def load_staff(*, path: str) -> dict[str, StaffAccount]:
    """Staff and device accounts from the seed file; refuses unknown roles and clear-text passwords."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    accounts: dict[str, StaffAccount] = {}
    for raw in data["accounts"]:
        account = StaffAccount(**raw)
        unknown = set(account.roles) - STAFF_ROLES
        if unknown or not account.roles:
            raise ValueError(f"seed account {account.username}: unknown or no roles {sorted(unknown)}")
        if not account.password_hash.startswith("scrypt$"):
            raise ValueError(f"seed account {account.username}: password must be an scrypt hash")
        accounts[account.username.lower()] = account
    return accounts


async def record_event(
    session: AsyncSession,
    *,
    action: str,
    subject: str | None,
    subject_kind: str,
    client_ip: str | None,
    **detail: Any,
) -> None:
    """Audit a security event: a structured log line and a row in ``security_events`` (subject masked)."""
    masked = mask_subject(subject) if subject_kind == "applicant" else subject
    audit(action, sub=masked, subject_kind=subject_kind, client_ip=client_ip, **detail)
    await repository.add_event(
        session,
        values={
            "action": action,
            "subject": masked,
            "subject_kind": subject_kind,
            "client_ip": client_ip,
            "correlation_id": context.correlation_id.get(),
            "detail": detail,
        },
    )


async def login_staff(
    session: AsyncSession,
    *,
    settings: IdentitySettings,
    issuer: Issuer,
    accounts: dict[str, StaffAccount],
    username: str,
    password: str,
    client_ip: str | None,
) -> TokenResponse | Refusal:
    """Check a staff or device password; a token, or a refusal (locked out after repeated failures)."""
    subject = username.strip().lower()
    now = datetime.now(UTC)
    window = timedelta(seconds=settings.login_lockout_seconds)
    failures = await repository.count_events(
        session, subject=subject, action="login_failed", since=now - window
    )
    if failures >= settings.login_max_failures:
        last = await repository.last_event_at(session, subject=subject, actions=["login_failed"])
        retry = max(1, math.ceil(((last or now) + window - now).total_seconds()))
        await record_event(
            session, action="login_locked", subject=subject, subject_kind="staff", client_ip=client_ip
        )
        return Refusal(429, "too many failed logins; try again later", retry_after=retry)
    account = accounts.get(subject)
    ok = await asyncio.to_thread(verify_password, password, account.password_hash if account else DUMMY_HASH)
    if account is None or not ok or account.disabled:
        reason = (
            "unknown_account" if account is None else ("disabled" if account.disabled else "wrong_password")
        )
        await record_event(
            session,
            action="login_failed",
            subject=subject,
            subject_kind="staff",
            client_ip=client_ip,
            reason=reason,
        )
        return Refusal(401, "wrong username or password")
    token = mint_token(
        issuer.key,
        sub=account.username,
        roles=account.roles,
        halls=account.halls,
        departments=account.departments,
        name=account.name,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        ttl_seconds=settings.staff_token_ttl_seconds,
    )
    await record_event(
        session,
        action="login_succeeded",
        subject=subject,
        subject_kind="staff",
        client_ip=client_ip,
        roles=account.roles,
        halls=account.halls,
        departments=account.departments,
    )
    return TokenResponse(
        access_token=token,
        expires_in=settings.staff_token_ttl_seconds,
        roles=account.roles,
        halls=account.halls,
        departments=account.departments,
    )


async def learn_contact(session: AsyncSession, *, issuer: Issuer, id_number: str, mobile: str | None) -> None:
    """An accepted application tells which mobile number an applicant gave (kept as keyed hashes)."""
    if not mobile:
        return
    await repository.upsert_contact(
        session, applicant_key=issuer.keyed_hash(id_number.upper()), mobile_key=issuer.keyed_hash(mobile)
    )


async def request_code(
    session: AsyncSession,
    *,
    settings: IdentitySettings,
    issuer: Issuer,
    sender: CodeSender,
    id_number: str,
    mobile: str,
    client_ip: str | None,
) -> CodeSent | Refusal:
    """Send a one-time code if the number belongs to the applicant; the answer never tells which."""
    now = datetime.now(UTC)
    applicant_key, mobile_key = issuer.keyed_hash(id_number), issuer.keyed_hash(mobile)
    last = await repository.last_challenge_at(session, mobile_key=mobile_key)
    if last is not None and (now - last).total_seconds() < settings.otp_resend_seconds:
        retry = max(1, math.ceil(settings.otp_resend_seconds - (now - last).total_seconds()))
        return Refusal(429, "a code was sent recently; wait before asking again", retry_after=retry)
    await repository.delete_expired_challenges(session, before=now - timedelta(days=1))
    known = not settings.otp_require_known_contact or await repository.contact_known(
        session, applicant_key=applicant_key, mobile_key=mobile_key
    )
    code = f"{secrets.randbelow(10**6):06d}"
    challenge = await repository.add_challenge(
        session,
        values={
            "id": uuid.uuid4().hex,
            "applicant_key": applicant_key,
            "mobile_key": mobile_key,
            "code_hash": issuer.keyed_hash(code) if known else "",
            "created_at": now,
            "expires_at": now + timedelta(seconds=settings.otp_ttl_seconds),
        },
    )
    if known:
        await sender.send_code(mobile=mobile, code=code, ttl_seconds=settings.otp_ttl_seconds)
    await record_event(
        session,
        action="otp_sent" if known else "otp_withheld",
        subject=id_number,
        subject_kind="applicant",
        client_ip=client_ip,
    )
    return CodeSent(
        challenge_id=challenge.id,
        expires_in=settings.otp_ttl_seconds,
        resend_after=settings.otp_resend_seconds,
    )


async def login_applicant(
    session: AsyncSession,
    *,
    settings: IdentitySettings,
    issuer: Issuer,
    challenge_id: str,
    id_number: str,
    mobile: str,
    code: str,
    client_ip: str | None,
) -> TokenResponse | Refusal:
    """Exchange a one-time code for an applicant token (single use, expiring, limited attempts)."""
    now = datetime.now(UTC)
    challenge = await repository.get_challenge_for_update(session, challenge_id=challenge_id)
    reason: str | None = None
    if challenge is None:
        reason = "unknown_challenge"
    elif challenge.used_at is not None:
        reason = "already_used"
    elif challenge.expires_at <= now:
        reason = "expired"
    elif challenge.attempts >= settings.otp_max_attempts:
        reason = "too_many_attempts"
    else:
        challenge.attempts += 1
        matches = (
            bool(challenge.code_hash)
            and hmac.compare_digest(challenge.applicant_key, issuer.keyed_hash(id_number))
            and hmac.compare_digest(challenge.mobile_key, issuer.keyed_hash(mobile))
            and hmac.compare_digest(challenge.code_hash, issuer.keyed_hash(code))
        )
        if not matches:
            reason = "wrong_code"
    if reason is not None or challenge is None:
        await record_event(
            session,
            action="login_failed",
            subject=id_number,
            subject_kind="applicant",
            client_ip=client_ip,
            reason=reason,
        )
        return Refusal(401, "invalid or expired code")
    challenge.used_at = now
    await session.flush()
    token = mint_token(
        issuer.key,
        sub=id_number,
        roles=[Role.APPLICANT],
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        ttl_seconds=settings.applicant_token_ttl_seconds,
    )
    await record_event(
        session, action="login_succeeded", subject=id_number, subject_kind="applicant", client_ip=client_ip
    )
    return TokenResponse(
        access_token=token,
        expires_in=settings.applicant_token_ttl_seconds,
        roles=[Role.APPLICANT],
        halls=[],
        departments=[],
    )


async def list_events(
    session: AsyncSession, *, action: str | None, before_id: int | None, limit: int
) -> tuple[list[Any], int | None]:
    """A page of security events, newest first, and the cursor of the next page."""
    rows = await repository.list_events(session, action=action, before_id=before_id, limit=limit)
    return rows, (rows[-1].id if len(rows) == limit else None)
