"""Error pages in the site's own look, in plain words, with no technical detail."""

from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from tests.factories import generation


def test_a_missing_page_is_a_friendly_404(signed_in: Client):
    response = signed_in.get("/videos/424242/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "We can't find that page" in html
    assert 'class="site-header"' in html
    assert "Traceback" not in html


def test_a_forbidden_action_is_a_friendly_403(client: Client, user, other_user):
    gen = generation(user, prompt="mine")
    client.force_login(other_user)
    response = client.post(reverse("delete", args=[gen.pk]))
    html = response.content.decode()
    assert response.status_code == 403
    assert "Only the person who made this video, or an admin, can delete it." in html


def test_a_stale_form_gets_a_plain_csrf_page(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("generate"), {"prompt": "x"})
    html = response.content.decode()
    assert response.status_code == 403
    assert "Please try that again" in html
    assert "CSRF verification failed" not in html


def test_a_server_error_is_a_calm_500(db):
    request = RequestFactory().get("/")
    request.user = get_user_model()()
    response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in html
    assert "Your videos are safe" in html
