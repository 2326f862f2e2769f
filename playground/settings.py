"""Settings, read from the environment through small typed helpers.

Every helper fails at start-up with a sentence naming the variable, so a typo in
a deployment shows up as one clear line rather than a surprise later. (Over 500 lines because
Django reads every setting from this one module; each one carries the sentence saying why.)
"""

import os
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from playground.upstream import catalogue as _catalogue  # plain data, no Django: safe to read here

# Lets classes such as ModelAdmin[Generation] be subscripted at run time, as the type stubs expect.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PLAYGROUND_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (got {raw!r}).")


def env_number(name: str, default: float, *, minimum: float = 0) -> float:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number (got {raw!r}).") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum:g} (got {raw!r}).")
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least {minimum} (got {raw!r}).")
    return int(raw)


def env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string "
            "(python3 dev.py start makes one and keeps it in var/secret-key)."
        )
    SECRET_KEY = "dev-only-insecure-key-never-used-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS") or (["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is empty. List the host names this site answers to, separated by commas."
    )
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

PORT = env_int("PORT", 8000, minimum=1)
if PORT > 65535:
    raise ImproperlyConfigured(f"PORT must be between 1 and 65535 (got {PORT}).")

# --- The upstream: AI/ML API, or the built-in stand-in when no key is set -------------------
AIMLAPI_KEY = env_str("AIMLAPI_KEY")
DEMO_MODE = not AIMLAPI_KEY
AIMLAPI_BASE_URL = env_str("AIMLAPI_BASE_URL", "https://api.aimlapi.com").rstrip("/")
if urlsplit(AIMLAPI_BASE_URL).scheme not in {"http", "https"} or not urlsplit(AIMLAPI_BASE_URL).netloc:
    raise ImproperlyConfigured(f"AIMLAPI_BASE_URL must be an http(s) URL (got {AIMLAPI_BASE_URL!r}).")
DEMO_UPSTREAM_DIR = VAR_DIR / "demo-upstream"
# Seconds to wait for the upstream to answer one request (connecting has its own, shorter limit).
AIMLAPI_TIMEOUT = env_number("AIMLAPI_TIMEOUT", 60, minimum=1)

# video-01-live2d is documented on two routes: the seed's vendor route ("legacy", the default)
# and the universal route ("universal"); catalogue.py names their paths and fields.
LIVE2D_ROUTE = env_str("LIVE2D_ROUTE", "legacy").lower()
if LIVE2D_ROUTE not in {"legacy", "universal"}:
    raise ImproperlyConfigured(f"LIVE2D_ROUTE must be legacy or universal (got {LIVE2D_ROUTE!r}).")

# Seconds between status checks of one job. The upstream docs poll every 10-15 s;
# only the create call is charged, so this is about being polite, not cost.
POLL_INTERVAL = env_number("POLL_INTERVAL", 2.0 if DEMO_MODE else 10.0, minimum=0.05)
# A job that has not finished this many seconds after it was submitted ends as failed.
GENERATION_DEADLINE = env_number("GENERATION_DEADLINE", 30 * 60, minimum=1)
# How long a worker may hold a job before another worker may take it over.
WORKER_LEASE = env_number("WORKER_LEASE", 120, minimum=1)
if WORKER_LEASE <= AIMLAPI_TIMEOUT:
    # A lease shorter than one request would let a second worker take over a job whose create
    # request is still waiting for its answer.
    raise ImproperlyConfigured(
        f"WORKER_LEASE ({WORKER_LEASE:g} s) must be longer than AIMLAPI_TIMEOUT ({AIMLAPI_TIMEOUT:g} s)."
    )
# A film export's lease: renewed every third of it while the export works, so a worker that dies
# loses its film this long after its last renewal (see sequences.py).
EXPORT_LEASE = env_number("EXPORT_LEASE", 30, minimum=1)
WORKER_THREADS = env_int("WORKER_THREADS", 4, minimum=1)
# Retries of passing upstream trouble wait base * 2^n seconds (n = tries so far), at most cap.
WORKER_RETRY_BASE = env_number("WORKER_RETRY_BASE", 2.0, minimum=0.01)
WORKER_RETRY_CAP = env_number("WORKER_RETRY_CAP", 300.0, minimum=0.01)
# Saving a finished video: a link that fails (403/expired, a cut-off download) is asked for
# again after base * 2^n seconds (the first expired link at once), at most cap, and the worker
# gives up only ARCHIVE_PATIENCE seconds after the service said the video was done.
ARCHIVE_RETRY_BASE = env_number("ARCHIVE_RETRY_BASE", 5.0, minimum=0.01)
ARCHIVE_RETRY_CAP = env_number("ARCHIVE_RETRY_CAP", 120.0, minimum=0.01)
ARCHIVE_PATIENCE = env_number("ARCHIVE_PATIENCE", 30 * 60, minimum=0)
# Housekeeping chores the worker runs (seconds between runs, 0 = never; see housekeeping.py).
HOUSEKEEPING_STAGING_EVERY = env_number("HOUSEKEEPING_STAGING_EVERY", 3600)
HOUSEKEEPING_ORPHANS_EVERY = env_number("HOUSEKEEPING_ORPHANS_EVERY", 24 * 3600)
HOUSEKEEPING_DELIVERIES_EVERY = env_number("HOUSEKEEPING_DELIVERIES_EVERY", 24 * 3600)
# A finished video larger than this is refused rather than filling the disk.
VIDEO_MAX_BYTES = env_int("VIDEO_MAX_BYTES", 1024 * 1024 * 1024, minimum=1)

# How many videos one person may start per calendar month, unless the admin sets their own
# allowance; "none" means no limit. Failures the service did not charge for don't count.
MONTHLY_GENERATION_CAP = (
    None
    if env_str("MONTHLY_GENERATION_CAP").lower() in {"none", "unlimited"}
    else env_int("MONTHLY_GENERATION_CAP", 100, minimum=0)
)
# A create whose answer was lost is looked up in the service's usage log for this many seconds
# after it was sent (the log lags behind requests), every RECOVERY_LOOK_EVERY seconds, in a
# window of RECOVERY_LOG_MARGIN seconds either side of the send time.
RECOVERY_WINDOW = env_number("RECOVERY_WINDOW", 15 * 60, minimum=1)
RECOVERY_LOOK_EVERY = env_number("RECOVERY_LOOK_EVERY", 10, minimum=0.05)
RECOVERY_LOG_MARGIN = env_number("RECOVERY_LOG_MARGIN", 120, minimum=1)
# All workers together make at most this many usage-log requests per USAGE_LOG_WINDOW seconds.
# The service allows 200 per 60 s per key; the default leaves room for people using the key too.
USAGE_LOG_REQUESTS = env_int("USAGE_LOG_REQUESTS", 150, minimum=1)
USAGE_LOG_WINDOW = env_number("USAGE_LOG_WINDOW", 60, minimum=0.1)


def env_dollars(name: str, default: str | None) -> Decimal | None:
    """A dollar amount such as 25 or 25.00; "none" (or the default None) means no limit."""
    raw = os.environ.get(name, "").strip() or (default or "")
    if raw.lower() in {"", "none", "unlimited"}:
        return None
    try:
        value = Decimal(raw.removeprefix("$"))
    except InvalidOperation:
        raise ImproperlyConfigured(
            f"{name} must be an amount in dollars such as 25.00 (got {raw!r})."
        ) from None
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"{name} must be an amount in dollars of at least 0 (got {raw!r}).")
    return value.quantize(Decimal("0.01"))


def env_prices(name: str, defaults: dict[str, Decimal]) -> dict[str, Decimal]:
    """Per-model prices as "video-01=0.43,video-01-live2d=0.56"; models left out keep the default."""
    prices = dict(defaults)
    for item in env_list(name):
        model, _, amount = item.partition("=")
        try:
            value = Decimal(amount.strip().removeprefix("$"))
        except InvalidOperation:
            value = Decimal(-1)
        if model.strip() not in defaults or not value.is_finite() or value < 0:
            raise ImproperlyConfigured(
                f"{name} must list model=dollars pairs for {', '.join(defaults)} (got {item!r})."
            )
        prices[model.strip()] = value
    return prices


# Monthly budgets in dollars: per person (an admin may set one per person) and for the whole
# team. A start that would pass either one is refused before anything is sent.
MONTHLY_BUDGET_USD = env_dollars("MONTHLY_BUDGET_USD", "25.00")
TEAM_MONTHLY_BUDGET_USD = env_dollars("TEAM_MONTHLY_BUDGET_USD", None)
# The estimate when no cost has been seen yet for a model (the service's list price).
# The defaults are the catalogue's estimates (playground/upstream/catalogue.py), one per model.
VIDEO_PRICES_USD = env_prices("VIDEO_PRICES_USD", {model.id: model.price_usd for model in _catalogue.MODELS})
# The estimate is the average of this many most recent known costs for the model.
ESTIMATE_FROM_LAST = env_int("ESTIMATE_FROM_LAST", 20, minimum=1)

# Starting more than this many videos within one minute is refused (a double-click guard and a brake).
SUBMISSIONS_PER_MINUTE = env_int("SUBMISSIONS_PER_MINUTE", 5, minimum=1)
# One-click picture fixes decode whole pictures (up to ~100 MB each): at most this many at once
# per process; others wait this long, then get "busy, try again in a moment".
PICTURE_FIXES_AT_ONCE = env_int("PICTURE_FIXES_AT_ONCE", 2, minimum=1)
PICTURE_FIX_WAIT_SECONDS = env_number("PICTURE_FIX_WAIT_SECONDS", 10)
# A zip holds a web thread while it streams (playground/gallery/zipdownload.py): one person holds at most
# this many at once, and a zip whose reader takes nothing for this long is given up.
ZIP_STREAMS_PER_PERSON = env_int("ZIP_STREAMS_PER_PERSON", 2, minimum=1)
ZIP_STALL_SECONDS = env_number("ZIP_STALL_SECONDS", 30, minimum=1)


def env_limit(name: str, default: int) -> int | None:
    """A positive whole number, or "none"/"unlimited" for no limit."""
    return None if env_str(name).lower() in {"none", "unlimited"} else env_int(name, default, minimum=1)


# The API key's own limits, held for the whole app (every worker process, every machine) in the
# database: jobs created and not yet finished upstream, and creates in any 60 seconds.
UPSTREAM_MAX_IN_FLIGHT = env_limit("UPSTREAM_MAX_IN_FLIGHT", 5)
UPSTREAM_CREATES_PER_MINUTE = env_limit("UPSTREAM_CREATES_PER_MINUTE", 20)
# The Generate page's Takes field goes from 1 to this.
MAX_TAKES = env_int("MAX_TAKES", 4, minimum=1)
# How many pictures one batch may carry: each is checked in memory (at most 20 MB) before any is
# stored, so one request holds at most this many times 20 MB.
MAX_BATCH_PICTURES = env_int("MAX_BATCH_PICTURES", 4, minimum=1)

# Hosts (optionally host:port) exempt from the public-address check on image links.
IMAGE_LINK_ALLOWED_HOSTS = [h.lower() for h in env_list("IMAGE_LINK_ALLOWED_HOSTS")]

# --- Outgoing webhooks (playground/notify/webhooks.py) ---------------------------------------------
# Where this site lives, for the video links in webhook bodies and notifications.
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
if urlsplit(SITE_URL).scheme not in {"http", "https"} or not urlsplit(SITE_URL).netloc:
    raise ImproperlyConfigured(f"SITE_URL must be an http(s) URL (got {SITE_URL!r}).")
# Hosts (optionally host:port) a webhook may reach although they are loopback or private:
# an admin's explicit exception to the public-address rule image links follow too.
WEBHOOK_ALLOWED_HOSTS = [h.lower() for h in env_list("WEBHOOK_ALLOWED_HOSTS")]
WEBHOOK_TIMEOUT = env_number("WEBHOOK_TIMEOUT", 10, minimum=0.1)
# A delivery is tried at most this many times, waiting base * 2^n seconds (at most cap) between.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
WEBHOOK_RETRY_BASE = env_number("WEBHOOK_RETRY_BASE", 10, minimum=0.01)
WEBHOOK_RETRY_CAP = env_number("WEBHOOK_RETRY_CAP", 3600, minimum=0.01)
# A webhook whose attempts failed this many times in a row is paused until an admin resumes it.
WEBHOOK_PAUSE_AFTER = env_int("WEBHOOK_PAUSE_AFTER", 10, minimum=1)

# --- Django ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "axes",
    # Accounts (playground/team/): sign-in, reset and e-mail change, second factors, OpenID Connect
    # single sign-on, and each person's list of signed-in sessions ("sign out everywhere").
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
    "auditlog",
    "playground",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # /healthz answers here, before the session is read: a probe must not need the session table.
    "playground.worker.health.HealthCheckMiddleware",
    # A video page's status poll carrying a valid poll token is answered here, with one query and
    # no session or user read; any other request goes on (playground/generations/poll.py).
    "playground.generations.poll.PollTokenMiddleware",
    # A review link's guest is never a signed-in person: on /s/… the session cookie is not read, so
    # no session or user row is loaded (playground/review/guest.py).
    "playground.review.guest.GuestMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Loads the signed-in user before anything else asks for it, so an unreachable database is
    # a plain 503 page rather than a 500 (playground/lib/outage.py).
    "playground.lib.outage.DatabaseOutageMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    # Names the signed-in person as the actor of every model change django-auditlog records, and
    # the client's address as the lockout reads it (playground/team/history.py).
    "playground.team.history.AuditlogMiddleware",
    # Refuses any page the person's role does not reach, before its view runs (playground/team/roles.py).
    "playground.team.roles.RoleMiddleware",
    # With SSO_ONLY: password pages say passwords are not used; other sign-in forms are refused.
    "playground.team.sso.SSOOnlyMiddleware",
    # Leads a person the team's second-factor rule concerns to set one up first (playground/team/mfa.py).
    "playground.team.mfa.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "playground.lib.security.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # With SSO_ONLY, refuses every password before the backends below could accept one.
    "playground.team.sso.PasswordsOffBackend",
    # allauth's (a username or an e-mail address, second factors, SSO), loading the role with the person.
    "playground.team.backends.AccountBackend",
    # Only so sessions begun before the accounts upgrade stay signed in; it accepts the same passwords.
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "playground.urls"
WSGI_APPLICATION = "playground.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "playground.lib.http.site_context",
                # role, can_make, is_admin, is_viewer: what the pages hide (the server refuses anyway).
                "playground.team.context.role_context",
            ],
        },
    },
]

SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}",
        # Each web thread keeps its connection between requests: opening one per request (a TCP
        # and auth round trip on PostgreSQL) would cost more than the status fragment itself.
        # A connection that broke meanwhile is noticed and replaced before it is used.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database server that drops packets instead of refusing them would hold each request (and its
    # web thread) in connect for the driver's default of forever; this bounds it, so pages answer
    # the plain "can't reach its database" 503 within this many seconds.
    connect_timeout = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = connect_timeout
# The status poll's one SELECT is prepared once per connection (generations/poll.py, PreparedPoll);
# turn it off behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode
# before 1.21). Prepared or not, the poll answers the same.
DATABASE_PREPARED_POLLS = env_bool("DATABASE_PREPARED_POLLS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web server and the worker write to the same file: WAL lets readers go on while
    # one writer writes, and IMMEDIATE transactions wait (busy_timeout) instead of failing.
    # Reading through a memory map shares the operating system's cache between every connection
    # and process, instead of each keeping its own 2 MB: a search over 100,000 prompts that
    # looks up thousands of rows took a third less time (bench/gallery.py).
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000; "
            "PRAGMA mmap_size=268435456;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Accounts (playground/team/, django-allauth) --------------------------------------------
# There is no open sign-up: a person joins through an admin's invitation (the adapter opens the
# sign-up form only to a valid invitation link) or through SSO as the SSO rules below allow.
ACCOUNT_ADAPTER = "playground.team.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "playground.team.sso.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# The answers to "reset my password" never say whether an address has an account.
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_CHANGE_EMAIL = True
# A changed address replaces even a never-confirmed old one only once the new one is confirmed
# (playground/team/accountmail.py).
ACCOUNT_FORMS = {"add_email": "playground.team.accountmail.AddEmailForm"}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Video Playground: "
ACCOUNT_LOGOUT_ON_GET = False
# django-axes' lockout (below) counts wrong passwords per person and address, and shows the
# lockout page; allauth's own counter for them would answer first with a vaguer message. allauth's
# other limits count per client address as the lockout reads it (playground/lib/clientip.py); the
# sign-in limit is named here because the 429 page (playground/lib/http.py) says the number.
SIGN_INS_PER_MINUTE_PER_ADDRESS = 30
ACCOUNT_RATE_LIMITS = {"login_failed": None, "login": f"{SIGN_INS_PER_MINUTE_PER_ADDRESS}/m/ip"}
# How many days an invitation link stays valid.
INVITATION_DAYS = env_int("INVITATION_DAYS", 7, minimum=1)

# Single sign-on with any OpenID Connect provider (Google Workspace, Entra ID, Okta, Authentik,
# Keycloak): its issuer URL, and the client id and secret registered there. The redirect URL to
# register is SITE_URL + /accounts/oidc/sso/login/callback/ (docs/team.md, "Single sign-on").
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def oidc_server_url(raw: str) -> str:
    """The provider's issuer URL, checked: https with a host (plain http only on this machine)."""
    url = raw.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (reading it checks that the port is a number in range)
    except ValueError:
        host = None
    if not host or parts.scheme not in {"http", "https"} or parts.query or parts.fragment or parts.username:
        raise ImproperlyConfigured(
            f"OIDC_SERVER_URL must be the provider's issuer URL, like https://login.example.com/realms/team "
            f"(got {url!r})."
        )
    if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
        raise ImproperlyConfigured(
            f"OIDC_SERVER_URL must use https (plain http is allowed only on this machine; got {url!r})."
        )
    return url


def oidc_providers(
    *, server_url: str, client_id: str, secret: str, name: str, verified_domains: list[str]
) -> dict[str, dict[str, object]]:
    """django-allauth's SOCIALACCOUNT_PROVIDERS for one OpenID Connect provider (provider id "sso")."""
    app_settings: dict[str, object] = {"server_url": server_url, "oauth_pkce_enabled": True}
    if verified_domains:
        # Addresses in these domains count as verified even when the provider does not say so
        # (Entra ID sends no email_verified claim): the admin vouches for the provider here.
        app_settings["verified_email"] = verified_domains
    return {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [
                {
                    "provider_id": "sso",
                    "name": name,
                    "client_id": client_id,
                    "secret": secret,
                    "settings": app_settings,
                }
            ],
        }
    }


def domain_list(name: str) -> list[str]:
    """A comma-separated list of e-mail domains (example.com), lower-cased; a stray @ is dropped."""
    domains = [item.lower().lstrip("@") for item in env_list(name)]
    for domain in domains:
        labels = domain.split(".")
        if len(labels) < 2 or not all(label and label.replace("-", "").isalnum() for label in labels):
            raise ImproperlyConfigured(f"{name} must list e-mail domains like example.com (got {domain!r}).")
    return domains


OIDC_SERVER_URL = oidc_server_url(env_str("OIDC_SERVER_URL")) if env_str("OIDC_SERVER_URL") else ""
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_BUTTON_NAME = env_str("OIDC_BUTTON_NAME", "Company sign-in")
# For providers that never say whether an address is verified (Entra ID): the domains whose
# addresses this site takes as verified anyway. Leave empty for providers that send email_verified.
OIDC_VERIFIED_DOMAINS = domain_list("OIDC_VERIFIED_DOMAINS")
SSO_ENABLED = bool(OIDC_SERVER_URL)
if SSO_ENABLED and not OIDC_CLIENT_ID:
    raise ImproperlyConfigured(
        "OIDC_SERVER_URL is set but OIDC_CLIENT_ID is not: set both (and OIDC_CLIENT_SECRET)."
    )
# SSO only: nobody signs in with a password (admins included); the sign-in page offers SSO alone.
SSO_ONLY = env_bool("SSO_ONLY", False)
if SSO_ONLY and not SSO_ENABLED:
    raise ImproperlyConfigured("SSO_ONLY is true but no OIDC_SERVER_URL is set: nobody could sign in.")
# Who may join through SSO without an invitation: people whose provider-verified address is in one
# of these domains (exactly: list subdomains too). Empty: invited addresses only.
SSO_ALLOWED_DOMAINS = domain_list("SSO_ALLOWED_DOMAINS")
# allauth's own SOCIALACCOUNT_ONLY refuses to start next to allauth.mfa (second factors), so SSO
# only is enforced by playground/team/sso.py instead (sign-in page, password posts, reset pages).
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = (
    oidc_providers(
        server_url=OIDC_SERVER_URL,
        client_id=OIDC_CLIENT_ID,
        secret=OIDC_CLIENT_SECRET,
        name=OIDC_BUTTON_NAME,
        verified_domains=OIDC_VERIFIED_DOMAINS,
    )
    if SSO_ENABLED
    else {"openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": []}}
)
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
# An address is confirmed by the invitation link it arrived through (or by the SSO provider);
# a changed address is confirmed by a link sent to it before it replaces the old one (with SSO
# only too: SSO connects an existing account by its address, so an unproven one must not count).
ACCOUNT_EMAIL_VERIFICATION = "optional"
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"

# Second factors: authenticator-app codes with recovery codes, and passkeys. Whether one is
# required (for nobody, admins or everyone) is the admins' setting on the Team page.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
# With SSO only, the sign-in page offers SSO alone: no passkey sign-in either (a passkey still
# serves as the second factor after SSO).
MFA_PASSKEY_LOGIN_ENABLED = not SSO_ONLY
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "Video Playground")
# The code forms of sign-in's second step: a wrong or replayed code counts toward the lockout
# below, and an app's code signs in once even across web processes (playground/team/codes.py).
MFA_FORMS = {
    "authenticate": "playground.team.codes.AuthenticateForm",
    "reauthenticate": "playground.team.codes.ReauthenticateForm",
}
# An authenticator-app code is also taken for one 30-second step either side of now: a code typed
# as it turns over, or on a phone whose clock is a few seconds off, still works. Each code still
# signs in only once (playground/team/codes.py), and wrong ones count toward the lockout.
MFA_TOTP_TOLERANCE = 1
# Addresses here are proven by the invitation link or the SSO provider (there is no open sign-up),
# so a pending e-mail change must not stop a person from adding the factor the team requires,
# nor a factor stop them from changing their address.
MFA_ALLOW_UNVERIFIED_EMAIL = True
# Passkeys need a secure origin; plain-HTTP loopback (dev.py start) is let through. http://localhost
# (the tests' live server) counts as secure without this; a numeric address never works for passkeys.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG or env_bool("DJANGO_LOOPBACK_HTTP", False)

# Which sessions a person has open, so "sign out everywhere" can end them all. Activity is not
# written on every request (that would be a write per page and per poll); sessions are listed
# from their sign-in.
USERSESSIONS_TRACK_ACTIVITY = False

# django-auditlog: who changed what, field by field, for the models registered in team/history.py.
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False

# --- E-mail ----------------------------------------------------------------------------------
# One setting: EMAIL_URL=smtp://user:password@mail.example.com:587 (STARTTLS), smtps://…:465
# (TLS from the start), or smtp://host:25?tls=off for a relay on a trusted network. Without it,
# messages are written as files to var/mail/ and the Team page shows the invitation link itself,
# so a one-box team works without a mail server.
EMAIL_URL = env_str("EMAIL_URL")
DEFAULT_FROM_EMAIL = env_str("EMAIL_FROM", "Video Playground <video-playground@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_SENDS = bool(EMAIL_URL)


def email_settings(url: str) -> dict[str, object]:
    """Django's SMTP settings from EMAIL_URL (the password is percent-decoded and never echoed)."""
    from urllib.parse import parse_qs, unquote

    parts = urlsplit(url)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ImproperlyConfigured(
            "EMAIL_URL must look like smtp://user:password@host:587 or smtps://user:password@host:465."
        )
    tls = (parse_qs(parts.query).get("tls") or ["on"])[0].lower()
    if tls not in {"on", "off"}:
        raise ImproperlyConfigured("EMAIL_URL's tls option must be on or off.")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 587)
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL has a port that is not a number between 1 and 65535.") from None
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": parts.scheme == "smtps",
        "EMAIL_USE_TLS": parts.scheme == "smtp" and tls == "on",
        "EMAIL_TIMEOUT": 20,
    }


if EMAIL_SENDS:
    globals().update(email_settings(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # htmx comes from the npm registry (package.json + lockfile), never from a CDN.
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "/media/"

# Media (first frames, videos, posters) live in MEDIA_ROOT, or in an S3-compatible bucket when
# several servers must share them. With a bucket, the media view answers signed-in users with a
# short-lived signed link to the object instead of streaming it through the app.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
MEDIA_STORAGE = env_str("MEDIA_STORAGE", "s3" if AWS_STORAGE_BUCKET_NAME else "filesystem").lower()
if MEDIA_STORAGE not in {"filesystem", "s3"}:
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be filesystem or s3 (got {MEDIA_STORAGE!r}).")
if MEDIA_STORAGE == "s3" and not AWS_STORAGE_BUCKET_NAME:
    raise ImproperlyConfigured("MEDIA_STORAGE is s3 but AWS_STORAGE_BUCKET_NAME is not set.")
# Seconds a signed media link stays valid: long enough to start playing and seek, short enough
# that a copied link soon stops working. The page asks for a fresh one on every load.
MEDIA_LINK_SECONDS = env_int("MEDIA_LINK_SECONDS", 300, minimum=10)
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL")  # empty: AWS itself
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME")
if AWS_S3_ENDPOINT_URL and urlsplit(AWS_S3_ENDPOINT_URL).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(f"AWS_S3_ENDPOINT_URL must be an http(s) URL (got {AWS_S3_ENDPOINT_URL!r}).")


def s3_storage_options() -> dict[str, object]:
    """django-storages' S3 options from the environment (keys may also come from boto3's own chain)."""
    options: dict[str, object] = {
        "bucket_name": AWS_STORAGE_BUCKET_NAME,
        "endpoint_url": AWS_S3_ENDPOINT_URL or None,
        "region_name": AWS_S3_REGION_NAME or None,
        "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
        "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
        "location": env_str("AWS_LOCATION").strip("/"),
        # Objects stay private; only signed links (SigV4, which every S3-compatible server speaks) open them.
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": MEDIA_LINK_SECONDS,
        "signature_version": "s3v4",
        # Local S3 servers (MinIO, moto) want path-style addresses; AWS takes either.
        "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or ("path" if AWS_S3_ENDPOINT_URL else None),
        # Names are random and never reused, so a name already taken means a bug: keep both.
        "file_overwrite": False,
        "object_parameters": {"CacheControl": "private, max-age=31536000, immutable"},
    }
    return options


def s3_origin(options: dict[str, object]) -> str:
    """Where signed media links point, for the Content-Security-Policy."""
    endpoint = str(options.get("endpoint_url") or "")
    if endpoint:
        parts = urlsplit(endpoint)
        if options.get("addressing_style") == "virtual":
            return f"{parts.scheme}://{options['bucket_name']}.{parts.netloc}"
        return f"{parts.scheme}://{parts.netloc}"
    region = options.get("region_name")
    return f"https://{options['bucket_name']}.s3{f'.{region}' if region else ''}.amazonaws.com"


STORAGES: dict[str, dict[str, object]] = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_storage_options()}
        if MEDIA_STORAGE == "s3"
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Hashed names (app.3f2c1a.css) are cached for a year as immutable by WhiteNoise's manifest check;
# anything else (a file asked for by its plain name) is cached for an hour only.
WHITENOISE_MAX_AGE = 0 if DEBUG else 3600

# Uploads: files over 2.5 MB go to a temporary file; our own handler stops reading past 20 MB.
FILE_UPLOAD_HANDLERS = [
    "playground.pictures.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "playground.pictures.uploads.SpoolUploadHandler",
]

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Only our own origin: no inline script, no CDN. htmx is configured (base.html) not to need eval
# or injected styles. Pictures may also be blob: URLs (the preview of a picked file).
# With a bucket, media links redirect to it, so its origin is allowed for pictures and videos.
# The SSO button's form posts to our own origin and is answered with a redirect to the company's
# provider; browsers hold that redirect to form-action too, so the provider's origin is listed there.
MEDIA_ORIGIN = s3_origin(s3_storage_options()) if MEDIA_STORAGE == "s3" else ""


def content_security_policy(media_origin: str, sso_origin: str) -> str:
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob: {media_origin}; media-src 'self' blob: {media_origin}; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; "
        f"base-uri 'self'; form-action 'self' {sso_origin}; frame-ancestors 'none'"
    ).replace(" ;", ";")


def url_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


CONTENT_SECURITY_POLICY = content_security_policy(MEDIA_ORIGIN, url_origin(OIDC_SERVER_URL))
if not DEBUG:
    # Production runs behind HTTPS. Behind a proxy that terminates TLS, set
    # DJANGO_BEHIND_HTTPS_PROXY=true so Django trusts its X-Forwarded-Proto header.
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers probe the app's own port over plain HTTP; a redirect would read as "down".
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
if env_bool("DJANGO_BEHIND_HTTPS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# `dev.py start` on loopback: production settings over plain HTTP, which only this machine can
# reach (dev.py and gunicorn.conf.py refuse it on any other address). No redirect to HTTPS, no
# HSTS, and cookies that plain HTTP may carry; everything else as in production.
LOOPBACK_HTTP = env_bool("DJANGO_LOOPBACK_HTTP", False)
if LOOPBACK_HTTP and env_bool("DJANGO_BEHIND_HTTPS_PROXY", False):
    raise ImproperlyConfigured("DJANGO_LOOPBACK_HTTP and DJANGO_BEHIND_HTTPS_PROXY cannot both be true.")
if LOOPBACK_HTTP and not DEBUG:
    SECURE_SSL_REDIRECT = False
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
    SECURE_HSTS_SECONDS = 0

# Addresses of the reverse proxies in front (e.g. 127.0.0.1 for nginx on the same host). Only a
# request that arrives from one of them has its client address taken from X-Forwarded-For (for
# the sign-in lockout); from anyone else the header is ignored (playground/lib/clientip.py).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
AXES_CLIENT_IP_CALLABLE = "playground.lib.clientip.client_ip"

# Behind nginx (deploy/nginx/), local media are handed to it after the permission check: the app
# answers with X-Accel-Redirect (django-sendfile2) and nginx sends the bytes and ranges itself.
MEDIA_X_ACCEL = env_bool("MEDIA_X_ACCEL", False)
SENDFILE_BACKEND = "django_sendfile.backends.nginx"
SENDFILE_ROOT = str(MEDIA_ROOT)
SENDFILE_URL = "/protected-media"

# Password guessing: after 5 wrong passwords for one username from one address, that pair is
# locked out for 15 minutes. Admins unlock early by deleting the attempt in the admin
# ("Access attempts") or with `manage.py axes_reset_username NAME`.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_number("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# What axes keeps of a failed attempt's form never holds a second-factor code (nor the defaults).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "code", "credential"]
# allauth's sign-in form names one "login" field (username or e-mail address): count both as one person.
AXES_USERNAME_CALLABLE = "playground.team.signin.lockout_username"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # A review link's address holds its token: a log line naming one reads /s/… instead.
    "filters": {"redact_tokens": {"()": "playground.review.guest_logs.RedactTokens"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]}
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "playground": {"level": env_str("LOG_LEVEL", "INFO").upper()},
        "httpx": {"level": "WARNING"},
        "django.request": {"filters": ["redact_tokens"]},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
