"""The waiting-time predictor is pure: checked against hand-computed values."""

import math

import pytest

from services.ticketing.estimate import (
    WindowSkills,
    effective_servers,
    expected_wait_minutes,
    mean_service_minutes,
    percentile,
    pool_servers,
    skill_pool,
)

WINDOWS = [
    WindowSkills(frozenset({"A"})),
    WindowSkills(frozenset({"A", "B"})),
    WindowSkills(frozenset({"A", "B", "C", "D"}), idle=True),
    WindowSkills(frozenset({"C"})),
]


def test_a_window_shared_by_k_queues_counts_one_kth() -> None:
    assert effective_servers(WINDOWS, "A") == pytest.approx(1 + 0.5 + 0.25)
    assert effective_servers(WINDOWS, "C") == pytest.approx(1.25)
    assert effective_servers(WINDOWS, "Z") == 0
    # load-weighted: B is three times A's volume -> A gets 1/4 of the shared window
    weights = {"A": 1.0, "B": 3.0, "C": 0.0, "D": 0.0}
    assert effective_servers(WINDOWS, "A", weights) == pytest.approx(1 + 0.25 + 0.25)


def test_skill_pool_is_what_competes_for_the_same_windows() -> None:
    assert skill_pool(WINDOWS, "B") == {"A", "B", "C", "D"}
    assert skill_pool(WINDOWS, "Z") == frozenset()
    assert pool_servers(WINDOWS, "A") == (3, 1)
    assert pool_servers(WINDOWS, "C") == (2, 1)


def test_queue_length_predictor() -> None:
    # 9 ahead, 4 windows of 12 minutes: (9 + 1) / (4 / 12) = 30 minutes
    assert expected_wait_minutes(ahead=9, servers=4, mean_service=12) == pytest.approx(30)
    # the first in line of a busy queue waits for one departure out of s
    assert expected_wait_minutes(ahead=0, servers=2, mean_service=10) == pytest.approx(5)
    # idle windows take the first ones at once
    assert expected_wait_minutes(ahead=1, servers=3, mean_service=10, idle=2) == 0
    assert expected_wait_minutes(ahead=3, servers=3, mean_service=10, idle=2) == pytest.approx(20 / 3)
    assert expected_wait_minutes(ahead=5, servers=0, mean_service=10) is None
    with pytest.raises(ValueError):
        expected_wait_minutes(ahead=-1, servers=1, mean_service=1)


def test_mu_comes_from_recent_services_shrunk_toward_the_catalogue() -> None:
    assert mean_service_minutes([], prior_minutes=15) == 15
    assert mean_service_minutes([5.0] * 5, prior_minutes=15, prior_weight=5) == pytest.approx(10)
    assert mean_service_minutes([5.0] * 995, prior_minutes=15, prior_weight=5) == pytest.approx(5.05)
    with pytest.raises(ValueError):
        mean_service_minutes([1.0], prior_minutes=0)


def test_percentile_matches_percentile_cont() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1, 2, 3, 4], 0.5) == pytest.approx(2.5)
    assert math.isclose(percentile(list(range(11)), 0.9), 9.0)
