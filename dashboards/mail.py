"""Mail from the product (invitations, email reports), through ``AUDIENCE_SMTP_URL``.

``smtps://`` speaks TLS from the start; ``smtp://`` upgrades with STARTTLS when the server offers
it, and refuses to send a password over a connection it could not upgrade. Without the setting
nothing is sent, and the pages say so: a link is always there to copy.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from collector import AudienceError
from collector.settings import Settings

TIMEOUT_SECONDS = 10.0


class MailError(AudienceError):
    """The message could not be handed to the SMTP server; the message says why."""

    status = 502

    def __init__(self, message: str, reason: str = "") -> None:
        """``reason``: what went wrong without the addresses, for logs (the message by default)."""
        super().__init__(message)
        self.reason = reason or message


def configured(settings: Settings) -> bool:
    return settings.smtp_url is not None


def message(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    """A mail of ``text``; with ``html``, the same in both forms (multipart/alternative)."""
    sender = settings.mail_from or f"audience@{_host(settings)}"
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


def send(settings: Settings, mail: EmailMessage, recipients: Sequence[str] = ()) -> None:
    """Hand ``mail`` to the configured server, for ``recipients`` (the envelope's; by default
    the addresses of its headers); MailError when it cannot be."""
    if settings.smtp_url is None:
        raise MailError("no SMTP server is configured (AUDIENCE_SMTP_URL)")
    url = urlsplit(settings.smtp_url)
    secure = url.scheme.lower() == "smtps"
    host, port = url.hostname or "", url.port or (465 if secure else 25)
    context = ssl.create_default_context()
    try:
        client = (
            smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_SECONDS, context=context)
            if secure
            else smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS)
        )
        with client:
            client.ehlo()
            if not secure and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
                secure = True
            if url.username:
                if not secure:
                    raise MailError(f"{host} offers no STARTTLS: the password is not sent")
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(mail, to_addrs=list(recipients) or None)
    except (OSError, smtplib.SMTPException) as error:
        reason = _reason(error)
        whom = f"{len(recipients)} recipients" if len(recipients) > 1 else mail["To"]
        raise MailError(f"the mail to {whom} was not sent: {reason}", reason) from None


def _reason(error: OSError | smtplib.SMTPException) -> str:
    """What went wrong, without an address (a refusal of recipients lists them)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in error.recipients.values()})
        return f"every recipient was refused ({', '.join(codes)})"
    return str(error) or type(error).__name__


def _host(settings: Settings) -> str:
    return urlsplit(settings.smtp_url or "").hostname or "localhost"
