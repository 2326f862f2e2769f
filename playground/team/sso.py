"""Single sign-on through the company's OpenID Connect provider: who may enter, and with which role.

django-allauth's openid_connect provider speaks the protocol (authorization code with PKCE, the
token exchange, the ID token's issuer, audience and expiry). This module adds the team's rules:

- Who may enter: the provider must say the address is verified. An existing account with that
  address is connected and signed in (allauth's e-mail authentication, held to the checks in
  `_check_connect`); a new person joins only with a pending invitation (its role) or an address in
  SSO_ALLOWED_DOMAINS (member). Everyone else, and deactivated people, get a plain refusal page.
- The ID token's signature is always checked against the provider's published keys (allauth skips
  that when the token came straight from the token endpoint), with public-key algorithms only.
- A provider that cannot be reached, or answers what cannot be checked, gets a plain page, never a 500.
- SSO only (settings.SSO_ONLY): no password signs anyone in, on any form, and the password pages
  say passwords are not used. allauth's own SOCIALACCOUNT_ONLY cannot be used next to its second
  factors (it refuses to start), so the rule is held here: `SSOOnlyMiddleware` and `PasswordsOffBackend`.

Every SSO sign-in, join and refusal writes a line in the audit record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import jwt
import requests
from allauth.account.models import EmailAddress
from allauth.account.signals import user_logged_in
from allauth.account.utils import user_username
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialAccount, SocialApp, SocialLogin
from allauth.socialaccount.providers.base.constants import AuthError
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.socialaccount.signals import social_account_added
from allauth.utils import generate_unique_username
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from playground.team.audit import record
from playground.team.invitations import accept, pending_for_email
from playground.team.models import AuditKind, Invitation, Role
from playground.team.roles import set_role

log = logging.getLogger(__name__)

# What a refused or failed SSO sign-in says. The address is the person's own (the provider just
# proved it to them), so naming it tells nobody anything new.
NOT_INVITED = "{address} is not invited to this team. Ask an admin for an invitation."
NOT_VERIFIED = (
    "{provider} does not confirm that {address} is verified, so it cannot be used to sign in here. "
    "Verify the address with {provider} first, or ask an admin."
)
NO_ADDRESS = (
    "{provider} did not share an e-mail address, so this team cannot tell who you are. "
    "Ask an admin to let it share the address (the email scope)."
)
DEACTIVATED = "The account for {address} is deactivated. Ask an admin to reactivate it."
AMBIGUOUS = (
    "More than one account here uses {address}, so it is not clear which one is yours. "
    "Ask an admin to give each account its own address."
)
NOT_CONNECTABLE = (
    "The account here that names {address} cannot be joined to this sign-in automatically "
    "(the address is not confirmed on it, or it already signs in with another {provider} identity). "
    "Ask an admin."
)
FAILED = (
    "Signing in with {provider} did not work: its answer could not be checked, so nobody was signed in. "
    "Try again; if it keeps failing, tell an admin (the reason is in the server's log)."
)
CANCELLED = "Signing in with {provider} was cancelled. Nobody was signed in."
UNREACHABLE = (
    "{provider} could not be reached or gave an answer this site cannot use, so nobody was signed in. "
    "Try again in a minute; if it keeps failing, tell an admin."
)
PASSWORDS_OFF = "This team signs in with {provider} only: passwords are not used here."

# An ID token must be signed with the provider's private key: these algorithms only (never a
# shared-secret or unsigned token, whatever its header asks for).
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def _apps() -> list[dict[str, Any]]:
    """The OpenID Connect apps in the settings in effect (one, "sso", when SSO is configured)."""
    config: dict[str, Any] = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {})
    return [app for app in config.get("APPS") or [] if isinstance(app, dict)]


def provider_name() -> str:
    """The name on the SSO button (OIDC_BUTTON_NAME)."""
    apps = _apps()
    return str(apps[0].get("name") or "single sign-on") if apps else "single sign-on"


def secrets_in_use() -> list[str]:
    return [str(app["secret"]) for app in _apps() if app.get("secret")]


def scrub(text: str, limit: int = 300) -> str:
    """A reason fit for a log line or the audit record: short, and never the client secret."""
    for secret in secrets_in_use():
        text = text.replace(secret, "[client secret]")
    return text[:limit]


def message_page(request: HttpRequest, heading: str, message: str, *, status: int) -> HttpResponse:
    return render(request, "team/sso_message.html", {"heading": heading, "message": message}, status=status)


def refuse(
    request: HttpRequest, message: str, *, why: str, address: str = "", subject: User | None = None
) -> NoReturn:
    """Write the refusal in the audit record and the log, and answer with a plain page (403)."""
    record(
        AuditKind.SIGN_IN_FAILED,
        f"SSO sign-in with {provider_name()} refused: {why}",
        subject=subject,
        subject_name=address,
        request=request,
    )
    log.info("SSO sign-in refused: %s", why)
    raise ImmediateHttpResponse(message_page(request, "Not signed in", message, status=403))


def provider_address(sociallogin: SocialLogin) -> tuple[str, bool]:
    """The address the provider gave, and whether it says (email_verified) the address is verified."""
    if not sociallogin.email_addresses:
        return "", False
    first = sociallogin.email_addresses[0]  # allauth sorts the primary, verified one first
    return (first.email or "").strip(), bool(first.verified)


@dataclass(frozen=True)
class Entry:
    """How a new person may join through SSO: with a role (and the invitation it came from), or not."""

    role: Role | None
    invitation: Invitation | None = None


def entry_for(address: str) -> Entry:
    invitation = pending_for_email(address)
    if invitation is not None:
        return Entry(Role(invitation.role), invitation)
    if address.rpartition("@")[2].lower() in settings.SSO_ALLOWED_DOMAINS:
        return Entry(Role.MEMBER)
    return Entry(None)


class _Refused(Exception):
    """Raised inside a transaction, so the refusal is written after the rollback, not undone by it."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(why)
        self.message = message
        self.why = why


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """After the provider's answer was checked and the account looked up; nobody is signed in yet."""
        name = provider_name()
        address, verified = provider_address(sociallogin)
        if not address:
            refuse(request, NO_ADDRESS.format(provider=name), why="the provider shared no e-mail address")
        if not verified:
            refuse(
                request,
                NOT_VERIFIED.format(provider=name, address=address),
                why=f"the provider does not say {address} is verified",
                address=address,
            )
        if sociallogin.is_existing:
            user = sociallogin.user
            assert isinstance(user, User)
            if not user.is_active:
                refuse(
                    request,
                    DEACTIVATED.format(address=address),
                    why=f"{user.get_username()} is deactivated",
                    subject=user,
                )
            if sociallogin.account.pk is None:  # found by its address, not by an earlier SSO sign-in
                _check_connect(request, sociallogin, user, address)
            return
        if entry_for(address).role is None:
            refuse(
                request,
                NOT_INVITED.format(address=address),
                why=f"{address} has no invitation and its domain is not allowed",
                address=address,
            )

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        # Closed but for an invited address or an allowed domain, verified by the provider.
        address, verified = provider_address(sociallogin)
        return bool(address and verified and entry_for(address).role is not None)

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]) -> Any:
        user = super().populate_user(request, sociallogin, data)
        user_username(user, "")  # chosen in save_user, from the address the provider verified
        return user

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> Any:
        """A new person joins: their account, then the invitation's role (used up) or member."""
        address, _ = provider_address(sociallogin)
        name = provider_name()
        try:
            with transaction.atomic():
                if form is not None:  # allauth's own sign-up form is never offered here
                    raise _Refused(NOT_INVITED.format(address=address), "a sign-up form was posted")
                entry = entry_for(address)
                if entry.role is None:
                    raise _Refused(NOT_INVITED.format(address=address), f"{address} is no longer invited")
                user_username(sociallogin.user, unique_username(address))
                user = super().save_user(request, sociallogin, form)
                assert isinstance(user, User)
                if entry.invitation is not None and accept(
                    entry.invitation, user, request, way=f"through {name}"
                ):
                    pass  # accept() writes the audit line
                elif address.rpartition("@")[2].lower() in settings.SSO_ALLOWED_DOMAINS:
                    set_role(user, Role.MEMBER)
                    record(
                        AuditKind.ACCOUNT,
                        f"Joined through {name} as member: {address.rpartition('@')[2]} is an allowed domain",
                        actor=user,
                        subject=user,
                        request=request,
                    )
                else:  # the invitation was used by someone else a moment ago
                    why = f"the invitation for {address} was used meanwhile"
                    raise _Refused(NOT_INVITED.format(address=address), why)
        except _Refused as refused:
            refuse(request, refused.message, why=refused.why, address=address)
        return user

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: BaseException | None = None,
        extra_context: Any = None,
    ) -> None:
        """A cancelled sign-in, a lost state, a failed token exchange or an ID token that fails its checks."""
        name = provider_name()
        why = describe(request, error, exception)
        record(AuditKind.SIGN_IN_FAILED, f"SSO sign-in with {name} failed: {why}", request=request)
        log.warning("SSO sign-in failed: %s", why)
        template = CANCELLED if error == AuthError.CANCELLED else FAILED
        raise ImmediateHttpResponse(
            message_page(request, "Not signed in", template.format(provider=name), status=403)
        )


def describe(request: HttpRequest, error: Any, exception: BaseException | None) -> str:
    """Why a sign-in failed, for the log and the audit record: the exception and what caused it, the
    error the provider sent back, or a callback that matches no sign-in started in this browser."""
    if exception is not None:
        reason = f"{type(exception).__name__}: {exception}"
        if exception.__cause__ is not None:
            reason += f" ({type(exception.__cause__).__name__}: {exception.__cause__})"
        return scrub(reason)
    given = str(request.GET.get("error") or "")
    if given:
        detail = str(request.GET.get("error_description") or "")
        return scrub(f"the provider answered {given}" + (f": {detail}" if detail else ""))
    if error == AuthError.CANCELLED:
        return "cancelled at the provider"
    return "the answer matches no sign-in started in this browser (replayed, expired or forged)"


def unique_username(address: str) -> str:
    """The part of the address before the @, made unique (ann, ann4821, ...) by allauth's helper."""
    return str(generate_unique_username([address.partition("@")[0], "user"]))


def _check_connect(request: HttpRequest, sociallogin: SocialLogin, user: User, address: str) -> None:
    """An account found by its address is connected only if the address is plainly that account's.

    allauth also matches an address someone has merely asked to change to (not yet confirmed);
    connecting that would let one person sign in to another's account. Nor is an account that
    already signs in with one identity at this provider joined to a second one.
    """
    holders = set(User.objects.filter(email__iexact=address).values_list("pk", flat=True))
    holders |= set(EmailAddress.objects.filter(email__iexact=address).values_list("user_id", flat=True))
    if len(holders) > 1:
        refuse(
            request,
            AMBIGUOUS.format(address=address),
            why=f"{len(holders)} accounts use {address}",
            address=address,
        )
    own = (user.email or "").strip().lower() == address.lower() or EmailAddress.objects.filter(
        user=user, email__iexact=address, verified=True
    ).exists()
    other_identity = SocialAccount.objects.filter(user=user, provider=sociallogin.account.provider).exists()
    if not own or other_identity:
        refuse(
            request,
            NOT_CONNECTABLE.format(address=address, provider=provider_name()),
            why=(
                f"{user.get_username()} is already connected to another identity"
                if other_identity
                else f"{address} is only a pending address change of {user.get_username()}"
            ),
            subject=user,
        )


@receiver(user_logged_in, dispatch_uid="team-sso-sign-in")
def _record_sign_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    if kwargs.get("sociallogin") is not None:
        summary = f"{user.get_username()} signed in with {provider_name()}"
        event = getattr(request, "_audit_sign_in", None)  # Django's sign-in line (team/auditing.py)
        if event is not None:
            event.summary = summary
            event.save(update_fields=["summary"])
        else:
            record(AuditKind.SIGN_IN, summary, actor=user, subject=user, request=request)


@receiver(social_account_added, dispatch_uid="team-sso-connected")
def _record_connect(sender: Any, request: HttpRequest, sociallogin: SocialLogin, **kwargs: Any) -> None:
    """An existing account was connected by its address: the provider has now proven that address."""
    user = sociallogin.user
    address, _ = provider_address(sociallogin)
    if not isinstance(user, User) or not address:
        return
    EmailAddress.objects.filter(user=user, email__iexact=address).update(verified=True)
    record(
        AuditKind.ACCOUNT,
        f"Connected to {provider_name()} by the verified address {address}",
        actor=user,
        subject=user,
        request=request,
    )


# --- The provider's answers, checked -------------------------------------------------------------


class CheckedOpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's adapter, but the ID token's signature is always checked (65.x skips it for a token
    fetched from the token endpoint, which OpenID Connect allows over TLS; checking costs one
    request for the provider's keys, and a forged or tampered token then fails here too)."""

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict[str, Any]:
        try:
            algorithm = jwt.get_unverified_header(id_token).get("alg")
            if algorithm not in SIGNING_ALGORITHMS:
                raise OAuth2Error(f"Invalid id_token: signed with {algorithm!r}, not a public-key algorithm")
            claims: dict[str, Any] = jwtkit.verify_and_decode(
                credential=id_token,
                keys_url=self.openid_config["jwks_uri"],
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
                lookup_kid=jwtkit.lookup_kid_jwk,
                verify_signature=True,
            )
        except jwt.PyJWTError as error:
            raise OAuth2Error("Invalid id_token: unreadable") from error
        except (KeyError, TypeError, ValueError) as error:  # no kid, a key of the wrong kind...
            raise OAuth2Error("Invalid id_token: its key or header does not fit") from error
        return claims


def _through_provider(request: HttpRequest, provider_id: str, view_class: Any) -> HttpResponseBase:
    try:
        view: Callable[[HttpRequest], HttpResponseBase] = view_class.adapter_view(
            CheckedOpenIDConnectAdapter(request, provider_id)
        )
        return view(request)
    except SocialApp.DoesNotExist:
        raise Http404("No such sign-in provider.") from None
    except (requests.RequestException, KeyError) as error:
        # The provider's discovery document or keys could not be fetched, or lack what OpenID
        # Connect requires (allauth lets these through as a 500).
        why = scrub(f"{type(error).__name__}: {error}")
        record(AuditKind.SIGN_IN_FAILED, f"SSO sign-in with {provider_name()} failed: {why}", request=request)
        log.warning("SSO provider unreachable or unusable: %s", why)
        return message_page(
            request, "Not signed in", UNREACHABLE.format(provider=provider_name()), status=502
        )


@login_not_required
def login(request: HttpRequest, provider_id: str) -> HttpResponseBase:
    """Starts the sign-in: a redirect to the provider, with the PKCE challenge and the state."""
    return _through_provider(request, provider_id, OAuth2LoginView)


@login_not_required
def callback(request: HttpRequest, provider_id: str) -> HttpResponseBase:
    """The provider sends the person back here with a code; allauth trades it for the tokens."""
    return _through_provider(request, provider_id, OAuth2CallbackView)


# --- SSO only ------------------------------------------------------------------------------------

# Pages that set or reset a password, and pages that sign in with something other than SSO.
PASSWORD_PAGES = frozenset(
    {
        "account_reset_password",
        "account_reset_password_done",
        "account_reset_password_from_key",
        "account_reset_password_from_key_done",
        "account_confirm_password_reset_code",
        "account_change_password",
        "account_set_password",
        "account_signup",  # an account made with a password could not sign in anyway
    }
)
SIGN_IN_PAGES = frozenset(
    {
        "login",
        "account_login",
        "admin:login",
        "mfa_login_webauthn",
        "account_request_login_code",
        "account_confirm_login_code",
    }
)


class SSOOnlyMiddleware:
    """With SSO_ONLY, password pages say passwords are not used, and no other sign-in form is taken."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        match = request.resolver_match
        if not settings.SSO_ONLY or match is None:
            return None
        name = match.view_name
        reading = request.method in ("GET", "HEAD")
        if name in PASSWORD_PAGES:
            return message_page(
                request,
                "Passwords are not used",
                PASSWORDS_OFF.format(provider=provider_name()),
                status=200 if reading else 403,
            )
        if name not in SIGN_IN_PAGES:
            return None
        if name == "admin:login" and reading:
            return HttpResponseRedirect(
                f"{reverse('login')}?{urlencode({'next': request.GET.get('next', reverse('admin:index'))})}"
            )
        if reading:
            return None  # the sign-in page itself, which then offers SSO alone
        typed = str(request.POST.get("login") or request.POST.get("username") or "")[:150]
        record(
            AuditKind.SIGN_IN_FAILED,
            f"Sign-in without {provider_name()} refused: this team signs in with SSO only",
            subject_name=typed,
            request=request,
        )
        sentence = PASSWORDS_OFF.format(provider=provider_name())
        return message_page(request, "Not signed in", sentence, status=403)


class PasswordsOffBackend:
    """With SSO_ONLY, no password signs anyone in, whichever form or view it came through.

    It has no get_user on purpose: it never signs anyone in, so it must never be the backend a
    session is kept under (Django's test client's force_login picks the first one that has one)."""

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        if settings.SSO_ONLY and "password" in credentials:
            raise PermissionDenied  # stops Django trying the next backends
        return None
