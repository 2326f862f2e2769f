"""The streamed zip through the shipped nginx site: it arrives whole, named, unbuffered by nginx."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile

import pytest

from tests.nginx_stack import Stack, signed_in  # `stack`: the run's nginx + gunicorn (tests/nginx_stack.py)
from tests.servers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

MAKE = (
    "from django.contrib.auth.models import User; from playground.generations.models import Generation;"
    "m = User.objects.get(username='member');"
    "print(' '.join(str(Generation.objects.create(created_by=m, model='video-01', prompt=f'Harbour take {i}',"
    " state='ready', video=f'videos/zip-{i}.mp4', video_size=300000).pk) for i in range(3)))"
)


def test_a_zip_of_several_videos_streams_through_nginx(stack: Stack):
    (stack.media / "videos").mkdir(exist_ok=True)
    bodies = [bytes([i]) * 300000 for i in range(3)]
    for i, body in enumerate(bodies):
        (stack.media / "videos" / f"zip-{i}.mp4").write_bytes(body)
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", MAKE],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    ids = made.stdout.split()
    with signed_in(stack) as member:
        page = member.get("/gallery/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token
        with member.stream(
            "POST",
            "/bulk/zip/",
            data={"csrfmiddlewaretoken": token[1], "ids": ids},
            headers={"Referer": f"{stack.https}/gallery/"},
        ) as answer:
            assert answer.status_code == 200
            assert answer.headers["server"].startswith("nginx")
            assert answer.headers["content-type"] == "application/zip"
            assert "x-accel-buffering" not in answer.headers  # nginx takes it for itself
            body = b"".join(answer.iter_bytes())
            assert int(answer.headers["content-length"]) == len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        names = archive.namelist()
        assert names[-1] == "index.csv"
        assert len(names) == 4
        assert sorted(archive.read(n) for n in names[:3]) == sorted(bodies)
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d_video-01_harbour-take-\d\.mp4", n) for n in names[:3])
