"""Schema-valid random bodies (drawn by schemathesis from the OpenAPI document) never cause a server error."""

import warnings

import schemathesis

from tests.acceptance.conftest import new_credit_code

HALL = "TX-CITY"
ROUTES = [
    ("/applications", "POST"),
    ("/applications/{application_id}", "PATCH"),
    ("/applications/{application_id}/submit", "POST"),
    ("/applications/{application_id}/supplement", "POST"),
    ("/applications/{application_id}/refuse", "POST"),
]


async def test_random_bodies_get_answers_not_server_errors(acc, catalog, infra) -> None:
    clerk = infra.auth("clerk", halls=["*"], sub="fuzz")
    schema = schemathesis.openapi.from_dict(acc.app.openapi())
    failures: list[str] = []
    for path, method in ROUTES:
        strategy = schema[path][method].as_strategy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bodies = [strategy.example().body for _ in range(10)]
        for body in bodies:
            draft = await acc.post("/applications", headers=clerk, json={
                "hall": HALL, "matter": "SCJG-003",
                "applicant": {"type": "legal_person", "id_number": new_credit_code(), "name": "测试有限公司"}})
            url = path.replace("{application_id}", draft.json()["id"])
            response = await acc.request(method, url, headers=clerk, json=body)
            if response.status_code >= 500:
                failures.append(f"{method} {path} {body!r} -> {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures[:5])


