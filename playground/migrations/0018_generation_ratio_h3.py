"""The aspect ratio a generation asked for (MiniMax H3), and the two H3 models among the choices.

SQLite rebuilds playground_generation to add a NOT NULL column, and a rebuilt table loses the
prompt-search triggers (0003); they are put back the way 0009 and 0013 do.
"""

import importlib

from django.db import migrations, models

_restore = importlib.import_module("playground.migrations.0004_money_tracing_recovery_budgets")
restore_search_triggers = _restore.restore_search_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("playground", "0017_guest_comment_index"),
    ]

    operations = [
        # Undoing this migration rebuilds the table again; this runs last then.
        migrations.RunPython(migrations.RunPython.noop, restore_search_triggers),
        migrations.AddField(
            model_name="generation",
            name="ratio",
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AlterField(
            model_name="batch",
            name="model",
            field=models.CharField(
                choices=[
                    ("video-01", "video-01"),
                    ("video-01-live2d", "video-01-live2d"),
                    ("minimax/hailuo-02", "minimax/hailuo-02"),
                    ("minimax/hailuo-2.3", "minimax/hailuo-2.3"),
                    ("minimax/hailuo-2.3-fast", "minimax/hailuo-2.3-fast"),
                    ("minimax/h3", "minimax/h3"),
                    ("minimax/h3-max", "minimax/h3-max"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="generation",
            name="model",
            field=models.CharField(
                choices=[
                    ("video-01", "video-01"),
                    ("video-01-live2d", "video-01-live2d"),
                    ("minimax/hailuo-02", "minimax/hailuo-02"),
                    ("minimax/hailuo-2.3", "minimax/hailuo-2.3"),
                    ("minimax/hailuo-2.3-fast", "minimax/hailuo-2.3-fast"),
                    ("minimax/h3", "minimax/h3"),
                    ("minimax/h3-max", "minimax/h3-max"),
                ],
                max_length=32,
            ),
        ),
        migrations.AlterField(
            model_name="preset",
            name="model",
            field=models.CharField(
                choices=[
                    ("video-01", "video-01"),
                    ("video-01-live2d", "video-01-live2d"),
                    ("minimax/hailuo-02", "minimax/hailuo-02"),
                    ("minimax/hailuo-2.3", "minimax/hailuo-2.3"),
                    ("minimax/hailuo-2.3-fast", "minimax/hailuo-2.3-fast"),
                    ("minimax/h3", "minimax/h3"),
                    ("minimax/h3-max", "minimax/h3-max"),
                ],
                max_length=32,
            ),
        ),
        migrations.RunPython(restore_search_triggers, migrations.RunPython.noop),
    ]
