import importlib

from django.db import migrations, models

# Adding end_frame_type makes SQLite rebuild playground_generation, which drops the prompt-search
# triggers; put them back the way 0004 does.
_restore = importlib.import_module("playground.migrations.0004_money_tracing_recovery_budgets")
restore_search_triggers = _restore.restore_search_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("playground", "0009_catalogue_options_end_frame"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_search_triggers),
        migrations.AddField(
            model_name="generation",
            name="end_frame_type",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.RunPython(restore_search_triggers, migrations.RunPython.noop),
    ]
