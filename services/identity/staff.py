"""Staff and device accounts (the seed file) and their password login, locked out after repeated failures."""

import asyncio
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity import repository
from services.identity.audit_log import Refusal, record_event
from services.identity.config import IdentitySettings
from services.identity.issuer import Issuer
from services.identity.passwords import DUMMY_HASH, verify_password
from services.identity.schemas import TokenResponse
from shared.auth import Principal, Role, audiences_for, mint_token, subject_hash
from shared.problems import Forbidden, NotFound

STAFF_ROLES = {str(r) for r in Role} - {Role.APPLICANT, Role.SERVICE}
STAFF_NO = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,19}")


@dataclass(frozen=True)
class StaffAccount:
    """A staff member or device (kiosk, display board) from the seed file."""

    username: str
    password_hash: str
    roles: list[str]
    halls: list[str] = field(default_factory=list)
    departments: list[str] = field(default_factory=list)
    name: str | None = None
    staff_no: str | None = None  # 工号, shown on the window pad while the clerk is signed in
    unit: str | None = None  # the unit (department) the staff member belongs to, as the pad names it
    disabled: bool = False


MAX_LOCKOUT = timedelta(days=1)


async def lockout_remaining(
    session: AsyncSession, *, settings: IdentitySettings, subject: str, client_ip: str | None, now: datetime
) -> int | None:
    """Seconds until ``client_ip`` may try ``subject``'s password again, or None when it may now."""
    reset = await repository.last_event_at(
        session, subject=subject, actions=["login_unlocked"]
    )
    succeeded = await repository.last_event_at(
        session, subject=subject, actions=["login_succeeded"], client_ip=client_ip
    )
    since = max([now - MAX_LOCKOUT] + [t for t in (reset, succeeded) if t is not None])
    failures = await repository.event_times(
        session, subject=subject, action="login_failed", since=since, client_ip=client_ip
    )
    extra = len(failures) - settings.login_max_failures
    if extra < 0:
        return None
    lock = min(MAX_LOCKOUT, timedelta(seconds=settings.login_lockout_seconds) * 2**min(extra, 20))
    until = failures[-1] + lock
    return max(1, math.ceil((until - now).total_seconds())) if until > now else None


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
        if account.staff_no is not None and not STAFF_NO.fullmatch(account.staff_no):
            raise ValueError(f"seed account {account.username}: staff_no must be 1-20 letters, digits or -")
        if account.unit is not None and not 1 <= len(account.unit) <= 100:
            raise ValueError(f"seed account {account.username}: unit must be 1-100 characters")
        accounts[account.username.lower()] = account
    return accounts


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
    """Check a staff or device password; a token, or a refusal (locked out after repeated failures).

    The lock-out is per account *and* address (issue 13: five wrong passwords from anywhere locked any
    account): failures from one address lock that address out of that account, so an attacker cannot
    keep the real user from logging in elsewhere. It backs off: ``login_max_failures`` failures lock for
    ``login_lockout_seconds``, each further failure after a lock doubles it (at most a day). Failures
    count since the last successful login from that address or the last admin unlock, within a day."""
    subject = username.strip().lower()
    now = datetime.now(UTC)
    wait = await lockout_remaining(session, settings=settings, subject=subject, client_ip=client_ip, now=now)
    if wait is not None:
        await record_event(
            session, action="login_locked", subject=subject, subject_kind="staff", client_ip=client_ip
        )
        return Refusal(429, "too many failed logins from this address; try again later", retry_after=wait)
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
        staff_no=account.staff_no,
        unit=account.unit,
        issuer=settings.auth_issuer,
        audience=audiences_for(account.roles, audience=settings.auth_audience),
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


def _account_of_admin(accounts: dict[str, StaffAccount], username: str, admin: Principal) -> StaffAccount:
    """The account an admin acts on: 404 unknown, 403 outside the admin's halls (no halls: a ``*`` admin)."""
    account = accounts.get(username.strip().lower())
    if account is None:
        raise NotFound("no staff account with this username")
    if not (admin.may_act_in_hall("*") or any(admin.may_act_in_hall(h) for h in account.halls if h != "*")):
        raise Forbidden("this account is not one of your halls'")
    return account


async def unlock(
    session: AsyncSession, *, accounts: dict[str, StaffAccount], username: str, admin: Principal,
    client_ip: str | None,
) -> StaffAccount:
    """An admin lifts every lock-out of a staff account (all addresses): failures before now no longer
    count. A hall admin may unlock accounts of their halls (accounts without halls: a ``*`` admin);
    404 for an unknown account, 403 outside the admin's halls. Audited as ``login_unlocked``."""
    account = _account_of_admin(accounts, username, admin)
    await record_event(
        session, action="login_unlocked", subject=account.username.lower(), subject_kind="staff",
        client_ip=client_ip, by=admin.sub,
    )
    return account


async def revoke_tokens(
    session: AsyncSession, *, sub: str, by: str, client_ip: str | None, reason: str
) -> datetime:
    """Void every token of ``sub`` issued until now (services see it within their poll interval).
    Audited as ``tokens_revoked``; returns the time up to which tokens are void."""
    now = datetime.now(UTC).replace(microsecond=0)
    await repository.revoke_tokens(session, subject_hash=subject_hash(sub), before=now, by=by)
    await record_event(session, action="tokens_revoked", subject=sub.lower(), subject_kind="staff",
                       client_ip=client_ip, by=by, reason=reason)
    return now


async def revoke_account_tokens(
    session: AsyncSession, *, accounts: dict[str, StaffAccount], username: str, admin: Principal,
    client_ip: str | None,
) -> tuple[StaffAccount, datetime]:
    """A hall admin voids every token of a staff account of their halls (a lost device, a leaver)."""
    account = _account_of_admin(accounts, username, admin)
    return account, await revoke_tokens(session, sub=account.username, by=admin.sub, client_ip=client_ip,
                                        reason="admin")
