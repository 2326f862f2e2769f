"""The client's address for the sign-in lockout, trusting X-Forwarded-For only from our own proxies.

Behind nginx every request arrives from the proxy's address, so a lockout keyed on REMOTE_ADDR
would lock a member out for the whole team. The forwarded header is believed only when the
connection itself comes from an address in TRUSTED_PROXIES; from anyone else it is ignored, so a
client cannot pick the address its wrong guesses are counted against.

Written here rather than through django-ipware (which django-axes can use): ipware decides from
the addresses written inside the forwarded header, not from who actually connected, so a client
that connects directly could still choose its own address with a forged header.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES must list addresses or networks ({exc}).") from None


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: Address | None, nets: tuple[Network, ...]) -> bool:
    return address is not None and any(address in net for net in nets)


def client_ip(request: HttpRequest) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    nets = _networks(tuple(settings.TRUSTED_PROXIES))
    if not nets or not _trusted(_address(remote or ""), nets):
        return remote
    # Each proxy appends the address it saw; walk from the right past our own proxies. The first
    # address no trusted proxy vouches for is the client (anything left of it may be forged).
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return remote  # a garbled header: count against the proxy rather than guess
        if not _trusted(address, nets):
            return str(address)
    return remote
