"""Fetching a user's image link from the server, without letting the link reach our own network.

(Over 500 lines because the guard holds only as a whole: the link's parsing, the public-address
rules, the httpcore backend that resolves and connects, and the deadline on every read are one
mechanism, and any part used alone would leak. httpx's own transport carries them; only its
connection pool is swapped for one on our backend.)

A link is an instruction from a stranger to make our server open a connection. The check that
matters is made where the connection is made: a custom httpcore network backend resolves the
host itself, refuses unless every address is public, and connects to the very address it
checked, so DNS can't answer differently between the check and the connection. Every redirect
hop is a new request through the same backend, and environment proxies are switched off so no
connection can go around it.

Only the body is read here (capped, with a deadline); the caller runs pictures.check_image on it.
"""

from __future__ import annotations

import ipaddress
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpcore
import httpx

from playground.lib.numbers import megabytes

Resolver = Callable[[str, int], list[str]]
Connector = Callable[[str, int, float | None], socket.socket]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_LINK_LENGTH = 2000
# Each connect or read may take `timeout`; the whole fetch (DNS, redirects, body) this many times it,
# so a server dripping one byte per second can't hold a request open for ever.
TOTAL_TIME_FACTOR = 3

_HEADERS = {
    "Accept": "image/jpeg, image/png;q=0.9, */*;q=0.1",
    # Images are already compressed; asking for identity keeps a gzip bomb out of the byte cap.
    "Accept-Encoding": "identity",
    "User-Agent": "VideoPlayground/1.0 (first-frame image fetch)",
}
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_IPV4_PART = re.compile(r"0x[0-9a-f]*|[0-9]+")


class LinkRejected(Exception):
    """The link can't be fetched; `message` says why, for someone who is not a developer.

    `private_address` is the address refused as private or local, if that was the reason, so a
    caller other than the image fetch (webhooks) can say it in its own words.
    """

    def __init__(self, message: str, *, private_address: str | None = None) -> None:
        self.message = message
        self.private_address = private_address
        super().__init__(message)


def fetch_image(
    url: str,
    *,
    allowed_hosts: Sequence[str] | None = None,
    resolver: Resolver | None = None,
    connector: Connector | None = None,
    timeout: float = 10.0,
    max_bytes: int,
    max_redirects: int = 5,
    noun: str = "image",
    too_large: str | None = None,
) -> bytes:
    """The body of `url` (at most max_bytes), or LinkRejected with a sentence.

    `noun` is what the link should send ("image", "video", "voice sample"), named in the
    sentences; `too_large` replaces the sentence for a body over max_bytes.
    """
    if allowed_hosts is None:
        from django.conf import settings

        allowed_hosts = settings.IMAGE_LINK_ALLOWED_HOSTS
    deadline = time.monotonic() + TOTAL_TIME_FACTOR * timeout
    backend = _GuardedBackend(
        allowed_hosts=frozenset(host.lower() for host in allowed_hosts),
        resolver=resolver or _resolve,
        connector=connector or _connect,
        deadline=deadline,
    )
    target = _parse_link(url, noun)
    # httpx already skips environment proxies when given a transport; trust_env=False makes that
    # explicit and also keeps ~/.netrc credentials from being sent to whatever host a link names.
    with httpx.Client(
        transport=_GuardedTransport(backend),
        trust_env=False,
        timeout=httpx.Timeout(timeout),
        headers=_HEADERS,
        follow_redirects=False,
    ) as client:
        for _ in range(max_redirects + 1):
            host = target.host
            try:
                with client.stream("GET", target) as response:
                    if response.has_redirect_location:
                        target = _redirect_target(response)
                        continue
                    if not response.is_success:
                        phrase = httpx.codes.get_reason_phrase(response.status_code)
                        raise LinkRejected(
                            f"The link answered {response.status_code} {phrase}".rstrip()
                            + f" instead of sending {_a(noun)}."
                        )
                    return _read_body(
                        response, max_bytes=max_bytes, deadline=deadline, timeout=timeout, too_large=too_large
                    )
            except httpx.TimeoutException:
                raise _timed_out(deadline, timeout) from None
            except httpx.ConnectError:
                raise LinkRejected(f"We couldn't connect to the server in this link ({host}).") from None
            except httpx.HTTPError:
                raise LinkRejected(
                    f"The server in this link ({host}) didn't give an answer we could understand."
                ) from None
    raise LinkRejected(f"This link redirected more than {max_redirects} times, so we stopped following it.")


# --- The link itself ---------------------------------------------------------------------------


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _parse_link(url: str, noun: str = "image") -> httpx.URL:
    text = url.strip()
    if not text:
        raise LinkRejected("There is no link to fetch.")
    if len(text) > MAX_LINK_LENGTH:
        raise LinkRejected(
            f"This link is {len(text):,} characters long. The longest we accept is {MAX_LINK_LENGTH:,}."
        )
    scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):(?![0-9])", text)
    if scheme is None:
        raise LinkRejected(
            f"This link doesn't start with http:// or https://. Give the full web address of the {noun}."
        )
    if scheme.group(1).lower() not in ("http", "https"):
        raise LinkRejected(
            f"This link starts with “{scheme.group(1)[:20]}:”. "
            "Only web links (starting with http:// or https://) can be used."
        )
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL:
        raise LinkRejected("This link isn't a valid web address.") from None
    if parsed.userinfo:
        raise LinkRejected(
            "This link contains a user name or password, which we don't send anywhere. "
            "Give a link without them."
        )
    if not parsed.raw_host or (parsed.port is not None and not 0 < parsed.port < 65536):
        raise LinkRejected("This link isn't a valid web address.")
    _canonical_host(parsed.raw_host.decode("ascii"))
    # The fragment is for the browser; it is never sent, and dropping it keeps it out of logs.
    return parsed.copy_with(fragment=None)


def _redirect_target(response: httpx.Response) -> httpx.URL:
    # httpx builds the next request even when not following (an unreadable Location header is
    # a RemoteProtocolError there); only its URL is used, and it is checked like a typed link.
    if response.next_request is None:
        raise LinkRejected("The link redirected to an address that isn't valid.")
    return _parse_link(str(response.next_request.url))


def _canonical_host(host: str) -> tuple[str, IPAddress | None]:
    """(name used for the allow list, the address when the host is an IP literal).

    Numeric hosts are read the way browsers and inet_aton read them (127.1, 2130706433,
    0x7f000001, 017700000001 are all 127.0.0.1), so no such spelling reaches a resolver.
    """
    text = host.lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            address = ipaddress.IPv6Address(text.replace("%25", "%"))
        except ValueError:
            raise LinkRejected("This link isn't a valid web address.") from None
        return str(address), address
    text = text.removesuffix(".")
    ipv4 = _numeric_ipv4(text)
    if ipv4 is not None:
        return str(ipv4), ipv4
    if not _HOSTNAME.fullmatch(text):
        raise LinkRejected("This link isn't a valid web address.")
    return text, None


def _numeric_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """The WHATWG URL reading of a host whose last label is a number; None for a name."""
    labels = text.split(".")
    if not _IPV4_PART.fullmatch(labels[-1]):
        return None
    invalid = LinkRejected("This link isn't a valid web address.")
    if len(labels) > 4 or not all(_IPV4_PART.fullmatch(label) for label in labels):
        raise invalid
    numbers = []
    for label in labels:
        if label.startswith("0x"):
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                raise invalid
            numbers.append(int(label, 8))
        else:
            numbers.append(int(label))
    if any(number > 255 for number in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise invalid
    value = numbers[-1] + sum(number << (8 * (3 - index)) for index, number in enumerate(numbers[:-1]))
    return ipaddress.IPv4Address(value)


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address are judged by it: ::ffff:10.0.0.1 is 10.0.0.1.
        # NAT64 (64:ff9b::/96) is how IPv6-only networks reach public IPv4, so it is kept.
        # 6to4 and Teredo are retired tunnels no image host needs: refused outright, which
        # also covers their embedded (and in Teredo's case obfuscated) IPv4 addresses. Only
        # global unicast (2000::/3) goes further, so IPv4-compatible ::a.b.c.d, the local-use
        # NAT64 prefix 64:ff9b:1::/48 and site-local fec0::/10, which Python calls global, stay out.
        if address.ipv4_mapped is not None:
            return _is_public(address.ipv4_mapped)
        if address in _NAT64:
            return _is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address not in _GLOBAL_UNICAST or address in _SIX_TO_FOUR or address in _TEREDO:
            return False
    elif address in _SHARED_ADDRESS_SPACE:
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def _refuse_private(address: IPAddress | str) -> LinkRejected:
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:a00:1 means nothing to most people; the IPv4 address inside it does.
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return LinkRejected(
        f"This link points to a private or local network address ({address}), "
        "which we don't fetch for safety.",
        private_address=str(address),
    )


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


def _timed_out(deadline: float, timeout: float) -> LinkRejected:
    if time.monotonic() >= deadline:
        return LinkRejected(
            f"The server at this link took more than {_seconds(TOTAL_TIME_FACTOR * timeout)} "
            "to send the file, so we gave up."
        )
    return LinkRejected(f"The server at this link didn't answer within {_seconds(timeout)}.")


def _read_body(
    response: httpx.Response, *, max_bytes: int, deadline: float, timeout: float, too_large: str | None
) -> bytes:
    largest = megabytes(max_bytes)
    refused = LinkRejected(
        too_large or f"The linked file is larger than {largest} MB, the largest file we can send."
    )
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise LinkRejected("The server at this link sent the file compressed in a way we don't accept.")
    declared = response.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise refused
    body = bytearray()
    try:
        for part in response.iter_raw():
            body += part
            if len(body) > max_bytes:
                raise refused
    except httpx.TimeoutException:
        raise _timed_out(deadline, timeout) from None
    except httpx.HTTPError:
        raise LinkRejected(
            "The connection was cut before the whole file arrived from this link. Please try again."
        ) from None
    return bytes(body)


# --- The connection ----------------------------------------------------------------------------


def _resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _connect(address: str, port: int, timeout: float | None) -> socket.socket:
    return socket.create_connection((address, port), timeout)


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(
        self, *, allowed_hosts: frozenset[str], resolver: Resolver, connector: Connector, deadline: float
    ) -> None:
        self._allowed_hosts = allowed_hosts
        self._resolver = resolver
        self._connector = connector
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        # local_address and socket_options are never set by our transport, so they are ignored.
        addresses = self._checked_addresses(host, port, timeout)
        failure: OSError | None = None
        for address in addresses:
            wait = _remaining(self._deadline, timeout)
            if wait <= 0:
                raise httpcore.ConnectTimeout("the overall time limit was reached")
            try:
                sock = self._connector(address, port, wait)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(str(exc)) from exc
            except OSError as exc:
                failure = exc
                continue
            return _DeadlineStream(sock, self._deadline)
        raise httpcore.ConnectError(str(failure))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("links never lead to local sockets")

    def _checked_addresses(self, host: str, port: int, timeout: float | None) -> list[str]:
        name, literal = _canonical_host(host)
        allowed = {name, f"{name}:{port}", f"[{name}]", f"[{name}]:{port}"} & self._allowed_hosts
        if literal is not None:
            if not allowed and not _is_public(literal):
                raise _refuse_private(literal)
            return [str(literal)]
        if not allowed and (name == "localhost" or name.endswith(".localhost")):
            raise _refuse_private(name)
        found = self._resolve(name, port, timeout)
        addresses: list[str] = []
        for text in found:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if not allowed and not _is_public(address):
                raise _refuse_private(address)
            if text not in addresses:
                addresses.append(text)
        if not addresses:
            raise LinkRejected(f"We couldn't find the server in this link ({name}).")
        return addresses

    def _resolve(self, name: str, port: int, timeout: float | None) -> list[str]:
        """The resolver's answer, waiting no longer than the time left (getaddrinfo has no timeout)."""
        outcome: list[list[str] | BaseException] = []
        done = threading.Event()

        def work() -> None:
            try:
                outcome.append(list(self._resolver(name, port)))
            except BaseException as exc:  # handed to the waiting thread below, whatever it is
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=work, name="linkfetch-resolve", daemon=True).start()
        wait = _remaining(self._deadline, timeout)
        if wait <= 0 or not done.wait(wait):
            raise LinkRejected(
                f"We couldn't find the server in this link ({name}) within {_seconds(max(wait, 0))}."
            )
        result = outcome[0]
        if isinstance(result, (OSError, UnicodeError)):
            raise LinkRejected(f"We couldn't find the server in this link ({name}).")
        if isinstance(result, BaseException):
            raise result
        return result


def _remaining(deadline: float, timeout: float | None) -> float:
    left = deadline - time.monotonic()
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every wait also stops at the fetch's overall deadline.

    Per-read timeouts alone never end a server that sends one byte just in time, whether in
    the headers or the body; capping every wait at the deadline does.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def _wait(self, timeout: float | None, error: type[httpcore.TimeoutException]) -> float:
        wait = _remaining(self._deadline, timeout)
        if wait <= 0:
            raise error("the overall time limit was reached")
        return wait

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            self._sock.settimeout(self._wait(timeout, httpcore.ReadTimeout))
            return self._sock.recv(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        while view:
            try:
                self._sock.settimeout(self._wait(timeout, httpcore.WriteTimeout))
                sent = self._sock.send(view)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(str(exc)) from exc
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from exc
            view = view[sent:]

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # httpcore passes the URL's host as server_hostname, so SNI and the certificate check
        # use the name from the link, never the address we connected to.
        try:
            self._sock.settimeout(self._wait(timeout, httpcore.ConnectTimeout))
            secure = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except TimeoutError as exc:
            self.close()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except ssl.SSLCertVerificationError:
            self.close()
            raise LinkRejected(
                f"We couldn't make a secure connection to the server in this link ({server_hostname}): "
                "its security certificate isn't valid."
            ) from None
        except ssl.SSLError:
            self.close()
            raise LinkRejected(
                f"We couldn't make a secure connection to the server in this link ({server_hostname})."
            ) from None
        except OSError as exc:
            self.close()
            raise httpcore.ConnectError(str(exc)) from exc
        return _DeadlineStream(secure, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "socket":
            return self._sock
        if info == "is_readable":
            # httpcore asks before reusing a kept-alive connection: readable means the server
            # has closed it (or sent something unasked), so it must not be reused.
            try:
                return bool(select.select([self._sock], [], [], 0)[0])
            except (OSError, ValueError):
                return True
        return None


# --- httpcore inside httpx ---------------------------------------------------------------------


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport (its error mapping, streams and keep-alive), with no proxies, whose
    connections are all opened by _GuardedBackend.

    httpx has no public way to hand its transport an httpcore network backend: HTTPTransport
    builds its own pool. So this is that transport with its pool swapped for an equal one on our
    backend, one private attribute instead of a second transport written by hand.
    """

    def __init__(self, backend: _GuardedBackend) -> None:
        super().__init__(http1=True, http2=False, retries=0, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=backend,
            http1=True,
            http2=False,
            retries=0,
        )


# --- Other outbound requests (webhooks) ---------------------------------------------------------


def check_link(url: str, *, allowed_hosts: Sequence[str]) -> httpx.URL:
    """The parsed link, or LinkRejected: the checks that need no DNS lookup (the rest run at connect)."""
    target = _parse_link(url)
    name, literal = _canonical_host(target.host)
    port = target.port or (443 if target.scheme == "https" else 80)
    allowed = {name, f"{name}:{port}", f"[{name}]", f"[{name}]:{port}"} & {h.lower() for h in allowed_hosts}
    if not allowed:
        if literal is not None and not _is_public(literal):
            raise _refuse_private(literal)
        if name == "localhost" or name.endswith(".localhost"):
            raise _refuse_private(name)
    return target


def guarded_client(*, allowed_hosts: Sequence[str], timeout: float) -> httpx.Client:
    """An httpx client (for one short exchange) under the same address rules as image links.

    Redirects are not followed and proxies are not used. `timeout` is a deadline for the whole
    exchange from this call (looking up, connecting, sending, every read), not for each step.
    """
    backend = _GuardedBackend(
        allowed_hosts=frozenset(host.lower() for host in allowed_hosts),
        resolver=_resolve,
        connector=_connect,
        deadline=time.monotonic() + timeout,
    )
    return httpx.Client(
        transport=_GuardedTransport(backend),
        trust_env=False,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
    )
