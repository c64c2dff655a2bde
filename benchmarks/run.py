"""Run every benchmark module in this folder (each has a ``main()``) and print its figures."""

import importlib
import pkgutil
import sys
import time

import benchmarks


def main() -> None:
    only = set(sys.argv[1:])
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if info.name == "run" or (only and info.name not in only):
            continue
        module = importlib.import_module(f"benchmarks.{info.name}")
        if not hasattr(module, "main"):
            continue
        print(f"== {info.name} ==", flush=True)
        started = time.perf_counter()
        module.main()
        print(f"({info.name} took {time.perf_counter() - started:.1f}s)\n", flush=True)


if __name__ == "__main__":
    main()
