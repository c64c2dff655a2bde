"""CPU seconds by part of the running stack (each service, PostgreSQL, the broker), to say where a load's
time goes: on a 2-core machine the sum per application is the system's ceiling (2 s / that sum)."""

import contextlib
import re
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the lock (types-psutil)

SERVICE = re.compile(r"services\.(\w+)\.main")


def _cpu(process: psutil.Process) -> float:
    with contextlib.suppress(psutil.Error):
        times = process.cpu_times()
        return float(times.user + times.system)
    return 0.0


def by_part(stack_pid: int, pgdata: Path) -> dict[tuple[str, int], float]:
    """CPU seconds used so far by each process of the stack, keyed by (part, pid): each service, PostgreSQL
    (postmaster and every backend) and the broker."""
    readings: dict[tuple[str, int], float] = {}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(stack_pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                line = " ".join(child.cmdline())
                match = SERVICE.search(line)
                name = match.group(1) if match else ("broker" if "broker" in line else None)
                if name:
                    readings[name, child.pid] = _cpu(child)
    with contextlib.suppress(OSError, ValueError, psutil.Error):
        postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
        for process in [postmaster, *postmaster.children(recursive=True)]:
            readings["postgres", process.pid] = _cpu(process)
    return readings


def spent(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]) -> dict[str, float]:
    """CPU seconds each part used between two readings of ``by_part``, process by process: a backend the
    pool opened in between counts whole; one that exited in between took its seconds with it (undercounts)."""
    parts: dict[str, float] = {}
    for (name, pid), seconds in after.items():
        parts[name] = parts.get(name, 0.0) + seconds - before.get((name, pid), 0.0)
    return parts
