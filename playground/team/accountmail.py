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

The sending is bounded: one sender thread per process, and at most WAITING_LIMIT messages waiting
for it. allauth's limits hold per address and per account, not across addresses, so someone asking
resets for many addresses fills the wait, and then further messages are dropped with a log line
(the answer stays the same) rather than each taking a thread or memory without end.

A changed address replaces the old one only once the link sent to the new one is opened. allauth
does that for a confirmed current address, but takes a never-confirmed one (every account made
before allauth, see migration 0012) for an earlier unfinished change and deletes it at once,
leaving the account with no address until the link is opened. Here it stays until then.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time

from allauth.account.forms import AddEmailForm as _AddEmailForm
from allauth.account.internal.flows.email_verification import send_verification_email_to_address
from allauth.account.models import EmailAddress
from django.core.mail import EmailMessage
from django.db import connections, transaction
from django.http import HttpRequest

log = logging.getLogger(__name__)


# Messages written and waiting for the process's one sender thread; beyond this, new ones are dropped.
WAITING_LIMIT = 100
# At a process's orderly exit, how long what is still waiting may take to go out.
EXIT_WAIT_SECONDS = 10.0

_waiting: queue.Queue[EmailMessage] = queue.Queue(maxsize=WAITING_LIMIT)
_sender: threading.Thread | None = None
_starting = threading.Lock()


def send_after_answer(message: EmailMessage) -> None:
    """Hand an already written message to the sender thread, so the page answers without waiting."""
    _start_sender()
    try:
        _waiting.put_nowait(message)
    except queue.Full:
        log.error(
            "An account e-mail was dropped: %d are already waiting for the mail server (the limit).",
            WAITING_LIMIT,
        )


def wait_until_sent(timeout: float) -> bool:
    """Whether everything handed over was sent (or failed) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with _waiting.all_tasks_done:
        while _waiting.unfinished_tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _waiting.all_tasks_done.wait(left)
    return True


def sender_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "account-mail")


def _start_sender() -> None:
    global _sender
    with _starting:
        if _sender is None or not _sender.is_alive():
            _sender = threading.Thread(target=_run, name="account-mail", daemon=True)
            _sender.start()


def _run() -> None:
    while True:
        message = _waiting.get()
        try:
            _send(message)
        finally:
            _waiting.task_done()


def _send(message: EmailMessage) -> None:
    try:
        message.send()
    except Exception as exc:  # a mail server refusing or away: the person asks again
        log.error("A password reset e-mail could not be sent (%s).", type(exc).__name__)
    finally:
        connections.close_all()  # this thread's own, if anything opened one


atexit.register(wait_until_sent, EXIT_WAIT_SECONDS)


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
