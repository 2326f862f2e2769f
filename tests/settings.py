"""Settings for the test suite: the real settings, with test-only defaults in the environment."""

import os
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-" + "x" * 40)
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# Tests talk to the stand-in over real HTTP with a key, so the client code path is the
# production one; fixtures point AIMLAPI_BASE_URL at the stand-in they start.
os.environ.setdefault("AIMLAPI_KEY", "sk-test-NEVER-SHOWN-0123456789")
os.environ.setdefault("PLAYGROUND_VAR_DIR", os.path.join(tempfile.gettempdir(), f"playground-tests-{os.getpid()}"))

from playground.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
