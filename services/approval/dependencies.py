"""Reusable request dependencies of the approval service."""

from typing import Annotated

from fastapi import Depends, Request

from services.approval.config import ApprovalSettings
from services.approval.deadlines import ServiceClock
from shared.auth import Principal, current_principal


async def get_clock(request: Request) -> ServiceClock:
    return request.app.state.clock


async def get_settings(request: Request) -> ApprovalSettings:
    return request.app.state.runtime.settings


ClockDep = Annotated[ServiceClock, Depends(get_clock)]
SettingsDep = Annotated[ApprovalSettings, Depends(get_settings)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
