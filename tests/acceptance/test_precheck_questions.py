"""Pre-check questions (issue 14 item 8): a clerk asks a department's approver about a draft, the draft goes with
the question (personal data masked), the approver of that department answers once, the answer shows on the
draft and both steps are in the application's history."""

from tests.acceptance.conftest import HALL, OTHER_HALL, open_app, person


async def test_a_clerk_asks_the_departments_approver_about_a_draft(acc, catalog, clerk, infra) -> None:
    applicant = person()
    draft = await open_app(acc, clerk, matter="RS-001", applicant=applicant)
    values = {"person.name": "陈一", "person.mobile": "13512345678"}
    assert (await acc.patch(f"/applications/{draft['id']}", headers=clerk, json={"values": values})).status_code == 200
    question = {"department": "RS", "question": "社保卡开户银行可以选农商行吗?"}

    wrong_department = await acc.post(
        f"/applications/{draft['id']}/questions", headers=clerk, json={"department": "SCJG", "question": "可以吗?"}
    )
    assert wrong_department.status_code == 422
    assert wrong_department.json()["errors"][0]["field"] == "department"
    other_hall = infra.auth("clerk", halls=[OTHER_HALL], sub="clerk-dl-1")
    assert (
        await acc.post(f"/applications/{draft['id']}/questions", headers=other_hall, json=question)
    ).status_code == 403
    rs_approver = infra.auth("approver", sub="rs-1", departments=["RS"])
    assert (
        await acc.post(f"/applications/{draft['id']}/questions", headers=rs_approver, json=question)
    ).status_code == 403
    blank = await acc.post(f"/applications/{draft['id']}/questions", headers=clerk, json={"department": "RS"})
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "question"
    assert (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()["questions"] == []

    asked = await acc.post(f"/applications/{draft['id']}/questions", headers=clerk, json=question)
    assert asked.status_code == 201, asked.text
    q = asked.json()
    assert q["status"] == "open" and q["asked_by"] == "clerk-tx-1" and q["department"] == "RS"
    snapshot = q["draft"]
    assert snapshot["matter_code"] == "RS-001" and snapshot["items"][0]["department"] == "RS"
    assert snapshot["values"]["person.mobile"] == "135****5678" and snapshot["values"]["person.name"] == "陈*"
    assert snapshot["applicant"]["id_number"] != applicant["id_number"]
    assert applicant["id_number"] not in asked.text and "13512345678" not in asked.text
    assert {m["code"] for m in snapshot["items"][0]["materials"]}

    # approvers of another department neither see nor answer it
    scjg = infra.auth("approver", sub="scjg-1", departments=["SCJG"])
    assert (await acc.get("/questions", params={"department": "RS"}, headers=scjg)).status_code == 403
    assert q["id"] not in {x["id"] for x in (await acc.get("/questions", headers=scjg)).json()}
    assert (
        await acc.post(f"/questions/{q['id']}/answer", headers=scjg, json={"answer": "可以"})
    ).status_code == 403
    assert (await acc.get("/questions", headers=clerk)).status_code == 403

    listed = await acc.get("/questions", params={"department": "RS", "status": "open"}, headers=rs_approver)
    assert listed.status_code == 200 and q["id"] in {x["id"] for x in listed.json()}
    answer = {"answer": "可以,农商行已开通社保卡业务"}
    answered = await acc.post(f"/questions/{q['id']}/answer", headers=rs_approver, json=answer)
    assert answered.status_code == 200, answered.text
    assert answered.json()["answered_by"] == "rs-1" and answered.json()["status"] == "answered"
    twice = await acc.post(f"/questions/{q['id']}/answer", headers=rs_approver, json={"answer": "再答一次"})
    assert twice.status_code == 409
    assert (await acc.post("/questions/no-such-question/answer", headers=rs_approver, json=answer)).status_code == 404
    still_open = await acc.get("/questions", params={"department": "RS", "status": "open"}, headers=rs_approver)
    assert q["id"] not in {x["id"] for x in still_open.json()}

    view = (await acc.get(f"/applications/{draft['id']}", headers=clerk)).json()
    [shown] = view["questions"]
    assert shown["answer"] == "可以,农商行已开通社保卡业务" and shown["question"] == question["question"]
    steps = [h["status"] for h in view["history"]]
    assert steps.index("precheck_asked") < steps.index("precheck_answered")

    # a draft that moved on keeps its questions; no new ones are asked about it
    refused = await acc.post(f"/applications/{draft['id']}/refuse", headers=clerk, json={"reason": "不属于受理范围"})
    assert refused.status_code == 200, refused.text
    assert refused.json()["questions"][0]["answer"] == shown["answer"]
    late = await acc.post(f"/applications/{draft['id']}/questions", headers=clerk, json=question)
    assert late.status_code == 409
    assert draft["hall"] == HALL
