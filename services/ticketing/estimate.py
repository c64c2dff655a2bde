"""Waiting-time predictor for a multi-server, multi-skill hall queue (pure; see docs/wait-estimate.md).

The queue-length predictor: a citizen with ``n`` tickets ahead, served by ``s`` windows with mean
service time ``1/mu``, waits until ``n + 1 - idle`` services have ended:

    E[W | n] = max(0, n + 1 - idle) / (s * mu)

What ``n`` and ``s`` are decides the quality. Two readings were simulated (benchmarks/ticketing_wait_sim.py):

* per matter: ``n`` = tickets of the same matter ahead, ``s`` = the windows serving it, a window shared by
  ``k`` matters counting ``1/k`` (or its load-weighted share): ``effective_servers``;
* skill pool (used by the service): ``n`` = tickets ahead whose matter any of those windows also serves
  (they compete for the same windows, FIFO across matters), ``s`` = the windows serving the matter,
  ``1/mu`` = recent service times at those windows: ``skill_pool`` / ``pool_servers``.

The skill pool is several times more accurate in the simulated hall day; see the docs for the figures.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowSkills:
    """What one open window serves (matter codes, categories already expanded) and whether it is idle."""

    skills: frozenset[str]
    idle: bool = False


def skill_pool(windows: Iterable[WindowSkills], matter: str) -> frozenset[str]:
    """Matters competing with ``matter`` for its windows: everything those windows serve."""
    pool: set[str] = set()
    for w in windows:
        if matter in w.skills:
            pool |= w.skills
    return frozenset(pool)


def pool_servers(windows: Iterable[WindowSkills], matter: str) -> tuple[int, int]:
    """(windows serving ``matter``, of which idle)."""
    serving = [w for w in windows if matter in w.skills]
    return len(serving), sum(1 for w in serving if w.idle)


def effective_servers(
    windows: Iterable[WindowSkills], matter: str, weights: Mapping[str, float] | None = None
) -> float:
    """Servers of one matter's own queue: a window serving ``k`` matters counts ``1/k``.

    With ``weights`` (the catalogue's daily_share_weight) the share is the matter's part of the
    window's load instead of ``1/k``.
    """
    total = 0.0
    for w in windows:
        if matter not in w.skills:
            continue
        if weights is None:
            total += 1.0 / len(w.skills)
        else:
            load = sum(weights.get(m, 0.0) for m in w.skills)
            total += weights.get(matter, 0.0) / load if load > 0 else 1.0 / len(w.skills)
    return total


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
