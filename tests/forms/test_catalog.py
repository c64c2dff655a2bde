"""Pure catalogue logic: identifier checksums, field types, catalogue checks, bundle merging."""

import copy

import pytest

from services.forms.catalog import FieldDef, check_catalog, compile_catalog, identity_values, validate_values
from shared.validators import check_credit_code, check_id_number


@pytest.mark.parametrize(
    "value",
    ["11010519491231002X", "440524198001010013", "110101199003074477", "320106198504123210"],
)
def test_known_valid_id_numbers(value: str) -> None:
    assert check_id_number(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("110105194912310021", "check digit"),  # last digit altered
        ("11010519491231002x", "18 characters"),  # lower-case x
        ("11010519490231002X", "impossible birth date"),  # 31 February... 1949-02-31
        ("1101051949123100", "18 characters"),
        ("110105209912310028", "out of range"),  # born in 2099
    ],
)
def test_known_invalid_id_numbers(value: str, why: str) -> None:
    problem = check_id_number(value)
    assert problem is not None and why in problem


@pytest.mark.parametrize("value", ["91350100M000100Y43", "91110000802100433B"])
def test_known_valid_credit_codes(value: str) -> None:
    assert check_credit_code(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("91350100M000100Y44", "check character"),
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100I43", "18 characters"),  # I is not in the alphabet
        ("9135A100M000100Y43", "administrative division"),
    ],
)
def test_known_invalid_credit_codes(value: str, why: str) -> None:
    problem = check_credit_code(value)
    assert problem is not None and why in problem


def _field(type_: str, validator: str | None = None) -> FieldDef:
    return FieldDef(
        key="x.y", label_zh="字段", label_en="Field", type=type_, validator=validator, sensitivity="public"
    )


@pytest.mark.parametrize(
    ("type_", "validator", "good", "bad"),
    [
        ("integer", None, [3, "12", -1], [1.5, "1.5", True, "x"]),
        ("decimal", None, [3, 1.25, "100.50"], ["abc", True, "NaN", None]),
        ("date", None, ["2026-02-28"], ["2026-02-30", "28/02/2026", 20260228]),
        ("enum:自有,租赁", None, ["自有"], ["购买", ["自有"]]),
        (
            "multi:公章,财务专用章",
            None,
            [["公章"], ["公章", "财务专用章"]],
            [[], ["私章"], "公章", ["公章", "公章"]],
        ),
        ("string", "CN_MOBILE", ["13812345678"], ["12812345678", "1381234567", 13812345678]),
        ("string", "EMAIL", ["a.b@gov.cn"], ["a@b", "not-an-email"]),
        ("string", "GB11643", ["11010519491231002X"], ["110105194912310021"]),
        ("string", "GB32100", ["91350100M000100Y43"], ["91350100M000100Y44"]),
        ("text", None, ["经营范围" * 100], [{"a": 1}]),
    ],
)
def test_field_types_and_validators(type_: str, validator: str | None, good: list, bad: list) -> None:
    field = _field(type_, validator)
    for value in good:
        assert field.check(value) is None, value
    for value in bad:
        assert field.check(value) is not None, value


def test_reference_catalogue_checks_clean(reference_catalog) -> None:
    assert check_catalog(reference_catalog) == []


def test_broken_references_are_reported_with_their_path(reference_catalog) -> None:
    broken = copy.deepcopy(reference_catalog)
    broken["matters"][0]["fields"].append("person.shoe_size")
    broken["matters"][1]["materials"].append({"code": "NO_SUCH_MATERIAL"})
    broken["bundles"][0]["matters"].append("NO-SUCH-MATTER")
    broken["fields"][0]["type"] = "colour"
    broken["matters"][2]["promised_limit_working_days"] = 99
    errors = {e.field: e.message for e in check_catalog(broken)}
    assert "matters[0].fields[6]" in errors and "person.shoe_size" in errors["matters[0].fields[6]"]
    assert "matters[1].materials[4].code" in errors
    assert "bundles[0].matters[5]" in errors
    assert "fields[0].type" in errors
    assert "matters[2].promised_limit_working_days" in errors


def test_bundle_form_asks_each_field_and_material_once(reference_catalog) -> None:
    cat = compile_catalog(1, reference_catalog)
    bundle = cat.form(bundle="ONE-RESTAURANT")
    assert bundle is not None
    keys = [f.key for f in bundle.fields]
    assert len(keys) == len(set(keys))
    members = [cat.form(matter=code) for code in reference_catalog["bundles"][0]["matters"]]
    union = list(dict.fromkeys(f.key for m in members for f in m.fields))  # type: ignore[union-attr]
    assert keys == union  # member order, each shared field once
    total = sum(len(m.fields) for m in members)  # type: ignore[union-attr]
    assert total > len(keys)  # the members do share fields
    codes = [m.code for m in bundle.materials]
    assert len(codes) == len(set(codes)) and "BIZ_LICENCE" in codes


def test_validate_values_reports_each_field(reference_catalog) -> None:
    form = compile_catalog(1, reference_catalog).form(matter="RS-001")
    assert form is not None
    errors = {
        e.field: e.type
        for e in validate_values(
            form, {"person.id_number": "110105194912310021", "person.gender": "X", "person.shoe_size": 42}
        )
    }
    assert errors["values.person.id_number"] == "invalid"
    assert errors["values.person.gender"] == "invalid"
    assert errors["values.person.shoe_size"] == "unknown_field"
    assert errors["values.person.name"] == "missing"
    partial = validate_values(form, {"person.name": "张三"}, partial=True)
    assert partial == []


def test_identity_values_derive_birth_date_and_gender() -> None:
    values = identity_values("11010519491231002X", "natural_person")
    assert values == {
        "person.id_number": "11010519491231002X",
        "person.birth_date": "1949-12-31",
        "person.gender": "女",
    }
    assert identity_values("91350100M000100Y43", "legal_person") == {"entity.uscc": "91350100M000100Y43"}
