"""Forms HTTP endpoints (thin; rules live in service.py)."""

from typing import Any

from fastapi import APIRouter, Request

from services.forms import service
from shared.auth import Role, require
from shared.service_app import SessionDep

router = APIRouter(prefix="/catalog", tags=["catalogue"])


@router.post("/versions", status_code=201, dependencies=[require(Role.CATALOG_ADMIN)])
async def create_draft(body: dict[str, Any], session: SessionDep) -> dict[str, Any]:
    """Store a catalogue file as a new draft version."""
    version = await service.create_draft(session, content=body)
    return {"version": version.version, "status": version.status}


@router.post("/versions/{version}/publish", dependencies=[require(Role.CATALOG_ADMIN)])
async def publish(version: int, session: SessionDep, request: Request) -> dict[str, Any]:
    """Publish a draft: emits catalog.* events for every matter and bundle."""
    published = await service.publish(session, version=version, outbox=request.app.state.runtime.outbox)
    return {"version": published.version, "status": published.status}
