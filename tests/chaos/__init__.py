"""Fault suite: the whole stack (``python -m shared run``) under broker, stack, service and database faults."""
