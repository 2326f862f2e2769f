"""The "Tell me when it's ready" preference: per person, on the server, with and without JavaScript."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from playground.notify.notifications import NotifyPreference
from tests import factories

URL = reverse("notify_preference")


@pytest.mark.django_db
def test_the_preference_is_saved_per_person_and_shown_on_a_running_job(
    signed_in: Client, user: Any, other_user: Any
):
    gen = factories.generation(created_by=user, model="video-01", prompt="A kite over the dunes")
    page = signed_in.get(reverse("generation", args=[gen.pk])).content.decode()
    assert 'data-on="false"' in page and "Tell me when it's ready" in page

    answer = signed_in.post(URL, {"when_done": "on"}, HTTP_ACCEPT="application/json")
    assert answer.json() == {"when_done": True}
    assert NotifyPreference.objects.get(user=user).when_done
    assert not NotifyPreference.objects.filter(user=other_user).exists()
    page = signed_in.get(reverse("generation", args=[gen.pk])).content.decode()
    assert 'data-on="true"' in page and "Stop telling me" in page

    other = Client()
    other.force_login(other_user)
    assert 'data-on="false"' in other.get(reverse("generation", args=[gen.pk])).content.decode()


@pytest.mark.django_db
def test_without_javascript_the_form_saves_and_comes_back(signed_in: Client, user: Any):
    back = signed_in.post(URL, {"when_done": "on", "next": "/videos/7/"})
    assert back.status_code == 302 and back["Location"] == "/videos/7/"
    assert NotifyPreference.objects.get(user=user).when_done
    signed_in.post(URL, {"when_done": "off", "next": "https://evil.example.com/"})
    assert not NotifyPreference.objects.get(user=user).when_done


@pytest.mark.django_db
def test_a_finished_job_offers_no_button(signed_in: Client, user: Any):
    gen = factories.generation(created_by=user, model="video-01", prompt="x", state="failed")
    assert "notify-control" not in signed_in.get(reverse("generation", args=[gen.pk])).content.decode()


def test_signing_in_is_needed(client: Client, db: None):
    assert client.post(URL, {"when_done": "on"}).status_code == 302
