"""allauth's limits per address count each person's own address, also behind the proxy, and the
answer at the limit is a page that says the rule and the number."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from playground.lib.http import too_many_tries

pytestmark = pytest.mark.django_db

SIGN_IN = "/sign-in/"


def sign_in_once(client: Client, n: int, **headers: Any) -> int:
    # A new name each time, so the wrong-password lockout (per name and address) never answers.
    return client.post(SIGN_IN, {"login": f"nobody{n}", "password": "not it"}, **headers).status_code


def test_the_limit_counts_each_address_behind_the_proxy_and_says_the_rule(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    limit = settings.SIGN_INS_PER_MINUTE_PER_ADDRESS
    client = Client(REMOTE_ADDR="127.0.0.1")
    first: dict[str, Any] = {"HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert {sign_in_once(client, n, **first) for n in range(limit)} == {200}
    refused = client.post(SIGN_IN, {"login": "someone", "password": "not it"}, **first)
    assert refused.status_code == 429
    page = refused.content.decode()
    assert too_many_tries() in page.replace("&#x27;", "'")
    assert f"at most {limit} a minute from one address" in page
    assert "<h1>Too many tries in a short time</h1>" in page and "<main" in page  # the site's own page
    # Another person behind the same proxy still signs in: the count is per address, not per proxy.
    assert sign_in_once(client, 0, HTTP_X_FORWARDED_FOR="203.0.113.9") == 200
    # htmx gets the sentence alone.
    htmx = client.post(SIGN_IN, {"login": "x", "password": "y"}, HTTP_HX_REQUEST="true", **first)
    assert (htmx.status_code, htmx.content.decode()) == (429, too_many_tries())


def test_a_forged_header_from_outside_the_proxies_does_not_pick_the_count(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    limit = settings.SIGN_INS_PER_MINUTE_PER_ADDRESS
    client = Client(REMOTE_ADDR="192.0.2.50")
    for n in range(limit):
        assert sign_in_once(client, n, HTTP_X_FORWARDED_FOR=f"198.51.100.{n + 1}") == 200
    assert sign_in_once(client, limit, HTTP_X_FORWARDED_FOR="198.51.100.200") == 429
