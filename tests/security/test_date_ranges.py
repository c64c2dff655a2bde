"""Dates at the calendar's edge: every route that takes a date or date-time in its query answers 4xx, never 5xx.

The routes are enumerated from each service's OpenAPI document, so a date parameter added later is covered.
``9999-12-31`` used to overflow the first ``+ timedelta(days=1)`` (``GET /halls/{hall}/slots``: a 500).
"""

from typing import Any

from shared.auth import Role

EXTREME_DATES = ["0001-01-01", "1899-12-31", "2200-01-01", "9999-12-31"]
EXTREME_DATETIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-12:00"]


def _formats(schema: dict[str, Any]) -> set[str]:
    found = {schema.get("format", "")}
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= _formats(option)
    return found


def _date_routes(openapi: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(method, path, parameter, format) for every query parameter typed date or date-time."""
    routes = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                formats = _formats(parameter.get("schema", {})) & {"date", "date-time"}
                if parameter.get("in") == "query" and formats:
                    routes.append((method, path, parameter["name"], formats.pop()))
    return routes


def _fill(path: str) -> str:
    return (
        path.replace("{hall}", "ZS-CITY").replace("{department}", "SCJGJ").replace("{", "").replace("}", "")
    )


async def _edge_failures(client, infra) -> list[str]:  # type: ignore[no-untyped-def]
    routes = _date_routes((await client.get("/openapi.json")).json())
    assert routes, "no route of this service takes a date: drop it from the list"
    headers = infra.auth(*[str(r) for r in Role], sub="edge-tester", halls=["*"], departments=["*"])
    failures = []
    for method, path, parameter, kind in routes:
        for value in EXTREME_DATES if kind == "date" else EXTREME_DATETIMES:
            answer = await client.request(
                method.upper(), _fill(path), params={parameter: value}, headers=headers
            )
            if answer.status_code >= 500:
                failures.append(f"{method.upper()} {path}?{parameter}={value}: {answer.status_code}")
    return failures


async def test_ticketing_date_routes_at_the_calendar_edge(ticketing, infra) -> None:  # type: ignore[no-untyped-def]
    assert not await _edge_failures(ticketing, infra)


async def test_approval_date_routes_at_the_calendar_edge(approval, infra) -> None:  # type: ignore[no-untyped-def]
    assert not await _edge_failures(approval, infra)


async def test_the_slots_of_year_9999_are_a_field_level_422(ticketing) -> None:
    answer = await ticketing.get("/halls/ZS-CITY/slots", params={"day": "9999-12-31"})
    assert answer.status_code == 422, answer.text
    assert "day" in answer.text and "2199-12-31" in answer.text


def test_some_routes_take_dates() -> None:
    """The enumeration itself finds the date routes it should (else the test above checks nothing)."""
    from services.ticketing.main import create_app

    routes = _date_routes(create_app().openapi())
    assert ("get", "/halls/{hall}/slots", "day", "date") in routes
