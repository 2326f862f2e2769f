"""Keeping review-link tokens out of the logs: every guest address holds its link's token.

Two writers see the path: Django (its request log names the path of a 4xx or 5xx answer, as does
runserver's) and gunicorn's access log. `redact` turns /s/<token>/… into /s/…/…; the logging filter
below runs on the app's console handler (settings.LOGGING) and the gunicorn logger class (named in
gunicorn.conf.py) applies it to every access-log value. nginx's own access log is set up the same
way in deploy/nginx/ (a map of the request line).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

GUEST_PREFIX = "/s/"
_TOKEN_IN_PATH = re.compile(r"/s/[^/?#\s\"']+")


def redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub("/s/…", text)


class RedactTokens(logging.Filter):
    """Rewrites a record whose message names a guest address (the message is formatted first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        if "/s/" in message:
            record.msg, record.args = redact(message), None
        return True


class RedactingGunicornLogger(Logger):  # type: ignore[misc]  # gunicorn has no types
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
