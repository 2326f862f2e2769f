"""The admin pages of notify/: webhooks (write-only secret, URL checked like an image link), their
deliveries, and notification preferences."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from playground.lib import linkfetch
from playground.notify import webhooks
from playground.notify.notifications import NotifyPreference
from playground.notify.webhooks import Webhook, WebhookDelivery

MIN_SECRET = 16


class WebhookForm(forms.ModelForm[Webhook]):
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="Where the worker POSTs each event (JSON), e.g. a Slack or Teams incoming webhook.",
    )
    # Never rendered back (render_value=False), so the secret is in no page, not even this one.
    new_secret = forms.CharField(
        label="Secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=(
            f"At least {MIN_SECRET} characters, shared with the receiver, which uses it to check the "
            "signature. It is never shown again; leave empty to keep the current one."
        ),
    )

    class Meta:
        model = Webhook
        fields = ["name", "url", "events", "active"]

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            linkfetch.check_link(url, allowed_hosts=settings.WEBHOOK_ALLOWED_HOSTS)
        except linkfetch.LinkRejected as exc:
            raise forms.ValidationError(webhooks.refusal(exc)) from None
        return url

    def clean_new_secret(self) -> str:
        secret: str = self.cleaned_data["new_secret"]
        if not secret and not self.instance.secret:
            raise forms.ValidationError(
                "Give the webhook a secret: the receiver needs it to check signatures."
            )
        if secret and len(secret) < MIN_SECRET:
            raise forms.ValidationError(
                f"This secret is {len(secret)} characters long; use at least {MIN_SECRET}."
            )
        return secret

    def save(self, commit: bool = True) -> Webhook:
        hook = super().save(commit=False)
        if self.cleaned_data.get("new_secret"):
            hook.secret = self.cleaned_data["new_secret"]
        if "active" in self.changed_data and hook.active:
            # Resumed by hand: start counting failures afresh.
            hook.paused_reason = ""
            hook.consecutive_failures = 0
        if commit:
            hook.save()
        return hook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin[Webhook]):
    form = WebhookForm
    list_display = ["__str__", "events", "active", "consecutive_failures", "last_status", "last_attempt_at"]
    readonly_fields = ["paused_reason", "consecutive_failures", "last_status", "last_attempt_at", "recent"]
    fields = ["name", "url", "events", "active", "new_secret", *readonly_fields]
    actions = ["send_test"]

    @admin.action(description="Send a test event")
    def send_test(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        for hook in queryset:
            webhooks.enqueue_test(hook)
        self.message_user(
            request,
            f"A test event is queued for {len(queryset)} webhook(s); the worker sends it within seconds. "
            "See Webhook deliveries for the answer.",
        )

    @admin.display(description="Recent deliveries")
    def recent(self, hook: Webhook) -> str:
        rows = hook.deliveries.order_by("-created_at", "-id")[:10] if hook.pk else []
        if not rows:
            return "None yet."
        items = format_html_join(
            "",
            "<li><a href='{}'>#{}</a> {} · video #{} · {} · {} attempt(s) · {}</li>",
            (
                (
                    reverse("admin:playground_webhookdelivery_change", args=[d.pk]),
                    d.pk,
                    d.created_at.strftime("%Y-%m-%d %H:%M"),
                    d.generation_id,
                    d.get_state_display(),
                    d.attempts,
                    d.last_status or "not tried yet",
                )
                for d in rows
            ),
        )
        return format_html("<ul>{}</ul>", items)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = ["id", "created_at", "webhook", "event", "generation", "state", "attempts", "last_status"]
    list_filter = ["state", "event", "webhook"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.get_fields() if f.concrete and f.name != "id"]
    actions = ["send_again"]

    @admin.action(description="Send again")
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = webhooks.send_again(queryset)
        self.message_user(
            request, f"{count} deliveries will be sent again (ones still waiting are left as they are)."
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(NotifyPreference)
class NotifyPreferenceAdmin(admin.ModelAdmin[NotifyPreference]):
    list_display = ["user", "when_done"]
