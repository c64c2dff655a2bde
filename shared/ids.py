"""Identifiers two services must agree on before any event travelled between them."""

import uuid

_APPROVAL_TASKS = uuid.UUID("5d1c3a52-7b0e-4c57-9f3e-2f4b1a6e0c11")  # namespace of approval task ids


def approval_task_id(item_id: str) -> str:
    """The approval task of an application item: the same in acceptance (the submit response names it)
    and in approval (which opens it on application.accepted), so a caller can use it at once."""
    return str(uuid.uuid5(_APPROVAL_TASKS, item_id))
