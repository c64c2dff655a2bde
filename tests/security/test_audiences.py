"""Issue 13, finding 12: one audience for all services.

Identity now mints per-service audiences (``onewindow.<service>``) from the roles: a token is valid only at
the services whose routes admit one of its roles. Services still accept the shared ``onewindow`` audience
(external providers, test tokens) unless ``<SVC>_AUTH_ACCEPT_SHARED_AUDIENCE`` is false.
"""

import pytest

from shared.auth import (
    ROLE_AUDIENCES,
    Authenticator,
    KeySet,
    Role,
    api_routes,
    audiences_for,
    mint_token,
    route_policy,
)
from shared.registry import SERVICES

DEMO_PASSWORD = "onewindow-demo-2026"


def test_each_role_s_audiences_are_exactly_the_services_that_admit_it() -> None:
    admitted: dict[str, set[str]] = {}
    for entry in SERVICES:
        for route in api_routes(entry.module("main").app):
            for role in (route_policy(route) or {}).get("roles", []):
                admitted.setdefault(role, set()).add(entry.name)
    assert {role: set(services) for role, services in ROLE_AUDIENCES.items()} == {
        role: admitted.get(role, set()) for role in ROLE_AUDIENCES}
    assert set(ROLE_AUDIENCES) == {str(r) for r in Role}


async def test_an_identity_token_is_refused_at_services_it_is_not_for(identity, ticketing, acceptance, approval) -> None:  # type: ignore[no-untyped-def]
    login = await identity.post("/auth/login", json={"username": "kiosk.zs-01", "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    kiosk = {"Authorization": f"Bearer {login.json()['access_token']}"}
    taken = await ticketing.post("/halls/ZS-CITY/tickets", json={"matter_code": "NOPE-1"}, headers=kiosk)
    assert taken.status_code != 401, taken.text  # its service (the matter is unknown: 422/404/409)
    for service, path in ((acceptance, "/applications"), (approval, "/tasks")):
        refused = await service.get(path, headers=kiosk)
        assert refused.status_code == 401 and "InvalidAudience" in refused.text, refused.text
    assert (await identity.get("/auth/me", headers=kiosk)).status_code == 200


async def test_without_the_shared_audience_only_per_service_tokens_pass(infra) -> None:  # type: ignore[no-untyped-def]
    keys = KeySet(jwks_file=infra.jwks_file)
    strict = Authenticator(keys=keys, issuer="onewindow-dev-issuer", audience="onewindow", service="approval",
                           accept_shared_audience=False)
    own = mint_token(infra.signing_key, sub="a", roles=["approver"], audience=audiences_for(["approver"], audience="onewindow"))
    shared = mint_token(infra.signing_key, sub="a", roles=["approver"])
    other = mint_token(infra.signing_key, sub="a", roles=["kiosk"], audience=audiences_for(["kiosk"], audience="onewindow"))
    assert (await strict.verify(own)).sub == "a"
    for token in (shared, other):
        with pytest.raises(Exception) as refused:
            await strict.verify(token)
        assert getattr(refused.value, "status_code", None) == 401
