"""The one wrapper around Apprise: build, send, and turn its result into an Outcome.

Nothing else in notifier constructs ``apprise.Apprise``. The outcome comes from the
structured ``AppriseResult`` (status, per-attempt timing, captured log entries),
never from parsing log text; any text kept is redacted first.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import apprise
from apprise import AppriseResultStatus, NotifyFormat
from apprise.plugins import url_to_dict
from apprise.plugins.base import NotifyBase
from apprise.plugins.email import NotifyEmail

from notifier.delivery import webhook
from notifier.delivery.email import MailParts, NotifyMimeEmail
from notifier.delivery.targets import TargetPolicy, TargetRefused
from notifier.retry import parse_retry_after
from notifier.secrets import redact
from notifier.states import AttemptOutcome

log = logging.getLogger(__name__)


# The attempt's error starts with this when the target check refused the send.
REFUSED_PREFIX = "target refused: "


class InvalidChannelURL(ValueError):
    """The URL names no Apprise service we can build."""


@dataclass(frozen=True)
class Message:
    """A rendered notice in every format a channel might want."""

    subject: str
    text: str
    html: str
    markdown: str
    payload: dict[str, object]  # the JSON document for signed webhooks


@dataclass(frozen=True)
class Outcome:
    """What one send did (an :class:`AttemptOutcome`)."""

    status: AttemptOutcome
    started_at: datetime
    finished_at: datetime
    error: str | None = None
    # The receiver's HTTP answer where the channel speaks HTTP to us (signed webhooks).
    http_status: int | None = None
    retry_after: float | None = None  # seconds, from a Retry-After header

    @property
    def ok(self) -> bool:
        return self.status == AttemptOutcome.SENT

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


def is_plain_webhook(url: str) -> bool:
    return urlsplit(url).scheme in {"http", "https"}


def privacy_form(url: str) -> str:
    """Return the URL as Apprise prints it with credentials hidden."""
    if is_plain_webhook(url):
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}/…"
    instance = apprise.Apprise.instantiate(url)
    if instance is None:
        raise InvalidChannelURL("not a URL any Apprise service understands")
    shown = instance.url(privacy=True)  # type: ignore[no-untyped-call]  # untyped in apprise
    return _mask_custom_parameters(str(shown))


def _mask_custom_parameters(url: str) -> str:
    """Hide the values of Apprise's custom headers and payload fields (``+X-Token=…``).

    Apprise's privacy form keeps them, but they often carry tokens.
    """
    parts = urlsplit(url)
    query = [
        (key, "****" if key[:1] in "+-:" else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _service(
    url: str,
    message: Message,
    secret: str | None,
    message_id: str,
    sender_name: str,
    timeout: float,
) -> NotifyBase:
    instance = apprise.Apprise.instantiate(url)
    if instance is None:
        raise InvalidChannelURL("not a URL any Apprise service understands")
    if type(instance) is NotifyEmail:
        # Apprise's SMTP plugin sends one body; ours sends both (see delivery/email.py).
        mail = MailParts(message.text, message.html, message_id, sender_name)
        return NotifyMimeEmail(mail=mail, **url_to_dict(url))  # type: ignore[no-untyped-call]  # untyped in apprise
    return instance


def _body_for(service: NotifyBase, message: Message) -> tuple[str, str]:
    # The format the service renders by default, or the one its URL asks for (?format=).
    # ``notify_format`` itself may be a tuple of formats (Apprise 2.2+), never compare it.
    wanted = service.resolve_format()
    if wanted == NotifyFormat.HTML:
        return message.html, NotifyFormat.HTML
    if wanted == NotifyFormat.MARKDOWN:
        return message.markdown, NotifyFormat.MARKDOWN
    return message.text, NotifyFormat.TEXT


def send(
    url: str,
    message: Message,
    *,
    secret: str | None = None,
    message_id: str = "",
    sender_name: str = "",
    timeout: float = 10.0,
    block_private: bool = False,
) -> Outcome:
    """Send ``message`` to one channel once and report what happened.

    ``message_id`` is the delivery's stable id (``webhook-id``, and the mail's
    ``Message-ID``); ``sender_name`` is the mail's ``From`` display name unless the
    channel URL names one. The target is checked again here, at send time
    (``delivery/targets.py``): what a name resolves to may have changed since registration.
    """
    started = datetime.now(UTC)
    try:
        TargetPolicy(block_private).check_url(url)
    except TargetRefused as exc:
        return Outcome(AttemptOutcome.FAILED, started, datetime.now(UTC), f"{REFUSED_PREFIX}{exc}")
    if is_plain_webhook(url):
        return _send_webhook(url, message, secret, message_id, timeout)
    try:
        service = _service(url, message, secret, message_id, sender_name, timeout)
    except InvalidChannelURL as exc:
        return Outcome(AttemptOutcome.FAILED, started, datetime.now(UTC), str(exc))
    # Apprise retries inside notify() are off: each call is one recorded attempt, and
    # our own schedule (notifier.retry, kept in the database) decides the next.
    body, body_format = _body_for(service, message)
    # A redirect would take the notice to an address nobody checked (issue 12: form://
    # followed a 302 to another port); a 3xx is a failed send.
    service.redirects = False
    if hasattr(service, "socket_read_timeout"):
        service.socket_read_timeout = timeout
        service.socket_connect_timeout = min(timeout, 5.0)
    apobj = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
    apobj.add(service)
    result = apobj.notify(
        body=body, title=message.subject, body_format=body_format, timeout=timeout + 5.0
    )
    with result:
        return _outcome(result, started)


def _send_webhook(
    url: str, message: Message, secret: str | None, message_id: str, timeout: float
) -> Outcome:
    """Our signed JSON document to a plain http(s) endpoint, under one total deadline."""
    body = json.dumps(message.payload, sort_keys=True, separators=(",", ":")).encode()
    started = datetime.now(UTC)
    answer = webhook.send(url, body, secret=secret, message_id=message_id, deadline=timeout)
    finished = datetime.now(UTC)
    retry_after = parse_retry_after(answer.retry_after, finished)
    error = redact(answer.error)[:1000] if answer.error else None
    return Outcome(answer.outcome, started, finished, error, answer.status, retry_after)


def _outcome(result: apprise.AppriseResult, started: datetime) -> Outcome:
    finished = datetime.now(UTC)
    if result.status == AppriseResultStatus.NOMATCH or not result.results:
        return Outcome(AttemptOutcome.NOTHING_SENT, started, finished, "no service was attempted")
    service_result = result.results[0]
    attempts = service_result.attempts
    if attempts:
        started, finished = attempts[0].start_time, attempts[-1].end_time
    if service_result.status == AppriseResultStatus.SUCCESS:
        return Outcome(AttemptOutcome.SENT, started, finished)
    status = (
        AttemptOutcome.TIMEOUT
        if service_result.status == AppriseResultStatus.TIMEOUT
        else AttemptOutcome.FAILED
    )
    reasons = [
        entry.message
        for entry in service_result.logs()
        if entry.level in {"WARNING", "ERROR", "CRITICAL"}
    ]
    reason = "; ".join(dict.fromkeys(reasons)) or f"{service_result.name} reported {status}"
    return Outcome(status, started, finished, redact(reason)[:1000])
