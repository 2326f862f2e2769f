from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from playground.gallery.models import Star
from playground.generations.models import Generation
from playground.lib.models import WorkerHeartbeat
from playground.money.budgets import dollars
from playground.money.models import Allowance, TeamBudget


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin[Generation]):
    list_display = [
        "id",
        "created_at",
        "created_by",
        "model",
        "state",
        "upstream_status",
        "failure_code",
        "cost",
    ]
    list_filter = ["state", "model", "failure_code"]
    search_fields = ["prompt", "upstream_id", "client_request_id", "inference_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        f.name
        for f in Generation._meta.get_fields()
        if f.concrete and f.name not in {"id", "upstream_video_url"}
    ]
    # The signed upstream link is short-lived and useless to people; keep it out of pages.
    exclude = ["upstream_video_url"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # generations are made on the Generate page, where the image rules run

    @admin.display(description="cost", ordering="usd_spent")
    def cost(self, gen: Generation) -> str:
        return dollars(gen.usd_spent) if gen.usd_spent else "—"


@admin.register(TeamBudget)
class TeamBudgetAdmin(admin.ModelAdmin[TeamBudget]):
    list_display = ["__str__", "usd_per_month"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One team, one budget row.
        return not TeamBudget.objects.exists()


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ["name", "started_at", "seen_at"]


@admin.register(Star)
class StarAdmin(admin.ModelAdmin[Star]):
    list_display = ["user", "generation", "created_at"]


class AllowanceInline(admin.StackedInline[Allowance, Allowance]):
    model = Allowance
    can_delete = False
    verbose_name = "monthly video allowance and dollar budget"
    verbose_name_plural = "monthly video allowance and dollar budget"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class MemberAdmin(UserAdmin):  # type: ignore[type-arg]
    """Django's user admin, plus each member's monthly video allowance."""

    inlines = [AllowanceInline]


from playground.films import admin as films_admin  # noqa: E402,F401  (film exports)
from playground.notify import admin as notify_admin  # noqa: E402,F401  (webhooks, notification preferences)
