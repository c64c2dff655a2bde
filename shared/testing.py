"""Test support shared by the test suites and benchmarks: a running app, fresh valid identifiers."""

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from shared.infra import wait_for
from shared.validators import id_number_check_digit, uscc_check_char

_rng = random.Random()
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@asynccontextmanager
async def running(app: FastAPI, *, ready_timeout: float = 60.0) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and give a client (``client.app`` is the app); returns once migrations ran
    and every consumer joined its group."""
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        name = runtime.settings.service_name
        await wait_for(lambda: runtime.started, timeout=ready_timeout, message=f"{name} start")
        await wait_for(
            lambda: all(c.running for c in runtime.consumers), timeout=ready_timeout, message=f"{name} consumers"
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def new_id_number(*, born: str | None = None, male: bool | None = None) -> str:
    """A fresh valid resident ID number (GB 11643); ``born`` as YYYYMMDD, sex from the 17th digit."""
    born = born or f"{_rng.randint(1950, 2000)}{_rng.randint(1, 12):02d}{_rng.randint(1, 28):02d}"
    sex = _rng.randrange(2) if male is None else (1 if male else 0)
    first17 = f"4420{_rng.randrange(100):02d}{born}{_rng.randrange(100):02d}{_rng.randrange(5) * 2 + sex}"
    return first17 + id_number_check_digit(first17)


def new_credit_code() -> str:
    """A fresh valid unified social credit code (GB 32100)."""
    first17 = "91442000" + "".join(_rng.choice(_USCC_ALPHABET) for _ in range(9))
    return first17 + uscc_check_char(first17)
