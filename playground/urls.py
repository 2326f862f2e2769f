from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from playground import bulk, collections, health, presets, views

urlpatterns = [
    path("", views.home, name="home"),
    path("generate/", views.generate, name="generate"),
    path("generate/check/", views.check_frame, name="check_frame"),
    path("generate/staged/<str:staged_id>/<str:name>", views.staged_image, name="staged_image"),
    path("gallery/", views.gallery, name="gallery"),
    path("gallery/cards/<int:pk>/", views.gallery_card, name="gallery_card"),
    path("videos/<int:pk>/", views.generation, name="generation"),
    path("videos/<int:pk>/download/", views.download, name="download"),
    path("videos/<int:pk>/star/", views.star, name="star"),
    path("videos/<int:pk>/delete/", views.delete, name="delete"),
    path("usage/", views.usage, name="usage"),
    path("collections/", collections.collection_list, name="collections"),
    path("collections/new/", collections.collection_create, name="collection_create"),
    path("collections/<int:pk>/", collections.collection_page, name="collection"),
    path("collections/<int:pk>/edit/", collections.collection_edit, name="collection_edit"),
    path("collections/<int:pk>/delete/", collections.collection_delete, name="collection_delete"),
    path("collections/<int:pk>/move/", collections.collection_move, name="collection_move"),
    path("bulk/star/", bulk.star, name="bulk_star"),
    path("bulk/add/", bulk.add_to_collection, name="bulk_add"),
    path("bulk/remove/", bulk.remove_from_collection, name="bulk_remove"),
    path("bulk/delete/", bulk.delete, name="bulk_delete"),
    path("bulk/zip/", bulk.download, name="bulk_zip"),
    path("presets/save/", presets.save, name="preset_save"),
    path("presets/<int:pk>/edit/", presets.edit, name="preset_edit"),
    path("presets/<int:pk>/delete/", presets.delete, name="preset_delete"),
    path("media/<path:name>", views.media, name="media"),
    path("sign-in/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
