"""Pure logic of the common library: identifiers, masking, working days, envelopes, event catalogue."""

from datetime import date

import pytest

from shared.asyncapi import build_asyncapi
from shared.events import REGISTRY, Envelope
from shared.events.envelope import uuid7
from shared.privacy import mask_id_number, mask_mobile, scrub
from shared.validators import (
    check_credit_code,
    check_id_number,
    check_mobile,
    id_number_check_digit,
    uscc_check_char,
)
from shared.workdays import default_calendar


@pytest.mark.parametrize("value", ["11010519491231002X", "440524188001010014"])
def test_valid_resident_id_numbers(value: str) -> None:
    assert id_number_check_digit(value[:17]) == value[17]
    assert check_id_number(value) is None


@pytest.mark.parametrize(
    "value, reason",
    [
        ("110105194912310021", "check digit"),
        ("11010519491332002X", "impossible birth date"),
        ("1101051949123100", "18 characters"),
        ("11010530000101002X", "out of range"),
    ],
)
def test_invalid_resident_id_numbers(value: str, reason: str) -> None:
    assert reason in (check_id_number(value) or "")


def test_credit_codes() -> None:
    assert check_credit_code("91350100M000100Y43") is None
    body = "91110000600037341"
    assert check_credit_code(body + uscc_check_char(body)) is None
    wrong = "91350100M000100Y44"
    assert "check character" in (check_credit_code(wrong) or "")
    assert check_credit_code("91350100M000100YI3") is not None  # I is not in the alphabet


def test_mobile_numbers() -> None:
    assert check_mobile("13812345678") is None
    assert check_mobile("12812345678") is not None
    assert check_mobile("1381234567") is not None


def test_masking_in_free_text() -> None:
    text = "applicant 11010519491231002X called from 13812345678 for 91350100M000100Y43"
    masked = scrub(text)
    assert "11010519491231002X" not in masked and "110105********002X" in masked
    assert "13812345678" not in masked and "138****5678" in masked
    assert "91350100M000100Y43" not in masked
    assert mask_id_number("11010519491231002X") == "110105********002X"
    assert mask_mobile("13812345678") == "138****5678"


def test_working_days_skip_holidays_and_honour_adjusted_days() -> None:
    cal = default_calendar()
    assert not cal.is_working_day(date(2026, 10, 1))  # National Day
    assert cal.is_working_day(date(2026, 10, 10))  # a Saturday made a working day
    assert cal.is_working_day(date(2026, 2, 14))  # Saturday before the Spring Festival
    # Accepted on Wed 30 Sep: 1 Oct - 7 Oct are holidays, Thu 8 Oct is the first working day.
    assert cal.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    # 3 working days from Thu 8 Oct: Fri 9, Sat 10 (adjusted), Mon 12.
    assert cal.add_working_days(date(2026, 10, 8), 3) == date(2026, 10, 12)
    assert cal.working_days_between(date(2026, 9, 30), date(2026, 10, 12)) == 4
    assert cal.add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 8)


def test_uuid7_is_time_ordered_and_versioned() -> None:
    ids = [uuid7() for _ in range(50)]
    assert all(u.version == 7 for u in ids)
    assert [u.int >> 80 for u in ids] == sorted(u.int >> 80 for u in ids)


def test_every_event_type_has_a_stream_and_an_asyncapi_message() -> None:
    doc = build_asyncapi()
    for event_type, model in REGISTRY.items():
        assert model.STREAM in doc["channels"], event_type
        assert event_type.replace(".", "_") in doc["components"]["messages"]
        assert "." in event_type and event_type.split(".")[1].endswith(("ed", "ready", "show", "ue")), event_type
    envelope = Envelope(type="ticket.rated", producer="t", key="k", correlation_id="c", payload={})
    assert Envelope.model_validate_json(envelope.model_dump_json()) == envelope


def test_published_asyncapi_document_matches_the_event_models() -> None:
    import json
    from pathlib import Path

    published = json.loads((Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json").read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(build_asyncapi())), "run `make events` after changing an event model"


def test_a_refreshing_screen_is_one_access_log_entry_per_window() -> None:
    from shared.access_log import RecentViews

    views = RecentViews(seconds=300, size=2)
    assert views.first(("clerk-1", "APP-1"), now=0.0)
    assert not views.first(("clerk-1", "APP-1"), now=299.0)  # a refresh within the window
    assert views.first(("clerk-2", "APP-1"), now=1.0)  # another reader is another entry
    assert views.first(("clerk-1", "APP-1"), now=600.0)  # after the window, again
    bounded = RecentViews(seconds=300, size=2)
    assert bounded.first("a", now=0.0) and bounded.first("b", now=1.0) and bounded.first("c", now=2.0)
    assert bounded.first("a", now=3.0)  # forgotten (the oldest of three), though within the window
    assert not bounded.first("c", now=4.0)  # still held
