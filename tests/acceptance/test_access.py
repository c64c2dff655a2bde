"""Who may see or change an application (services/acceptance/access.py): halls, collecting halls, applicants,
and the masked lists each caller may read.
"""

from tests.acceptance.conftest import (
    HALL,
    OTHER_HALL,
    new_id_number,
    open_app,
    person,
)


async def test_halls_and_applicants_see_only_their_own(acc, catalog, infra, clerk) -> None:
    id_number = new_id_number()
    draft = await open_app(acc, clerk, matter="RS-003", applicant=person(id_number))
    stranger = infra.auth("clerk", halls=[OTHER_HALL], sub="clerk-dl-2")
    assert (await acc.get(f"/applications/{draft['id']}", headers=stranger)).status_code == 403
    assert (
        await acc.patch(f"/applications/{draft['id']}", headers=stranger, json={"values": {}})
    ).status_code == 403
    assert (
        await acc.post(
            "/applications", headers=stranger, json={"hall": HALL, "matter": "RS-003", "applicant": person()}
        )
    ).status_code == 403
    assert (await acc.get(f"/applications/{draft['id']}")).status_code == 401

    owner = infra.auth("applicant", sub=id_number)
    other = infra.auth("applicant", sub=new_id_number())
    assert (await acc.get(f"/applications/{draft['id']}", headers=owner)).status_code == 200
    assert (await acc.get(f"/applications/{draft['id']}", headers=other)).status_code == 403
    # a window application is changed at the window, not online
    assert (
        await acc.patch(f"/applications/{draft['id']}", headers=owner, json={"values": {}})
    ).status_code == 403
    mine = (await acc.get("/applications", headers=owner)).json()
    assert [a["id"] for a in mine] == [draft["id"]]
    assert mine[0]["applicant_id"] != id_number and mine[0]["applicant_name"] == "张**"  # masked in lists

    # staff query by applicant, masked
    listed = await acc.get("/applications", headers=clerk, params={"applicant_id": id_number})
    assert [a["id"] for a in listed.json()] == [draft["id"]] and id_number not in listed.text
    assert (await acc.get("/applications", headers=stranger, params={"hall": HALL})).status_code == 403
    assert (
        draft["id"]
        not in (await acc.get("/applications", headers=stranger, params={"applicant_id": id_number})).text
    )
