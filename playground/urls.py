from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from playground import health, queue_pages, views

urlpatterns = [
    path("", views.home, name="home"),
    path("generate/", views.generate, name="generate"),
    path("generate/plan/", queue_pages.generate_plan, name="generate_plan"),
    path("generate/check/", views.check_frame, name="check_frame"),
    path("generate/staged/<str:staged_id>/<str:name>", views.staged_image, name="staged_image"),
    path("gallery/", views.gallery, name="gallery"),
    path("gallery/cards/", views.gallery_cards, name="gallery_cards"),
    path("gallery/cards/<int:pk>/", views.gallery_card, name="gallery_card"),
    path("videos/<int:pk>/", views.generation, name="generation"),
    path("videos/<int:pk>/download/", views.download, name="download"),
    path("videos/<int:pk>/star/", views.star, name="star"),
    path("videos/<int:pk>/delete/", views.delete, name="delete"),
    path("usage/", views.usage, name="usage"),
    path("queue/", queue_pages.queue, name="queue"),
    path("queue/cancel-mine/", queue_pages.cancel_mine, name="cancel_mine"),
    path("videos/<int:pk>/cancel/", queue_pages.cancel, name="cancel"),
    path("batches/<int:pk>/", queue_pages.batch, name="batch"),
    path("batches/<int:pk>/retry/", queue_pages.batch_retry, name="batch_retry"),
    path("media/<path:name>", views.media, name="media"),
    path("sign-in/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
