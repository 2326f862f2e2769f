"""Who gets in where, CSRF, escaping, security headers, deployment checks, password guessing, the key."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from playground.generations.models import Generation, State
from tests import factories
from tests.factories import PASSWORD
from tests.faults import Fault
from tests.servers import ROOT

HOSTILE = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>"


def all_routes() -> list[str]:
    """Every URL pattern of the app (not the admin's), with sample values for its parameters."""
    samples = {"pk": "1", "name": "videos/2026/01/x.mp4", "token": "not-a-token"}
    routes: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                if not route.startswith("admin"):
                    walk(p.url_patterns, route)
            elif isinstance(p, URLPattern):
                for key, value in samples.items():
                    for converter in ("id", "int", "path"):
                        route = route.replace(f"<{converter}:{key}>", value)
                route = route.replace("<str:token>", samples["token"])
                routes.append("/" + route)

    walk(get_resolver().url_patterns, "")
    return routes


@pytest.fixture
def generation(user):
    video = default_storage.save("videos/2026/01/x.mp4", ContentFile(b"video"))
    return factories.generation(
        pk=1, created_by=user, model="video-01", prompt="p", state=State.READY, video=video, poster=video
    )


def test_the_route_list_covers_the_app():
    routes = all_routes()
    assert {"/generate/", "/gallery/", "/videos/1/", "/videos/1/delete/", "/usage/", "/sign-in/"} <= set(
        routes
    )


OPEN = {"/sign-in/", "/healthz"}  # the sign-in page itself, and the load balancer's health check
# An invitation link and its form (team/join.py) are for people without an account yet.
JOINING = {"/team/join/", "/team/join/not-a-token/"}
# A review link's guest pages (review/guest.py) are for people outside the team.
GUEST = {r for r in all_routes() if r.startswith("/s/")}
# django-allauth's pages: the ones for people not signed in yet (reset, the second-factor step, SSO)
# are open by design and guard themselves; the rest send anonymous visitors to sign in.
ACCOUNT_PAGES = "/accounts/"


@pytest.mark.parametrize(
    "route", [r for r in all_routes() if r not in OPEN | JOINING | GUEST and not r.startswith(ACCOUNT_PAGES)]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_page_sends_anonymous_visitors_to_sign_in(client: Client, generation, route, method):
    response = getattr(client, method)(route)
    assert response.status_code == 302, route
    assert response["Location"].startswith(reverse("login")), route
    assert Generation.objects.filter(pk=1).exists()


@pytest.mark.parametrize("route", [r for r in all_routes() if r.startswith(ACCOUNT_PAGES)])
@pytest.mark.parametrize("method", ["get", "post"])
def test_account_pages_answer_anonymous_visitors_plainly(client: Client, generation, route, method):
    response = getattr(client, method)(route)
    assert response.status_code in {200, 302, 400, 403, 404, 405}, route
    if response.status_code == 302:
        assert response["Location"].startswith((reverse("login"), reverse("account_login"), "/accounts/")), (
            route
        )
    assert b"Traceback" not in response.content
    assert Generation.objects.filter(pk=1).exists()


@pytest.mark.parametrize("route", sorted(GUEST))
@pytest.mark.parametrize("method", ["get", "post"])
def test_guest_pages_answer_anonymous_visitors_without_a_link_plainly(
    client: Client, generation, route, method
):
    response = getattr(client, method)(route)
    assert response.status_code in {404, 405}, route
    assert b"Traceback" not in response.content
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert b"video" not in response.content.lower()
    assert Generation.objects.filter(pk=1).exists()


@pytest.mark.parametrize("route", sorted(JOINING))
@pytest.mark.parametrize("method", ["get", "post"])
def test_joining_pages_answer_anonymous_visitors_without_an_invitation_plainly(
    client: Client, db, route, method
):
    response = getattr(client, method)(route)
    assert response.status_code in {404, 405}, route
    assert b"Traceback" not in response.content
    assert b'name="password1"' not in response.content


def test_the_admin_asks_for_a_staff_sign_in(client: Client, db):
    response = client.get("/admin/playground/generation/")
    assert response.status_code == 302
    assert response["Location"].startswith((reverse("login"), "/admin/login/"))


def test_stored_files_need_a_signed_in_session(client: Client, generation):
    response = client.get(reverse("media", args=[generation.video.name]))
    assert response.status_code == 302
    assert b"video" not in response.content


def test_static_files_the_sign_in_page_and_the_health_check_are_open(client: Client, db):
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("healthz")).status_code in {200, 503}
    assert client.get("/static/css/app.css").status_code == 200


# --- CSRF, htmx included ------------------------------------------------------------------------


@pytest.fixture
def strict(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.mark.parametrize("route", ["/generate/", "/videos/1/star/", "/videos/1/delete/", "/sign-out/"])
def test_every_post_needs_the_csrf_token(strict: Client, generation, route):
    assert strict.post(route).status_code == 403
    assert strict.post(route, headers={"HX-Request": "true"}).status_code == 403
    assert Generation.objects.filter(pk=1).exists()


def test_htmx_posts_carry_the_token_in_a_header_and_work(strict: Client, generation):
    page = strict.get(reverse("generation", args=[1])).content.decode()
    token = strict.cookies["csrftoken"].value
    # base.html hands htmx the token for every request it makes.
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    response = strict.post("/videos/1/star/", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    assert 'aria-pressed="true"' in response.content.decode()


# --- Escaping ---------------------------------------------------------------------------------


def test_user_and_upstream_text_is_escaped_everywhere(signed_in: Client, user):
    gen = factories.generation(
        created_by=user,
        model="video-01",
        prompt=HOSTILE,
        state=State.FAILED,
        failure_reason="The video service could not make this video: " + HOSTILE,
        upstream_id=HOSTILE[:100],
    )
    pages = [
        signed_in.get(reverse("gallery")),
        signed_in.get(reverse("gallery"), {"q": HOSTILE}),
        signed_in.get(reverse("gallery_card", args=[gen.pk])),
        signed_in.get(reverse("generation", args=[gen.pk])),
        signed_in.get(reverse("generation", args=[gen.pk]), headers={"HX-Request": "true"}),
        signed_in.get(reverse("generate"), {"remix": gen.pk}),
    ]
    for response in pages:
        html = response.content.decode()
        assert "<script>alert(1)" not in html
        assert "<img src=x" not in html
        assert "\"'>" not in html


# --- Deployment posture -------------------------------------------------------------------------


def production_env(**extra: str) -> dict[str, str]:
    # A clean production environment with its own SQLite file, whatever database the suite runs on.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AIMLAPI_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="playground.settings",
        DJANGO_SECRET_KEY="a-long-random-production-secret-" + "q8Zr3" * 10,
        DJANGO_ALLOWED_HOSTS="videos.example.com",
        AIMLAPI_KEY="sk-production-key-for-checks",
        PLAYGROUND_VAR_DIR=str(Path(settings.VAR_DIR) / "deploy-check"),
    )
    env.update(extra)
    return env


def test_the_production_configuration_passes_djangos_deployment_checks():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_a_missing_secret_key_stops_the_web_server_with_a_sentence():
    # What gunicorn loads (playground.wsgi) refuses to run without a key: nothing makes one up.
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "-c", "import playground.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr.splitlines()[-1]


def test_manage_py_without_a_key_uses_the_kept_one_so_developer_commands_work(tmp_path):
    # A fresh clone: `manage.py makemigrations --check` needs no setup, and it uses the same
    # owner-only key that `dev.py start` keeps (made once, then reused).
    env = production_env(PLAYGROUND_VAR_DIR=str(tmp_path))
    del env["DJANGO_SECRET_KEY"], env["DJANGO_ALLOWED_HOSTS"]
    runs = [
        subprocess.run(
            [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        for _ in range(2)
    ]
    for result in runs:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "No changes detected" in result.stdout
    kept = tmp_path / "secret-key"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert len(kept.read_text().strip()) >= 50


@pytest.mark.parametrize(
    ("name", "value", "sentence"),
    [
        ("POLL_INTERVAL", "soon", "POLL_INTERVAL must be a number"),
        ("WORKER_THREADS", "0", "WORKER_THREADS must be a whole number of at least 1"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be true or false"),
        ("AIMLAPI_BASE_URL", "ftp://x", "AIMLAPI_BASE_URL must be an http(s) URL"),
        ("WORKER_LEASE", "30", "WORKER_LEASE (30 s) must be longer than AIMLAPI_TIMEOUT"),
    ],
)
def test_bad_settings_stop_start_up_with_a_sentence_naming_them(name, value, sentence):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=production_env(**{name: value}),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert sentence in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]


def test_pages_carry_a_strict_content_security_policy(signed_in: Client):
    policy = signed_in.get(reverse("generate"))["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy


def test_no_page_has_inline_script_or_style(signed_in: Client, user):
    factories.generation(user, prompt="p")
    for url in (reverse("generate"), reverse("gallery"), reverse("usage"), "/videos/1/", reverse("login")):
        html = signed_in.get(url).content.decode()
        assert "<script>" not in html and '<script type="text/javascript">' not in html, url
        assert " style=" not in html, url
        assert " onclick=" not in html and " onload=" not in html, url


def test_secure_requests_get_hsts_and_secure_cookies(client: Client, user, settings):
    response = client.post(reverse("login"), {"login": "alice", "password": PASSWORD}, secure=True)
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"]
    assert response.cookies["csrftoken"]["secure"]
    assert "max-age=31536000" in client.get(reverse("login"), secure=True)["Strict-Transport-Security"]


# --- Password guessing ---------------------------------------------------------------------------


def test_password_guessing_is_locked_out_with_a_plain_message_and_an_admin_can_unlock(client: Client, user):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(reverse("login"), {"login": "alice", "password": "wrong guess"})
        assert response.status_code == 200  # the wrong guesses get the form back
        assert "username and/or password you specified are not correct" in response.content.decode()
    assert client.post(reverse("login"), {"login": "alice", "password": "wrong guess"}).status_code == 429
    locked = client.post(reverse("login"), {"login": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many wrong passwords" in locked.content.decode()
    assert "15 min" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # The admin's way: Access attempts in the admin, or this command.
    from django.core.management import call_command

    call_command("axes_reset_username", "alice", verbosity=0)
    assert client.post(reverse("login"), {"login": "alice", "password": PASSWORD}).status_code == 302


def test_djangos_password_validators_are_on(db):
    with pytest.raises(ValidationError):
        validate_password("password")
    with pytest.raises(ValidationError):
        validate_password("12345678901")
    validate_password("a sturdy horse-battery phrase")


# --- The API key --------------------------------------------------------------------------------


def test_the_api_key_is_in_no_page_fragment_or_error_page(signed_in: Client, user, settings, upstream):
    key = settings.AIMLAPI_KEY
    admin = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    gens = [
        factories.generation(user, prompt="p", state=state, upstream_id="u")
        for state in (State.QUEUED, State.RUNNING, State.READY, State.FAILED)
    ]
    urls = [reverse(n) for n in ("generate", "gallery", "usage")] + [
        reverse("generation", args=[g.pk]) for g in gens
    ]
    for url in urls:
        assert key not in signed_in.get(url).content.decode(), url
        assert key not in signed_in.get(url, headers={"HX-Request": "true"}).content.decode(), url
    staff = Client()
    staff.force_login(admin)
    for url in (
        "/admin/",
        f"/admin/playground/generation/{gens[0].pk}/change/",
        "/admin/playground/generation/",
    ):
        assert key not in staff.get(url).content.decode(), url
    assert key not in signed_in.get("/no/such/page/").content.decode()


def test_the_api_key_is_not_on_the_debug_error_page(signed_in: Client, settings, monkeypatch):
    from django.views import debug

    settings.DEBUG = True
    request = signed_in.get(reverse("gallery")).wsgi_request
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = debug.technical_500_response(request, *sys.exc_info()).content.decode()
    assert "AIMLAPI_KEY" in page  # the setting is listed...
    assert settings.AIMLAPI_KEY not in page  # ...with its value hidden


def test_the_api_key_is_in_no_log_line(worker, upstream, user, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    upstream.app.inject("create", Fault(status=500, body={"message": "boom"}))
    upstream.app.inject("poll", Fault(status=401, body={"message": "bad key"}))
    factories.generation(user, prompt="log me")
    for _ in range(40):
        for gen in Generation.objects.claim_due(worker.name, 4, 60):
            worker.step(gen)
        if not Generation.objects.active().exists():
            break
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "create" in text.lower() or "generation" in text.lower()  # the logs did say things
    assert upstream.client().__dict__.get("_api_key") not in text
    assert os.environ["AIMLAPI_KEY"] not in text


def test_createsuperuser_noinput_works_from_the_environment(tmp_path, prepared_site):
    env = production_env(
        PLAYGROUND_VAR_DIR=str(tmp_path),
        DJANGO_SUPERUSER_USERNAME="boss",
        DJANGO_SUPERUSER_PASSWORD="a sturdy horse-battery phrase",
        DJANGO_SUPERUSER_EMAIL="boss@example.com",
    )
    # The tables `migrate` makes on a new host: the run's migrated database, copied.
    prepared_site.copy_database(tmp_path)
    result = subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    check = "from django.contrib.auth import get_user_model as g; u = g().objects.get(username='boss'); print(u.is_superuser, u.check_password('a sturdy horse-battery phrase'))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", check], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.strip().endswith("True True"), result.stdout + result.stderr
