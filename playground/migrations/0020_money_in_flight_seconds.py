import importlib

from django.db import migrations, models

# Adding a column to playground_generation makes SQLite rebuild it, which drops the prompt-search
# triggers; put them back the way 0004 does.
_restore = importlib.import_module("playground.migrations.0004_money_tracing_recovery_budgets")
restore_search_triggers = _restore.restore_search_triggers


def fill_seconds(apps, schema_editor):
    """The seconds each in-flight row asked for, and the totals of them, from the rows as they are."""
    from playground.money import totals

    totals.recount(
        fix=True,
        generations=apps.get_model("playground", "Generation"),
        totals=apps.get_model("playground", "SpendTotal"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("playground", "0019_generation_references"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_search_triggers),
        migrations.AddField(
            model_name="generation",
            name="held_at_estimate_seconds",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="spendtotal",
            name="at_estimate_seconds",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(restore_search_triggers, migrations.RunPython.noop),
        migrations.RunPython(fill_seconds, migrations.RunPython.noop),
    ]
