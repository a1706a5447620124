"""Intake: accept an event (idempotency, ordering) and apply the event rules."""
