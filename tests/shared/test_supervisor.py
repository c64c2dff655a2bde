"""make run's supervisor: an exited child is restarted after a growing delay, and a crash loop is given up on
with one clear line (real child processes; the clock is passed in so the test does not wait)."""

import subprocess
import sys

from shared.supervisor import RestartPolicy, Supervised


def _crashing() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])


def _settle(s: Supervised) -> None:
    assert s.process is not None
    s.process.wait(10)


def test_an_exited_child_is_restarted_with_growing_backoff_then_given_up() -> None:
    said: list[str] = []
    s = Supervised("approval", start=_crashing, say=said.append, log_hint="; see approval.log",
                   policy=RestartPolicy(initial=1, maximum=4, limit=3, window=60))
    s.launch()
    now, delays = 0.0, []
    for _ in range(3):
        _settle(s)
        s.poll(now)  # notices the exit, schedules the restart
        delays.append(float(said[-1].split("restarting in ")[1].split(" s")[0]))
        s.poll(now + delays[-1] - 0.01)  # too early: nothing happens
        assert not s.alive() and "restarted" not in said[-1]
        now += delays[-1]
        s.poll(now)  # starts it again
        assert said[-1].startswith("approval restarted (pid ")
    assert delays == [1, 2, 4]
    _settle(s)
    s.poll(now)
    assert s.gave_up
    assert said[-1] == (
        "approval keeps crashing (exit code 3; 3 restarts in the last 60 s): giving up on it; see approval.log"
    )
    s.poll(now + 100)  # given up: no more restarts
    assert said[-1].startswith("approval keeps crashing")


def test_restarts_outside_the_window_do_not_count_towards_giving_up() -> None:
    said: list[str] = []
    s = Supervised("forms", start=_crashing, say=said.append, policy=RestartPolicy(initial=1, limit=2, window=10))
    s.launch()
    now = 0.0
    for _ in range(5):  # one crash every 30 s: never two in a 10 s window
        _settle(s)
        s.poll(now)
        now += 30
        s.poll(now)
    assert not s.gave_up
    assert sum("restarted (pid" in line for line in said) == 5


def test_a_start_that_fails_counts_as_a_crash_and_is_retried() -> None:
    said: list[str] = []
    attempts = []

    def start() -> subprocess.Popen[bytes]:
        attempts.append(1)
        if len(attempts) == 2:
            raise RuntimeError("port 9092 is already in use")
        return _crashing()

    s = Supervised("broker", start=start, say=said.append, policy=RestartPolicy(initial=1, limit=5, window=60))
    s.launch()
    _settle(s)
    s.poll(0)
    s.poll(1)  # the restart fails
    assert "broker could not start: port 9092 is already in use" in said
    s.poll(1)
    s.poll(10)  # retried after the backoff
    assert len(attempts) == 3 and said[-1].startswith("broker restarted")
