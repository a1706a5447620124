"""Client acknowledgements: the signed link in each confirmation, affirm and dispute.

The token is the capability: ``itsdangerous`` signs (notice id, client id, expiry) with
HMAC-SHA256 under a key derived from the service key, and checks the signature in
constant time, so a forged or altered link is refused without a database lookup. It
is Flask's own signing library, already installed with it. Every state change is audited
with the channel (link or API), the actor, the time and the client's reason; a dispute
escalates to support; producers subscribed to status webhooks hear of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifier.models import Notice
from notifier.notices.escalation import escalate_dispute
from notifier.notices.kinds import CONFIRMING_KINDS
from notifier.notices.status_events import notice_changed
from notifier.notices.tracking import move_notice
from notifier.runtime import Runtime
from notifier.secrets import remember_secret
from notifier.states import NoticeStatus

_SALT = "notifier.ack.v1"
# The client's word → the notice state (FIX ConfirmationAck AffirmStatus).
ANSWERS = {"affirmed": NoticeStatus.ACKNOWLEDGED, "disputed": NoticeStatus.DISPUTED}
ANSWER_OF = {state: answer for answer, state in ANSWERS.items()}
REASON_CODES = (
    "wrong_quantity",
    "wrong_price",
    "wrong_account",
    "wrong_instrument",
    "not_my_trade",
    "other",
)
CHANNELS = ("link", "api", "support")
_ACKABLE = {
    NoticeStatus.DELIVERED,
    NoticeStatus.PARTIALLY_DELIVERED,
    NoticeStatus.ACKNOWLEDGED,
    NoticeStatus.DISPUTED,
}


class AckRefused(Exception):
    """The link cannot be used; ``code`` says why, ``status`` is the HTTP answer."""

    def __init__(self, status: int, code: str, message: str, replaced_by: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.replaced_by = status, code, message, replaced_by


@dataclass(frozen=True)
class AckToken:
    notice_id: int
    client_id: str
    expires_at: datetime


@dataclass
class AckResult:
    notice_id: int
    status: str
    acked_at: datetime | None
    # Escalations and status notices written: enqueue them after the commit.
    notice_ids: list[int] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "notice_id": self.notice_id,
            "status": self.status,
            "affirm_status": ANSWER_OF.get(NoticeStatus(self.status)),
            "acked_at": self.acked_at.isoformat() if self.acked_at else None,
        }


def _serializer(runtime: Runtime) -> URLSafeSerializer:
    return URLSafeSerializer(runtime.settings.secret_key, salt=_SALT)


def make_token(runtime: Runtime, notice_id: int, client_id: str, expires_at: datetime) -> str:
    token = _serializer(runtime).dumps([notice_id, client_id, int(expires_at.timestamp())])
    remember_secret(token)  # a capability: never in a log line
    return str(token)


def read_token(runtime: Runtime, token: str) -> AckToken:
    """Check the signature (no database) and the expiry; raise AckRefused if either fails."""
    try:
        notice_id, client_id, expires = _serializer(runtime).loads(token)
        token_data = AckToken(int(notice_id), str(client_id), datetime.fromtimestamp(expires, UTC))
    except (BadSignature, ValueError, TypeError):
        raise AckRefused(400, "invalid_token", "This link is not valid.") from None
    remember_secret(token)
    if token_data.expires_at <= runtime.clock():
        raise AckRefused(410, "token_expired", "This link has expired.")
    return token_data


def ack_url(runtime: Runtime, notice: Notice) -> str | None:
    """The acknowledgement link of a client confirmation; None for other notices."""
    if notice.kind not in CONFIRMING_KINDS or notice.client_id.startswith("@"):
        return None
    expires = notice.created_at + timedelta(seconds=runtime.settings.ack_token_ttl_seconds)
    token = make_token(runtime, notice.id, notice.client_id, expires)
    return f"{runtime.settings.public_base_url.rstrip('/')}/ack/{token}"


def load_notice(
    session: Session, notice_id: int, client_id: str | None = None, *, lock: bool = False
) -> Notice:
    """The notice a valid token names; refuse a replaced one, naming its replacement."""
    notice = session.get(Notice, notice_id, with_for_update=lock)
    if notice is None or (client_id is not None and notice.client_id != client_id):
        raise AckRefused(404, "not_found", "This confirmation does not exist.")
    if notice.status == NoticeStatus.SUPERSEDED:
        replacement = session.scalar(
            select(Notice.id).where(Notice.supersedes_id == notice.id).order_by(Notice.id.desc())
        )
        raise AckRefused(
            409,
            "notice_replaced",
            "This confirmation was replaced by a newer notice; answer that one instead.",
            replaced_by=replacement,
        )
    return notice


def acknowledge(
    session: Session,
    runtime: Runtime,
    notice_id: int,
    status: str,
    *,
    channel: str,
    actor: str,
    reason_code: str | None = None,
    reason: str | None = None,
) -> AckResult:
    """Record a client's affirmation or dispute of a delivered confirmation.

    A repeat of the current answer changes nothing and answers the same. The support
    console calls this too (``channel="support"``, the agent as ``actor``).
    """
    notice = load_notice(session, notice_id, lock=True)
    target = ANSWERS[status]
    if notice.status == target:
        return AckResult(notice.id, notice.status, notice.acked_at)
    if notice.status not in _ACKABLE:
        raise AckRefused(409, "not_delivered", "This confirmation has not been delivered yet.")
    now = runtime.clock()
    before = notice.status
    said = "; ".join(p for p in (f"via {channel}", reason_code, reason) if p)
    move_notice(session, notice, target, actor, said, at=now)
    notice.acked_at = now
    created = notice_changed(session, runtime, notice, before, reason)
    if target == NoticeStatus.DISPUTED:
        created.extend(escalate_dispute(session, runtime, notice, reason_code, reason))
    return AckResult(notice.id, notice.status, now, created)


def page_values(notice: Notice) -> dict[str, Any]:
    """What the acknowledgement page shows: the trade, its lane, the final time, the state."""
    context = notice.context
    answered = notice.status in (NoticeStatus.ACKNOWLEDGED, NoticeStatus.DISPUTED)
    return {
        "firm": context.get("firm") or {},
        "subject": notice.subject or "",
        "trade": context.get("trade") or {},
        "finality": context.get("finality"),
        "affirm_by": notice.affirm_by.isoformat() if notice.affirm_by else None,
        "status": notice.status,
        "answered": answered,
        "acked_at": notice.acked_at.isoformat() if notice.acked_at else None,
        "reason_codes": REASON_CODES,
    }
