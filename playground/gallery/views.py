"""The gallery's pages: the filtered, paged gallery, its one poll for cards in progress, a card, a star."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from playground.gallery.collections import CollectionFilters
from playground.gallery.filters import GalleryFilters, page_polls, polled_ids, with_review
from playground.gallery.models import Collection, Star
from playground.generations.models import Generation
from playground.lib.http import AuthenticatedHttpRequest, wants_fragment
from playground.lib.ids import query_id


@require_GET
@vary_on_headers("HX-Request")
def gallery(request: AuthenticatedHttpRequest) -> HttpResponse:
    filters = GalleryFilters(request.GET, user=request.user)
    page = filters.page()
    context = {"filters": filters, "page": page, "polling": page_polls(page.cards, request.GET)}
    if not wants_fragment(request):
        return render(request, "playground/gallery.html", context)
    response = render(request, "playground/gallery.html#results", context)
    if request.htmx.trigger == "filters":
        # The address bar gets the tidy form of the filters (no empty fields), ready to share;
        # the same address again (a control left without changing anything) adds no Back step.
        address = f"{reverse('gallery')}?{filters.query_string()}".rstrip("?")
        push_url(response, False if address == request.htmx.current_url_abs_path else address)
    return response


@require_GET
def gallery_cards(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The page's one poll: the in-progress cards it names, swapped in out of band.

    A collection's page names its collection (and its filters), so the cards come back with
    that page's own tools (the order buttons) rather than the gallery's.
    """
    cards = list(
        with_review(Generation.objects.with_stars_for(request.user)).filter(pk__in=polled_ids(request.GET))
    )
    context: dict[str, Any] = {"cards": cards, "polled": True, "polling": any(g.is_active for g in cards)}
    if collection_pk := query_id(request, "collection"):
        collection = get_object_or_404(Collection, pk=collection_pk)
        filters = CollectionFilters(request.GET, user=request.user, collection=collection)
        context |= {"in_collection": collection, "filters": filters}
    return render(request, "playground/gallery.html#polled", context)


@require_GET
def gallery_card(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(with_review(Generation.objects.with_stars_for(request.user)), pk=pk)
    return render(request, "playground/gallery.html#card", {"generation": gen})


@require_POST
def star(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    gen = get_object_or_404(Generation, pk=pk)
    with transaction.atomic():
        deleted, _ = Star.objects.filter(user=request.user.pk, generation=gen).delete()
        if not deleted:
            Star.objects.get_or_create(user=request.user, generation=gen)
    gen.starred = not deleted  # type: ignore[attr-defined]
    if request.htmx:
        return render(request, "playground/generation.html#star", {"generation": gen})
    return redirect(gen)
