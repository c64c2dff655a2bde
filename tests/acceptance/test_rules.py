"""Pure rules of acceptance: value validation, material states, the forms circuit breaker."""

import httpx

from services.acceptance.clients import FormsClient
from services.acceptance.service import check_materials, validate_values, validator_for
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
    states = check_materials(MATTER, presented={"ARTICLES"}, licences={"ID_CARD": "L-1"},
                             committed={"FLOOR_PLAN", "ARTICLES"})
    assert [(m["code"], m["status"]) for m in states] == [
        ("ID_CARD", "licence"), ("FLOOR_PLAN", "committed"), ("PHOTO", "not_provided"), ("ARTICLES", "present")]
    assert states[0]["licence_no"] == "L-1"
    # a material the catalogue does not let be missing cannot be committed
    assert check_materials(MATTER, presented=set(), licences={}, committed={"ID_CARD"})[0]["status"] == "missing"
    # notify-and-commit matters (告知承诺) let any missing material be committed
    notify = MATTER | {"notify_commit_approval": True}
    assert check_materials(notify, presented=set(), licences={}, committed={"ID_CARD"})[0]["status"] == "committed"


def test_values_validated_by_well_known_keys_and_forms_types() -> None:
    keys = ["entity.uscc", "entity.legal_rep_id_number", "entity.contact_mobile", "person.email", "seal.count",
            "person.gender", "food.business_items", "premises.area_sqm"]
    hints = {"seal.count": {"type": "integer"}, "person.gender": {"type": "enum:男,女"},
             "food.business_items": {"type": "multi:热食类食品制售,冷食类食品制售"}, "premises.area_sqm": {"type": "decimal"}}
    good = {"entity.uscc": new_credit_code(), "entity.legal_rep_id_number": new_id_number(),
            "entity.contact_mobile": "13912345678", "person.email": "a@b.cn", "seal.count": 2, "person.gender": "女",
            "food.business_items": ["热食类食品制售"], "premises.area_sqm": "12.5"}
    assert validate_values(good, field_keys=keys, hints=hints, locked={}) == []
    bad = {"entity.uscc": good["entity.uscc"][:17] + ("0" if good["entity.uscc"][17] != "0" else "1"),
           "entity.legal_rep_id_number": "123", "entity.contact_mobile": "02088886666", "person.email": "nope",
           "seal.count": "two", "person.gender": "X", "food.business_items": ["生食"], "premises.area_sqm": "large"}
    errors = {e.field: e for e in validate_values(bad, field_keys=keys, hints=hints, locked={})}
    assert set(errors) == {f"values.{k}" for k in keys}
    assert "GB 32100" in errors["values.entity.uscc"].message
    locked = validate_values({"entity.uscc": new_credit_code()}, field_keys=keys, hints={},
                             locked={"entity.uscc": good["entity.uscc"]})
    assert [e.type for e in locked] == ["locked_field"]
    assert validator_for("transfer.buyer_id_number", {}) == "GB11643"
    assert validator_for("project.contractor_uscc", {}) == "GB32100"
    assert validator_for("tax.accountant_mobile", {}) == "CN_MOBILE"
    assert validator_for("entity.name", {}) is None


async def test_circuit_breaker_skips_forms_after_repeated_outages() -> None:
    calls = 0

    def refuse(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    client = FormsClient(base_url="http://forms", timeout=1, transport=httpx.MockTransport(refuse),
                         failure_threshold=2, open_seconds=30)
    args = {"authorization": None, "applicant_id": "x", "matter": "RS-003", "bundle": None, "application_ref": "a"}
    results = [await client.prefill(**args) for _ in range(4)]
    assert all(r.degraded for r in results) and calls == 2
    assert "recent failures" in (results[-1].reason or "") and client.circuit_open

    answers = iter([httpx.Response(404, json={}), httpx.Response(200, json={"fields": [], "materials": []})])
    client = FormsClient(base_url="http://forms", timeout=1, failure_threshold=1,
                         transport=httpx.MockTransport(lambda request: next(answers)))
    assert (await client.prefill(**args)).degraded and not client.circuit_open  # a 404 is not an outage
    assert not (await client.prefill(**args)).degraded
    await client.aclose()
