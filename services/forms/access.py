"""Who may read whose data: the applicant access and identifier checks, and the record of every read."""

from sqlalchemy.ext.asyncio import AsyncSession

from services.forms import repository
from shared.auth import Principal, Role
from shared.events.envelope import PersonalDataViewed
from shared.problems import FieldError, Forbidden, Unprocessable
from shared.validators import check_credit_code, check_id_number

STAFF_READERS = (Role.CLERK, Role.SERVICE)


def check_applicant_access(
    principal: Principal, applicant_id: str, *, staff: tuple[str, ...] = STAFF_READERS
) -> None:
    """Staff in ``staff`` roles may read anyone; an applicant only their own data."""
    if principal.has(*staff):
        return
    if principal.applicant_id is None or principal.applicant_id != applicant_id:
        raise Forbidden("an applicant may only read their own data")


def check_applicant_id(applicant_id: str, *, field: str = "applicant_id") -> str:
    """The applicant's type, or a field-level 422 for an identifier that is neither kind."""
    if check_id_number(applicant_id) is None:
        return "natural_person"
    if check_credit_code(applicant_id) is None:
        return "legal_person"
    raise Unprocessable(
        "applicant_id is not a valid identifier",
        errors=[
            FieldError(
                field=field,
                message="must be a resident ID number (GB 11643) or a unified social credit code (GB 32100)",
            )
        ],
    )


async def record_read(
    session: AsyncSession,
    *,
    principal: Principal,
    applicant_id: str,
    purpose: str,
    application_ref: str | None,
    subject: str | None,
    outcome: str = "read",
) -> None:
    """Record that ``principal`` read the applicant's data, and why (in the caller's transaction);
    ``outcome`` ``refused`` for a read that was not allowed."""
    await repository.add_read(
        session,
        applicant_id=applicant_id,
        reader=principal.sub,
        roles=sorted(principal.roles),
        purpose=purpose,
        application_ref=application_ref,
        subject=subject,
        outcome=outcome,
    )


async def record_viewed_elsewhere(session: AsyncSession, *, event: PersonalDataViewed, service: str) -> None:
    """Record a read another service reported (``application.viewed``, ``approval.task_viewed``,
    ``licence.viewed``) in the applicant's access log, with the reader's hall or department."""
    await repository.add_read(
        session,
        applicant_id=event.applicant_id[:32],
        reader=event.reader,
        roles=event.roles,
        purpose=event.purpose[:30],
        application_ref=event.application_ref[:64] if event.application_ref else None,
        subject=event.subject[:64] if event.subject else None,
        hall=event.hall,
        department=event.department,
        service=service,
        at=event.at,
    )
