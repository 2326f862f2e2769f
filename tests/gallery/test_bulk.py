"""Actions on many videos at once: one request, one transaction, one exact sentence, rights on the server."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from playground.gallery.bulk import MAX_SELECTION, whose
from playground.gallery.collections import videos_in_order
from playground.gallery.models import Collection, Star
from playground.generations.models import Generation, State
from tests.conftest import frames_and_videos
from tests.gallery.test_gallery import make
from tests.generations.test_detail_actions import ready


def said(response: Any) -> list[str]:
    return list(response.said)


def post(client: Client, name: str, ids: list[Any], **extra: Any) -> Any:
    response: Any = client.post(reverse(name), {"ids": ids, "next": "/gallery/?model=video-01", **extra})
    response.said = [str(m) for m in get_messages(response.wsgi_request)]
    if response.status_code == 302:
        client.get(reverse("usage"))  # shows (and so uses up) the messages, as the next page would
    return response


def test_star_says_exactly_what_it_did(signed_in: Client, user, other_user):
    rows = [make(other_user, f"Clip {i}") for i in range(15)]
    for gen in rows[:3]:
        Star.objects.create(user=user, generation=gen)
    Star.objects.create(user=other_user, generation=rows[5])  # bob's star is not mine
    response = post(signed_in, "bulk_star", [g.pk for g in rows])
    assert response.status_code == 302
    assert response["Location"] == "/gallery/?model=video-01"
    assert said(response) == ["Starred 12 videos; 3 were already starred."]
    assert Star.objects.filter(user=user).count() == 15


def test_star_counts_videos_deleted_meanwhile(signed_in: Client, user):
    gen = make(user)
    response = post(signed_in, "bulk_star", [gen.pk, 99999])
    assert said(response) == ["Starred 1 video; 1 was deleted by someone meanwhile."]


def test_an_empty_or_forged_selection_is_refused_plainly(signed_in: Client, user):
    assert said(post(signed_in, "bulk_star", [])) == ["Select at least one video first."]
    assert said(post(signed_in, "bulk_star", ["1; DROP"])) == [
        "The selection was not understood; reload the page and try again."
    ]
    too_many = list(range(1, MAX_SELECTION + 2))
    assert said(post(signed_in, "bulk_star", too_many)) == [
        f"{MAX_SELECTION + 1} videos are selected; one action can take at most {MAX_SELECTION}. "
        "Select fewer and do it in parts."
    ]
    assert Star.objects.count() == 0


def test_next_never_leaves_the_site(signed_in: Client, user):
    gen = make(user)
    response = signed_in.post(reverse("bulk_star"), {"ids": [gen.pk], "next": "https://evil.example/"})
    assert response["Location"] == "/gallery/"
    response = signed_in.post(reverse("bulk_star"), {"ids": [gen.pk], "next": "//evil.example/"})
    assert response["Location"] == "/gallery/"


def test_add_and_remove_say_what_they_did(signed_in: Client, user):
    harbour = Collection.objects.create(name="Harbour", created_by=user)
    link = f'<a href="/collections/{harbour.pk}/">“Harbour”</a>'
    rows = [make(user, f"Clip {i}") for i in range(5)]
    assert said(post(signed_in, "bulk_add", [rows[0].pk, rows[1].pk], collection=harbour.pk)) == [
        f"Added 2 videos to the end of {link}."
    ]
    assert said(post(signed_in, "bulk_add", [g.pk for g in rows], collection=harbour.pk)) == [
        f"Added 3 videos to the end of {link}; 2 were already in it."
    ]
    assert said(post(signed_in, "bulk_add", [rows[0].pk], collection=harbour.pk)) == [
        f"Nothing was added to {link}; 1 was already in it."
    ]
    assert harbour.entries.count() == 5
    assert said(post(signed_in, "bulk_remove", [rows[0].pk, rows[0].pk], collection=harbour.pk)) == [
        "Removed 1 video from “Harbour”. The videos themselves are kept."
    ]
    assert said(post(signed_in, "bulk_remove", [rows[0].pk, rows[1].pk], collection=harbour.pk)) == [
        "Removed 1 video from “Harbour”; 1 was not in it. The videos themselves are kept."
    ]
    assert Generation.objects.count() == 5


def test_added_videos_keep_the_posted_order_at_the_end_and_the_message_links_there(signed_in: Client, user):
    # The page's script posts the ids in the order the boxes were ticked (the order shown
    # without it); that order, not the gallery's newest-first, is the order they join in.
    trip = Collection.objects.create(name="Trip <2026>", created_by=user)
    first = make(user, "Already there")
    trip_url = reverse("collection", args=[trip.pk])
    post(signed_in, "bulk_add", [first.pk], collection=trip.pk)
    a, b, c = (make(user, f"Clip {n}") for n in "abc")
    response = post(signed_in, "bulk_add", [b.pk, c.pk, a.pk], collection=trip.pk)
    assert [g.pk for g in videos_in_order(trip)] == [first.pk, b.pk, c.pk, a.pk]
    assert said(response) == [f'Added 3 videos to the end of <a href="{trip_url}">“Trip &lt;2026&gt;”</a>.']
    # The next page shows the link as a link, and the name as text.
    shown = signed_in.post(
        reverse("bulk_add"), {"ids": [a.pk], "collection": trip.pk, "next": "/gallery/"}, follow=True
    )
    assert f'<a href="{trip_url}">“Trip &lt;2026&gt;”</a>' in shown.content.decode()


def test_add_to_a_collection_that_does_not_exist_is_404(signed_in: Client, user):
    gen = make(user)
    assert post(signed_in, "bulk_add", [gen.pk], collection=424242).status_code == 404
    assert post(signed_in, "bulk_add", [gen.pk]).status_code == 404
    assert post(signed_in, "bulk_remove", [gen.pk], collection="x").status_code == 404


def test_delete_confirms_once_saying_how_many_and_whose(client: Client, user, other_user):
    staff = get_user_model().objects.create_user("admin", is_staff=True)
    mine = [make(staff, "Mine") for _ in range(3)]
    alices = [make(user, "Alice's") for _ in range(2)]
    bobs = [make(other_user, "Bob's")]
    client.force_login(staff)
    ids = [g.pk for g in mine + alices + bobs]
    page = post(client, "bulk_delete", ids).content.decode()
    assert "Delete 6 videos?" in page
    assert "Of these, 3 are yours, 2 are by alice and 1 is by bob." in page
    assert Generation.objects.count() == 6  # nothing gone before the confirmation
    response = post(client, "bulk_delete", ids, confirm="yes")
    assert said(response) == ["Deleted 6 videos (3 yours, 2 by alice, 1 by bob)."]
    assert Generation.objects.count() == 0


def test_a_member_deletes_only_their_own_and_is_told_which_stay(
    signed_in: Client, user, other_user, django_capture_on_commit_callbacks
):
    mine = ready(user)
    bobs = make(other_user, "Bob's")
    page = post(signed_in, "bulk_delete", [mine.pk, bobs.pk]).content.decode()
    assert "Delete 1 video?" in page
    assert "Of these, 1 is yours." in page
    assert "still being made" not in page
    assert "1 selected video (1 by bob) will be kept" in page
    # The confirmation form carries only the deletable one.
    assert f'name="ids" value="{mine.pk}"' in page
    assert f'name="ids" value="{bobs.pk}"' not in page
    assert frames_and_videos()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(signed_in, "bulk_delete", [mine.pk], confirm="yes")
    assert said(response) == ["Deleted 1 video (1 yours)."]
    assert list(Generation.objects.values_list("pk", flat=True)) == [bobs.pk]
    assert frames_and_videos() == set()  # the files went after the rows


def test_deleting_videos_still_being_made_warns_about_the_charge(signed_in: Client, user):
    running = [make(user, "Going", state=State.RUNNING) for _ in range(2)]
    page = post(signed_in, "bulk_delete", [g.pk for g in running] + [make(user).pk]).content.decode()
    assert "2 of them are still being made. Deleting them here does not stop the video service" in page


def test_a_forged_delete_of_someone_elses_video_is_403_and_deletes_nothing(
    signed_in: Client, user, other_user
):
    mine = make(user)
    bobs = make(other_user)
    response = post(signed_in, "bulk_delete", [mine.pk, bobs.pk], confirm="yes")
    assert response.status_code == 403
    assert Generation.objects.count() == 2


def test_bulk_actions_need_a_post_and_a_sign_in(client: Client, user):
    gen = make(user)
    for name in ("bulk_star", "bulk_add", "bulk_remove", "bulk_delete", "bulk_zip"):
        response = client.post(reverse(name), {"ids": [gen.pk]})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    client.force_login(user)
    assert client.get(reverse("bulk_delete"), {"ids": [gen.pk]}).status_code == 405


def test_bulk_actions_need_the_csrf_token(user):
    gen = make(user)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(reverse("bulk_delete"), {"ids": [gen.pk], "confirm": "yes"}).status_code == 403
    assert Generation.objects.count() == 1


@pytest.mark.parametrize(
    ("makers", "short", "sentence"),
    [
        (["me"], "1 yours", "1 is yours"),
        (["bob", "me", "bob"], "1 yours, 2 by bob", "1 is yours and 2 are by bob"),
        (["cy", "bob", "bob"], "2 by bob, 1 by cy", "2 are by bob and 1 is by cy"),
    ],
)
def test_whose_names_the_makers_yours_first(user, other_user, makers, short, sentence):
    cy = get_user_model().objects.create_user("cy")
    people = {"me": user, "bob": other_user, "cy": cy}
    rows = [make(people[m]) for m in makers]
    assert whose(rows, user) == short
    assert whose(rows, user, sentence=True) == sentence
