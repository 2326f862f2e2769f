"""The sharer's pages: make a review link (members and admins), list one's links, revoke one; the admins'
setting of how long links last.

The token is shown once, on the page that answers the form (not a redirect: it is kept nowhere, not
even the session), with no-store so no cache keeps it. The list shows what each link shares, its
views and last visit, never the token. Making and revoking each go to the audit record.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from playground.gallery.models import Collection
from playground.generations.models import Generation, State
from playground.lib import ids
from playground.lib.http import AuthenticatedHttpRequest
from playground.review import links
from playground.review.links import ShareLink
from playground.team.audit import record
from playground.team.models import SHARE_DAYS_CEILING, AuditKind, TeamPolicy

PAGE_SIZE = 50
NOT_YOURS = "You can turn off only the links you made; an admin can turn off any."


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


class ShareForm(forms.Form):
    password = forms.CharField(
        label="Password (optional)",
        required=False,
        min_length=links.PASSWORD_MIN,
        max_length=links.PASSWORD_MAX,
        strip=False,
        # Shown again when the form comes back with an error, so nothing typed is lost; the page is
        # the sharer's own and is sent with no-store.
        widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}),
        help_text=(
            f"From {links.PASSWORD_MIN} to {links.PASSWORD_MAX} characters. Send it separately from the link."
        ),
        error_messages={
            "min_length": f"A link's password needs at least {links.PASSWORD_MIN} characters.",
            "max_length": f"A link's password may have at most {links.PASSWORD_MAX} characters.",
        },
    )
    allow_download = forms.BooleanField(label="Let them download the video file", required=False)
    show_prompt = forms.BooleanField(label="Show the prompt", required=False)
    show_maker = forms.BooleanField(label="Show who made each video", required=False)
    guest_comments = forms.BooleanField(
        label="Guests may comment",
        required=False,
        help_text="They give a name, then comment at a moment of the video, reply and resolve.",
    )
    guest_approval = forms.BooleanField(
        label="Guests may set the review status",
        required=False,
        help_text="Approved or needs changes; only while your team lets members set it.",
    )
    label = forms.CharField(
        label="Your name for this link (only you and admins see it)",
        required=False,
        max_length=links.LABEL_MAX,
        error_messages={"max_length": f"A link's name may have at most {links.LABEL_MAX} characters."},
    )

    def __init__(self, *args: Any, maximum: int, single_video: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not single_video:
            # A collection's guest page plays up to 60 videos: comments are offered on one video's link.
            del self.fields["guest_comments"], self.fields["guest_approval"]
        sentence = f"A link works for 1 to {maximum} days: pick a whole number in that range."
        self.fields["days"] = forms.IntegerField(
            label="Works for (days)",
            min_value=1,
            max_value=maximum,
            help_text=f"From 1 to {maximum} days (your team's admins set the most).",
            error_messages={k: sentence for k in ("min_value", "max_value", "invalid", "required")},
        )
        self.order_fields(["days", "password"])


def _target(request: AuthenticatedHttpRequest) -> tuple[Generation | None, Collection | None]:
    video_id, collection_id = ids.query_id(request, "video"), ids.query_id(request, "collection")
    if video_id is not None:
        return get_object_or_404(Generation, pk=video_id, state=State.READY), None
    if collection_id is not None:
        return None, get_object_or_404(Collection, pk=collection_id)
    raise Http404("Say which video or collection to share.")


@require_http_methods(["GET", "POST"])
def create(request: AuthenticatedHttpRequest) -> HttpResponse:
    generation, collection = _target(request)
    default, maximum = links.expiry_bounds()
    form = ShareForm(
        request.POST or None, initial={"days": default}, maximum=maximum, single_video=generation is not None
    )
    context: dict[str, Any] = {"form": form, "generation": generation, "collection": collection}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        link, token = links.make(
            by=request.user,
            generation=generation,
            collection=collection,
            days=data["days"],
            password=data["password"],
            allow_download=data["allow_download"],
            show_prompt=data["show_prompt"],
            show_maker=data["show_maker"],
            guest_comments=data.get("guest_comments", False),
            guest_approval=data.get("guest_approval", False),
            label=data["label"],
        )
        record(AuditKind.SHARE_LINK, f"{request.user.get_username()} made {_describe(link)}", request=request)
        context |= {"link": link, "url": request.build_absolute_uri(reverse("guest_page", args=[token]))}
        response = render(request, "review/share_made.html", context, status=201)
    else:
        status = 400 if request.method == "POST" else 200
        response = render(request, "review/share_new.html", context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


def _describe(link: ShareLink) -> str:
    extras = [
        f"for {_days((link.expires_at - link.created_at).days)}",
        "with a password" if link.has_password else "no password",
        "downloads allowed" if link.allow_download else "no downloads",
    ]
    if link.guest_comments:
        extras.append("guests may comment")
    if link.guest_approval:
        extras.append("guests may set the review status")
    return f"review link #{link.pk} to {link.what} ({', '.join(extras)})"


@require_safe
def listing(request: AuthenticatedHttpRequest) -> HttpResponse:
    everyone = request.user.is_staff and request.GET.get("mine") != "1"
    rows = ShareLink.objects.select_related("created_by", "collection", "generation").order_by(
        "-created_at", "-pk"
    )
    if not everyone:
        rows = rows.filter(created_by=request.user)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "review/share_list.html", {"page": page, "everyone": everyone})


@require_POST
def revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    link = get_object_or_404(ShareLink.objects.select_related("collection"), pk=pk)
    if not link.may_be_revoked_by(request.user):
        raise PermissionDenied(NOT_YOURS)
    if links.revoke(link):
        summary = f"{request.user.get_username()} revoked {_describe(link)}"
        record(AuditKind.SHARE_LINK, summary, request=request)
        messages.success(request, f"Turned off {link.what}'s link: it stopped working at once.")
    else:
        messages.info(request, "That link was already turned off.")
    return redirect("share_list")


_DAYS_RULE = f"Pick a whole number of days from 1 to {SHARE_DAYS_CEILING}."


class ExpiryForm(forms.Form):
    share_days_default = forms.IntegerField(
        label="A new link works for (days)",
        min_value=1,
        max_value=SHARE_DAYS_CEILING,
        error_messages={k: _DAYS_RULE for k in ("min_value", "max_value", "invalid", "required")},
    )
    share_days_max = forms.IntegerField(
        label="The most a sharer may pick (days)",
        min_value=1,
        max_value=SHARE_DAYS_CEILING,
        error_messages={k: _DAYS_RULE for k in ("min_value", "max_value", "invalid", "required")},
    )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        default, maximum = data.get("share_days_default"), data.get("share_days_max")
        if default is not None and maximum is not None and default > maximum:
            sentence = f"A new link's days cannot be more than the most a sharer may pick ({maximum})."
            self.add_error("share_days_default", sentence)
        return data


@require_http_methods(["GET", "POST"])
def expiry_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    policy = TeamPolicy.current()
    initial = {"share_days_default": policy.share_days_default, "share_days_max": policy.share_days_max}
    form = ExpiryForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        default, maximum = form.cleaned_data["share_days_default"], form.cleaned_data["share_days_max"]
        TeamPolicy.objects.filter(pk=policy.pk).update(share_days_default=default, share_days_max=maximum)
        record(
            AuditKind.POLICY,
            f"{request.user.get_username()} set review links to {_days(default)} by default, "
            f"at most {_days(maximum)} (was {policy.share_days_default} and {policy.share_days_max})",
            request=request,
        )
        messages.success(request, f"Saved: new links work for {_days(default)}, at most {_days(maximum)}.")
        return redirect("team_security")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "review/share_settings.html", {"form": form, "ceiling": SHARE_DAYS_CEILING}, status=status
    )
