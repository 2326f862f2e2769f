from allauth.account import views as account_views
from django.contrib import admin
from django.urls import include, path, register_converter

from playground.films import views as sequence_views
from playground.gallery import bulk, collections
from playground.gallery import views as gallery_views
from playground.generations import preset_views
from playground.generations import queue as queue_pages
from playground.generations import views as generation_views
from playground.lib import ids, media
from playground.money import costs_views
from playground.money import views as money_views
from playground.notify import notifications
from playground.pictures import views as picture_views
from playground.team import sso
from playground.worker import health

# Every id in a path is read by ids.parse_id: one that is not an id matches no route (a plain 404).
register_converter(ids.IdConverter, "id")

# A refusal (a role's or a not-yours one) says its own sentence; htmx gets it as plain text.
handler403 = "playground.lib.http.permission_denied"
handler429 = "playground.lib.http.too_many"  # read by allauth when one of its limits is reached

urlpatterns = [
    path("", generation_views.home, name="home"),
    path("generate/", generation_views.generate, name="generate"),
    path("generate/plan/", queue_pages.generate_plan, name="generate_plan"),
    path("generate/check/", picture_views.check_frame, name="check_frame"),
    path("generate/fix/", picture_views.apply_fix, name="apply_fix"),
    path("generate/remove/", picture_views.remove_picture, name="remove_picture"),
    path("generate/staged/<str:staged_id>/<str:name>", picture_views.staged_image, name="staged_image"),
    path("gallery/", gallery_views.gallery, name="gallery"),
    path("gallery/cards/", gallery_views.gallery_cards, name="gallery_cards"),
    path("gallery/cards/<id:pk>/", gallery_views.gallery_card, name="gallery_card"),
    path("videos/<id:pk>/", generation_views.generation, name="generation"),
    path("videos/<id:pk>/download/", generation_views.download, name="download"),
    path("videos/<id:pk>/star/", gallery_views.star, name="star"),
    path("videos/<id:pk>/delete/", generation_views.delete, name="delete"),
    path("videos/<id:pk>/sequence/", sequence_views.sequence, name="sequence"),
    path("videos/<id:pk>/sequence/export/", sequence_views.start_export, name="start_export"),
    path("films/<id:pk>/", sequence_views.export, name="sequence_export"),
    path("films/<id:pk>/download/", sequence_views.export_download, name="sequence_download"),
    path("notifications/", notifications.set_preference, name="notify_preference"),
    path("usage/", money_views.usage, name="usage"),
    path("costs/", costs_views.costs, name="costs"),
    path("costs/costs.csv", costs_views.costs_csv, name="costs_csv"),
    path("queue/", queue_pages.queue, name="queue"),
    path("queue/cancel-mine/", queue_pages.cancel_mine, name="cancel_mine"),
    path("videos/<id:pk>/cancel/", queue_pages.cancel, name="cancel"),
    path("batches/<id:pk>/", queue_pages.batch, name="batch"),
    path("batches/<id:pk>/retry/", queue_pages.batch_retry, name="batch_retry"),
    path("collections/", collections.collection_list, name="collections"),
    path("collections/new/", collections.collection_create, name="collection_create"),
    path("collections/<id:pk>/", collections.collection_page, name="collection"),
    path("collections/<id:pk>/edit/", collections.collection_edit, name="collection_edit"),
    path("collections/<id:pk>/delete/", collections.collection_delete, name="collection_delete"),
    path("collections/<id:pk>/move/", collections.collection_move, name="collection_move"),
    path("bulk/star/", bulk.star, name="bulk_star"),
    path("bulk/add/", bulk.add_to_collection, name="bulk_add"),
    path("bulk/remove/", bulk.remove_from_collection, name="bulk_remove"),
    path("bulk/delete/", bulk.delete, name="bulk_delete"),
    path("bulk/zip/", bulk.download, name="bulk_zip"),
    path("presets/save/", preset_views.save, name="preset_save"),
    path("presets/<id:pk>/edit/", preset_views.edit, name="preset_edit"),
    path("presets/<id:pk>/delete/", preset_views.delete, name="preset_delete"),
    path("media/<path:name>", media.media, name="media"),
    path("sign-in/", account_views.login, name="login"),
    path("sign-out/", account_views.logout, name="logout"),
    # allauth's OpenID Connect views, with the ID token's signature always checked and a provider
    # that cannot be reached answered with a plain page (team/sso.py); the paths are allauth's own.
    path("accounts/oidc/<str:provider_id>/login/", sso.login, name="socialaccount_sso_login"),
    path("accounts/oidc/<str:provider_id>/login/callback/", sso.callback, name="socialaccount_sso_callback"),
    path("accounts/", include("allauth.urls")),
    path("team/", include("playground.team.urls")),
    path("", include("playground.review.share_urls")),
    path("", include("playground.review.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
