"""The invitation e-mail: one plain-text message with the join link, who invited, the role and the expiry.

With a mail server (EMAIL_URL, so settings.EMAIL_SENDS) the message goes out through it. Without one
(the demo, `dev.py start`), Django's file backend writes it to settings.EMAIL_FILE_PATH (var/mail/)
and the caller shows the admin the link to pass on by hand, so a one-box team still works. A mail
server that refuses or cannot be reached is answered the same way, with the reason.

The link holds the invitation's token, the only copy of it outside the message: it is never logged.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date

from playground.team.models import ROLE_SENTENCES, Invitation, Role

log = logging.getLogger(__name__)

FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
NO_MAIL_SERVER = "No mail server is set up (EMAIL_URL), so send this link yourself:"


@dataclass(frozen=True)
class Delivery:
    """What became of one invitation message."""

    link: str
    mailed: bool  # handed to the mail server
    problem: str = ""  # when not mailed: the sentence to show the admin before the link


def join_link(token: str, request: HttpRequest | None) -> str:
    """The absolute join link: on the address the admin reached the site by, else SITE_URL."""
    path = reverse("team_join", args=[token])
    return request.build_absolute_uri(path) if request is not None else f"{settings.SITE_URL}{path}"


def when(moment: datetime) -> str:
    return format_date(timezone.localtime(moment), "j F Y, H:i T")


def inviter_name(invitation: Invitation) -> str:
    person = invitation.invited_by
    if person is None:
        return "Your team's admin"
    return person.get_full_name() or person.get_username()


def message_for(invitation: Invitation, link: str) -> EmailMessage:
    role = Role(invitation.role)
    inviter = inviter_name(invitation)
    body = (
        "Hello,\n\n"
        f"{inviter} invited you to join the team on Video Playground as {article(role.label)} "
        f"{role.label.lower()}.\n"
        f"{ROLE_SENTENCES[role]}\n\n"
        "Open this link to choose your username and password:\n\n"
        f"{link}\n\n"
        f"The link works once and expires on {when(invitation.expires_at)}. "
        "If it has expired, ask for a new one.\n"
        "If you did not expect this invitation, you can ignore this message.\n"
    )
    return EmailMessage(
        subject=f"{inviter} invited you to Video Playground",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
    )


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def send_invitation(invitation: Invitation, token: str, request: HttpRequest | None) -> Delivery:
    """Send (or, with no mail server, write to var/mail/) the invitation; never raises for the mail."""
    link = join_link(token, request)
    message = message_for(invitation, link)
    if not settings.EMAIL_SENDS:
        message.connection = get_connection(FILE_BACKEND, file_path=str(settings.EMAIL_FILE_PATH))
        message.send()
        return Delivery(link, mailed=False, problem=NO_MAIL_SERVER)
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        # The reason, never the message (it holds the link).
        reason = smtp_reason(error)
        log.warning("The invitation e-mail (invitation %s) was not sent: %s", invitation.pk, reason)
        return Delivery(
            link,
            mailed=False,
            problem=f"The mail server did not take the message ({reason}), so send this link yourself:",
        )
    return Delivery(link, mailed=True)


def smtp_reason(error: smtplib.SMTPException | OSError) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "it refused the address"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "it refused the user name or password in EMAIL_URL"
    if isinstance(error, smtplib.SMTPException):
        return f"it answered {type(error).__name__}"
    if isinstance(error, TimeoutError):
        return "it did not answer in time"
    if isinstance(error, ConnectionRefusedError):
        return "nothing answered at EMAIL_URL's address"
    return f"it could not be reached: {error.strerror or type(error).__name__}"
