"""Licence numbers: every single typo and every swap of neighbours is caught, and numbers do not repeat."""

from services.issuance import numbers


def test_licence_numbers_catch_typos_and_swaps() -> None:
    for _ in range(100):
        no = numbers.new_licence_no(2026)
        compact = numbers.normalise(no)
        assert numbers.check_licence_no(no) == (no, None)
        for i in range(2, len(compact)):
            for c in numbers.ALPHABET if i >= 6 else "0123456789":
                if c != compact[i]:
                    typo = compact[:i] + c + compact[i + 1 :]
                    assert numbers.check_licence_no(typo)[0] is None
        for i in range(2, len(compact) - 1):
            if compact[i] != compact[i + 1]:
                swapped = compact[:i] + compact[i + 1] + compact[i] + compact[i + 2 :]
                assert numbers.check_licence_no(swapped)[0] is None
    assert len({numbers.new_licence_no(2026) for _ in range(1000)}) == 1000
