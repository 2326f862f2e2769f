"""Review links: the sharer's pages under /share/ and the guest's under /s/<token>/ (open to people not
signed in). Each name here is in team/roles.py ROUTES; the guest's are the viewer's least role and
their views are marked login_not_required.
"""

from django.urls import URLPattern, path

from playground.review import guest, share_views

urlpatterns: list[URLPattern] = [
    path("share/", share_views.listing, name="share_list"),
    path("share/new/", share_views.create, name="share_create"),
    path("share/<id:pk>/revoke/", share_views.revoke, name="share_revoke"),
    path("share/settings/", share_views.expiry_settings, name="share_settings"),
    path("s/<str:token>/", guest.page, name="guest_page"),
    path("s/<str:token>/password/", guest.unlock, name="guest_unlock"),
    path("s/<str:token>/v/<id:pk>/play", guest.play, name="guest_play"),
    path("s/<str:token>/v/<id:pk>/poster", guest.poster, name="guest_poster"),
    path("s/<str:token>/v/<id:pk>/download", guest.download, name="guest_download"),
    path("s/<str:token>/name/", guest.name, name="guest_name"),
    path("s/<str:token>/v/<id:pk>/comments/", guest.comment_list, name="guest_comments"),
    path("s/<str:token>/v/<id:pk>/comments/add/", guest.comment_add, name="guest_comment_add"),
    path("s/<str:token>/comments/<id:pk>/resolve/", guest.comment_resolve, name="guest_comment_resolve"),
    path("s/<str:token>/v/<id:pk>/review-status/", guest.set_status, name="guest_status"),
]
