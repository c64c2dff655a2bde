"""Pure rules of acceptance (no database): value validation, material states, promised dates, status groups."""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from services.acceptance.models import Application, Matter
from shared.problems import DomainError, FieldError
from shared.validators import VALIDATORS
from shared.workdays import HALL_TZ, WorkCalendar, default_calendar

EDITABLE = ("draft", "submitted")
BEFORE_ACCEPTANCE = ("draft", "submitted", "pending_supplement")
AFTER_ACCEPTANCE = ("accepted", "in_approval", "supplement_requested", "approved", "partly_approved")


class InvalidForm(DomainError):
    """Form values that fail validation: one error per field; nothing is stored."""

    status, code, title = 422, "invalid_form", "Invalid form values"


def promised_date(*, accepted_on: date, working_days: int, calendar: WorkCalendar | None = None) -> date:
    """Promised completion: ``working_days`` working days after acceptance; 0 = the acceptance day
    itself (or the next working day when accepted on a day off)."""
    return (calendar or default_calendar()).add_working_days(accepted_on, working_days)


def provisional_years(
    *, accepted_at: datetime | None, dates: Iterable[date | str | None], calendar: WorkCalendar | None = None
) -> list[int]:
    """Years without the State Council's holiday notice that promised dates or commitment deadlines
    counted from acceptance run through: such dates may move when the notice is loaded."""
    if accepted_at is None:
        return []
    start = accepted_at.astimezone(HALL_TZ).date() if accepted_at.tzinfo else accepted_at.date()
    ends = [date.fromisoformat(d) if isinstance(d, str) else d for d in dates if d]
    return (calendar or default_calendar()).provisional_years(start, max([start, *ends]))


def due_dates_marks(app: Application, items: list[Any]) -> dict[str, Any]:
    """``due_dates_provisional`` / ``provisional_years`` of an application's promised dates and deadlines
    (the same fields approval's task clock shows)."""
    dates: list[date | str | None] = [app.promised_date]
    for item in items:
        dates.append(item.promised_date)
        dates.append((item.commitment or {}).get("deadline"))
    years = provisional_years(accepted_at=app.accepted_at, dates=dates)
    return {"due_dates_provisional": bool(years), "provisional_years": years}


def validator_for(key: str, hints: dict[str, str]) -> str | None:
    """The validator of a field: what forms said about it, else inferred from well-known keys."""
    if hints.get(key):
        return hints[key]
    leaf = key.rsplit(".", 1)[-1]
    if leaf.endswith("id_number"):
        return "GB11643"
    if leaf in ("uscc", "credit_code") or leaf.endswith("_uscc"):
        return "GB32100"
    if leaf.endswith("mobile"):
        return "CN_MOBILE"
    if leaf.endswith("email"):
        return "EMAIL"
    if leaf.endswith("_date"):
        return "date"
    return None


def check_type(value: Any, type_: str | None) -> str | None:
    """Check a value against a field-dictionary type (string, text, integer, decimal, date, enum:, multi:)."""
    if type_ is None or value is None:
        return None
    if type_ in ("string", "text"):
        return (
            None
            if isinstance(value, str) and len(value) <= 4000
            else "must be text (at most 4000 characters)"
        )
    if type_ == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.isdigit()
        )
        return None if ok else "must be a whole number"
    if type_ == "decimal":
        try:
            float(value)
        except (TypeError, ValueError):
            return "must be a number"
        return None if not isinstance(value, bool) else "must be a number"
    if type_ == "date":
        return VALIDATORS["date"](value)
    if type_.startswith("enum:"):
        options = type_[5:].split(",")
        return None if value in options else f"must be one of: {', '.join(options)}"
    if type_.startswith("multi:"):
        options = type_[6:].split(",")
        if not isinstance(value, list) or any(v not in options for v in value):
            return f"must be a list of: {', '.join(options)}"
    return None


def validate_values(
    values: dict[str, Any], *, field_keys: list[str], hints: dict[str, dict[str, Any]], locked: dict[str, Any]
) -> list[FieldError]:
    """Field-level errors of ``values``: unknown keys, locked (verified) values changed, bad values."""
    errors: list[FieldError] = []
    known = set(field_keys)
    validators: dict[str, str] = {k: h["validator"] for k, h in hints.items() if h.get("validator")}
    for key, value in values.items():
        where = f"values.{key}"
        if key not in known:
            errors.append(
                FieldError(field=where, message="is not a field of this application", type="unknown_field")
            )
            continue
        if key in locked and value != locked[key]:
            errors.append(
                FieldError(
                    field=where,
                    message="is verified from a licence or registry and cannot be changed",
                    type="locked_field",
                )
            )
            continue
        if value is None or value == "" or value == []:
            continue
        if not isinstance(value, (str, int, float, bool, list)):
            errors.append(
                FieldError(field=where, message="must be text, a number or a list", type="type_error")
            )
            continue
        problem = check_type(value, hints.get(key, {}).get("type"))
        name = validator_for(key, validators)
        if problem is None and name in VALIDATORS:
            problem = VALIDATORS[name](value if name == "date" else str(value))
        if problem:
            errors.append(FieldError(field=where, message=problem, type=name or "value_error"))
    return errors


def missing_fields(app: Application) -> list[str]:
    """Required fields of the application's matters that have no value yet (all, unless forms said otherwise)."""
    hints = app.prefill.get("fields", {})
    return [
        k
        for k in app.field_keys
        if app.values.get(k) in (None, "", []) and hints.get(k, {}).get("required", True)
    ]


def check_materials(
    matter: dict[str, Any], *, presented: set[str], licences: dict[str, str], committed: set[str]
) -> list[dict[str, Any]]:
    """The state of each material of one matter: present, licence, from_bundle, committed, missing or
    not_provided.

    ``from_bundle``: an earlier member of the same bundle produces it (the snapshot's ``bundle_needs``);
    it is never missing, never in the one-time notice, and the member's task waits for that licence.
    A licence the applicant already holds (or a presented copy) wins: then nothing is waited for.
    """
    produced = {n["material"]: n["from_matter"] for n in matter.get("bundle_needs") or []}
    states = []
    for m in matter.get("materials", []):
        code = m["code"]
        committable = bool(m.get("tolerable_missing")) or bool(matter.get("notify_commit_approval"))
        if code in presented:
            status = "present"
        elif code in licences:
            status = "licence"
        elif code in produced:
            status = "from_bundle"
        elif code in committed and committable:
            status = "committed"
        else:
            status = "missing" if m.get("required", True) else "not_provided"
        states.append(
            {
                "code": code,
                "name": m.get("name", code),
                "required": m.get("required", True),
                "tolerable_missing": committable,
                "status": status,
                "licence_no": licences.get(code) if status == "licence" else None,
                "from_matter": produced.get(code) if status == "from_bundle" else None,
            }
        )
    return states


def bundle_needs(
    codes: list[str], *, members: list[dict[str, Any]], matters: dict[str, Matter]
) -> dict[str, dict[str, Any]]:
    """Per member matter: ``{"needs": [{material, from_matter, licence_type}], "parallel": bool}``.

    From the bundle's published ``members`` when the catalogue sent them; else derived from the matters
    by the catalogue's rule (a later member's material satisfied by an earlier member's result licence),
    e.g. for bundle rows stored before forms published members.
    """
    if members:
        by_code = {m["matter"]: m for m in members}
        return {
            c: {
                "needs": list(by_code.get(c, {}).get("needs") or []),
                "parallel": bool(by_code.get(c, {}).get("parallel")),
            }
            for c in codes
        }
    producers: dict[str, str] = {}
    out: dict[str, dict[str, Any]] = {}
    for code in codes:
        matter = matters[code]
        needs = [
            {"material": m["code"], "from_matter": producers[lt], "licence_type": lt}
            for m in matter.materials
            if (lt := m.get("satisfied_by_licence_type")) and lt in producers
        ]
        out[code] = {"needs": needs, "parallel": False}
        if matter.result_licence_type:
            producers.setdefault(matter.result_licence_type, code)
    return out


def matter_snapshot(matter: Matter) -> dict[str, Any]:
    """The matter as stored with an item: the application keeps its catalogue version's rules."""
    return {
        "code": matter.code,
        "name": matter.name,
        "department": matter.department,
        "department_name": matter.department_name,
        "catalog_version": matter.catalog_version,
        "materials": matter.materials,
        "fields": matter.fields,
        "legal_limit_working_days": matter.legal_limit_working_days,
        "promised_limit_working_days": matter.promised_limit_working_days,
        "on_the_spot": matter.on_the_spot,
        "notify_commit_approval": matter.notify_commit_approval,
        "result_licence_type": matter.result_licence_type,
        "steps": matter.steps,
    }
