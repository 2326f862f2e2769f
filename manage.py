#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
    # Without a DJANGO_SECRET_KEY, the key `python3 dev.py start` keeps in var/secret-key (made on
    # first use, owner-only), so developer commands such as makemigrations work on a fresh clone.
    # Without DJANGO_ALLOWED_HOSTS, this machine's loopback names (a server started this way, such
    # as runserver, answers only here). DEBUG and the HTTPS rules are exactly what the environment says.
    from dev import keep_secret_key

    env = dict(os.environ)
    keep_secret_key(env)
    os.environ["DJANGO_SECRET_KEY"] = env["DJANGO_SECRET_KEY"]
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
