"""Benchmarks print figures; they are not tests (make bench)."""
