"""The worker sends each model's options from the row, and polls on the route it created on."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from playground.generations import apicode
from playground.generations.models import Generation, State
from playground.lib import videofiles
from playground.upstream import aimlapi
from playground.worker.loop import Worker
from tests import factories
from tests.factories import image_bytes
from tests.worker.test_worker import creates, drive, make

pytestmark = pytest.mark.django_db


def with_last_frame(gen: Generation, data: bytes) -> Generation:
    gen.end_frame = default_storage.save("first-frames/test/last.png", ContentFile(data))
    gen.save()
    return gen


def test_a_hailuo_02_row_sends_both_frames_its_resolution_and_length(worker, upstream, user):
    upstream.app.video_seconds = None  # the job's own length
    gen = make(
        user,
        model="minimax/hailuo-02",
        frame=image_bytes(640, 360),
        resolution="1080P",
        duration_seconds=6,
    )
    with_last_frame(gen, image_bytes(640, 360, "PNG"))
    drive(worker, timeout=30)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    (create,) = creates(upstream)
    assert create.path == "/v2/video/generations"
    assert create.body.keys() == {
        "model",
        "prompt",
        "enhance_prompt",
        "image_url",
        "last_image_url",
        "resolution",
        "duration",
    }
    assert (create.body["resolution"], create.body["duration"]) == ("1080P", 6)
    assert gen.upstream_route == "universal"
    info = videofiles.inspect_video(Path(settings.MEDIA_ROOT) / gen.video.name)
    assert info.duration == pytest.approx(6.0, abs=0.3)


def test_a_row_without_options_sends_none_and_gets_the_models_defaults(worker, upstream, user):
    gen = make(user, model="minimax/hailuo-2.3")
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    (create,) = creates(upstream)
    assert create.body.keys() == {"model", "prompt", "enhance_prompt"}
    assert upstream.app.job(gen.upstream_id)["resolution"] == "768P"


def test_live2d_on_the_universal_route_is_polled_there_even_after_switching_back(upstream, user, png):
    switched = Worker(client=upstream.client(routes={"video-01-live2d": "universal"}), threads=1, name="w1")
    gen = make(user, model="video-01-live2d", frame=png)
    drive(switched, until=lambda: Generation.objects.filter(pk=gen.pk, state=State.RUNNING).exists())
    gen.refresh_from_db()
    assert gen.upstream_route == "universal"
    back = Worker(client=upstream.client(), threads=1, name="w2")
    drive(back)
    gen.refresh_from_db()
    assert gen.state == State.READY, gen.failure_reason
    assert {call.path for call in upstream.app.calls if call.endpoint in {"create", "poll"}} == {
        "/v2/video/generations"
    }
    switched.client.close()
    back.client.close()


def test_a_retired_legacy_route_fails_the_job_with_the_setting_named(standin_factory, settings, user, png):
    running = standin_factory(legacy_routes=False)
    settings.AIMLAPI_BASE_URL = running.url
    worker = Worker(client=running.client(), threads=1, name="w")
    gen = make(user, model="video-01-live2d", frame=png)
    drive(worker)
    gen.refresh_from_db()
    assert gen.state == State.FAILED
    assert "Set LIVE2D_ROUTE=universal" in gen.failure_reason
    assert gen.failure_code == "refused"


def body_of(code: str) -> dict[str, Any]:
    tree = ast.parse(code)
    node = next(
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and n.targets[0].id == "body"
    )
    value = ast.literal_eval(node)
    assert isinstance(value, dict)
    return value


def test_the_api_code_keeps_every_option(user, png):
    gen = make(user, model="minimax/hailuo-02", frame=png, resolution="768P", duration_seconds=10)
    with_last_frame(gen, png)
    code = apicode.for_generation(gen)
    body = body_of(code.python)
    assert body == {
        "model": "minimax/hailuo-02",
        "prompt": gen.prompt,
        "enhance_prompt": True,
        "image_url": apicode.IMAGE_PLACEHOLDER,
        "last_image_url": apicode.LAST_IMAGE_PLACEHOLDER,
        "resolution": "768P",
        "duration": 10,
    }
    assert "https://api.aimlapi.com/v2/video/generations" in code.curl


def test_the_api_code_shows_the_route_a_live2d_job_went_out_on(user, png, settings):
    settings.LIVE2D_ROUTE = "universal"
    unsent = make(user, model="video-01-live2d", frame=png)
    assert "image_url" in body_of(apicode.for_generation(unsent).python)
    sent = make(user, model="video-01-live2d", frame=png, upstream_route="legacy")
    code = apicode.for_generation(sent)
    assert "first_frame_image" in body_of(code.python)
    assert aimlapi.endpoint("video-01-live2d", "legacy") in code.python


@pytest.mark.django_db(transaction=True)
def test_the_migration_records_the_route_of_jobs_sent_before_it(user):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("playground", "0003_prompt_search_indexes")])
    old = executor.loader.project_state([("playground", "0003_prompt_search_indexes")]).apps
    row = old.get_model("playground", "Generation")
    sent = row.objects.create(model="video-01-live2d", prompt="a", upstream_id="123456789012345")
    unsent = row.objects.create(model="video-01-live2d", prompt="b")
    plain = row.objects.create(model="video-01", prompt="c", upstream_id="x:video-01")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    routes = dict(Generation.objects.values_list("pk", "upstream_route"))
    assert routes == {sent.pk: "legacy", unsent.pk: "", plain.pk: "universal"}
    # The search index still follows new rows after the table was rebuilt (SQLite).
    factories.generation(created_by=user, model="video-01", prompt="A zebra on ice")
    from playground.gallery.filters import search

    assert search(Generation.objects.all(), ["zebra"]).count() == 1


def test_the_last_frame_is_sent_as_the_type_its_check_found_not_as_its_name_says(worker, upstream, user):
    # A row whose stored name says .jpg but whose check found a PNG: the stored type decides.
    gen = make(user, model="minimax/hailuo-02", frame=image_bytes(640, 360))
    gen.end_frame = default_storage.save(
        "first-frames/test/last.jpg", ContentFile(image_bytes(640, 360, "PNG"))
    )
    gen.end_frame_type = "image/png"
    gen.save()
    drive(worker, timeout=30)
    (create,) = creates(upstream)
    assert create.body["last_image_url"].startswith("data:image/png;base64,")
