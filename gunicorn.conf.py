"""Gunicorn's settings for the web process: `gunicorn -c gunicorn.conf.py` (see docs/running.md and Procfile).

Threads, not just processes: a signed-in visitor playing a video from local media holds a thread
while the browser reads the file, and a page waits on the database, so a few threads per process
keep slow readers from queueing the quick status polls. Python runs one thread at a time per
process, so there is one process per core. bench/serving.py measured 2×4, 3×4, 3×8, 4×2 and 5×1
(processes × threads) on 2 cores within noise of each other for throughput; more threads per
process only lengthened the slowest answers (GIL contention). Every number can be changed from
the environment.
"""

import ipaddress
import os
from typing import Any

wsgi_app = "playground.wsgi:application"
# Behind a reverse proxy or load balancer on the same host; set GUNICORN_BIND=0.0.0.0:8000 otherwise.
bind = [os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")]


def _loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Production settings over plain HTTP (dev.py start) are only for an address no one else reaches.
if os.environ.get("DJANGO_LOOPBACK_HTTP", "").strip().lower() in {"1", "true", "yes", "on"}:
    for address in bind:
        if not _loopback(address):
            raise SystemExit(
                f"DJANGO_LOOPBACK_HTTP is on, so gunicorn may listen on loopback only, not {address}."
            )
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))


def post_worker_init(worker: Any) -> None:
    """Zips may hold only a share of this process's threads (gallery/zipdownload.py): tell it how many."""
    from playground.gallery import zipdownload

    zipdownload.use_threads(worker.cfg.threads)


# Idle keep-alive connections wait in the worker's poller, not in a thread, so they are cheap.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# A worker that stops answering its master for this long is restarted. Long video downloads
# are fine: in gthread workers the heartbeat runs beside the request threads.
timeout = 60
# On SIGTERM requests in flight get this long to finish. Gunicorn 25's gthread worker also waits
# this long while any idle keep-alive connection (a browser's) is open, so a stop may take it all;
# Ctrl-C (SIGINT) stops at once.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Restarting each process now and then bounds any slow leak (staggered so they don't all go at once).
max_requests = 20000
max_requests_jitter = 2000
# Settings errors stop the master at once, with the sentence that names the variable.
preload_app = True
# Only the local proxy may say a request came over HTTPS (pair with DJANGO_BEHIND_HTTPS_PROXY).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
# A review link's address holds its token: the access log writes /s/… instead (review/guest_logs.py).
logger_class = "playground.review.guest_logs.RedactingGunicornLogger"
errorlog = "-"
# Gunicorn 25's control socket defaults to one path per user; several web processes on one host
# would fight over it, and nothing here uses gunicornc.
control_socket_disable = True
