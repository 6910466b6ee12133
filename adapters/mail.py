"""Outgoing e-mail over SMTP (stdlib smtplib/email): STARTTLS, implicit TLS or none.

The Message-ID is given by the caller (deterministic, from the outbox), so a
message sent again after a crash carries the same id and receivers can
de-duplicate it.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ca_file: Path | None = None
    from_address: str = "Cashback <cashback@localhost>"

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig:
        return cls(
            host=settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,
            username=settings.smtp_username, password=settings.smtp_password, timeout=settings.smtp_timeout,
            ca_file=settings.smtp_ca_file, from_address=settings.mail_from,
        )

    def __repr__(self) -> str:  # never print the password
        return f"SmtpConfig(host={self.host!r}, port={self.port}, security={self.security!r}, user={self.username!r})"


class MailError(Exception):
    """A send failed. ``connection`` is True when the server itself is unreachable or broke the session
    (nothing else will go through now), False when only this message was refused."""

    def __init__(self, message: str, *, connection: bool) -> None:
        super().__init__(message)
        self.connection = connection


def build_message(
    *, from_address: str, recipient: str, subject: str, body: str, message_id: str, date: datetime,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body, charset="utf-8")  # quoted-printable, lines of 76 characters
    # Python folds a long header with non-ASCII words at 78 characters into "word \r\n =?utf-8?...?=",
    # which readers unfold into a double space: headers go out unfolded (RFC 5322 allows 998).
    message.policy = message.policy.clone(max_line_length=998)
    return message


class SmtpMailer:
    """One SMTP session: ``with SmtpMailer(config) as mailer: mailer.send(message)``."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.config.ca_file) if self.config.ca_file else None)

    def open(self) -> None:
        c = self.config
        try:
            if c.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self._tls_context())
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
            try:
                smtp.ehlo()
                if c.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if c.username:
                    smtp.login(c.username, c.password or "")
            except BaseException:
                smtp.close()
                raise
        except (OSError, smtplib.SMTPException) as error:
            raise MailError(f"SMTP {c.host}:{c.port} ({c.security}): {_describe(error)}", connection=True) from error
        self._smtp = smtp

    def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            self.open()
        assert self._smtp is not None
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise MailError(f"recipient refused: {_describe(error)}", connection=False) from error
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
            raise MailError(f"message refused: {_describe(error)}", connection=False) from error
        except (OSError, smtplib.SMTPException) as error:
            self.close()
            raise MailError(f"SMTP session failed: {_describe(error)}", connection=True) from error
        if refused:
            raise MailError(f"recipient refused: {refused}", connection=False)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"{error.smtp_code} {text}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                         for rcpt, (code, msg) in error.recipients.items())
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
