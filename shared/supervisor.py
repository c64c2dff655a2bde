"""Restart what exits, with backoff, and give up clearly on a crash loop (``make run``'s children).

Hand-written rather than a process manager (supervisord, honcho): the stack must also stop its children
in a set order (services drain first, the broker goes last) and stay one ``python -m shared run``.
"""

import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    """Restart after ``initial`` s, doubling to ``maximum``; give up after ``limit`` restarts in ``window`` s."""

    initial: float = 1.0
    maximum: float = 30.0
    limit: int = 5
    window: float = 120.0

    def delay(self, recent: int) -> float:
        return min(self.initial * 2 ** max(recent - 1, 0), self.maximum)


@dataclass
class Supervised:
    """One child process: ``start()`` launches it; ``poll()`` restarts it when it has exited."""

    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    say: Callable[[str], None]
    log_hint: str = ""
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    on_restart: Callable[[], None] | None = None  # e.g. the broker came back empty
    process: subprocess.Popen[bytes] | None = None
    gave_up: bool = False
    start_failed: bool = False  # the last start raised: counts as an exit with no code
    restarts: deque[float] = field(default_factory=deque)
    _restart_at: float | None = None

    def launch(self) -> None:
        self.process, self.start_failed = self.start(), False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def poll(self, now: float | None = None) -> None:
        """Called periodically: notice an exit, schedule a restart, run it when its time has come."""
        if self.gave_up or (self.process is None and not self.start_failed):
            return
        now = time.monotonic() if now is None else now
        if self._restart_at is None:
            code = "none (it did not start)" if self.start_failed else self.process.poll() if self.process else None
            if code is None:
                return
            while self.restarts and now - self.restarts[0] > self.policy.window:
                self.restarts.popleft()
            if len(self.restarts) >= self.policy.limit:
                self.gave_up = True
                self.say(
                    f"{self.name} keeps crashing (exit code {code}; {len(self.restarts)} restarts in the last "
                    f"{self.policy.window:.0f} s): giving up on it{self.log_hint}"
                )
                return
            delay = self.policy.delay(len(self.restarts) + 1)
            self._restart_at = now + delay
            self.say(
                f"{self.name} exited with code {code}; restarting in {delay:.0f} s "
                f"(restart {len(self.restarts) + 1} of at most {self.policy.limit} in {self.policy.window:.0f} s)"
                f"{self.log_hint}"
            )
            return
        if now < self._restart_at:
            return
        self._restart_at = None
        self.restarts.append(now)
        try:
            self.launch()
        except Exception as exc:  # e.g. the port is still taken: counts as a crash, retried with backoff
            self.say(f"{self.name} could not start: {exc}")
            self.process, self.start_failed = None, True
            return
        self.say(f"{self.name} restarted (pid {self.pid})")
        if self.on_restart is not None:
            self.on_restart()

