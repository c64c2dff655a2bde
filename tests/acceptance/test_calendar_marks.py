"""Promised dates and commitment deadlines counted into a year without the State Council's holiday notice
are marked provisional on the application and its receipt (the same fields as approval's task clock)."""

from dataclasses import replace
from datetime import date

from shared import workdays
from shared.workdays import WorkCalendar, YearSchedule
from tests.acceptance.conftest import company, company_values, new_credit_code, open_app, today


class NoNotices(WorkCalendar):
    """Every year statutory-only: what acceptance shows when its dates count through such a year,
    whatever the wall clock says."""

    def schedule(self, year: int) -> YearSchedule:
        return replace(super().schedule(year), source="statutory")


async def test_dates_into_a_provisional_year_are_marked_on_the_application_and_receipt(
    acc, catalog, clerk
) -> None:
    uscc = new_credit_code()
    draft = await open_app(acc, clerk, matter="SCJG-003", applicant=company(uscc))
    values = {k: v for k, v in company_values(uscc).items() if k in {f["key"] for f in draft["fields"]}}
    commitment = {
        "materials": ["FLOOR_PLAN"],
        "deadline_working_days": 10,
        "signatory": "李四",
        "signature": "sha256:1",
    }
    body = {
        "values": values,
        "presented": ["BIZ_LICENCE", "PREMISES_PROOF", "ID_CARD", "FOOD_SAFETY_RULES"],
        "commitment": commitment,
    }
    previous = workdays.use(NoNotices.load())
    try:
        accepted = await acc.post(f"/applications/{draft['id']}/submit", headers=clerk, json=body)
        assert accepted.status_code == 200, accepted.text
        app = accepted.json()
        assert app["due_dates_provisional"] is True and app["provisional_years"][0] == today().year
        receipt = (await acc.get(f"/applications/{draft['id']}/receipt", headers=clerk)).json()
        assert (
            receipt["due_dates_provisional"] is True
            and receipt["provisional_years"] == app["provisional_years"]
        )
        html = (await acc.get(f"/applications/{draft['id']}/receipt.html", headers=clerk)).text
        assert "放假安排尚未公布" in html
    finally:
        workdays.use(previous)
    # With the shipped calendar the marks follow whether the dates reach a year without a notice.
    app = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    deadline = app["items"][0]["commitment"]["deadline"]
    last = date.fromisoformat(max(deadline, app["promised_date"]))
    expected = workdays.default_calendar().provisional_years(today(), last)
    assert app["provisional_years"] == expected and app["due_dates_provisional"] is bool(expected)
