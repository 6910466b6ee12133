"""The SMTP adapter against a real local SMTP server (aiosmtpd): STARTTLS with login, implicit TLS,
plain; the certificate is verified; refusals are told apart from an unreachable server."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from adapters.mail import MailError, SmtpConfig, SmtpMailer, build_message

SUBJECT = "Rappel : documents à fournir avant le 15/06/2026 pour l'appareil STP10.0-3AV-40 n° 3663300762"
BODY = "Bonjour,\n\nMerci de télécharger la facture et le procès-verbal de mise en service avant le 15/06/2026.\n" * 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"mailer", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl is part of every Debian system)."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make a test certificate"
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def serve(inbox: Inbox, **kwargs: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(inbox: Inbox, certificate: tuple[Path, Path]) -> Iterator[int]:
    yield from serve(inbox, tls_context=server_context(certificate), require_starttls=True,
                     authenticator=authenticator, auth_require_tls=True)


@pytest.fixture
def plain_server(inbox: Inbox) -> Iterator[int]:
    yield from serve(inbox)


def message(recipient: str = "contact@soleil.example") -> EmailMessage:
    return build_message(from_address="Cashback <cashback@maker.example>", recipient=recipient, subject=SUBJECT,
                         body=BODY, message_id="<0b6f6c1e-2b55-5b8e-9a31-3e7c2b1d9f00@cashback.local>",
                         date=datetime(2026, 6, 12, 8, 0, tzinfo=ZoneInfo("Europe/Paris")))


def test_starttls_with_login_delivers_the_message_as_written(inbox: Inbox, starttls_server: int,
                                                             certificate: tuple[Path, Path]) -> None:
    config = SmtpConfig("127.0.0.1", starttls_server, "starttls", "mailer", "s3cret", ca_file=certificate[0])
    with SmtpMailer(config) as mailer:
        mailer.send(message())
    (received,) = inbox.messages
    assert received["Subject"] == SUBJECT, "no double space from header folding"
    assert received["Message-ID"] == "<0b6f6c1e-2b55-5b8e-9a31-3e7c2b1d9f00@cashback.local>"
    assert received["Date"] == "Fri, 12 Jun 2026 08:00:00 +0200"
    assert received["Auto-Submitted"] == "auto-generated"
    assert str(received.get_content()).replace("\r\n", "\n") == BODY
    assert inbox.envelopes == [("cashback@maker.example", ["contact@soleil.example"])]


def test_a_wrong_password_is_a_session_failure(starttls_server: int, certificate: tuple[Path, Path]) -> None:
    config = SmtpConfig("127.0.0.1", starttls_server, "starttls", "mailer", "wrong", ca_file=certificate[0])
    with pytest.raises(MailError, match="535") as caught, SmtpMailer(config) as mailer:
        mailer.send(message())
    assert caught.value.connection is True


def test_an_untrusted_certificate_is_refused(starttls_server: int) -> None:
    config = SmtpConfig("127.0.0.1", starttls_server, "starttls", "mailer", "s3cret")
    with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"), SmtpMailer(config) as mailer:
        mailer.send(message())


def test_login_is_never_sent_over_a_plain_connection_when_starttls_is_required(starttls_server: int) -> None:
    config = SmtpConfig("127.0.0.1", starttls_server, "none", "mailer", "s3cret")
    with pytest.raises(MailError), SmtpMailer(config) as mailer:
        mailer.send(message())


def test_implicit_tls(inbox: Inbox, certificate: tuple[Path, Path]) -> None:
    for port in serve(inbox, ssl_context=server_context(certificate)):
        config = SmtpConfig("127.0.0.1", port, "tls", ca_file=certificate[0])
        with SmtpMailer(config) as mailer:
            mailer.send(message())
    assert [m["Subject"] for m in inbox.messages] == [SUBJECT]


def test_a_refused_recipient_is_not_a_server_failure(inbox: Inbox, plain_server: int) -> None:
    with SmtpMailer(SmtpConfig("127.0.0.1", plain_server, "none")) as mailer:
        with pytest.raises(MailError, match="550") as caught:
            mailer.send(message("nobody@soleil.example"))
        assert caught.value.connection is False
        mailer.send(message())  # the session goes on
    assert len(inbox.messages) == 1


def test_an_unreachable_server_is_a_connection_failure() -> None:
    with pytest.raises(MailError, match="Connection refused") as caught, \
            SmtpMailer(SmtpConfig("127.0.0.1", free_port(), "none", timeout=5)) as mailer:
        mailer.send(message())
    assert caught.value.connection is True


def test_the_password_never_shows_in_the_configuration_text() -> None:
    config = SmtpConfig("smtp.example", 587, "starttls", "mailer", "s3cret")
    assert "s3cret" not in repr(config) and "s3cret" not in str(config)
