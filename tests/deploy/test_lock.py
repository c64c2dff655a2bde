"""requirements.lock (what `make install` installs, with hashes) agrees with the pins in pyproject.toml:
every runtime and dev requirement is in the lock at a version its specifier allows. Regenerate with
`make lock` after changing a pin."""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK_TEXT = (ROOT / "requirements.lock").read_text(encoding="utf-8")
# A requirement line of a hashed lock: "name==version" (maybe "; marker"), then " \" and --hash lines.
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK_TEXT.splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonicalize_name(match["name"])] = match["version"]
    return pins


LOCKED = _locked()
DECLARED = [
    *(("dependencies", r) for r in PYPROJECT["project"]["dependencies"]),
    *(("dev", r) for r in PYPROJECT["project"]["optional-dependencies"]["dev"]),
]


def test_the_lock_pins_packages_with_hashes_for_every_supported_python() -> None:
    assert len(LOCKED) > 20, "requirements.lock has no pins"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK_TEXT.split("\n", 2)[-1])
    unhashed = [b.split()[0] for b in blocks if _PIN.match(b) and "--hash=sha256:" not in b]
    assert not unhashed, f"pins without hashes: {unhashed}; run `make lock`"
    header = LOCK_TEXT[:600]
    assert "--universal" in header and "--generate-hashes" in header, "the lock must be universal and hashed"


@pytest.mark.parametrize(("group", "spec"), DECLARED, ids=[f"{g}:{s}" for g, s in DECLARED])
def test_every_pin_of_pyproject_is_in_the_lock(group: str, spec: str) -> None:
    requirement = Requirement(spec)
    name = canonicalize_name(requirement.name)
    assert name in LOCKED, f"{spec} ({group}) is missing from requirements.lock: run `make lock`"
    assert requirement.specifier.contains(LOCKED[name], prereleases=True), (
        f"{spec} ({group}) but requirements.lock has {name}=={LOCKED[name]}: run `make lock`"
    )


def test_requires_python_is_the_range_the_lock_was_resolved_for() -> None:
    assert PYPROJECT["project"]["requires-python"] == ">=3.11,<3.14"
    classifiers = PYPROJECT["project"]["classifiers"]
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
