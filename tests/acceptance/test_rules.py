"""Pure rules of acceptance (services/acceptance/rules.py), no database: value validation, material states,
promised dates, missing fields."""

from datetime import date

from services.acceptance import rules
from services.acceptance.models import Application
from tests.acceptance.conftest import new_credit_code, new_id_number

MATTER = {
    "notify_commit_approval": False,
    "materials": [
        {"code": "ID_CARD", "name": "身份证明", "required": True, "tolerable_missing": False},
        {"code": "FLOOR_PLAN", "name": "平面图", "required": True, "tolerable_missing": True},
        {"code": "PHOTO", "name": "照片", "required": False, "tolerable_missing": False},
        {"code": "ARTICLES", "name": "章程", "required": True, "tolerable_missing": False},
    ],
}


def test_material_states() -> None:
    states = rules.check_materials(MATTER, presented={"ARTICLES"}, licences={"ID_CARD": "L-1"},
                             committed={"FLOOR_PLAN", "ARTICLES"})
    assert [(m["code"], m["status"]) for m in states] == [
        ("ID_CARD", "licence"), ("FLOOR_PLAN", "committed"), ("PHOTO", "not_provided"), ("ARTICLES", "present")]
    assert states[0]["licence_no"] == "L-1"
    # a material the catalogue does not let be missing cannot be committed
    assert rules.check_materials(MATTER, presented=set(), licences={}, committed={"ID_CARD"})[0]["status"] == "missing"
    # notify-and-commit matters (告知承诺) let any missing material be committed
    notify = MATTER | {"notify_commit_approval": True}
    assert rules.check_materials(notify, presented=set(), licences={}, committed={"ID_CARD"})[0]["status"] == "committed"


def test_values_validated_by_well_known_keys_and_forms_types() -> None:
    keys = ["entity.uscc", "entity.legal_rep_id_number", "entity.contact_mobile", "person.email", "seal.count",
            "person.gender", "food.business_items", "premises.area_sqm"]
    hints = {"seal.count": {"type": "integer"}, "person.gender": {"type": "enum:男,女"},
             "food.business_items": {"type": "multi:热食类食品制售,冷食类食品制售"}, "premises.area_sqm": {"type": "decimal"}}
    good = {"entity.uscc": new_credit_code(), "entity.legal_rep_id_number": new_id_number(),
            "entity.contact_mobile": "13912345678", "person.email": "a@b.cn", "seal.count": 2, "person.gender": "女",
            "food.business_items": ["热食类食品制售"], "premises.area_sqm": "12.5"}
    assert rules.validate_values(good, field_keys=keys, hints=hints, locked={}) == []
    bad = {"entity.uscc": good["entity.uscc"][:17] + ("0" if good["entity.uscc"][17] != "0" else "1"),
           "entity.legal_rep_id_number": "123", "entity.contact_mobile": "02088886666", "person.email": "nope",
           "seal.count": "two", "person.gender": "X", "food.business_items": ["生食"], "premises.area_sqm": "large"}
    errors = {e.field: e for e in rules.validate_values(bad, field_keys=keys, hints=hints, locked={})}
    assert set(errors) == {f"values.{k}" for k in keys}
    assert "GB 32100" in errors["values.entity.uscc"].message
    locked = rules.validate_values({"entity.uscc": new_credit_code()}, field_keys=keys, hints={},
                             locked={"entity.uscc": good["entity.uscc"]})
    assert [e.type for e in locked] == ["locked_field"]
    assert rules.validator_for("transfer.buyer_id_number", {}) == "GB11643"
    assert rules.validator_for("project.contractor_uscc", {}) == "GB32100"
    assert rules.validator_for("tax.accountant_mobile", {}) == "CN_MOBILE"
    assert rules.validator_for("entity.name", {}) is None


def test_promised_date_skips_holidays_and_honours_adjusted_working_days() -> None:
    # accepted on the eve of National Day: 1-7 Oct off, Sat 10 Oct an adjusted working day
    assert rules.promised_date(accepted_on=date(2026, 9, 30), working_days=3) == date(2026, 10, 10)
    assert rules.promised_date(accepted_on=date(2026, 9, 30), working_days=5) == date(2026, 10, 13)
    # Spring Festival: Sat 14 Feb is a working day, 15-23 Feb off
    assert rules.promised_date(accepted_on=date(2026, 2, 13), working_days=1) == date(2026, 2, 14)
    assert rules.promised_date(accepted_on=date(2026, 2, 14), working_days=1) == date(2026, 2, 24)
    # on the spot, accepted on a day off (a weekend kiosk): the next working day
    assert rules.promised_date(accepted_on=date(2026, 10, 3), working_days=0) == date(2026, 10, 8)


def test_type_checks_of_the_field_dictionary() -> None:
    assert rules.check_type("x" * 4000, "text") is None and rules.check_type("x" * 4001, "text")
    assert rules.check_type(3, "integer") is None and rules.check_type("12", "integer") is None
    assert rules.check_type(True, "integer") and rules.check_type("1.5", "integer")
    assert rules.check_type("1.5", "decimal") is None and rules.check_type(False, "decimal")
    assert rules.check_type("a,b", "enum:a,b") and rules.check_type("b", "enum:a,b") is None
    assert rules.check_type(["a"], "multi:a,b") is None and rules.check_type("a", "multi:a,b")
    assert rules.check_type(None, "integer") is None and rules.check_type("anything", None) is None


def test_missing_fields_are_required_unless_forms_says_otherwise() -> None:
    app = Application(field_keys=["person.name", "person.mobile", "person.email", "person.tags"],
                      values={"person.name": "张三", "person.email": "", "person.tags": []},
                      prefill={"fields": {"person.mobile": {"required": False}}})
    assert rules.missing_fields(app) == ["person.email", "person.tags"]
