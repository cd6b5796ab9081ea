"""Notification channels: e-mail through the configured SMTP server, Slack-compatible hooks."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from server.config import Settings


class NotifyError(Exception):
    """A channel failed; the message names the channel, never a secret."""


def send_email(settings: Settings, to: list[str], subject: str, body: str) -> None:
    if not settings.smtp_host:
        raise NotifyError("e-mail is not configured: set SIMPLETRUST_SMTP_HOST (and "
                          "SMTP_PORT, SMTP_FROM, SMTP_USERNAME/SMTP_PASSWORD as needed)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = subject.replace("\n", " ")[:300]
    message.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise NotifyError(f"SMTP {settings.smtp_host}:{settings.smtp_port}: "
                          f"{type(exc).__name__}") from None
