"""The generation page, its htmx status fragment, and the stored files behind it."""

import re
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from playground.generations.models import Generation, State
from playground.lib.models import WorkerHeartbeat
from tests.factories import generation

HTMX = {"HX-Request": "true"}


@pytest.fixture
def gen(user):
    return generation(user, prompt="A lighthouse in a storm")


@pytest.fixture
def ready_gen(user):
    video = default_storage.save("videos/2026/11/abc.mp4", ContentFile(bytes(range(256)) * 40))
    poster = default_storage.save("posters/2026/11/abc.jpg", ContentFile(b"\xff\xd8poster"))
    return generation(
        created_by=user,
        model="video-01-live2d",
        prompt="Mona Lisa puts on glasses with her hands",
        state=State.READY,
        video=video,
        poster=poster,
        duration=6.0,
        finished_at=timezone.now(),
    )


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def url(g: Generation) -> str:
    return reverse("generation", args=[g.pk])


def test_it_redirects_anonymous_visitors_to_sign_in(client: Client, gen):
    response = client.get(url(gen))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_page_polls_while_the_job_runs(signed_in: Client, gen):
    html = signed_in.get(url(gen)).content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert "Waiting in queue" in html
    assert "A lighthouse in a storm" in html


def test_the_fragment_is_the_status_alone_with_a_title(signed_in: Client, gen):
    html = signed_in.get(url(gen), headers=HTMX).content.decode()
    assert html.lstrip().startswith("<title>Waiting in queue")
    assert 'id="status"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "<header" not in html
    assert "Request</h2>" not in html


@pytest.mark.parametrize(
    ("state", "upstream_status", "words"),
    [
        (State.SUBMITTING, "", "Sending to the video service"),
        (State.RUNNING, "queued", "Waiting in the video service&#x27;s queue"),
        (State.RUNNING, "generating", "Generating"),
        (State.ARCHIVING, "completed", "Saving the video"),
    ],
)
def test_the_fragment_names_each_stage(signed_in: Client, gen, state, upstream_status, words):
    Generation.objects.filter(pk=gen.pk).update(state=state, upstream_status=upstream_status)
    html = signed_in.get(url(gen), headers=HTMX).content.decode()
    assert words in html
    assert 'hx-trigger="every 2s"' in html


def test_polling_stops_when_ready_and_the_video_embeds(signed_in: Client, ready_gen):
    html = signed_in.get(url(ready_gen), headers=HTMX).content.decode()
    assert "hx-trigger" not in html
    assert "<video" in html
    assert "controls" in html
    assert reverse("media", args=[ready_gen.video.name]) in html
    assert reverse("media", args=[ready_gen.poster.name]) in html
    assert reverse("download", args=[ready_gen.pk]) in html


def test_the_last_fragment_also_brings_the_finished_details(signed_in: Client, ready_gen):
    Generation.objects.filter(pk=ready_gen.pk).update(upstream_id="job-42", credits_used=3)
    html = signed_in.get(url(ready_gen), headers=HTMX).content.decode()
    outcome = html[html.index('<div id="outcome"') :]
    assert outcome.startswith('<div id="outcome" class="outcome" hx-swap-oob="true">')
    for words in ("Finished", "6.0 s", "Credits used", "job-42"):
        assert words in outcome


def test_a_running_fragment_leaves_the_details_alone(signed_in: Client, gen):
    Generation.objects.filter(pk=gen.pk).update(state=State.RUNNING, upstream_id="job-42")
    html = signed_in.get(url(gen), headers=HTMX).content.decode()
    assert 'id="outcome"' not in html


def test_the_whole_page_holds_the_details_in_place(signed_in: Client, ready_gen):
    html = signed_in.get(url(ready_gen)).content.decode()
    assert html.count('id="outcome"') == 1
    assert "hx-swap-oob" not in html


def test_polling_stops_when_failed_and_the_reason_shows(signed_in: Client, gen):
    Generation.objects.filter(pk=gen.pk).update(
        state=State.FAILED,
        failure_reason="The API key was refused by the AI/ML API.",
        finished_at=timezone.now(),
    )
    html = signed_in.get(url(gen), headers=HTMX).content.decode()
    assert "hx-trigger" not in html
    assert "The API key was refused by the AI/ML API." in html
    # The Remix button beside the title becomes Retry without a reload.
    assert re.search(r'<a id="again" class="button" href="[^"]+" hx-swap-oob="true">Retry</a>', html)


def test_passing_trouble_is_shown(signed_in: Client, gen):
    Generation.objects.filter(pk=gen.pk).update(trouble="The video service is having trouble right now.")
    assert "having trouble" in signed_in.get(url(gen), headers=HTMX).content.decode()


def test_a_missing_worker_is_pointed_out_and_a_live_one_is_not(signed_in: Client, gen):
    assert "No worker is running" in signed_in.get(url(gen), headers=HTMX).content.decode()
    WorkerHeartbeat.beat("w1")
    assert "No worker is running" not in signed_in.get(url(gen), headers=HTMX).content.decode()
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timedelta(minutes=5))
    assert "No worker is running" in signed_in.get(url(gen), headers=HTMX).content.decode()


@pytest.mark.parametrize("state", [State.QUEUED, State.RUNNING, State.READY, State.FAILED])
def test_the_fragment_makes_a_small_fixed_number_of_queries(
    signed_in: Client, gen, state, django_assert_num_queries
):
    Generation.objects.filter(pk=gen.pk).update(state=state)
    # Session, user, the generation, and (only while queued) the worker heartbeat.
    expected = 4 if state == State.QUEUED else 3
    with django_assert_num_queries(expected):
        signed_in.get(url(gen), headers=HTMX)


def test_prompts_are_escaped(signed_in: Client, user):
    g = generation(user, prompt='<script>alert("x")</script>')
    html = signed_in.get(url(g)).content.decode()
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html


def test_an_unknown_generation_is_404(signed_in: Client, db):
    assert signed_in.get(reverse("generation", args=[999])).status_code == 404


# --- Stored files --------------------------------------------------------------------------


def test_media_needs_sign_in(client: Client, ready_gen):
    response = client.get(reverse("media", args=[ready_gen.video.name]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_media_is_served_whole_with_its_type(signed_in: Client, ready_gen):
    response = signed_in.get(reverse("media", args=[ready_gen.video.name]))
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body_of(response) == bytes(range(256)) * 40


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, 10239),
        ("bytes=-10", 10230, 10239),
        ("bytes=10000-99999", 10000, 10239),
    ],
)
def test_media_honours_a_byte_range(signed_in: Client, ready_gen, header, start, end):
    response = signed_in.get(reverse("media", args=[ready_gen.video.name]), HTTP_RANGE=header)
    body = body_of(response)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/10240"
    assert body == (bytes(range(256)) * 40)[start : end + 1]
    assert int(response["Content-Length"]) == len(body)


def test_an_unsatisfiable_range_is_416(signed_in: Client, ready_gen):
    response = signed_in.get(reverse("media", args=[ready_gen.video.name]), HTTP_RANGE="bytes=20000-")
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10240"


@pytest.mark.parametrize(
    "name", ["../settings.py", "videos/../../x", "secrets/key.txt", "videos/missing.mp4"]
)
def test_media_outside_the_served_folders_or_missing_is_404(signed_in: Client, name, db):
    assert signed_in.get(reverse("media", args=[name])).status_code == 404


def test_download_has_a_readable_file_name(signed_in: Client, ready_gen):
    response = signed_in.get(reverse("download", args=[ready_gen.pk]))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert (
        f"{ready_gen.created_at:%Y-%m-%d}_video-01-live2d_mona-lisa-puts-on-glasses-with.mp4" in disposition
    )


def test_download_of_an_unfinished_video_is_404(signed_in: Client, gen):
    assert signed_in.get(reverse("download", args=[gen.pk])).status_code == 404
