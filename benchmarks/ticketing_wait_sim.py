"""Simulate a hall day and measure the waiting-time predictors (prints figures; see docs/wait-estimate.md).

    .venv/bin/python -m benchmarks.ticketing_wait_sim [--hall ZS-CITY] [--visitors 7000] [--seed 1] [--days 3]

The hall is the demo seed (windows, zones, skills, primary skills); the matter mix and handling times
come from the reference catalogue; arrivals follow a day profile with a morning and an afternoon peak.
Windows pick tickets with the service's own rule (priority, anti-starvation, primary skills, longest
wait). Every ticket gets an estimate from each predictor when it is issued; the report compares them
with the wait it then really had.
"""

import argparse
import heapq
import json
import math
import random
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

from services.ticketing.estimate import (
    WindowSkills,
    effective_servers,
    expected_wait_minutes,
    mean_service_minutes,
    percentile,
    pool_servers,
    skill_pool,
)
from services.ticketing.seed import demo_halls, window_specs

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "data" / "catalog-reference.json"

# Arrivals per half hour from 08:30 (relative weights): a morning peak 09:30-11:00, a lunch dip and an
# afternoon peak 14:00-15:30; the last number is taken at 17:00.
PROFILE = [0.6, 1.0, 1.3, 1.5, 1.5, 1.3, 1.1, 0.9, 0.5, 0.4, 0.5, 0.8, 1.2, 1.4, 1.4, 1.2, 0.9, 0.6]
OPEN_MIN = 8 * 60 + 30
SERVICE_FACTOR = 0.75  # window time / catalogue avg_handling_minutes (the rest is back-office work)
SERVICE_CV = 0.6
GREEN_SHARE, APPOINTMENT_SHARE = 0.04, 0.10
STARVE_AFTER = 30.0
SERVICE = "skill pool"  # the predictor the service uses


@dataclass
class Matter:
    code: str
    zone: str
    minutes: float
    weight: float


@dataclass
class Win:
    code: str
    zone: str
    skills: frozenset[str]
    primary: frozenset[str]
    busy_until: float = 0.0
    busy: bool = False


@dataclass(eq=False)
class Tk:
    id: int
    matter: str
    zone: str
    priority: int
    issued: float
    estimates: dict[str, float | None] = field(default_factory=dict)
    called: float | None = None


def load_matters() -> dict[str, Matter]:
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    zone_of = {d: z["code"] for z in data["zones"] for d in z["departments"]}
    return {m["code"]: Matter(m["code"], zone_of.get(m["department"], "A"), float(m["avg_handling_minutes"]),
                              float(m["daily_share_weight"])) for m in data["matters"]}


def load_windows(hall_code: str) -> list[Win]:
    hall = next(h for h in demo_halls() if h["code"] == hall_code)
    return [Win(code, body["zone"], frozenset(body["skills"]), frozenset(body["primary_skills"]))
            for code, body in window_specs(hall)]


class Hall:
    """The hall's state during the simulated day."""

    def __init__(self, windows: list[Win], matters: dict[str, Matter], rng: random.Random,
                 service_factor: float = SERVICE_FACTOR) -> None:
        self.service_factor = service_factor
        self.windows = windows
        self.matters = matters
        self.rng = rng
        self.waiting: dict[str, list[Tk]] = defaultdict(list)  # zone -> tickets
        self.recent: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=30))
        self.recent_zone: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=60))  # as RECENT_SERVICES
        self.done: list[Tk] = []
        # static parts of the predictors, from the pure functions the service uses
        weights = {m.code: m.weight for m in matters.values()}
        self.share_equal: dict[tuple[str, str], float] = {}
        self.share_weight: dict[tuple[str, str], float] = {}
        self.pool_servers: dict[tuple[str, str], int] = {}
        self.pool: dict[tuple[str, str], frozenset[str]] = {}
        for zone in {w.zone for w in windows}:
            view = [WindowSkills(w.skills) for w in windows if w.zone == zone]
            for m in matters:
                key = (zone, m)
                self.share_equal[key] = effective_servers(view, m)
                self.share_weight[key] = effective_servers(view, m, weights)
                self.pool_servers[key] = pool_servers(view, m)[0]
                self.pool[key] = skill_pool(view, m)

    def service_time(self, matter: Matter) -> float:
        mean = matter.minutes * self.service_factor
        sigma = math.sqrt(math.log(1 + SERVICE_CV**2))
        return self.rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma)

    def idle(self, zone: str, matter: str) -> list[Win]:
        return [w for w in self.windows if not w.busy and w.zone == zone and matter in w.skills]

    def estimates(self, zone: str, matter: Matter, priority: int) -> dict[str, float | None]:
        """Every predictor's estimate for a new ticket (before it joins the queue)."""
        queue = self.waiting[zone]
        ahead_matter = sum(1 for t in queue if t.matter == matter.code and t.priority >= priority)
        pool = self.pool[(zone, matter.code)]
        ahead_zone = sum(1 for t in queue if t.priority >= priority and t.matter in pool)
        idle = len(self.idle(zone, matter.code))
        key = (zone, matter.code)
        mean = mean_service_minutes(list(self.recent[matter.code]), prior_minutes=matter.minutes)
        zone_recent = list(self.recent_zone[zone])
        zone_mean = mean_service_minutes(zone_recent, prior_minutes=matter.minutes)
        return {
            "matter, 1/k": expected_wait_minutes(ahead=ahead_matter, servers=self.share_equal[key], mean_service=mean),
            "matter, weighted share": expected_wait_minutes(ahead=ahead_matter, servers=self.share_weight[key],
                                                            mean_service=mean),
            "matter, weighted share + idle": expected_wait_minutes(
                ahead=ahead_matter, servers=self.share_weight[key], mean_service=mean,
                idle=idle * self.share_weight[key] / max(1, self.pool_servers[key])),
            "skill pool": expected_wait_minutes(ahead=ahead_zone, servers=self.pool_servers[key],
                                                mean_service=zone_mean, idle=idle),
        }

    def route(self, matter: Matter, priority: int) -> tuple[str, dict[str, float | None]]:
        """The zone with the least expected wait (the service's rule and predictor: skill pool)."""
        zones = sorted({w.zone for w in self.windows if matter.code in w.skills}, key=lambda z: (z != matter.zone, z))
        def cost(est: dict[str, float | None]) -> float:
            value = est[SERVICE]
            return value if value is not None else 1e9

        best: tuple[str, dict[str, float | None]] | None = None
        for zone in zones:
            est = self.estimates(zone, matter, priority)
            if best is None or cost(est) < cost(best[1]):
                best = (zone, est)
        assert best is not None
        return best

    def pick(self, w: Win, now: float) -> Tk | None:
        """The service's call-next order: priority, starving tickets, primary skills, longest wait."""
        best, best_key = None, None
        for t in self.waiting[w.zone]:
            if t.matter not in w.skills:
                continue
            rank = 0 if now - t.issued >= STARVE_AFTER else (1 if t.matter in w.primary else 2)
            key = (-t.priority, rank, t.issued, t.id)
            if best_key is None or key < best_key:
                best, best_key = t, key
        if best is not None:
            self.waiting[w.zone].remove(best)
        return best


def simulate(hall_code: str, visitors: int, seed: int, service_factor: float = SERVICE_FACTOR) -> list[Tk]:
    rng = random.Random(seed)
    matters = load_matters()
    hall = Hall(load_windows(hall_code), matters, rng, service_factor)
    codes = list(matters)
    weights = [matters[c].weight for c in codes]
    total = sum(PROFILE)
    events: list[tuple[float, int, str, object]] = []
    seq = 0
    for half, weight in enumerate(PROFILE):
        count = rng.gauss(visitors * weight / total, math.sqrt(visitors * weight / total))
        for _ in range(max(0, round(count))):
            t = OPEN_MIN + 30 * half + rng.random() * 30
            seq += 1
            heapq.heappush(events, (t, seq, "arrive", rng.choices(codes, weights)[0]))
    next_id = 0
    while events:
        now, _, kind, obj = heapq.heappop(events)
        if kind == "arrive":
            matter = matters[str(obj)]
            r = rng.random()
            priority = 2 if r < GREEN_SHARE else 1 if r < GREEN_SHARE + APPOINTMENT_SHARE else 0
            if not any(matter.code in w.skills for w in hall.windows):
                continue
            zone, est = hall.route(matter, priority)
            next_id += 1
            ticket = Tk(id=next_id, matter=matter.code, zone=zone, priority=priority, issued=now,
                        estimates=est)
            hall.waiting[zone].append(ticket)
            idle = hall.idle(zone, matter.code)
            if idle:
                w = min(idle, key=lambda w: (matter.code not in w.primary, w.code))
                seq += 1
                heapq.heappush(events, (now, seq, "free", w))
                w.busy = True
        else:
            w = obj  # type: ignore[assignment]
            assert isinstance(w, Win)
            w.busy = False
            called = hall.pick(w, now)
            if called is None:
                continue
            called.called = now
            minutes = hall.service_time(matters[called.matter])
            hall.recent[called.matter].append(minutes)
            hall.recent_zone[w.zone].append(minutes)
            hall.done.append(called)
            w.busy = True
            seq += 1
            heapq.heappush(events, (now + minutes, seq, "free", w))
    return hall.done


def report(done: list[Tk]) -> dict[str, dict[str, float]]:
    waits = [t.called - t.issued for t in done if t.called is not None]
    print(f"tickets served: {len(done)}  wait p50 {percentile(waits, 0.5):.1f} min  p90 {percentile(waits, 0.9):.1f} "
          f"min  max {max(waits):.1f} min")
    out = {}
    for name in done[0].estimates:
        errors = [(e - (t.called - t.issued)) for t in done
                  if t.called is not None and (e := t.estimates[name]) is not None]
        absolute = [abs(e) for e in errors]
        mae = sum(absolute) / len(absolute)
        within = sum(1 for e in absolute if e <= 5) / len(absolute)
        bias = sum(errors) / len(errors)
        out[name] = {"mae": mae, "within5": within, "bias": bias, "p90_abs": percentile(absolute, 0.9) or 0}
        print(f"  {name:<32} MAE {mae:6.2f} min   within 5 min {within:6.1%}   bias {bias:+6.2f}   "
              f"p90 |error| {out[name]['p90_abs']:6.1f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hall", default="ZS-CITY")
    parser.add_argument("--visitors", type=int, default=7000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--service-factor", type=float, default=SERVICE_FACTOR,
                        help="window time as a share of the catalogue's avg_handling_minutes")
    args, _ = parser.parse_known_args()
    print(f"hall {args.hall}, {args.visitors} visitors a day, {args.days} simulated day(s), seed {args.seed}, "
          f"window time {args.service_factor:.2f} x catalogue handling time")
    everything: list[Tk] = []
    for day in range(args.days):
        everything += simulate(args.hall, args.visitors, args.seed + day, args.service_factor)
    report(everything)


if __name__ == "__main__":
    main()
