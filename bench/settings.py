"""The production settings, plus one page that exists only in benchmarks (see bench/urls.py)."""

from playground.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
