"""The sign-in lockout behind a reverse proxy (playground/lib/clientip.py).

Behind nginx every request comes from the proxy's address. The lockout must count wrong
passwords per real client, from X-Forwarded-For, but only when the connection comes from a
configured trusted proxy; a client that connects directly cannot choose its address with the header.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from playground.lib.clientip import client_ip
from tests.factories import PASSWORD

PROXY = "10.0.0.2"
GUESSER, COLLEAGUE = "203.0.113.7", "198.51.100.20"


def sign_in(client: Client, password: str, *, remote: str, forwarded: str | None = None) -> int:
    extra: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    response = client.post(reverse("login"), {"login": "alice", "password": password}, **extra)
    return response.status_code


def guess_until_locked(client: Client, *, remote: str, forwarded: str | None = None) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong guess", remote=remote, forwarded=forwarded)
    assert sign_in(client, "wrong guess", remote=remote, forwarded=forwarded) == 429


def test_behind_a_trusted_proxy_one_clients_guesses_do_not_lock_out_the_others(user, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    guess_until_locked(Client(), remote=PROXY, forwarded=GUESSER)
    # The same member, through the same proxy, from another machine: signs in.
    assert sign_in(Client(), PASSWORD, remote=PROXY, forwarded=COLLEAGUE) == 302
    # The guesser stays locked out, even with the right password.
    assert sign_in(Client(), PASSWORD, remote=PROXY, forwarded=GUESSER) == 429


def test_a_client_cannot_pick_its_address_with_a_forged_header_through_the_proxy(user, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    # nginx appends the address it saw: "whatever the client wrote, real address".
    for forged in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"):
        sign_in(Client(), "wrong guess", remote=PROXY, forwarded=f"{forged}, {GUESSER}")
    assert sign_in(Client(), PASSWORD, remote=PROXY, forwarded=f"192.0.2.9, {GUESSER}") == 429
    assert sign_in(Client(), PASSWORD, remote=PROXY, forwarded=COLLEAGUE) == 302


def test_from_an_untrusted_address_the_forwarded_header_is_ignored(user, settings):
    settings.TRUSTED_PROXIES = [PROXY]
    # Connecting directly, a guesser rotates the header to escape the lockout: it is not believed.
    for forged in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5"):
        sign_in(Client(), "wrong guess", remote=GUESSER, forwarded=forged)
    assert sign_in(Client(), PASSWORD, remote=GUESSER, forwarded="192.0.2.77") == 429
    # ...nor can it spend someone else's allowance of wrong guesses: that address is untouched.
    assert sign_in(Client(), PASSWORD, remote=COLLEAGUE) == 302


def test_with_no_trusted_proxy_configured_the_header_is_ignored(user, settings):
    settings.TRUSTED_PROXIES = []
    guess_until_locked(Client(), remote="127.0.0.1", forwarded=GUESSER)
    assert sign_in(Client(), PASSWORD, remote="127.0.0.1", forwarded=COLLEAGUE) == 429


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        (PROXY, GUESSER, GUESSER),
        (PROXY, f"1.2.3.4, {GUESSER}", GUESSER),
        (PROXY, f"{GUESSER}, 10.0.0.9", GUESSER),  # two proxies of ours in a row (a /24 below)
        (PROXY, "", PROXY),
        (PROXY, "not-an-address", PROXY),
        (PROXY, "2001:db8::5", "2001:db8::5"),
        (GUESSER, COLLEAGUE, GUESSER),
    ],
)
def test_the_client_address_is_the_first_one_no_trusted_proxy_vouches_for(
    settings, rf, remote, forwarded, expected
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    request = rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
