"""A real OpenID Connect provider for the sign-in tests: node's `oidc-provider`, started on loopback.

`oidc_provider` starts tests/oidc/provider.mjs once per test session, with a signing key made here
(so a test can also sign tokens of its own), a client whose redirect URI is the live server's
callback, and the people in ACCOUNTS. `sso` points the app's provider settings at it for one test.
`SignIn` walks the authorization-code flow over plain HTTP (httpx), through the provider's own
sign-in form, and keeps every page it was shown. `token_proxy` stands between the app and the
provider's token endpoint and swaps in an ID token the test made.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from playground.settings import oidc_providers
from tests.servers import ROOT, free_port

PROVIDER_SCRIPT = Path(__file__).resolve().parent / "provider.mjs"
CALLBACK_PATH = "/accounts/oidc/sso/login/callback/"
BUTTON_NAME = "Acme sign-in"
KID = "test-signing-key"

# The people the provider knows, by the login typed into its sign-in form.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "ann": {"email": "ann@invited.example", "email_verified": True, "name": "Ann Invited"},
    "bob": {"email": "bob@allowed.example", "email_verified": True, "name": "Bob Allowed"},
    "bob2": {"email": "bob@other.allowed.example", "email_verified": True, "name": "Bob Two"},
    "carl": {"email": "carl@elsewhere.example", "email_verified": True, "name": "Carl Elsewhere"},
    "una": {"email": "una@allowed.example", "email_verified": False, "name": "Una Unverified"},
    "olga": {"email": "olga@example.com", "email_verified": True, "name": "Olga Existing"},
    "olga-unverified": {"email": "olga@example.com", "email_verified": False, "name": "Olga Unverified"},
    "sam": {"email": "sam@example.com", "email_verified": True, "name": "Sam Admin"},
    "noemail": {"name": "No Address"},
}


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_jwk(key: rsa.RSAPrivateKey, kid: str = KID) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


def s256(verifier: str) -> str:
    """The PKCE challenge for a verifier (RFC 7636, S256)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


@dataclass
class OIDCProvider:
    url: str
    client_id: str
    client_secret: str
    key: rsa.RSAPrivateKey
    process: subprocess.Popen[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    output: list[str] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.events)

    def events_since(self, mark: int, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events[mark:] if e.get("event") == kind]

    def wait_for_event(self, mark: int, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events_since(mark, kind)
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"the provider logged no {kind!r} event; it logged {self.events[mark:]}")

    def provider_settings(self, **app_settings: Any) -> dict[str, dict[str, Any]]:
        """SOCIALACCOUNT_PROVIDERS for this provider, made by the same function as the real settings."""
        providers: dict[str, dict[str, Any]] = oidc_providers(
            server_url=self.url,
            client_id=self.client_id,
            secret=self.client_secret,
            name=BUTTON_NAME,
            verified_domains=[],
        )
        providers["openid_connect"]["APPS"][0]["settings"].update(app_settings)
        return providers

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: Any = None,
        algorithm: str = "RS256",
        kid: str | None = KID,
    ) -> str:
        headers = {"kid": kid} if kid else None
        return jwt.encode(claims, key if key is not None else self.key, algorithm=algorithm, headers=headers)


def _read_output(provider: OIDCProvider) -> None:
    assert provider.process.stdout is not None
    for line in provider.process.stdout:
        provider.output.append(line.rstrip("\n"))
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                provider.events.append(json.loads(line))


def _missing_provider(reason: str) -> None:
    message = f"The test OpenID Connect provider cannot start: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " CI must run the single sign-on tests.")
    pytest.skip(message)


@pytest.fixture(scope="session")
def oidc_provider(live_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    node = shutil.which("node")
    if node is None:
        _missing_provider("node is not installed (node 20 or later).")
    assert node is not None
    if not (ROOT / "node_modules" / "oidc-provider" / "package.json").exists():
        _missing_provider("the npm package oidc-provider is not installed (npm ci).")
    key = new_key()
    port = free_port()
    client_secret = "test-client-secret-" + secrets.token_urlsafe(24)
    config = {
        "port": port,
        "client_id": "video-playground",
        "client_secret": client_secret,
        "redirect_uris": [live_server.url + CALLBACK_PATH],
        "jwks": {"keys": [private_jwk(key)]},
        "accounts": ACCOUNTS,
    }
    folder = tmp_path_factory.mktemp("oidc")
    config_path = folder / "provider.json"
    config_path.write_text(json.dumps(config))
    config_path.chmod(0o600)
    process = subprocess.Popen(
        [node, str(PROVIDER_SCRIPT), str(config_path), str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    provider = OIDCProvider(
        url=f"http://127.0.0.1:{port}",
        client_id="video-playground",
        client_secret=client_secret,
        key=key,
        process=process,
    )
    reader = threading.Thread(target=_read_output, args=(provider,), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the provider stopped ({process.returncode}): {provider.output}")
            try:
                if (
                    httpx.get(provider.url + "/.well-known/openid-configuration", timeout=1).status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the provider did not answer within 20 s: {provider.output}")
            time.sleep(0.05)
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        reader.join(5)


@pytest.fixture
def sso(oidc_provider: OIDCProvider, settings: Any, transactional_db: None) -> OIDCProvider:
    """The app signs in through the test provider; new people from allowed.example join as members.

    (The live server reads the test's rows, so the database is the transactional one; naming it
    here also lets the PostgreSQL pass of the suite pick these tests.)"""
    settings.SOCIALACCOUNT_PROVIDERS = oidc_provider.provider_settings()
    settings.SSO_ALLOWED_DOMAINS = ["allowed.example"]
    settings.SSO_ONLY = False
    return oidc_provider


CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"[^>]*method="post"')


class SignIn:
    """One person's HTTP client: walks the SSO flow and keeps every page and redirect it saw."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.pages: list[httpx.Response] = []
        self.client = httpx.Client(follow_redirects=True, timeout=30, event_hooks={"response": [self._keep]})

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.pages.append(response)

    def close(self) -> None:
        self.client.close()

    def csrf_token(self, path: str = "/sign-in/") -> str:
        page = self.client.get(self.base_url + path)
        found = CSRF_FIELD.search(page.text)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def start(self) -> httpx.Response:
        """Press "Sign in with …": the app's answer, followed to the provider's sign-in form."""
        token = self.csrf_token()
        return self.client.post(
            self.base_url + "/accounts/oidc/sso/login/", data={"csrfmiddlewaretoken": token}
        )

    def sign_in(self, login: str) -> httpx.Response:
        """The whole flow as `login` at the provider; returns the app's last answer. (When the provider
        still remembers this client's earlier sign-in, it sends it straight back without its form.)"""
        at_provider = self.start()
        if str(at_provider.url).startswith(self.base_url):
            return at_provider
        return self.submit_provider_form(at_provider, login)

    def submit_provider_form(self, at_provider: httpx.Response, login: str) -> httpx.Response:
        assert at_provider.status_code == 200, at_provider.text[:500]
        action = FORM_ACTION.search(at_provider.text)
        assert action, f"no sign-in form at the provider: {at_provider.text[:500]}"
        return self.client.post(
            urljoin(str(at_provider.url), action.group(1)),
            data={"prompt": "login", "login": login, "password": "any password: the provider's test form"},
        )

    def signed_in_as(self) -> str | None:
        """Who the app thinks this client is: the name in the page header, or None when signed out."""
        page = self.client.get(self.base_url + "/gallery/")
        found = re.search(
            r'class="signed-in-as">Signed in as (?:<a [^>]*>)?<strong>([^<]+)</strong>', page.text
        )
        return found.group(1) if found else None

    def page_texts(self) -> list[str]:
        return [r.text for r in self.pages] + [str(r.url) for r in self.pages]


@pytest.fixture
def browser_client(live_server: Any, settings: Any) -> Iterator[SignIn]:
    # The live server speaks plain HTTP on localhost. Chromium sends "Secure" cookies to localhost;
    # httpx (rightly) does not, so here the cookies are sent as plain-HTTP cookies.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    client = SignIn(live_server.url)
    yield client
    client.close()


class TokenProxy:
    """Stands in front of the provider's token endpoint, passing requests on and answers back,
    with the ID token replaced by what `forge(genuine_claims)` returns (when set)."""

    def __init__(self, token_endpoint: str) -> None:
        self.token_endpoint = token_endpoint
        self.forge: Callable[[dict[str, Any]], str] | None = None
        self.forged = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in {"authorization", "content-type", "accept"}
                }
                answer = httpx.post(proxy.token_endpoint, content=body, headers=headers, timeout=10)
                content = answer.content
                if answer.status_code == 200 and proxy.forge is not None:
                    data = json.loads(content)
                    genuine = jwt.decode(data["id_token"], options={"verify_signature": False})
                    data["id_token"] = proxy.forge(genuine)
                    proxy.forged += 1
                    content = json.dumps(data).encode()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def token_proxy(sso: OIDCProvider, settings: Any) -> Iterator[TokenProxy]:
    """The app fetches tokens through the proxy (the discovery document's token endpoint, overridden)."""
    proxy = TokenProxy(sso.url + "/token")
    settings.SOCIALACCOUNT_PROVIDERS = sso.provider_settings(
        openid_configuration_overrides={"token_endpoint": proxy.url}
    )
    yield proxy
    proxy.stop()
