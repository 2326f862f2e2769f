"""Where Debian's Chromium is and how it is started: shared by the browser tests and bench/.

No Django here, so the benchmarks can import it before any settings exist.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Headless, and quiet on this network: without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which a closed machine refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """CHROMIUM_PATH if set, else the chromium on PATH, else Debian's; None when none exists."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).exists():
            return candidate
    return None
