"""The review actions' addresses (comments and review status). Each name is in roles.ROUTES."""

from django.urls import URLPattern, path

from playground.review import notices, views

urlpatterns: list[URLPattern] = [
    path("videos/<id:pk>/comments/", views.comment_list, name="review_comments"),
    path("videos/<id:pk>/comments/add/", views.comment_add, name="review_comment_add"),
    path("videos/<id:pk>/review-status/", views.set_status, name="review_status"),
    path("comments/<id:pk>/edit/", views.comment_edit, name="review_comment_edit"),
    path("comments/<id:pk>/delete/", views.comment_delete, name="review_comment_delete"),
    path("comments/<id:pk>/resolve/", views.comment_resolve, name="review_comment_resolve"),
    path("review/notices/", notices.poll, name="review_notices"),
    path("team/review-status/", views.policy, name="review_policy"),
]
