"""Run benchmarks by name (each module here with a ``main()``); by default the hot paths (``make bench``).

    .venv/bin/python -m benchmarks.run [--quick]                  hot_paths: the one table (docs/performance.md)
    .venv/bin/python -m benchmarks.run ticketing_day [--speed 0]   any other module by name, its own flags

The older in-process benchmarks (forms_prefill, ticketing_day, ticketing_wait_sim) stay runnable by name;
they are not in the default run because the day replay and the wait simulation take many minutes.
"""

import importlib
import pkgutil
import sys
import time

import benchmarks

DEFAULT = ["hot_paths"]


def runnable() -> list[str]:
    """The modules of this folder that have a ``main()``."""
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name != "run")
    return [n for n in names if hasattr(importlib.import_module(f"benchmarks.{n}"), "main")]


def main() -> None:
    args = sys.argv[1:]
    if args and not args[0].startswith("-") and args[0] not in runnable():
        raise SystemExit(f"no benchmark {args[0]!r}; one of: {', '.join(runnable())}")
    names = [a for a in args if not a.startswith("-") and a in runnable()] or DEFAULT
    flags = [a for a in args if a not in names]
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name} ==", flush=True)
        started = time.perf_counter()
        sys.argv = [f"benchmarks.{name}", *flags]  # each module parses its own flags
        module.main()
        print(f"({name} took {time.perf_counter() - started:.1f}s)\n", flush=True)


if __name__ == "__main__":
    main()
