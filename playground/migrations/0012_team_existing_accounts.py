"""Existing accounts keep working after the upgrade to team accounts.

Every existing person gets a role (staff are admins, everyone else a member), an e-mail address
row for django-allauth where the account has an address (unverified: nothing has proven it yet),
and each live session is listed under its person so "sign out everywhere" reaches sessions that
began before the upgrade too.
"""

from importlib import import_module

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# The session began before addresses were kept; allauth's list needs one, so it reads "unknown".
UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104 (an address shown, not bound)


def forwards(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Membership = apps.get_model("playground", "Membership")
    EmailAddress = apps.get_model("account", "EmailAddress")
    Session = apps.get_model("sessions", "Session")
    UserSession = apps.get_model("usersessions", "UserSession")

    taken_emails = set()
    for user in User.objects.order_by("pk").iterator():
        Membership.objects.get_or_create(
            user_id=user.pk, defaults={"role": "admin" if user.is_staff else "member"}
        )
        # allauth finds sign-in addresses by their lower-case form, as it stores them.
        email = (user.email or "").strip().lower()
        if (
            email
            and email.lower() not in taken_emails
            and not EmailAddress.objects.filter(email__iexact=email).exists()
        ):
            EmailAddress.objects.create(user_id=user.pk, email=email, verified=False, primary=True)
            taken_emails.add(email)

    store = import_module(settings.SESSION_ENGINE).SessionStore
    users = set(User.objects.values_list("pk", flat=True))
    for row in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        try:
            user_id = int(store().decode(row.session_data).get("_auth_user_id", 0))
        except (TypeError, ValueError):
            continue
        if user_id in users and not UserSession.objects.filter(session_key=row.session_key).exists():
            UserSession.objects.create(
                session_key=row.session_key,
                user_id=user_id,
                ip=UNKNOWN_ADDRESS,
                user_agent="",
            )


class Migration(migrations.Migration):
    dependencies = [
        ("playground", "0011_team_accounts"),
        ("account", "0009_emailaddress_unique_primary_email"),
        ("usersessions", "0001_initial"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
