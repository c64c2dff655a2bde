"""The security audit log: newest first, paged by cursor, filtered by action."""

import uuid


async def test_events_page_newest_first_without_gaps_or_repeats(identity, infra) -> None:
    names = [f"nobody-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in names:  # three refused logins of unknown accounts: three audited events
        assert (await identity.post("/auth/login", json={"username": name, "password": "x"})).status_code == 401
    auditor = infra.auth("auditor", sub="auditor-paging")
    seen: list[dict] = []
    params: dict[str, str | int] = {"action": "login_failed", "limit": 1}
    while len(seen) < 3:
        page = (await identity.get("/auth/security-events", params=params, headers=auditor)).json()
        assert len(page["items"]) == 1 and page["next_before_id"] == page["items"][0]["id"]
        seen += page["items"]
        params["before_id"] = page["next_before_id"]
    assert [e["subject"] for e in seen] == list(reversed(names))  # newest first
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3
    assert all(e["action"] == "login_failed" for e in seen)


async def test_a_page_shorter_than_the_limit_has_no_next_cursor(identity, infra) -> None:
    auditor = infra.auth("auditor", sub="auditor-paging")
    page = (await identity.get("/auth/security-events", params={"action": "no_such_action"}, headers=auditor)).json()
    assert page == {"items": [], "next_before_id": None}
