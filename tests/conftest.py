from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from playground.worker.loop import Worker

# Re-exported for modules written before factories.py held them; new code imports from there.
from tests.factories import PASSWORD as PASSWORD
from tests.factories import frames_and_videos as frames_and_videos
from tests.factories import image_bytes, member
from tests.factories import media_files as media_files
from tests.servers import Prepared, prepare

if TYPE_CHECKING:
    # Only a type here: importing the plugin module itself would happen before pytest can
    # rewrite its asserts.
    from tests.standin_fixtures import RunningStandIn

pytest_plugins = [
    "tests.standin_fixtures",
    "tests.browser_fixtures",
    "tests.worker_processes",
    "tests.mailserver",
    "tests.oidc.fixtures",
    "tests.nginx_stack",
]


# A test touches the database engine when it asks for one of these (directly or through another
# fixture: pytest lists the whole closure in item.fixturenames) or carries the django_db mark.
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def pytest_addoption(parser: Any) -> None:
    parser.addoption(
        "--database-pass",
        action="store_true",
        help=(
            "a further database's pass: run only the tests that touch the database engine, leaving out "
            "the browser tests and the tests that need no database (the first pass ran those)"
        ),
    )
    parser.addoption(
        "--screenshots",
        action="store_true",
        help="also take the README's screenshots (python3 dev.py screenshots); left out of ordinary runs",
    )


def touches_database(item: Any) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(
        DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
    )


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Leave out (deselect, not skip) tests written for the other database engine.

    CI runs the suite on SQLite (everything) and again on PostgreSQL with --database-pass; a few
    features exist for one engine only (the built-in backup is for the embedded SQLite default), and
    each run covers its own. The second pass leaves out what does not depend on the engine: browser
    tests (the pages they drive are the same on both) and tests that never open the database.
    The README's screenshots are taken on demand (python3 dev.py screenshots), not on every run.
    """
    engine = "sqlite" if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") else "postgresql"
    other = "postgresql_only" if engine == "sqlite" else "sqlite_only"

    def wanted(item: Any) -> bool:
        if other in item.keywords:
            return False
        if "screenshots" in item.keywords and not config.getoption("--screenshots"):
            return False
        if config.getoption("--database-pass"):
            # A test written for this engine alone runs here whatever it is, or it would run nowhere.
            mine = "sqlite_only" if other == "postgresql_only" else "postgresql_only"
            return mine in item.keywords or ("browser" not in item.keywords and touches_database(item))
        return True

    kept = [item for item in items if wanted(item)]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if not wanted(item)])
        items[:] = kept


@pytest.fixture(scope="session")
def prepared_site(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """A migrated embedded database and collected static files, made once per run for the tests
    that start production processes (tests/servers.py, Prepared: copy them, never change them)."""
    return prepare(tmp_path_factory.mktemp("prepared"))


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    """Every test stores files in its own folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def quick_worker_settings(settings: Any) -> None:
    settings.POLL_INTERVAL = 0.1
    settings.WORKER_RETRY_BASE = 0.05
    settings.WORKER_RETRY_CAP = 0.5
    settings.ARCHIVE_RETRY_BASE = 0.02
    settings.ARCHIVE_RETRY_CAP = 0.1
    settings.ARCHIVE_PATIENCE = 0.5
    # Chores run only where a test asks for them (tests/worker/test_housekeeping.py).
    settings.HOUSEKEEPING_STAGING_EVERY = 0
    settings.HOUSEKEEPING_ORPHANS_EVERY = 0
    settings.RECOVERY_LOOK_EVERY = 0.1
    settings.RECOVERY_WINDOW = 5.0


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Each test starts with empty caches: allauth counts sign-ins per address there (30 a minute
    from one address by default), and the browser tests all sign in from 127.0.0.1, so counts left by
    earlier tests in this process made a later sign-in answer 429 once the run went fast enough."""
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        cache.clear()


@pytest.fixture(autouse=True)
def no_second_factor_rule() -> None:
    """Each test's database starts with no second-factor rule: forget the copy an earlier test left
    in this process (playground/team/mfa.py keeps one for a few seconds)."""
    from playground.team import mfa
    from playground.team.models import SecondFactorRule

    mfa.remember_rule(SecondFactorRule.NOBODY)


@pytest.fixture
def upstream(standin: RunningStandIn, settings: Any) -> RunningStandIn:
    """The stand-in, with the app's settings pointing at it (as a real deployment would)."""
    settings.AIMLAPI_BASE_URL = standin.url
    return standin


@pytest.fixture
def user(db: None) -> User:
    return member("alice")


@pytest.fixture
def other_user(db: None) -> User:
    return member("bob")


@pytest.fixture
def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def worker(upstream: RunningStandIn) -> Iterator[Worker]:
    w = Worker(client=upstream.client(), threads=2, name="test-worker")
    yield w
    w.client.close()


@pytest.fixture
def png() -> bytes:
    return image_bytes(640, 480, "PNG")


@pytest.fixture
def jpeg() -> bytes:
    return image_bytes(800, 600, "JPEG")


class _ImageServer:
    """A loopback HTTP server that serves whatever bytes a test puts at a path."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        files: dict[str, tuple[bytes, str]] = {}
        self.files = files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, content_type = files.get(self.path, (b"not found", "text/plain"))
                self.send_response(200 if self.path in files else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def put(self, path: str, body: bytes, content_type: str = "image/png") -> str:
        self.files[path] = (body, content_type)
        return f"http://{self.host}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def image_server(settings: Any) -> Iterator[_ImageServer]:
    server = _ImageServer()
    settings.IMAGE_LINK_ALLOWED_HOSTS = [server.host]
    yield server
    server.close()
