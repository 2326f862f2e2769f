"""On PostgreSQL the built-in backup refuses, and says what to use instead."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = [pytest.mark.django_db, pytest.mark.postgresql_only]


@pytest.mark.parametrize("command", [["backup"], ["restore", "/tmp/nothing.tar.gz"]])
def test_backup_and_restore_point_to_pg_dump(command, tmp_path):
    with pytest.raises(CommandError, match="pg_dump"):
        call_command(*command)
