"""A review link through the shipped nginx site: the app checks, nginx sends the bytes and the ranges,
the guest's headers survive the hand-over, and neither the app's nor nginx's logs hold the token."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.nginx_stack import Stack, client  # `stack`: the run's nginx + gunicorn (tests/nginx_stack.py)
from tests.servers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

MAKE = (
    "from django.contrib.auth.models import User; from playground.generations.models import Generation;"
    "from playground.review import links;"
    "m = User.objects.get(username='member');"
    "g = Generation.objects.create(created_by=m, model='video-01', prompt='A harbour at dawn',"
    " state='ready', video='videos/guest.mp4', video_size=1048576);"
    "other = Generation.objects.create(created_by=m, model='video-01', prompt='Not shared',"
    " state='ready', video='videos/guest.mp4', video_size=1048576);"
    "link, token = links.make(by=m, generation=g, days=1);"
    "print(g.pk, other.pk, token)"
)


def test_a_guest_plays_and_seeks_through_nginx_and_the_token_is_in_no_log(stack: Stack):
    body = bytes(range(256)) * 4096  # 1 MiB
    (stack.media / "videos").mkdir(exist_ok=True)
    (stack.media / "videos" / "guest.mp4").write_bytes(body)
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", MAKE],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    pk, other, token = made.stdout.split()
    with client(stack) as guest:
        page = guest.get(f"/s/{token}/")
        assert page.status_code == 200
        assert f"/s/{token}/v/{pk}/play" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-robots-tag"] == "noindex, nofollow"
        assert "set-cookie" not in page.headers
        ranged = guest.get(f"/s/{token}/v/{pk}/play", headers={"Range": "bytes=1000-1999"})
        assert ranged.status_code == 206
        assert ranged.headers["server"].startswith("nginx")
        assert "x-accel-redirect" not in ranged.headers
        assert ranged.headers["content-range"] == f"bytes 1000-1999/{len(body)}"
        assert ranged.content == body[1000:2000]
        assert ranged.headers["content-type"] == "video/mp4"
        assert ranged.headers["cache-control"] == "private, no-store"
        assert ranged.headers.get_list("x-robots-tag") == ["noindex, nofollow"]
        assert ranged.headers.get_list("referrer-policy") == ["no-referrer"]
        # Another video's id through this link, and the internal folder, answer nothing.
        assert guest.get(f"/s/{token}/v/{other}/play").status_code == 404
        assert guest.get("/protected-media/videos/guest.mp4").status_code == 404
        assert guest.get(f"/s/{token}/v/{pk}/download").status_code == 403
        assert guest.get(f"/s/{token}/no-such-page").status_code == 404
    logs = stack.media.parent / "logs"
    for log in ("gunicorn.log", "access.log"):
        text = (logs / log).read_text()
        assert "/s/" in text, log
        assert token not in text, log
