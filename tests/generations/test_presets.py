"""Shared prompt presets: saved from the Generate form, used in one click, changed by maker or staff."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from playground.generations.models import Generation, Preset
from playground.upstream.videomodels import PROMPT_MAX_CHARS
from tests.generations.test_detail_actions import ready

SAVE = reverse("preset_save")


def form(**fields: Any) -> dict[str, Any]:
    return {
        "submission_token": str(uuid.uuid4()),
        "model": "video-01",
        "prompt": "A lighthouse at dusk, slow pan",
        "enhance_prompt": "on",
        "preset_name": "Lighthouse",
        **fields,
    }


def test_saving_keeps_the_form_and_shares_it_with_the_team(signed_in: Client, client, user, other_user):
    response = signed_in.post(SAVE, form(enhance_prompt=""))
    preset = Preset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('generate')}?preset={preset.pk}"
    assert (preset.name, preset.model, preset.prompt, preset.enhance_prompt) == (
        "Lighthouse",
        "video-01",
        "A lighthouse at dusk, slow pan",
        False,
    )
    assert preset.created_by == user
    assert Generation.objects.count() == 0  # saving a preset starts no video
    client.force_login(other_user)
    page = client.get(reverse("generate")).content.decode()
    assert f'href="{reverse("generate")}?preset={preset.pk}"' in page
    assert "Use “Lighthouse”" in page
    assert reverse("preset_edit", args=[preset.pk]) not in page  # bob may use it, not change it


def test_using_a_preset_fills_the_form_with_its_first_frame_attached_as_remix_does(
    signed_in: Client, user, png
):
    source = ready(user, png, prompt="Kite")
    response = signed_in.post(
        SAVE,
        form(
            model="video-01-live2d",
            reuse_first_frame=source.pk,
            preset_keep_first_frame="on",
            preset_name="Kite",
        ),
    )
    preset = Preset.objects.get()
    assert preset.first_frame_from == source
    page = signed_in.get(response["Location"]).content.decode()
    assert "A lighthouse at dusk, slow pan" in page
    assert re.search(r'<input[^>]*value="video-01-live2d"[^>]*checked', page)
    assert f'name="reuse_first_frame" value="{source.pk}"' in page
    assert f'Using the first frame of <a href="{source.get_absolute_url()}">video #{source.pk}</a>' in page


def test_a_preset_made_from_a_preset_form_really_generates(signed_in: Client, user, png, settings):
    source = ready(user, png)
    signed_in.post(
        SAVE, form(model="video-01-live2d", reuse_first_frame=source.pk, preset_keep_first_frame="on")
    )
    preset = Preset.objects.get()
    page = signed_in.get(reverse("generate"), {"preset": preset.pk}).content.decode()
    token = page.split('name="submission_token" value="')[1].split('"')[0]
    response = signed_in.post(
        reverse("generate"),
        {
            "submission_token": token,
            "model": "video-01-live2d",
            "prompt": preset.prompt,
            "reuse_first_frame": source.pk,
            "enhance_prompt": "on",
        },
    )
    made = Generation.objects.exclude(pk=source.pk).get()
    assert response["Location"] == made.get_absolute_url()
    # The source's picture, read from storage and checked again, in a copy of its own (as Remix does).
    assert made.first_frame_sha256 == hashlib.sha256(png).hexdigest()
    assert made.first_frame.name != source.first_frame.name


def test_leaving_the_first_frame_out_is_a_choice(signed_in: Client, user, png):
    source = ready(user, png)
    signed_in.post(SAVE, form(reuse_first_frame=source.pk))  # the box unticked
    assert Preset.objects.get().first_frame_from is None


def test_a_freshly_chosen_picture_is_not_kept_and_the_preset_says_so(signed_in: Client, user, png):
    # The Save as preset button posts URL-encoded, so a chosen file arrives as its name only.
    response = signed_in.post(SAVE, form(first_frame="holiday.png"), follow=True)
    assert Preset.objects.get().first_frame_from is None
    assert "It keeps the words but not the picture you chose" in response.content.decode()


def test_a_bad_preset_is_refused_with_the_rule_and_the_form_is_kept(signed_in: Client, user):
    response = signed_in.post(SAVE, form(preset_name=""))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Give the preset a name, so the team can find it." in html
    assert "A lighthouse at dusk, slow pan" in html
    too_long = "x" * (PROMPT_MAX_CHARS + 1)
    html = signed_in.post(SAVE, form(prompt=too_long)).content.decode()
    assert (
        f"The prompt is {PROMPT_MAX_CHARS + 1:,} characters long. It may be at most {PROMPT_MAX_CHARS:,} characters."
        in html
    )
    html = signed_in.post(SAVE, form(model="video-99")).content.decode()
    assert "Select a valid choice. video-99 is not one of the available choices." in html
    assert Preset.objects.count() == 0


def test_only_the_maker_or_staff_edit_or_delete(client: Client, user, other_user):
    preset = Preset.objects.create(name="Mine", model="video-01", prompt="p", created_by=user)
    client.force_login(other_user)
    assert client.get(reverse("preset_edit", args=[preset.pk])).status_code == 403
    assert client.post(reverse("preset_edit", args=[preset.pk]), {"name": "Bob's"}).status_code == 403
    assert client.post(reverse("preset_delete", args=[preset.pk])).status_code == 403
    assert client.get(reverse("generate"), {"preset": 9999}).status_code == 404
    client.force_login(user)
    response = client.post(
        reverse("preset_edit", args=[preset.pk]),
        {"name": "Renamed", "model": "video-01-live2d", "prompt": "q"},
    )
    assert response.status_code == 302
    preset.refresh_from_db()
    assert (preset.name, preset.model, preset.prompt, preset.enhance_prompt) == (
        "Renamed",
        "video-01-live2d",
        "q",
        False,
    )
    staff = get_user_model().objects.create_user("admin", is_staff=True)
    client.force_login(staff)
    assert client.post(reverse("preset_delete", args=[preset.pk])).status_code == 302
    assert Preset.objects.count() == 0


def test_deleting_the_source_video_keeps_the_preset_without_its_picture(signed_in: Client, user, png):
    source = ready(user, png)
    preset = Preset.objects.create(
        name="K", model="video-01", prompt="p", created_by=user, first_frame_from=source
    )
    signed_in.post(reverse("delete", args=[source.pk]))
    preset.refresh_from_db()
    assert preset.first_frame_from is None
    page = signed_in.get(reverse("generate"), {"preset": preset.pk}).content.decode()
    assert "Using the first frame" not in page
