"""The shipped nginx site (deploy/nginx/video-playground.conf) in front of gunicorn and the worker.

One stack per test run, shared by every test that asks for `stack` (tests/site/test_nginx.py and the
zip and review tests behind nginx): starting nginx, gunicorn, the worker and making the member takes
seconds, and the tests that share it each keep to their own files, rows and client addresses. The
shipped site config is used as it is, with only its CHANGE lines pointed at this run's ports and
folders; nginx runs from a temporary folder (not the system service). Debian's nginx is needed:
locally these tests are skipped without it, under CI=true they fail.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, Prepared, free_port, production_environment, stop, wait_for

CONFIG = ROOT / "deploy" / "nginx" / "video-playground.conf"
PASSWORD = "a-long-member-password-for-nginx"


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("nginx is missing: .ci/run installs Debian's (apt-get install nginx).")
    pytest.skip("nginx is not installed (apt-get install nginx); CI installs it and runs these tests.")


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def site_config(replacements: dict[str, str]) -> str:
    text = CONFIG.read_text()
    for old, new in replacements.items():
        assert old in text, f"the example config no longer has {old!r}; update this test with it"
        text = text.replace(old, new)
    return text


@dataclass
class Stack:
    https: str
    http: str
    gunicorn: str
    media: Path
    static: Path
    host_port: int
    tls: ssl.SSLContext
    env: dict[str, str]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, prepared_site: Prepared) -> Iterator[Stack]:
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("nginx")
    var, media, static = tmp / "var", tmp / "media", tmp / "static"
    for folder in (var, media, tmp / "logs"):
        folder.mkdir()
    # The run's migrated database and collected static files (what `migrate` and `collectstatic`
    # make on a new host), copied: this stack's own, as its own folders are.
    prepared_site.copy_database(var)
    prepared_site.copy_static(static)
    app_port, https_port, http_port = free_port(), free_port(), free_port()
    env = production_environment(
        var,
        DJANGO_SECRET_KEY="nginx-test-secret-" + "k" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_CSRF_TRUSTED_ORIGINS=f"https://127.0.0.1:{https_port}",
        DJANGO_BEHIND_HTTPS_PROXY="true",
        TRUSTED_PROXIES="127.0.0.1",
        MEDIA_X_ACCEL="true",
        MEDIA_ROOT=str(media),
        STATIC_ROOT=str(static),
        GUNICORN_BIND=f"127.0.0.1:{app_port}",
        # Two threads: without the proxy's buffering, two slow clients would already stop it.
        GUNICORN_THREADS="2",
        GUNICORN_ACCESS_LOG=str(tmp / "logs" / "gunicorn.log"),
        DJANGO_SUPERUSER_USERNAME="member",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        DJANGO_SUPERUSER_EMAIL="member@example.com",
    )
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"], cwd=ROOT, env=env, check=True
    )
    cert, key = self_signed(tmp)
    (tmp / "site.conf").write_text(
        site_config(
            {
                "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
                "listen 80;": f"listen 127.0.0.1:{http_port};",
                "listen [::]:80;": "",
                "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
                "listen [::]:443 ssl http2;": "",
                "/etc/letsencrypt/live/videos.example.com/fullchain.pem": str(cert),
                "/etc/letsencrypt/live/videos.example.com/privkey.pem": str(key),
                "/srv/video-playground/staticfiles/": f"{static}/",
                "/srv/video-playground/var/media/": f"{media}/",
                "/var/log/nginx/video-playground.log": str(tmp / "logs" / "access.log"),
            }
        )
    )
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    # pytest's folders are the owner's only; as root, nginx's workers must run as root to read them.
    user = "user root;" if os.geteuid() == 0 else ""
    (tmp / "nginx.conf").write_text(
        f"""{user}
daemon off;
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "logs" / "error.log"} warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp / "logs" / "access.log"};
{temp_paths}
    include {tmp / "site.conf"};
}}
"""
    )
    check = subprocess.run(
        [nginx, "-t", "-p", str(tmp), "-e", str(tmp / "logs" / "error.log"), "-c", str(tmp / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    web = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py"], cwd=ROOT, env=env
    )
    worker = subprocess.Popen([sys.executable, "manage.py", "worker"], cwd=ROOT, env=env)
    proxy = subprocess.Popen(
        [nginx, "-p", str(tmp), "-e", str(tmp / "logs" / "error.log"), "-c", str(tmp / "nginx.conf")]
    )
    try:
        wait_for(f"http://127.0.0.1:{app_port}/healthz", web)
        tls = ssl.create_default_context(cafile=str(cert))
        wait_for(f"https://127.0.0.1:{https_port}/healthz", proxy, verify=tls)
        yield Stack(
            https=f"https://127.0.0.1:{https_port}",
            http=f"http://127.0.0.1:{http_port}",
            gunicorn=f"http://127.0.0.1:{app_port}",
            media=media,
            static=static,
            host_port=https_port,
            tls=tls,
            env=env,
        )
    finally:
        for proc in (proxy, worker, web):
            stop(proc)


def client(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.https, verify=stack.tls, timeout=10)


@contextmanager
def signed_in(stack: Stack) -> Iterator[httpx.Client]:
    with client(stack) as member:
        yield sign_in(stack, member)


def sign_in(stack: Stack, member: httpx.Client) -> httpx.Client:
    page = member.get("/sign-in/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text
    answer = member.post(
        "/sign-in/",
        data={"csrfmiddlewaretoken": token[1], "login": "member", "password": PASSWORD},
        headers={"Referer": f"{stack.https}/sign-in/"},
    )
    assert answer.status_code == 302, answer.text
    return member
