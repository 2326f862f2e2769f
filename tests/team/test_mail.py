"""E-mail settings (EMAIL_URL) and delivery through a real SMTP server."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail

from playground.settings import email_settings
from tests.mailserver import links_in


def test_a_message_reaches_the_smtp_server_with_its_link(smtp_server):
    send_mail("Hello", "Open http://testserver/team/join/abc/ to join.", None, ["ann@example.com"])
    message = smtp_server.wait_for("ann@example.com")
    assert message["Subject"] == "Hello"
    assert links_in(message) == ["http://testserver/team/join/abc/"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False}),
        ("smtps://mail.example.com", {"EMAIL_PORT": 465, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": True}),
        ("smtp://relay:25?tls=off", {"EMAIL_PORT": 25, "EMAIL_USE_TLS": False, "EMAIL_HOST": "relay"}),
        (
            "smtp://me%40x.org:p%2Fw%3Ad@h:2525",
            {"EMAIL_HOST_USER": "me@x.org", "EMAIL_HOST_PASSWORD": "p/w:d"},
        ),
    ],
)
def test_email_url_is_read_into_djangos_smtp_settings(url, expected):
    found = email_settings(url)
    assert {key: found[key] for key in expected} == expected


@pytest.mark.parametrize(
    "url", ["http://mail.example.com", "smtp://", "smtp://h:99999", "smtp://h?tls=maybe"]
)
def test_a_bad_email_url_is_refused_without_echoing_the_password(url):
    with pytest.raises(ImproperlyConfigured) as refused:
        email_settings(url.replace("//", "//user:s3cret-pass@", 1) if "//h" in url else url)
    assert "s3cret-pass" not in str(refused.value)
    assert "EMAIL_URL" in str(refused.value)
