"""Email delivery over SMTP (stdlib smtplib in a worker thread), TLS when configured."""

import asyncio
import smtplib
import ssl
from email.message import EmailMessage

from aggregator.core.settings import Settings
from alerts.webhook import DeliveryFailed


def compose(settings: Settings, to: str, payload: dict[str, object]) -> EmailMessage:
    """Subject and body carry the alert id, rule, severity and link; nothing about the child."""
    alert = payload["alert"]
    assert isinstance(alert, dict)
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = f"[{str(alert['severity']).upper()}] safeguarding alert: {alert['rule']}"
    msg["X-Aggregator-Delivery"] = str(payload["delivery_id"])
    msg.set_content(
        f"A safeguarding alert needs your attention ({payload['event']}).\n\n"
        f"Alert: {alert['id']}\nRule: {alert['rule']}\nSeverity: {alert['severity']}\n\n"
        f"Open it in the dashboard (sign-in required): {payload['link']}\n"
    )
    return msg


def _send(settings: Settings, msg: EmailMessage) -> None:
    if not settings.smtp_host:
        raise DeliveryFailed("email is not configured (AGGREGATOR_SMTP_HOST)")
    context = ssl.create_default_context()
    timeout = settings.webhook_timeout_seconds
    try:
        smtp: smtplib.SMTP
        if settings.smtp_ssl:
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host, settings.smtp_port, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=context)
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP error: {type(exc).__name__}") from exc


async def send(settings: Settings, to: str, payload: dict[str, object]) -> None:
    await asyncio.to_thread(_send, settings, compose(settings, to, payload))
