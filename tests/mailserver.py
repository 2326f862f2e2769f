"""A real SMTP server for the account tests: aiosmtpd on loopback, with the app's SMTP backend pointed at it.

The app sends through Django's own SMTP backend (EMAIL_URL's settings), so what a test reads is what a
mail server received: the raw message, parsed, with its links.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from playground.settings import email_settings


@dataclass
class Inbox:
    """Messages the server received, in order; `wait_for` blocks until one for an address arrives."""

    messages: list[EmailMessage] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd's hook
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def wait_for(self, address: str, *, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.to(address)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no message #{count} for {address} within {timeout} s")
                self.arrived.wait(left)
            return self.to(address)[count - 1]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    assert part is not None, "the message has no text part"
    return str(part.get_content())


def links_in(message: EmailMessage) -> list[str]:
    return re.findall(r"https?://[^\s<>\"']+", body_text(message))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[Inbox]:
    """Starts the server and points the app's mail at it (plain SMTP on loopback: tls=off)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for name, value in email_settings(f"smtp://127.0.0.1:{port}?tls=off").items():
        setattr(settings, name, value)
    settings.EMAIL_SENDS = True
    try:
        yield inbox
    finally:
        controller.stop()
