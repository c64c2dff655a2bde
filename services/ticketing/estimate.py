"""Waiting-time predictor for a multi-server, multi-skill hall queue (pure; see docs/wait-estimate.md).

The queue-length predictor: a citizen with ``n`` tickets ahead, in a queue served by ``s`` windows
with service rate ``mu`` each, waits until ``n + 1 - idle`` windows have finished a service:

    E[W | n] = max(0, n + 1 - idle) / (s * mu)

``s`` counts a window shared by ``k`` queues as ``1/k`` (one clerk, several posts), ``mu`` comes from
recent service times (the catalogue's average handling time until enough are observed).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowSkills:
    """What one open window can serve: the queues (zones) it takes tickets from, and whether idle."""

    queues: frozenset[str]
    idle: bool = False


def effective_servers(windows: Iterable[WindowSkills], queue: str) -> float:
    """Servers of ``queue``: each window serving it counts ``1/k`` when it serves ``k`` queues."""
    return sum(1.0 / len(w.queues) for w in windows if queue in w.queues and w.queues)


def idle_servers(windows: Iterable[WindowSkills], queue: str) -> float:
    """Idle capacity of ``queue`` (same 1/k weighting as ``effective_servers``)."""
    return sum(1.0 / len(w.queues) for w in windows if w.idle and queue in w.queues and w.queues)


def mean_service_minutes(recent: Sequence[float], *, prior_minutes: float, prior_weight: int = 5) -> float:
    """1/mu: mean of recent service times, shrunk toward the catalogue's figure while few are known."""
    if prior_minutes <= 0:
        raise ValueError("prior_minutes must be positive")
    return (sum(recent) + prior_minutes * prior_weight) / (len(recent) + prior_weight)


def expected_wait_minutes(*, ahead: int, servers: float, mean_service: float, idle: float = 0.0) -> float | None:
    """E[W | n] in minutes for ``ahead`` tickets before this one; None when no window can serve it."""
    if ahead < 0:
        raise ValueError("ahead must be >= 0")
    if servers <= 0:
        return None
    departures_needed = max(0.0, ahead + 1 - idle)
    return departures_needed * mean_service / servers


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) by linear interpolation, like PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
