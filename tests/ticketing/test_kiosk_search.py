"""Kiosk search over the hall's matters: by Chinese name, pinyin initials, full pinyin and code."""

import uuid
from datetime import UTC, datetime

import pytest

from services.ticketing import catalog, search
from services.ticketing.models import Matter
from shared.events.catalog import MatterPublished
from tests.ticketing.conftest import HallKit, new_hall

P = f"PY{uuid.uuid4().hex[:6].upper()}"  # codes of this module's matters (the read model is shared)
NAMES = {
    f"{P}-001": ("个体工商户设立登记", "A"),
    f"{P}-002": ("有限责任公司设立登记", "A"),
    f"{P}-003": ("银行开户许可", "A"),  # 行 reads hang here ...
    f"{P}-004": ("行政许可事项", "A"),  # ... and xing here
    f"{P}-005": ("二手房转移登记", "B"),
    f"{P}-006": ("公司注销登记", "A"),
    f"{P}-009": ("个体户歇业登记", "A"),  # no window of the hall serves it
}


async def publish(tk, code: str, name: str, zone: str, version: int = 0) -> None:
    runtime = tk.app.state.runtime
    async with runtime.sessionmaker() as session, session.begin():
        await catalog.upsert_matter(session, event=MatterPublished(
            catalog_version=version, code=code, name=name, department="PY", category="PYTEST", zone=zone,
            applicant_type="natural_person", legal_limit_working_days=5, promised_limit_working_days=3,
            avg_handling_minutes=10, daily_share_weight=1.0, published_at=datetime.now(UTC)))


@pytest.fixture(scope="module")
async def hall(tk, infra) -> HallKit:
    for code, (name, zone) in NAMES.items():
        await publish(tk, code, name, zone)
    kit = await new_hall(tk, infra)
    await kit.window("A01", "A", [c for c, (_, z) in NAMES.items() if z == "A" and not c.endswith("009")])
    await kit.window("B01", "B", [f"{P}-005"])
    return kit


async def find(hall: HallKit, q: str, **params: object) -> list[dict]:
    response = await hall.client.get(f"/halls/{hall.code}/matters", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return response.json()


def codes(hits: list[dict]) -> list[str]:
    return [h["code"] for h in hits]


async def test_search_by_name(hall: HallKit) -> None:
    hits = await find(hall, "工商户")
    assert codes(hits) == [f"{P}-001"]
    assert hits[0]["name"] == "个体工商户设立登记" and hits[0]["zone"] == "A"
    assert codes(await find(hall, "个体")) == [f"{P}-001"]  # 个体户歇业登记 is not served in this hall
    # a name prefix comes before a name that only contains the words
    assert codes(await find(hall, "公司")) == [f"{P}-006", f"{P}-002"]
    # substrings: shorter names first
    assert codes(await find(hall, "设立登记")) == [f"{P}-001", f"{P}-002"]


@pytest.mark.parametrize("q", ["gtgsh", "GTGSH", "gtgshsldj", "g t g s h", "ｇｔｇｓｈ"])
async def test_search_by_pinyin_initials(hall: HallKit, q: str) -> None:
    hits = await find(hall, q)
    assert codes(hits)[:1] == [f"{P}-001"], hits


async def test_search_by_full_pinyin_and_polyphonic_readings(hall: HallKit) -> None:
    assert codes(await find(hall, "getigong")) == [f"{P}-001"]
    assert codes(await find(hall, "yhkh")) == [f"{P}-003"]  # 银行 yin-hang, as the phrase reads
    assert codes(await find(hall, "yxkh")) == [f"{P}-003"]  # read character by character
    assert codes(await find(hall, "xzxk")) == [f"{P}-004"]  # 行政 xing-zheng
    assert codes(await find(hall, "yinhang")) == [f"{P}-003"]


async def test_search_by_code_gives_zone_and_wait_hint(hall: HallKit) -> None:
    await hall.take(f"{P}-005")
    hits = await find(hall, f"{P}-005".lower())
    assert codes(hits)[0] == f"{P}-005"
    assert hits[0]["zone"] == "B" and hits[0]["waiting"] == 1
    assert "estimated_wait_minutes" in hits[0]
    # a code prefix lists the hall's matters of that series, limited
    assert len(await find(hall, P, limit=3)) == 3
    # the exact code beats initials that start the same way
    assert codes(await find(hall, f"{P}-002"))[0] == f"{P}-002"


async def test_unknown_queries_give_an_empty_list(hall: HallKit) -> None:
    assert await find(hall, "不存在的事项") == []
    assert await find(hall, "zzqqxx") == []
    assert await find(hall, "NOPE-999") == []


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "   "}, {"q": "x" * 41}, {}, {"q": "gt", "limit": 0},
                                    {"q": "gt", "limit": 51}])
async def test_bad_queries_are_field_errors(hall: HallKit, params: dict) -> None:
    response = await hall.client.get(f"/halls/{hall.code}/matters", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in response.json()["errors"]} <= {"q", "limit"}


async def test_unknown_hall_is_404(hall: HallKit) -> None:
    assert (await hall.client.get("/halls/NO-SUCH-HALL/matters", params={"q": "gt"})).status_code == 404


async def test_keys_are_stored_with_the_matter_and_follow_a_renamed_matter(hall: HallKit, tk) -> None:
    code = f"{P}-003"
    async with tk.app.state.runtime.sessionmaker() as session:
        row = await session.get(Matter, code)
        assert row is not None
        assert row.pinyin_initials == ["yhkhxk", "yxkhxk"] and row.pinyin_full[0] == "yinhangkaihuxuke"
    await publish(tk, code, "银行账户变更", "A", version=1)
    assert codes(await find(hall, "yhzhbg")) == [code]
    assert await find(hall, "yhkh") == []
    await publish(tk, code, "银行开户许可", "A", version=2)


def test_pinyin_keys() -> None:
    assert search.pinyin_keys("个体工商户设立登记") == (["gtgshsldj"], ["getigongshanghushelidengji"])
    assert search.pinyin_keys("B超检查（门诊）")[0] == ["bcjcmz"]  # letters count, punctuation does not
