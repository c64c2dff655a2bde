"""The embedded issuer's key material: created once, kept private, stable across restarts."""

import stat

from services.identity.issuer import load_issuer


def test_key_and_pepper_are_created_once_private_and_reused(tmp_path) -> None:
    first = load_issuer(keys_dir=str(tmp_path))
    pepper = tmp_path / "identity.pepper"
    assert stat.S_IMODE(pepper.stat().st_mode) == 0o600
    again = load_issuer(keys_dir=str(tmp_path))
    assert again.pepper == first.pepper and again.key.kid == first.key.kid
    # identifiers hash the same way after a restart, so stored contacts still match
    assert again.keyed_hash("11010519491231002X") == first.keyed_hash("11010519491231002X")


def test_keyed_hash_depends_on_the_pepper_and_hides_the_value(tmp_path) -> None:
    one = load_issuer(keys_dir=str(tmp_path / "a"))
    other = load_issuer(keys_dir=str(tmp_path / "b"))
    hashed = one.keyed_hash("13812345678")
    assert len(hashed) == 64 and "13812345678" not in hashed
    assert hashed != other.keyed_hash("13812345678")
