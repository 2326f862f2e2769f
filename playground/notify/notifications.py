"""Finish notifications: "Tell me when it's ready", remembered per person on the server.

The browser does the notifying (static/js/notify.js): it already polls a running job's status,
so it sees the job end and shows a system notification if this person opted in and the browser
granted permission. The server only keeps the opt-in, so it follows the person to any device,
and hands it to the page as data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST


class NotifyPreference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify")
    when_done = models.BooleanField(
        default=False, help_text="Show a system notification when a watched video ends."
    )

    def __str__(self) -> str:
        return f"{self.user_id}: {'on' if self.when_done else 'off'}"


def wants_notifications(user: object) -> bool:
    pk = getattr(user, "pk", None)
    if pk is None:
        return False
    return NotifyPreference.objects.filter(user=pk, when_done=True).exists()


@require_POST
def set_preference(request: HttpRequest) -> HttpResponse:
    """Turn the opt-in on or off; JSON for the page's script, a redirect back without it."""
    on = request.POST.get("when_done") == "on"
    NotifyPreference.objects.update_or_create(user=request.user, defaults={"when_done": on})
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"when_done": on})
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    return redirect(back)
