"""The demo seed (halls, zones, windows) is valid and matches the reference figures."""

from services.ticketing.schemas import HallIn, WindowIn
from services.ticketing.seed import demo_halls, window_specs


def test_demo_halls_match_the_reference_figures(reference_catalog) -> None:
    halls = {h["code"]: h for h in demo_halls()}
    assert {"ZS-CITY", "DL-TOWN"} <= set(halls)
    windows = {code: list(window_specs(h)) for code, h in halls.items()}
    assert len(windows["ZS-CITY"]) == 220 and len(windows["DL-TOWN"]) == 88
    matter_codes = {m["code"] for m in reference_catalog["matters"]}
    for hall in halls.values():
        HallIn.model_validate(hall["hall"])
        for code, body in window_specs(hall):
            WindowIn.model_validate(body)
            assert set(body["skills"]) <= matter_codes, code
    served = {s for _, body in windows["ZS-CITY"] for s in body["skills"]}
    assert served == matter_codes  # every reference matter has a window in the city centre
