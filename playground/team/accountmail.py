"""Password reset and e-mail change by e-mail: where this team's flows differ from allauth's.

The reset answer is the same, and as quick, whether or not the address has an account. allauth's
own form already answers "if the address has an account, a link is on its way" in both
cases and sends nothing to an unknown address (ACCOUNT_PREVENT_ENUMERATION on,
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS off). But it sends the link before it answers, so the answer for
a known address waits for the mail server and the one for an unknown address does not: a stopwatch
would tell them apart, and a mail server that is down would turn only the known address's answer
into an error. Here (through the account adapter) the message is written during the request but
sent on a thread of its own, so the answer does not wait for the mail server; what is left to
tell the two apart is making the link and writing the message, a few milliseconds against the
hundreds a mail server takes. A failed send is logged (without the address or the link) and the
person, told to wait a few minutes, asks again.

A changed address replaces the old one only once the link sent to the new one is opened. allauth
does that for a confirmed current address, but takes a never-confirmed one (every account made
before allauth, see migration 0012) for an earlier unfinished change and deletes it at once,
leaving the account with no address until the link is opened. Here it stays until then.
"""

from __future__ import annotations

import logging
import threading

from allauth.account.forms import AddEmailForm as _AddEmailForm
from allauth.account.internal.flows.email_verification import send_verification_email_to_address
from allauth.account.models import EmailAddress
from django.core.mail import EmailMessage
from django.db import connections, transaction
from django.http import HttpRequest

log = logging.getLogger(__name__)


def send_after_answer(message: EmailMessage) -> None:
    """Send an already written message on a thread of its own, so the page answers without waiting."""
    threading.Thread(target=_send, args=(message,), name="account-mail").start()


def _send(message: EmailMessage) -> None:
    try:
        message.send()
    except Exception as exc:  # a mail server refusing or away: the person asks again
        log.error("A password reset e-mail could not be sent (%s).", type(exc).__name__)
    finally:
        connections.close_all()  # this thread's own, if anything opened one


class AddEmailForm(_AddEmailForm):  # type: ignore[misc]
    def save(self, request: HttpRequest) -> EmailAddress:
        current = EmailAddress.objects.filter(
            user_id=self.user.pk, email__iexact=self.user.email, verified=False
        ).first()
        if current is None or not self.user.email:
            return super().save(request)  # a confirmed address is kept until the new one is confirmed
        with transaction.atomic():
            for pending in EmailAddress.objects.filter(user_id=self.user.pk, verified=False).exclude(
                pk=current.pk
            ):
                pending.remove()  # an earlier change not confirmed: the newest ask wins
            new = EmailAddress.objects.create(user=self.user, email=self.cleaned_data["email"].lower())
        send_verification_email_to_address(request, new)
        return new
