"""Settings for the test suite: the real settings, with test-only defaults in the environment."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# Tests talk to the stand-in over real HTTP with a key, so the client code path is the
# production one; fixtures point AIMLAPI_BASE_URL at the stand-in they start.
os.environ.setdefault("AIMLAPI_KEY", "sk-test-NEVER-SHOWN-0123456789")
# The test client and the live test server speak plain HTTP; everything else stays as in production.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
# Each test run gets its own folder for the test database and temporary files, so two runs never
# share a database. Worker processes started by tests inherit the variable and find the same one.
if "PLAYGROUND_VAR_DIR" not in os.environ:
    os.environ["PLAYGROUND_VAR_DIR"] = tempfile.mkdtemp(prefix="playground-tests-")
    atexit.register(shutil.rmtree, os.environ["PLAYGROUND_VAR_DIR"], ignore_errors=True)

# The key's limits are unlimited unless a test sets them (tests of the limits do), so other
# tests' workers are not held to 20 creates a minute.
os.environ.setdefault("UPSTREAM_MAX_IN_FLIGHT", "none")
os.environ.setdefault("UPSTREAM_CREATES_PER_MINUTE", "none")

from playground.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = VAR_DIR / "static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Django's live test server serves MEDIA_URL itself, bypassing our signed-in, ranged view;
# point it somewhere nothing links to, so browser tests go through the real view.
MEDIA_URL = "/test-server-media-bypass/"
