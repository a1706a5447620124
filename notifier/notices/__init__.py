"""Notices: the kinds and their plans, the outbox, escalations, resends, views."""
