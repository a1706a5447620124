"""Resend a notice on support's request: a marked copy, with the reason audited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from notifier.models import Notice
from notifier.notices.kinds import copy_plan
from notifier.notices.outbox import write_plans
from notifier.notices.tracking import audit
from notifier.runtime import Runtime
from notifier.states import NoticeStatus


class NoticeNotFound(LookupError):
    """No notice has this id."""


class CannotResend(Exception):
    """The notice is in a state where a copy would mislead; the message says why."""

    def __init__(self, message: str, replaced_by: int | None = None) -> None:
        super().__init__(message)
        self.replaced_by = replaced_by


@dataclass(frozen=True)
class Resent:
    notice_id: int
    resend_of: int


def resend_notice(runtime: Runtime, notice_id: int, reason: str, actor: str) -> Resent:
    """Write a copy of a sent notice (it says COPY) for all of the client's channels."""
    with runtime.db.session() as session:
        original = session.get(Notice, notice_id)
        if original is None:
            raise NoticeNotFound(notice_id)
        if original.status == NoticeStatus.SUPERSEDED:
            replaced_by = session.scalar(
                select(Notice.id).where(Notice.supersedes_id == original.id).order_by(Notice.id)
            )
            raise CannotResend("This notice was replaced; resend its replacement.", replaced_by)
        if original.status in (NoticeStatus.PENDING, NoticeStatus.RENDERED):
            raise CannotResend("This notice has not been sent yet; it is still on its way.")
        # Copies of copies point at the first notice, so one count numbers them all.
        first = original.resend_of_id or original.id
        copies = session.scalar(select(func.count()).where(Notice.resend_of_id == first)) or 0
        plan = copy_plan(original, first, copies + 1)
        (created,) = write_plans(session, runtime, [plan], original.event, actor)
        audit(
            session,
            "notice",
            original.id,
            "resend",
            original.status,
            original.status,
            actor,
            f"copy sent as notice {created.id}: {reason}",
            at=runtime.clock(),
        )
        audit(
            session,
            "notice",
            created.id,
            "resend_reason",
            None,
            None,
            actor,
            reason,
            at=runtime.clock(),
        )
        return Resent(notice_id=created.id, resend_of=first)
