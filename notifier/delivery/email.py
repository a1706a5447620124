"""An Apprise email plugin that sends the notice's own text and HTML bodies as one mail.

Why not Apprise's own ``mailto://`` plugin as it is (2.2 and 2.3 alike):

- its ``notify_format`` is the tuple ``(HTML, TEXT)``, and given an HTML body it builds the
  ``text/plain`` part by converting that HTML (``convert_between``); it takes one body,
  so it cannot carry the text body we rendered for the notice;
- it sets ``Message-ID`` to a fresh ``make_msgid()`` on every send, after any header we
  pass (a ``Message-ID`` of ours would be sent twice), so a retried mail would not be the
  same message to the client's mail client.

So this subclass keeps everything Apprise parses from the URL (server, port, TLS mode,
credentials, From, To, Cc, Bcc, Reply-To) and its SMTP connection handling
(``AppriseSMTPController``), and builds the MIME message itself: ``multipart/alternative``
with both stored bodies, a ``Message-ID`` derived from the delivery's stable id, and a
``From`` display name from configuration. ``delivery/channels.py`` still builds the one
``apprise.Apprise`` that sends it and reads the outcome from ``AppriseResult``.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any

from apprise import NotifyFormat, NotifyType
from apprise.exception import AppriseImproperlyConfigured
from apprise.plugins.email import NotifyEmail
from apprise.plugins.email.smtp import AppriseSMTPController


@dataclass(frozen=True)
class MailParts:
    """What one mail carries besides its subject: both bodies and who it is from."""

    text: str
    html: str
    message_id: str  # the delivery's stable id: the same on every retry
    sender_name: str  # used when the channel URL names no sender itself


def _name(value: object) -> str:
    # Apprise keeps "no display name" as False.
    return value if isinstance(value, str) else ""


class NotifyMimeEmail(NotifyEmail):  # type: ignore[no-untyped-call]  # apprise leaves it untyped
    """Send one ``multipart/alternative`` mail per recipient over Apprise's SMTP controller."""

    # One format, not the base's (HTML, TEXT): Apprise then converts nothing it hands us.
    notify_format = NotifyFormat.TEXT  # type: ignore[assignment]  # see above
    # Each instance sends once (notifier builds one per attempt): no shared throttle.
    request_rate_per_sec = 0

    def __init__(self, *, mail: MailParts, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]  # apprise leaves it untyped
        self.mail = mail

    def send(
        self,
        body: Any,
        title: Any = "",
        notify_type: Any = NotifyType.INFO,
        attach: Any = None,
        body_format: Any = None,
        **kwargs: Any,
    ) -> bool:
        if not self.targets:
            self.logger.warning("There are no Email recipients to notify")
            return False
        try:
            with AppriseSMTPController(
                host=str(self.smtp_host),
                port=int(self.port or 25),
                secure_mode=str(self.secure_mode),
                user=self.user,
                password=self.password,
                verify_certificate=self.verify_certificate,
                # smtplib takes a float; Apprise's hint says int.
                socket_connect_timeout=self.socket_connect_timeout,  # type: ignore[arg-type]
            ) as smtp:
                return self._send_each(smtp, str(title))
        except (OSError, smtplib.SMTPException, RuntimeError, AppriseImproperlyConfigured) as exc:
            # The reason is kept without the server's text, which may echo credentials.
            self.logger.warning("Connection error while submitting email: %s", type(exc).__name__)
            return False
        except ValueError as exc:  # a header the URL supplied cannot be put in a mail
            self.logger.warning("The mail could not be composed: %s", type(exc).__name__)
            return False

    def _send_each(self, smtp: AppriseSMTPController, subject: str) -> bool:
        ok = True
        for to_name, to_addr in self.targets:
            cc = sorted(self.cc - self.bcc - {to_addr})
            bcc = sorted(self.bcc - {to_addr})
            message = self._compose(subject, (to_name, to_addr), cc)
            recipients = [to_addr, *cc, *bcc]
            if not smtp.sendmail(self._from_address(), recipients, message.as_string()):
                self.logger.warning("The SMTP server did not accept the mail.")
                ok = False
        return ok

    def _compose(self, subject: str, to: tuple[object, str], cc: list[str]) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = " ".join(subject.split())  # one header line (RFC 5322 2.2.3)
        message["From"] = formataddr((self._sender_name(), self._from_address()))
        message["To"] = formataddr((_name(to[0]), to[1]))
        if cc:
            message["Cc"] = ", ".join(formataddr((_name(self.names.get(a)), a)) for a in cc)
        reply_to = sorted(self.reply_to - {to[1]})
        if reply_to:
            message["Reply-To"] = ", ".join(
                formataddr((_name(self.names.get(a)), a)) for a in reply_to
            )
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = f"<{self.mail.message_id}@{self._id_domain()}>"
        for name, value in self.headers.items():  # the URL's own ``+Header=value`` entries
            if name.lower() not in {"subject", "from", "to", "cc", "date", "message-id"}:
                message[name] = value
        message.set_content(self.mail.text)
        message.add_alternative(self.mail.html, subtype="html")
        return message

    def _from_address(self) -> str:
        return str(self.from_addr[1])

    def _sender_name(self) -> str:
        # Apprise fills in its app id ("Apprise") when the URL names no sender.
        named = _name(self.from_addr[0])
        if named and named != self.app_id:
            return named
        return self.mail.sender_name

    def _id_domain(self) -> str:
        # The right side of a Message-ID names the sending domain (RFC 5322 3.6.4).
        return self._from_address().rpartition("@")[2] or str(self.smtp_host)
