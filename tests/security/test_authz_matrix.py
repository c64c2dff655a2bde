"""Authorization matrix: every route of every service, enumerated from the apps themselves.

- every HTTP and WebSocket route declares a policy (``require(...)`` or ``public()``); a route
  added later without one fails ``test_every_route_declares_a_policy``;
- every protected route: no token -> 401; a token with none of its roles -> 403; expired, wrongly
  signed, wrong-audience, wrong-issuer and ``alg: none`` tokens -> 401; a token with one of its
  roles passes the role gate (whatever the route answers next, it is not 401 or a role refusal);
- generic object-level checks: a ``{hall}`` path parameter with a token of another hall, a
  ``{department}`` path parameter with a token of another department, and an ``{applicant_id}``
  path parameter with another applicant's token -> 403 or 404.
"""

import base64
import importlib
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import Role, SigningKey, api_routes, generate_signing_key, mint_token, route_policy
from shared.registry import SERVICES
from shared.validators import id_number_check_digit

ROOT = Path(__file__).resolve().parents[2]
PRESENT = list(SERVICES.names)  # every registered service
ALL_ROLES = sorted(str(r) for r in Role)
HALL_PARAMS = {"hall", "hall_code", "hall_id"}
DEPARTMENT_PARAMS = {"department", "department_code", "dept"}
APPLICANT_PARAMS = {"applicant_id"}
HALL, OTHER_HALL = "ZS-CITY", "NO-SUCH-HALL"


def _id_number(seed: str) -> str:
    first17 = f"11010519800101{int(seed, 16) % 1000:03d}"
    return first17 + id_number_check_digit(first17)


APPLICANT = _id_number("1a")
OTHER_APPLICANT = _id_number("2b")


@dataclass
class RouteCase:
    service: str
    method: str
    path: str
    policy: dict[str, Any] | None
    websocket: bool = False
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    body_field: Any = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def _collect() -> list[RouteCase]:
    cases: list[RouteCase] = []
    for service in PRESENT:
        app = importlib.import_module(f"services.{service}.main").app
        paths = app.openapi().get("paths", {})
        for route in api_routes(app):
            policy = route_policy(route)
            methods = sorted(route.methods or []) or ["WEBSOCKET"]
            for method in methods:
                operation = paths.get(route.path_format, {}).get(method.lower(), {})
                params = {
                    p["name"]: p.get("schema", {})
                    for p in operation.get("parameters", [])
                    if p.get("in") == "path"
                }
                cases.append(
                    RouteCase(
                        service,
                        method,
                        route.path_format,
                        policy,
                        methods == ["WEBSOCKET"],
                        params,
                        getattr(route, "body_field", None),
                    )
                )
    return cases


ROUTES = _collect()
PROTECTED = [c for c in ROUTES if c.policy and c.policy.get("roles") and not c.websocket]


def _value(name: str, schema: dict[str, Any], *, hall: str = HALL, applicant: str = APPLICANT) -> str:
    if name in HALL_PARAMS:
        return hall
    if name in DEPARTMENT_PARAMS:
        return "SCJG"
    if name in APPLICANT_PARAMS:
        return applicant
    if schema.get("type") == "integer":
        return "1"
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    return "matrix-probe"


def _url(case: RouteCase, **kwargs: str) -> str:
    path = case.path
    for name, schema in case.path_params.items():
        path = path.replace("{" + name + "}", _value(name, schema, **kwargs))
    return path


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _alg_none(kid: str, roles: list[str]) -> str:
    now = int(time.time())
    claims = {
        "iss": "onewindow-dev-issuer",
        "aud": "onewindow",
        "sub": "mallory",
        "iat": now,
        "exp": now + 600,
        "roles": roles,
        "halls": ["*"],
        "departments": ["*"],
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}."


def _bad_tokens(infra, roles: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Tokens that carry the right roles but must be refused."""
    forged = SigningKey(kid=infra.signing_key.kid, private_pem=generate_signing_key().private_pem)
    key = infra.signing_key
    scope = {"halls": ["*"], "departments": ["*"]}
    return {
        "expired": mint_token(key, sub="u", roles=roles, ttl_seconds=-120, **scope),
        "wrongly signed": mint_token(forged, sub="u", roles=roles, **scope),
        "wrong audience": mint_token(key, sub="u", roles=roles, audience="another-system", **scope),
        "wrong issuer": mint_token(key, sub="u", roles=roles, issuer="https://evil.example", **scope),
        "alg none": _alg_none(key.kid, roles),
        "garbage": "not-a-jwt",
    }


@pytest.fixture
def app_client(request) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    """A client of the running app of the route's service; server errors come back as 500s."""
    case: RouteCase = request.node.callspec.params["case"]
    app = request.getfixturevalue(case.service).app
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://matrix")


@pytest.mark.parametrize("service", PRESENT)
def test_every_route_declares_a_policy(service: str) -> None:
    routes = [c for c in ROUTES if c.service == service]
    assert routes, f"{service} has no routes"
    missing = [c.id for c in routes if c.policy is None]
    assert not missing, f"routes without require()/public(): {missing}"
    unknown = [(c.id, r) for c in routes for r in (c.policy or {}).get("roles", []) if r not in ALL_ROLES]
    assert not unknown, f"roles that no token can carry: {unknown}"


def test_the_matrix_sees_every_service() -> None:
    assert "identity" in PRESENT and "forms" in PRESENT
    assert len(PROTECTED) >= 5


async def _send(
    client: httpx.AsyncClient, case: RouteCase, url: str, token: str | None, body: Any = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await client.request(case.method, url, headers=headers, json=body)


def _valid_body(case: RouteCase) -> Any:
    """A request body the route's model accepts (drawn by schemathesis), so validation is not what refuses."""
    import warnings

    import schemathesis
    from schemathesis.core import NotSet

    if case.body_field is None:
        return None
    app = importlib.import_module(f"services.{case.service}.main").app
    strategy = schemathesis.openapi.from_dict(app.openapi())[case.path][case.method].as_strategy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(50):  # schema-valid bodies may still fail a model validator: draw again
            body = strategy.example().body
            if isinstance(body, NotSet):  # an optional body left out: send none (httpx cannot encode NotSet)
                body = None
            try:
                _, errors = case.body_field.validate(body, {}, loc=("body",))
            except Exception:  # a validator that crashes is schemathesis' finding, not this test's
                continue
            if not errors:
                return body
    pytest.skip(f"no valid body drawn for {case.id}")


@pytest.mark.parametrize("case", PROTECTED, ids=[c.id for c in PROTECTED])
async def test_protected_route_refuses_the_wrong_callers(case: RouteCase, app_client, infra) -> None:  # type: ignore[no-untyped-def]
    allowed = case.policy["roles"]  # type: ignore[index]
    url = _url(case)
    async with app_client as client:
        anonymous = await _send(client, case, url, None)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        assert "Bearer" in anonymous.headers.get("www-authenticate", "")
        for name, token in _bad_tokens(infra, allowed).items():
            refused = await _send(client, case, url, token)
            assert refused.status_code == 401, f"{name} token: {refused.status_code} {refused.text}"
        others = [r for r in ALL_ROLES if r not in allowed]
        if others:
            wrong_role = infra.token(*others, sub=APPLICANT, halls=["*"], departments=["*"])
            refused = await _send(client, case, url, wrong_role)
            assert refused.status_code == 403, f"roles {others}: {refused.status_code} {refused.text}"
        for role in allowed:
            token = infra.token(role, sub=APPLICANT, halls=["*"], departments=["*"])
            passed = await _send(client, case, url, token)
            role_refusal = passed.status_code == 403 and "requires one of the roles" in passed.text
            assert passed.status_code != 401 and not role_refusal, (
                f"{role}: {passed.status_code} {passed.text}"
            )


SCOPED = [
    c
    for c in PROTECTED
    if set(c.path_params) & (HALL_PARAMS | DEPARTMENT_PARAMS)
    or (set(c.path_params) & APPLICANT_PARAMS and Role.APPLICANT in c.policy["roles"])  # type: ignore[index]
]


@pytest.mark.parametrize("case", SCOPED, ids=[c.id for c in SCOPED])
async def test_scoped_route_refuses_other_halls_departments_and_applicants(
    case: RouteCase, app_client, infra
) -> None:  # type: ignore[no-untyped-def]
    allowed = case.policy["roles"]  # type: ignore[index]
    params = set(case.path_params)
    async with app_client as client:
        for role in allowed:
            if role == Role.APPLICANT:
                if not params & APPLICANT_PARAMS:
                    continue
                token = infra.token(role, sub=OTHER_APPLICANT)
            elif params & HALL_PARAMS:
                token = infra.token(role, sub="other-hall-staff", halls=[OTHER_HALL], departments=["*"])
            elif params & DEPARTMENT_PARAMS:
                token = infra.token(role, sub="other-dept-staff", halls=["*"], departments=["NO-SUCH-DEPT"])
            else:
                continue
            answer = await _send(client, case, _url(case), token, _valid_body(case))
            assert answer.status_code in (403, 404), f"{role}: {answer.status_code} {answer.text[:300]}"
